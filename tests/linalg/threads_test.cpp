// SPDX-License-Identifier: MIT
// Through the library: the kernels start no thread (the process keeps its one task in
// /proc/self/task), and the layer's outputs are the same bytes on every SIMD target with fused
// multiply-add and for any worker count of a real thread pool.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/core/nn_kernels.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "targets.hpp"

namespace {

std::size_t tasks_of_this_process() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The count once it settles to `expected` (a joined thread's task entry can outlive the join
// for a moment), or the last count after 2 s.
std::size_t tasks_settling_to(std::size_t expected) {
  std::size_t n = tasks_of_this_process();
  for (int i = 0; i < 200 && n != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = tasks_of_this_process();
  }
  return n;
}

std::vector<float> rnd(std::size_t n, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

bool same_bytes(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// A ConViT-Ti-shaped layer (D = 192, H = 4, 14 x 14 grid) with random weights.
struct layer {
  static constexpr std::size_t H = 4, D = 192;
  static constexpr gpsa::grid g{14, 14};
  std::vector<float> qk = rnd(2 * D * D, 1, 0.07f), v = rnd(D * D, 2, 0.07f),
                     proj = rnd(D * D, 3, 0.07f), projb = rnd(D, 4, 0.1f),
                     posw = rnd(3 * H, 5, 1.0f), gating = rnd(H, 6, 2.0f);
  gpsa::layer_weights w{H, D, qk.data(), nullptr, v.data(), nullptr, proj.data(), projb.data()};
  // The folded positional branch (fx, gy, lambda) the kernels read.
  std::vector<float> fx = std::vector<float>(H * 14 * 14), gy = fx, lam = std::vector<float>(H);
  gpsa::status folded = gpsa::layer_fold(g, H, posw, {}, gating, fx, gy, lam);
  gpsa::folded_view pos() const { return {H, g, fx.data(), gy.data(), lam.data()}; }

  struct outputs {
    std::vector<float> y, attn, y_fused, attn_only;
  };
  // forward with attn, the fused forward, and layer_attention, each through `ex` (may be null),
  // reading the weights pre-packed by layer_pack when `packed`.
  outputs run(std::size_t batch, const gpsa::executor* ex, bool packed = false) const {
    gpsa::layer_weights w = this->w;
    std::vector<float> pack;
    if (packed) {
      std::size_t pf = 0;
      EXPECT_EQ(gpsa::layer_packed_size(D, pf), gpsa::status::ok);
      pack.resize(pf);
      EXPECT_EQ(gpsa::layer_pack(w, pack), gpsa::status::ok);
      w.packed = pack.data();
    }
    const std::size_t N = g.patches(), workers = ex != nullptr ? ex->workers : 1;
    const auto x = rnd(batch * N * D, 7, 1.0f);
    outputs o;
    o.y.resize(x.size());
    o.y_fused.resize(x.size());
    o.attn.resize(batch * H * N * N);
    o.attn_only.resize(batch * H * N * N);
    EXPECT_EQ(folded, gpsa::status::ok);
    std::size_t floats = 0;
    EXPECT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(w, pos(), batch), workers, floats),
              gpsa::status::ok);
    std::vector<float> scratch(floats);
    EXPECT_EQ(gpsa::layer_forward(w, pos(), batch, x, o.y, o.attn, scratch, ex), gpsa::status::ok);
    EXPECT_EQ(gpsa::layer_forward(w, pos(), batch, x, o.y_fused, {}, scratch, ex),
              gpsa::status::ok);
    EXPECT_EQ(gpsa::layer_attention(w, pos(), batch, x, o.attn_only, scratch, ex),
              gpsa::status::ok);
    return o;
  }
};

void expect_same(const layer::outputs& a, const layer::outputs& b, const std::string& what) {
  EXPECT_TRUE(same_bytes(a.y, b.y)) << what << ": y";
  EXPECT_TRUE(same_bytes(a.attn, b.attn)) << what << ": attn";
  EXPECT_TRUE(same_bytes(a.y_fused, b.y_fused)) << what << ": fused y";
  EXPECT_TRUE(same_bytes(a.attn_only, b.attn_only)) << what << ": layer_attention";
}

TEST(Threads, KernelsStartNoThread) {
  const std::size_t before = tasks_of_this_process();
  ASSERT_EQ(before, 1u) << "the test process itself should be single-threaded";
  const layer l;
  (void)l.run(2, nullptr);
  const std::size_t n = 300, k = 500;
  const auto a = rnd(n * k, 8, 1.0f), b = rnd(k * n, 9, 1.0f);
  std::vector<float> c(n * n);
  EXPECT_EQ(gpsa::gemm(false, true, n, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n),
            gpsa::status::ok);
  EXPECT_EQ(gpsa::softmax_rows(n, n, c.data(), n), gpsa::status::ok);
  EXPECT_EQ(gpsa::exp_values(c, c), gpsa::status::ok);
  EXPECT_EQ(tasks_of_this_process(), before) << "a gpsa kernel left a thread running";
  {
    // The control: a pool of 3 workers shows up as 2 more tasks, so the count does see threads.
    const gpsa::thread_pool_executor pool(3);
    EXPECT_EQ(tasks_of_this_process(), before + 2);
  }
  EXPECT_EQ(tasks_settling_to(before), before);
}

TEST(Threads, LayerOutputsSameBytesForAnyWorkerCount) {
  const layer l;
  const auto serial = l.run(3, nullptr);
  for (std::size_t w = 1; w <= 3; ++w) {
    const gpsa::thread_pool_executor pool(w);
    expect_same(l.run(3, &pool.get()), serial, std::to_string(w) + " workers");
  }
  gpsa_test::reverse_executor five(5);
  expect_same(l.run(3, &five.ex), serial, "5 workers, reverse order");
}

// One image (B = 1): the linear layers are cut over the workers by rows or columns and the
// attention by (head, block of query rows) when 4 heads do not split evenly; pre-packed weights
// read the same numbers. All the same bytes as the serial call on plain weights.
TEST(Threads, OneImageSplitAndPackedWeightsSameBytes) {
  const layer l;
  const auto serial = l.run(1, nullptr);
  expect_same(l.run(1, nullptr, true), serial, "serial, packed weights");
  for (std::size_t w = 2; w <= 3; ++w) {
    const gpsa::thread_pool_executor pool(w);
    for (const bool packed : {false, true})
      expect_same(l.run(1, &pool.get(), packed), serial,
                  std::to_string(w) + " workers" + (packed ? ", packed weights" : ""));
  }
  gpsa_test::reverse_executor seven(7);
  expect_same(l.run(1, &seven.ex, true), serial, "7 workers, reverse order, packed weights");
}

TEST(Threads, GemmSameBytesThroughAThreadPool) {
  const std::size_t m = 196, n = 864, k = 432;
  const auto a = rnd(m * k, 10, 1.0f), b = rnd(n * k, 11, 1.0f);
  std::vector<float> serial(m * n), c(m * n);
  ASSERT_EQ(
      gpsa::gemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, serial.data(), n),
      gpsa::status::ok);
  for (std::size_t w = 1; w <= 3; ++w) {
    const gpsa::thread_pool_executor pool(w);
    for (int rep = 0; rep < 3; ++rep) {  // several schedules
      std::fill(c.begin(), c.end(), -1.0f);
      ASSERT_EQ(gpsa::gemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n,
                           &pool.get()),
                gpsa::status::ok);
      EXPECT_TRUE(same_bytes(c, serial)) << w << " workers, run " << rep;
    }
  }
}

