// SPDX-License-Identifier: MIT
// NaN / Inf in `gpsa forward` without --strict: they propagate exactly as in PyTorch's GPSA.
// The expected pattern follows from the layer's math (a NaN in one batch item's x makes that
// item's q, k, v rows NaN, so every softmax row of that item holds a NaN; a NaN or +Inf in one
// head's positional / gating parameters makes that head's attention NaN, and proj mixes every
// head into every channel). Everything not reached by the bad value must still equal the
// golden PyTorch output within the golden tolerances.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <span>

#include "cli_runner.hpp"

namespace {

using namespace gpsa_cli_test;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// s2_h4_c16: B = 2, N = 4, D = 16, H = 4.
const std::string kCase = "s2_h4_c16";
constexpr std::size_t B = 2, N = 4, D = 16, H = 4;

struct tolerances {
  double attn_abs, y_rel_to_max, dist_abs;
};

tolerances golden_tolerances() {
  const auto j = nlohmann::json::parse(slurp(golden("cases.json")));
  const auto& t = j.at("tolerance");
  return {t.at("attn_abs").get<double>(), t.at("y_rel_to_max").get<double>(),
          t.at("dist_abs").get<double>()};
}

struct outputs {
  npy_f32 y, attn, dist;
};

// gpsa forward on (weights, x) from `dir`; must succeed silently on stderr.
outputs forward_ok(const scratch& dir, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"forward",
                                "--weights",
                                (dir / "w.safetensors").string(),
                                "--input",
                                (dir / "x.npy").string(),
                                "-o",
                                (dir / "y.npy").string(),
                                "--attention",
                                (dir / "attn.npy").string(),
                                "--distances",
                                (dir / "dist.npy").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const run_result r = run_gpsa(args);
  EXPECT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_EQ(r.err, "");
  return {read_npy_f32(dir / "y.npy"), read_npy_f32(dir / "attn.npy"),
          read_npy_f32(dir / "dist.npy")};
}

outputs golden_outputs() {
  return {read_npy_f32(golden(kCase + "/y.npy")), read_npy_f32(golden(kCase + "/attn.npy")),
          read_npy_f32(golden(kCase + "/dist.npy"))};
}

std::span<const float> part(const npy_f32& a, std::size_t begin, std::size_t count) {
  return std::span<const float>(a.data).subspan(begin, count);
}

std::size_t count_nan(std::span<const float> v) {
  return static_cast<std::size_t>(
      std::count_if(v.begin(), v.end(), [](float f) { return std::isnan(f); }));
}

std::size_t count_nonfinite(std::span<const float> v) {
  return static_cast<std::size_t>(
      std::count_if(v.begin(), v.end(), [](float f) { return !std::isfinite(f); }));
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(double(a[i]) - double(b[i]));
    if (!(e <= m)) m = std::isnan(e) ? INFINITY : e;
  }
  return m;
}

double max_abs(std::span<const float> a) {
  double m = 0;
  for (float v : a) m = std::max(m, std::abs(double(v)));
  return m;
}

class NanPolicy : public ::testing::Test {
 protected:
  scratch dir;
  tolerances tol = golden_tolerances();
  outputs ref = golden_outputs();
  double y_tol = tol.y_rel_to_max * max_abs(ref.y.data);

  void SetUp() override {
    copy_golden(kCase + "/weights.safetensors", dir / "w.safetensors");
    copy_golden(kCase + "/x.npy", dir / "x.npy");
    ASSERT_EQ(ref.y.shape, (std::vector<std::size_t>{B, N, D}));
    ASSERT_EQ(ref.attn.shape, (std::vector<std::size_t>{B, H, N, N}));
  }

  void poke_weight(const std::string& key, std::size_t flat, float v) {
    poked_safetensors(kCase + "/weights.safetensors", dir / "w.safetensors", "blocks.0.attn." + key,
                      flat, v);
  }

  // One head's attention is all NaN in every batch item, the other heads equal PyTorch's, y is
  // all NaN (proj mixes every head into every channel), only that head's distance is NaN.
  void expect_one_head_poisoned(const outputs& o, std::size_t bad) {
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        const std::size_t at = (b * H + h) * N * N;
        if (h == bad)
          EXPECT_EQ(count_nan(part(o.attn, at, N * N)), N * N) << "b " << b << " h " << h;
        else
          EXPECT_LE(max_abs_diff(part(o.attn, at, N * N), part(ref.attn, at, N * N)), tol.attn_abs)
              << "b " << b << " h " << h;
      }
    EXPECT_EQ(count_nan(o.y.data), B * N * D);
    for (std::size_t h = 0; h < H; ++h) {
      if (h == bad)
        EXPECT_TRUE(std::isnan(o.dist.data[h]));
      else
        EXPECT_NEAR(o.dist.data[h], ref.dist.data[h], tol.dist_abs) << "h " << h;
    }
  }
};

