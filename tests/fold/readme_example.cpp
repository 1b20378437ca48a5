// SPDX-License-Identifier: MIT
// The C++ example of docs/firmware.md: a layer folded by the compiler, used at run time.
#include <gtest/gtest.h>

#include <array>
#include <gpsa/core/fold.hpp>
#include <vector>

// pos_proj.weight (H, 3) and gating_param (H) of a trained layer, pasted as constants
constexpr std::array<float, 12> pos_weight = {-1.9f, -2.1f, -1.0f, 2.0f, -1.8f, -1.1f,
                                              -2.2f, 1.9f,  -0.9f, 0.1f, 0.0f,  -0.05f};
constexpr std::array<float, 4> gating = {2.0f, 1.5f, 0.3f, -4.0f};

// Folded by the compiler: 4*(14*14 + 14*14) + 4 floats in .rodata, no start-up code.
constexpr auto folded = gpsa::layer_fold<4, 14>(pos_weight, gating);
static_assert(folded.state == gpsa::status::ok);
static_assert(folded.lambda[3] < 0.02f);  // head 3 mostly ignores position (sigmoid(-4))

TEST(ReadmeExample, CompileTimeFoldAppliedAtRunTime) {
  constexpr std::size_t d = 16, N = 14 * 14, width = 4 * d;
  std::size_t floats = 0;  // N * d
  ASSERT_EQ(gpsa::positional_apply_scratch_size({14, 14}, d, floats), gpsa::status::ok);
  std::vector<float> v(N * width, 1.0f), out(N * width), scratch(floats);
  // position[h] * v_h for every head, O(N (R + C) d)
  ASSERT_EQ(gpsa::positional_apply(folded.view(), d, v.data(), width, out.data(), width, scratch),
            gpsa::status::ok);
  EXPECT_NEAR(out[0], 1.0f, 1e-5f);  // rows of position sum to 1, so constant values stay
}
