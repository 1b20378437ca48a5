// SPDX-License-Identifier: MIT
// The C++ example of docs/int8.md: one linear layer in int8, from float weights and a calibrated
// activation scale; checked against the float layer it approximates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <gpsa/core/int8.hpp>
#include <vector>

TEST(Int8DocsExample, LinearLayerInInt8) {
  constexpr std::size_t rows = 3, in = 8, out = 4;
  std::vector<float> w(out * in), bias(out), x(rows * in);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.05f * static_cast<float>(int(i % 7) - 3);
  for (std::size_t o = 0; o < out; ++o) bias[o] = 0.1f * static_cast<float>(o);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  const float amax_x = 1.0f;  // calibrated: the largest |x| seen on calibration data

  // --- the documented code ---
  std::vector<std::int8_t> w_codes(out * in), x_codes(rows * in);
  std::vector<float> w_scales(out), multiplier(out), y(rows * out);
  gpsa::int8_params px{};
  gpsa::status s = gpsa::int8_params_of(amax_x, px);
  if (s == gpsa::status::ok)  // once per model
    s = gpsa::int8_quantize_weights(out, in, w, w_codes, w_scales);
  for (std::size_t o = 0; o < out; ++o) multiplier[o] = px.scale * w_scales[o];
  if (s == gpsa::status::ok)  // per input
    s = gpsa::int8_quantize(x, px.multiplier, x_codes);
  if (s == gpsa::status::ok)
    s = gpsa::int8_linear({rows, out, in}, {w_codes.data(), multiplier.data(), bias.data()},
                          x_codes, y, gpsa::int8_output::store);
  // --- end ---

  ASSERT_EQ(s, gpsa::status::ok);
  // Against the float layer in float64: each product's error is at most half a step of each
  // code (amax / 254 for x, amax_row / 254 for w), summed over `in` terms.
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t o = 0; o < out; ++o) {
      double exact = bias[o], wmax = 0.0;
      for (std::size_t j = 0; j < in; ++j) {
        exact += double(x[i * in + j]) * w[o * in + j];
        wmax = std::fmax(wmax, std::fabs(w[o * in + j]));
      }
      const double bound = in * (amax_x / 254.0 * wmax + wmax / 254.0 * amax_x + 1e-4);
      EXPECT_NEAR(y[i * out + o], exact, bound) << i << "," << o;
    }
}