TEST_F(NanPolicy, NaNInInputPoisonsOnlyItsBatchItem) {
  poked_npy(kCase + "/x.npy", dir / "x.npy", (0 * N + 2) * D + 5, kNaN);  // x[0, 2, 5]
  const outputs o = forward_ok(dir);
  EXPECT_EQ(count_nan(part(o.y, 0, N * D)), N * D);
  EXPECT_LE(max_abs_diff(part(o.y, N * D, N * D), part(ref.y, N * D, N * D)), y_tol);
  EXPECT_EQ(count_nan(part(o.attn, 0, H * N * N)), H * N * N);
  EXPECT_LE(max_abs_diff(part(o.attn, H * N * N, H * N * N), part(ref.attn, H * N * N, H * N * N)),
            tol.attn_abs);
  EXPECT_EQ(count_nan(o.dist.data), H);  // the batch mean includes item 0
}

TEST_F(NanPolicy, InfInInputPoisonsOnlyItsBatchItem) {
  poked_npy(kCase + "/x.npy", dir / "x.npy", (0 * N + 2) * D + 5, kInf);  // x[0, 2, 5] = +Inf
  const outputs o = forward_ok(dir);
  // Patch 2 of item 0 attends to itself with positive weight and its value row is infinite.
  EXPECT_EQ(count_nonfinite(part(o.y, 2 * D, D)), D);
  EXPECT_LE(max_abs_diff(part(o.y, N * D, N * D), part(ref.y, N * D, N * D)), y_tol);
  EXPECT_LE(max_abs_diff(part(o.attn, H * N * N, H * N * N), part(ref.attn, H * N * N, H * N * N)),
            tol.attn_abs);
}

TEST_F(NanPolicy, NaNInGatingParamPoisonsItsHead) {
  poke_weight("gating_param", 1, kNaN);
  expect_one_head_poisoned(forward_ok(dir), 1);
}

TEST_F(NanPolicy, InfInPosProjBiasPoisonsItsHead) {
  // every positional logit of head 2 is +Inf: softmax gives Inf - Inf = NaN, as in PyTorch
  poke_weight("pos_proj.bias", 2, kInf);
  expect_one_head_poisoned(forward_ok(dir), 2);
}

TEST_F(NanPolicy, NaNInQueryWeightPoisonsItsHead) {
  // qk.weight row 5 is a query channel of head 1 (head width D / H = 4)
  poke_weight("qk.weight", 5 * D + 0, kNaN);
  expect_one_head_poisoned(forward_ok(dir), 1);
}

TEST_F(NanPolicy, NaNInProjBiasPoisonsOneChannel) {
  poke_weight("proj.bias", 3, kNaN);
  const outputs o = forward_ok(dir);
  for (std::size_t i = 0; i < B * N * D; ++i) {
    if (i % D == 3)
      EXPECT_TRUE(std::isnan(o.y.data[i])) << i;
    else
      EXPECT_NEAR(o.y.data[i], ref.y.data[i], y_tol) << i;
  }
  EXPECT_LE(max_abs_diff(o.attn.data, ref.attn.data), tol.attn_abs);
  EXPECT_LE(max_abs_diff(o.dist.data, ref.dist.data), tol.dist_abs);
}

// --strict on finite data: same exit, same bytes as without it.
TEST(StrictMode, FiniteDataGivesTheSameBytes) {
  for (const std::string c : {"s2_h4_c16", "s3_h9_c36_bias"}) {
    scratch a, b;
    for (const scratch* d : {&a, &b}) {
      copy_golden(c + "/weights.safetensors", *d / "w.safetensors");
      copy_golden(c + "/x.npy", *d / "x.npy");
    }
    forward_ok(a);
    forward_ok(b, {"--strict"});
    for (const char* f : {"y.npy", "attn.npy", "dist.npy"})
      EXPECT_EQ(slurp(a / f), slurp(b / f)) << c << " " << f;
  }
}

}  // namespace