TEST(Threads, LayerOutputsSameBytesOnEveryFusedMultiplyAddTarget) {
  const layer l;
  std::vector<std::size_t> fma;
  for (const std::size_t t : gpsa_test::simd_targets())
    if (gpsa_test::fused_multiply_add(t)) fma.push_back(t);
  if (fma.empty()) {
    // A build or CPU without such a target (portable build, pre-AVX2 x86): nothing to compare;
    // the outputs must still be the same bytes run to run.
    expect_same(l.run(2, nullptr), l.run(2, nullptr), "run to run");
    return;
  }
  layer::outputs first;
  {
    const gpsa_test::target_scope scope(fma[0]);
    first = l.run(2, nullptr);
  }
  for (std::size_t i = 1; i < fma.size(); ++i) {
    const gpsa_test::target_scope scope(fma[i]);
    expect_same(l.run(2, nullptr), first,
                gpsa_test::target_name(fma[i]) + " vs " + gpsa_test::target_name(fma[0]));
  }
}

// The FMA targets this build compiled and this CPU runs (AVX-512 and AVX2 on an AVX-512 machine).
std::vector<std::size_t> fma_targets() {
  std::vector<std::size_t> fma;
  for (const std::size_t t : gpsa_test::simd_targets())
    if (gpsa_test::fused_multiply_add(t)) fma.push_back(t);
  return fma;
}

