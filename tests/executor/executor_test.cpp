// SPDX-License-Identifier: MIT
// layer_forward / layer_attention through executors (a serial one written here, one that runs the
// tasks in reverse order, gpsa::thread_pool_executor with 1-3 workers) against the serial path,
// bit for bit, on random shapes and on the golden cases; scratch sizes and argument errors.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../forward/forward_test_util.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"

namespace {

using namespace gpsa_test;
using task_fn = void (*)(void*, std::size_t, std::size_t);

// The trivial executor: every index in order on the calling thread, worker 0.
void serial_for(void*, std::size_t count, task_fn task, void* arg) {
  for (std::size_t i = 0; i < count; ++i) task(arg, i, 0);
}
// Reverse order, cycling through `workers` ids (calls do not overlap, so any id is allowed).
void reverse_for(void* ctx, std::size_t count, task_fn task, void* arg) {
  const std::size_t workers = *static_cast<std::size_t*>(ctx);
  for (std::size_t i = count; i-- > 0;) task(arg, i, i % workers);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp on an empty vector's null data() is undefined, so empty vectors compare by size alone
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

std::vector<float> rnd(std::size_t n, std::mt19937& gen, float scale) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

struct random_layer {
  std::vector<float> qk, qkb, v, vb, proj, projb, posw, posb, gating;
  gpsa::layer_weights w{};
  random_layer(std::size_t H, std::size_t D, bool bias, unsigned seed) {
    std::mt19937 gen(seed);
    const float s = 1.0f / std::sqrt(static_cast<float>(D));
    qk = rnd(2 * D * D, gen, s);
    v = rnd(D * D, gen, s);
    proj = rnd(D * D, gen, s);
    projb = rnd(D, gen, s);
    posw = rnd(3 * H, gen, 1.0f);
    posb = rnd(H, gen, 1.0f);
    gating = rnd(H, gen, 2.0f);
    if (bias) {
      qkb = rnd(2 * D, gen, s);
      vb = rnd(D, gen, s);
    }
    w = gpsa::layer_weights{H,           D,
                            qk.data(),   bias ? qkb.data() : nullptr,
                            v.data(),    bias ? vb.data() : nullptr,
                            proj.data(), projb.data()};
  }
  // The folded positional branch for grid g.
  gpsa::folded_state fold_for(gpsa::grid g) const {
    return gpsa::folded_state(g, w.heads, posw, posb, gating);
  }
  gpsa::layer_params params() const {
    return {w.heads, w.dim, qk, qkb, v, vb, proj, projb, posw, posb, gating};
  }
};

// The executors under test, each with its worker count.
struct executors {
  std::size_t three = 3;
  gpsa::executor serial{nullptr, &serial_for, 1};
  gpsa::executor reverse{&three, &reverse_for, 3};
  gpsa::thread_pool_executor p1{1}, p2{2}, p3{3};
  std::vector<std::pair<std::string, const gpsa::executor*>> all() const {
    return {{"serial", &serial},
            {"reverse3", &reverse},
            {"pool1", &p1.get()},
            {"pool2", &p2.get()},
            {"pool3", &p3.get()}};
  }
};

// y and attn (when with_attn) of layer_forward, scratch poisoned with NaN first.
gpsa::status forward(const gpsa::layer_weights& w, const gpsa::folded_view& pos, std::size_t B,
                     const std::vector<float>& x, bool with_attn, const gpsa::executor* ex,
                     std::vector<float>& y, std::vector<float>& attn) {
  std::size_t floats = 0;
  const std::size_t workers = ex != nullptr ? ex->workers : 1;
  if (const auto s = gpsa::layer_scratch_size(gpsa::dims_of(w, pos, B), workers, floats);
      s != gpsa::status::ok)
    return s;
  std::vector<float> scratch(floats, std::numeric_limits<float>::quiet_NaN());
  const std::size_t N = pos.patches();
  y.assign(x.size(), -1.0f);
  attn.assign(with_attn ? B * w.heads * N * N : 0, -1.0f);
  return gpsa::layer_forward(w, pos, B, x, y, attn, scratch, ex);
}

gpsa::status attention(const gpsa::layer_weights& w, const gpsa::folded_view& pos, std::size_t B,
                       const std::vector<float>& x, const gpsa::executor* ex,
                       std::vector<float>& attn) {
  std::size_t floats = 0;
  const std::size_t workers = ex != nullptr ? ex->workers : 1;
  if (const auto s = gpsa::layer_scratch_size(gpsa::dims_of(w, pos, B), workers, floats);
      s != gpsa::status::ok)
    return s;
  std::vector<float> scratch(floats, std::numeric_limits<float>::quiet_NaN());
  const std::size_t N = pos.patches();
  attn.assign(B * w.heads * N * N, -1.0f);
  return gpsa::layer_attention(w, pos, B, x, attn, scratch, ex);
}

struct shape {
  std::size_t R, C, H, d, B;
  bool bias;
};

TEST(Executor, RandomShapesBitIdentical) {
  const shape shapes[] = {{1, 1, 1, 4, 1, false},    {2, 3, 2, 8, 3, true}, {3, 3, 9, 4, 2, true},
                          {5, 4, 3, 16, 2, false},   {7, 9, 4, 8, 1, true}, {9, 9, 5, 12, 3, false},
                          {14, 14, 4, 48, 1, false}, {4, 17, 6, 8, 2, true}};
  executors ex;
  unsigned seed = 10;
  for (const shape& sh : shapes) {
    const gpsa::grid g{sh.R, sh.C};
    random_layer l(sh.H, sh.H * sh.d, sh.bias, ++seed);
    std::mt19937 gen(seed * 7);
    const auto x = rnd(sh.B * g.patches() * l.w.dim, gen, 1.0f);
    const gpsa::folded_state fold = l.fold_for(g);
    const gpsa::folded_view pos = fold.view();
    const std::string where = std::to_string(sh.R) + "x" + std::to_string(sh.C) +
                              " H=" + std::to_string(sh.H) + " d=" + std::to_string(sh.d) +
                              " B=" + std::to_string(sh.B);
    for (bool with_attn : {false, true}) {
      std::vector<float> y0, a0;
      ASSERT_EQ(forward(l.w, pos, sh.B, x, with_attn, nullptr, y0, a0), gpsa::status::ok);
      for (float v : y0) ASSERT_TRUE(std::isfinite(v)) << where;
      for (const auto& [name, e] : ex.all()) {
        std::vector<float> y1, a1;
        ASSERT_EQ(forward(l.w, pos, sh.B, x, with_attn, e, y1, a1), gpsa::status::ok);
        EXPECT_TRUE(same_bits(y0, y1)) << where << " " << name << " attn=" << with_attn;
        EXPECT_TRUE(same_bits(a0, a1)) << where << " " << name;
      }
    }
    std::vector<float> a0;
    ASSERT_EQ(attention(l.w, pos, sh.B, x, nullptr, a0), gpsa::status::ok);
    for (const auto& [name, e] : ex.all()) {
      std::vector<float> a1;
      ASSERT_EQ(attention(l.w, pos, sh.B, x, e, a1), gpsa::status::ok);
      EXPECT_TRUE(same_bits(a0, a1)) << where << " " << name << " layer_attention";
    }
  }
}

class GoldenExecutor : public ::testing::TestWithParam<std::string> {};

// Golden cases through gpsa::layer with and without executors: bit-identical to the serial
// layer, and within the cases.json tolerances of PyTorch's outputs.
TEST_P(GoldenExecutor, LayerBitIdentical) {
  const golden_case c = find_case(GetParam());
  const fs::path d = golden_dir() / c.name;
  const auto x = gpsa::io::read_npy(d / "x.npy");
  const auto y_ref = gpsa::io::read_npy(d / "y.npy");
  const auto a_ref = gpsa::io::read_npy(d / "attn.npy");
  tolerances tol;
  load_cases(&tol);
  gpsa::layer l = gpsa::layer::load(d / "weights.safetensors", c.prefix);
  std::vector<float> a0, dist0;
  const std::vector<float> y0 = l.forward(x.data, c.batch, &a0, &dist0);
  const std::vector<float> y0_fused = l.forward(x.data, c.batch);
  const std::vector<float> att0 = l.attention(x.data, c.batch);
  EXPECT_LE(max_abs_diff(y0, y_ref.data), tol.y_rel_to_max * max_abs(y_ref.data));
  EXPECT_LE(max_abs_diff(a0, a_ref.data), tol.attn_abs);
  executors ex;
  for (const auto& [name, e] : ex.all()) {
    l.set_executor(e);
    ASSERT_EQ(l.get_executor(), e);
    std::vector<float> a1, dist1;
    const std::vector<float> y1 = l.forward(x.data, c.batch, &a1, &dist1);
    EXPECT_TRUE(same_bits(y0, y1)) << c.name << " " << name;
    EXPECT_TRUE(same_bits(a0, a1)) << c.name << " " << name;
    EXPECT_TRUE(same_bits(dist0, dist1)) << c.name << " " << name;
    EXPECT_TRUE(same_bits(y0_fused, l.forward(x.data, c.batch))) << c.name << " " << name;
    EXPECT_TRUE(same_bits(att0, l.attention(x.data, c.batch))) << c.name << " " << name;
  }
  l.set_executor(nullptr);
  EXPECT_TRUE(same_bits(y0_fused, l.forward(x.data, c.batch)));
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenExecutor, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(Executor, ScratchSizes) {
  const gpsa::grid g{5, 4};
  const std::size_t N = 20, B = 2, D = 24, d = 8, H = 3;
  const std::size_t work = std::min<std::size_t>(64, N) * N + 2 * N * d;
  std::size_t f1 = 0, f3 = 0;
  ASSERT_EQ(gpsa::layer_scratch_size({H, D, g, B}, 1, f1), gpsa::status::ok);
  ASSERT_EQ(gpsa::layer_scratch_size({H, D, g, B}, 3, f3), gpsa::status::ok);
  // As documented: the q, k, v rows (B*N*3D, here a whole number of 64-byte lines), 32 floats of
  // alignment slack, then a per-worker part holding k_h, v_h and at least one block of scores;
  // with several workers each also keeps its own position @ v_h (N*d floats, here a whole number
  // of 64-byte lines) for a head it shares with another worker.
  ASSERT_GT(f1, B * N * 3 * D + 32);
  const std::size_t per_worker = f1 - B * N * 3 * D - 32;
  EXPECT_GE(per_worker, work);
  EXPECT_EQ(f3, B * N * 3 * D + 32 + 3 * (per_worker + N * d));
  std::size_t z = 0;
  EXPECT_EQ(gpsa::layer_scratch_size({H, D, g, B}, 0, z), gpsa::status::invalid_argument);
  EXPECT_EQ(gpsa::layer_scratch_size({H, D, g, B}, std::numeric_limits<std::size_t>::max(), z),
            gpsa::status::size_overflow);
}

TEST(Executor, ScratchTooSmallForWorkers) {
  random_layer l(3, 24, true, 4);
  const gpsa::grid g{5, 4};
  const std::size_t B = 2;
  std::mt19937 gen(5);
  const auto x = rnd(B * g.patches() * l.w.dim, gen, 1.0f);
  std::vector<float> y(x.size());
  executors ex;
  const gpsa::folded_state fold = l.fold_for(g);
  const gpsa::folded_view pos = fold.view();
  std::size_t serial_floats = 0, three = 0;
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(l.w, pos, B), 1, serial_floats),
            gpsa::status::ok);
  ASSERT_EQ(gpsa::layer_scratch_size(gpsa::dims_of(l.w, pos, B), 3, three), gpsa::status::ok);
  std::vector<float> scratch(three);
  for (const gpsa::executor* e : {&ex.p3.get(), static_cast<const gpsa::executor*>(&ex.reverse)}) {
    EXPECT_EQ(gpsa::layer_forward(l.w, pos, B, x, y, {},
                                  std::span<float>(scratch).first(serial_floats), e),
              gpsa::status::buffer_too_small);
    EXPECT_EQ(
        gpsa::layer_forward(l.w, pos, B, x, y, {}, std::span<float>(scratch).first(three - 1), e),
        gpsa::status::buffer_too_small);
    EXPECT_EQ(gpsa::layer_forward(l.w, pos, B, x, y, {}, scratch, e), gpsa::status::ok);
  }
  // One worker needs exactly the serial size.
  EXPECT_EQ(gpsa::layer_forward(l.w, pos, B, x, y, {},
                                std::span<float>(scratch).first(serial_floats), &ex.serial),
            gpsa::status::ok);
}

TEST(Executor, BadExecutorIsInvalidArgument) {
  random_layer l(2, 8, false, 6);
  const gpsa::grid g{2, 2};
  const gpsa::folded_state fold = l.fold_for(g);
  std::vector<float> x(4 * 8, 0.5f), y(x.size()), attn(2 * 16), scratch(100000);
  const gpsa::executor no_workers{nullptr, &serial_for, 0};
  const gpsa::executor no_fn{nullptr, nullptr, 2};
  for (const gpsa::executor* e : {&no_workers, &no_fn}) {
    EXPECT_EQ(gpsa::layer_forward(l.w, fold.view(), 1, x, y, {}, scratch, e),
              gpsa::status::invalid_argument);
    EXPECT_EQ(gpsa::layer_attention(l.w, fold.view(), 1, x, attn, scratch, e),
              gpsa::status::invalid_argument);
  }
  gpsa::layer layer(l.params());
  EXPECT_THROW(layer.set_executor(&no_workers), gpsa::layer_error);
  EXPECT_THROW(layer.set_executor(&no_fn), gpsa::layer_error);
  EXPECT_EQ(layer.get_executor(), nullptr);
}

// Every index exactly once, worker < workers, no two overlapping calls on one worker; repeated
// runs on one pool (the generation handshake) and count below / above the worker count.
TEST(ThreadPool, RunsEachIndexOnceOnDistinctWorkers) {
  EXPECT_THROW(gpsa::thread_pool_executor(0), std::invalid_argument);
  for (std::size_t workers : {1u, 2u, 3u, 4u}) {
    gpsa::thread_pool_executor pool(workers);
    EXPECT_EQ(pool.workers(), workers);
    EXPECT_EQ(pool.get().workers, workers);
    for (std::size_t count : {0u, 1u, 2u, 5u, 97u}) {
      for (int rep = 0; rep < 20; ++rep) {
        struct ctx {
          std::vector<std::atomic<int>> hits;
          std::vector<std::atomic<int>> busy;
          std::atomic<bool> bad{false};
          std::size_t workers;
        } c{std::vector<std::atomic<int>>(count),
            std::vector<std::atomic<int>>(workers),
            {},
            workers};
        pool.get().parallel_for(
            pool.get().context, count,
            [](void* arg, std::size_t i, std::size_t w) {
              auto& k = *static_cast<ctx*>(arg);
              if (w >= k.workers || k.busy[w].fetch_add(1) != 0) k.bad = true;
              k.hits[i].fetch_add(1);
              if (w < k.workers) k.busy[w].fetch_sub(1);
            },
            &c);
        EXPECT_FALSE(c.bad.load()) << workers << " workers, count " << count;
        for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(c.hits[i].load(), 1) << i;
      }
    }
  }
}

}  // namespace
