// SPDX-License-Identifier: MIT
// The fold on every golden case (tests/golden/cases.json): factors vs an independent float64
// softmax(P), and the gated blend of the folded branch with a float64 content attention vs
// PyTorch's attn.npy.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fold_test_support.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace {

namespace fs = std::filesystem;
const fs::path golden = GPSA_GOLDEN_DIR;

nlohmann::json cases_json() {
  std::ifstream in(golden / "cases.json");
  EXPECT_TRUE(in.good()) << "missing " << (golden / "cases.json");
  return nlohmann::json::parse(in);
}

// content[h] = softmax(q_h k_h^T / sqrt(d)) for batch item b, in double (docs/DESIGN.md §4).
std::vector<double> content_f64(const gpsa::io::safetensors_file& st, const std::string& prefix,
                                const gpsa::io::tensor& x, std::size_t b, std::size_t H,
                                std::size_t h) {
  const std::size_t N = x.shape[1], D = x.shape[2], d = D / H;
  const auto& wqk = st.at(prefix + ".qk.weight").data;  // (2D, D)
  const bool bias = st.contains(prefix + ".qk.bias");
  const float* bqk = bias ? st.at(prefix + ".qk.bias").data.data() : nullptr;
  const float* xb = x.data.data() + b * N * D;
  std::vector<double> q(N * d), k(N * d);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t j = 0; j < d; ++j) {
      const std::size_t rq = h * d + j, rk = D + h * d + j;
      double sq = bias ? bqk[rq] : 0.0, sk = bias ? bqk[rk] : 0.0;
      for (std::size_t c = 0; c < D; ++c) {
        sq += double{xb[n * D + c]} * wqk[rq * D + c];
        sk += double{xb[n * D + c]} * wqk[rk * D + c];
      }
      q[n * d + j] = sq;
      k[n * d + j] = sk;
    }
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> a(N * N);
  for (std::size_t p = 0; p < N; ++p) {
    double m = -INFINITY;
    for (std::size_t r = 0; r < N; ++r) {
      double s = 0;
      for (std::size_t j = 0; j < d; ++j) s += q[p * d + j] * k[r * d + j];
      a[p * N + r] = s * scale;
      m = std::max(m, a[p * N + r]);
    }
    double s = 0;
    for (std::size_t r = 0; r < N; ++r) s += a[p * N + r] = std::exp(a[p * N + r] - m);
    for (std::size_t r = 0; r < N; ++r) a[p * N + r] /= s;
  }
  return a;
}

TEST(FoldGolden, EveryCaseMatchesFloat64AndPyTorchAttention) {
  const nlohmann::json meta = cases_json();
  const double attn_tol = meta.at("tolerance").at("attn_abs").get<double>();
  ASSERT_FALSE(meta.at("cases").empty());
  for (const auto& c : meta.at("cases")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const std::string prefix = c.at("prefix");
    const std::size_t S = c.at("grid"), H = c.at("heads");
    const gpsa::grid g{S, S};
    const std::size_t N = g.patches();
    const auto st = gpsa::io::read_safetensors(golden / name / "weights.safetensors");
    const auto& w = st.at(prefix + ".pos_proj.weight").data;
    const auto& bias = st.at(prefix + ".pos_proj.bias").data;
    const auto& gating = st.at(prefix + ".gating_param").data;
    ASSERT_EQ(w.size(), H * 3);

    std::vector<float> fx(H * S * S), gy(H * S * S), lam(H), dense(N * N);
    ASSERT_EQ(gpsa::layer_fold(g, H, w, bias, gating, fx, gy, lam), gpsa::status::ok);
    const gpsa::folded_view view{H, g, fx.data(), gy.data(), lam.data()};

    // 1. factors vs the dense float64 softmax(P), with the bias the fold leaves out
    double worst_pos = 0;
    for (std::size_t h = 0; h < H; ++h) {
      ASSERT_EQ(gpsa::positional_expand(view, h, dense), gpsa::status::ok);
      const std::vector<double> ref = fold_test::dense_position_f64(S, S, &w[3 * h], bias[h]);
      for (std::size_t i = 0; i < N * N; ++i) {
        const double err = std::fabs(dense[i] - ref[i]);
        ASSERT_LE(err, 2.5e-7 * ref[i] + 1e-44) << "head " << h << " element " << i;
        worst_pos = std::max(worst_pos, err);
      }
      EXPECT_LE(
          fold_test::ulp_distance(lam[h], static_cast<float>(fold_test::sigmoid_f64(gating[h]))),
          1);
    }

    // 2. gated blend of the folded branch with a float64 content attention == PyTorch's attn
    const gpsa::io::tensor x = gpsa::io::read_npy(golden / name / "x.npy");
    const gpsa::io::tensor attn = gpsa::io::read_npy(golden / name / "attn.npy");
    const std::size_t B = c.at("batch");
    ASSERT_EQ(attn.shape, (std::vector<std::size_t>{B, H, N, N}));
    double worst_attn = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        const std::vector<double> content = content_f64(st, prefix, x, b, H, h);
        std::vector<float> block(content.begin(), content.end()), out(N * N);
        ASSERT_EQ(gpsa::gated_blend_rows(view, h, 0, N, block.data(), N, out.data(), N),
                  gpsa::status::ok);
        const float* ref = attn.data.data() + (b * H + h) * N * N;
        for (std::size_t i = 0; i < N * N; ++i)
          worst_attn = std::max(worst_attn, double{std::fabs(out[i] - ref[i])});
      }
    EXPECT_LE(worst_attn, attn_tol);
    std::cout << "[ fold     ] " << name << ": positional max abs err " << worst_pos
              << " vs float64, blended attention max abs err " << worst_attn << " vs PyTorch\n";
  }
}

}  // namespace