// run() on every FMA target gives the bytes of the first; without two such targets (portable
// build, an AVX2-only CPU) there is nothing to compare across, so run to run.
void expect_same_on_fma_targets(const std::function<std::vector<float>()>& run) {
  const std::vector<std::size_t> fma = fma_targets();
  if (fma.size() < 2) {
    EXPECT_TRUE(same_bytes(run(), run())) << "run to run";
    return;
  }
  std::vector<float> first;
  {
    const gpsa_test::target_scope scope(fma[0]);
    first = run();
  }
  for (std::size_t i = 1; i < fma.size(); ++i) {
    const gpsa_test::target_scope scope(fma[i]);
    EXPECT_TRUE(same_bytes(run(), first))
        << gpsa_test::target_name(fma[i]) << " vs " << gpsa_test::target_name(fma[0]);
  }
}

// LayerNorm's sums sit in 32 partials whatever the vector width: widths that are and are not
// multiples of 8, 16 and 32, rows with a mean far from 0, give the same bytes on AVX2 and
// AVX-512, and stay within float rounding of the float64 formula.
TEST(Threads, LayerNormSameBytesOnEveryFusedMultiplyAddTarget) {
  for (const std::size_t dim : {1u, 7u, 8u, 16u, 20u, 36u, 40u, 52u, 192u, 433u}) {
    const std::size_t rows = 5;
    std::vector<float> x = rnd(rows * dim, 20, 3.0f);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < dim; ++j) x[r * dim + j] += 100.0f * static_cast<float>(r);
    const std::vector<float> w = rnd(dim, 21, 1.0f), b = rnd(dim, 22, 0.5f);
    const auto run = [&] {
      std::vector<float> y(rows * dim);
      EXPECT_EQ(gpsa::layer_norm_rows(rows, dim, w, b, 1e-6f, x.data(), dim, y.data(), dim),
                gpsa::status::ok);
      return y;
    };
    SCOPED_TRACE("dim " + std::to_string(dim));
    expect_same_on_fma_targets(run);
    const std::vector<float> y = run();
    for (std::size_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (std::size_t j = 0; j < dim; ++j) mean += x[r * dim + j];
      mean /= static_cast<double>(dim);
      for (std::size_t j = 0; j < dim; ++j) {
        const double e = x[r * dim + j] - mean;
        var += e * e;
      }
      var /= static_cast<double>(dim);
      for (std::size_t j = 0; j < dim; ++j) {
        const double want = (x[r * dim + j] - mean) / std::sqrt(var + 1e-6) * w[j] + b[j];
        EXPECT_NEAR(y[r * dim + j], want, 2e-5 * (1.0 + std::fabs(want))) << r << "," << j;
      }
    }
  }
}

// The whole ConViT (LayerNorm, GELU, softmax, the products) gives the same logits bytes on AVX2
// and AVX-512, with one worker and with two; and they are timm's within the golden tolerance.
TEST(Threads, ConvitLogitsSameBytesOnEveryFusedMultiplyAddTarget) {
  const std::filesystem::path dir =
      std::filesystem::path(GPSA_GOLDEN_DIR) / "convit" / "convit_7x7_bias";
  const gpsa::convit model = gpsa::convit::load(dir / "model.safetensors");
  const gpsa::io::tensor x = gpsa::io::read_npy(dir / "x.npy");
  const gpsa::io::tensor want = gpsa::io::read_npy(dir / "logits.npy");
  const std::size_t batch = x.shape.at(0);
  const auto run = [&] { return model.forward(x.data, batch); };
  expect_same_on_fma_targets(run);
  gpsa::thread_pool_executor pool(2);
  gpsa::convit two = gpsa::convit::load(dir / "model.safetensors");
  two.set_executor(&pool.get());
  const std::vector<float> one_worker = run();
  EXPECT_TRUE(same_bytes(two.forward(x.data, batch), one_worker)) << "two workers vs one";
  ASSERT_EQ(one_worker.size(), want.data.size());
  for (std::size_t i = 0; i < want.data.size(); ++i)
    EXPECT_NEAR(one_worker[i], want.data[i], 1e-5f * (1.0f + std::fabs(want.data[i]))) << i;
}

}  // namespace
