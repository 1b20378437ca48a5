// SPDX-License-Identifier: MIT
// int8 kernels of the core (docs/DESIGN.md §9): symmetric int8 codes for activations and
// per-channel weights, int8 x int8 products accumulated in int32, requantised per output channel
// to float. No heap, no exceptions, caller-owned buffers.
//
// Every result is exactly specified, so a host and a Cortex-M4 give the same bits: integer sums
// are exact (any order, no overflow below 133,000 terms), and each float step is one IEEE-754
// single-precision operation rounded to nearest-even (no fused multiply-add: this code is built
// with contraction off). The kernels run under that rounding mode with subnormals kept (x86 MXCSR /
// Arm FPSCR set for the call, the caller's restored). On Arm cores with the DSP extension
// (__ARM_FEATURE_DSP: Cortex-M4, M7, M33...) the inner products use SXTB16 + SMLAD, two 16-bit
// multiply-accumulates per instruction; their sums are the portable code's, bit for bit.
//
// Codes are in [-127, 127] (-128 is never produced). Layouts are row-major, PyTorch's:
// activations (rows, in), nn.Linear weights (out, in).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "gpsa/status.hpp"

namespace gpsa {

inline constexpr int int8_code_max = 127;

// The two numbers of one quantised tensor (or of one weight row) with largest magnitude `amax`:
// value = code * scale, code = int8_quantize(value, multiplier).
struct int8_params {
  float scale = 0.0f;       // amax / 127 (one float division)
  float multiplier = 0.0f;  // 127 / amax (one float division)
};

// scale and multiplier for amax >= FLT_MIN; amax in [0, FLT_MIN) gives {0, 0} (every value
// quantises to 0: the tensor was all zeros). invalid_argument for a negative, NaN or infinite
// amax.
status int8_params_of(float amax, int8_params& p) noexcept;

// The code of x: sat(round_half_even(x * multiplier)), the product rounded to float first,
// saturated to [-127, 127] (+-Inf too); NaN gives 0.
std::int8_t int8_quantize(float x, float multiplier) noexcept;

// q[i] = int8_quantize(x[i], multiplier). shape_mismatch unless q.size() == x.size().
status int8_quantize(std::span<const float> x, float multiplier, std::span<std::int8_t> q) noexcept;

// x[i] = float(q[i]) * scale (one rounding). shape_mismatch unless sizes agree.
status int8_dequantize(std::span<const std::int8_t> q, float scale, std::span<float> x) noexcept;

// Symmetric per-row (per output channel) quantisation of a (rows, cols) weight:
// params[r] = int8_params_of(max |w[r, :]|), q[r, c] = int8_quantize(w[r, c], multiplier of r).
// scales[r] = params[r].scale. invalid_argument when a weight is NaN or infinite (naming no
// index: check the weights first when you need one), shape_mismatch when a span's size is not
// rows * cols (w, q) or rows (scales), size_overflow.
status int8_quantize_weights(std::size_t rows, std::size_t cols, std::span<const float> w,
                             std::span<std::int8_t> q, std::span<float> scales) noexcept;

// The shape of a product: rows of the activation, out and in of the weight.
struct int8_dims {
  std::size_t rows = 0;  // m
  std::size_t out = 0;   // n
  std::size_t in = 0;    // k
};

// c (rows, out) = x (rows, in) w (out, in)^T in int32, exactly: c[i, o] = sum_j x[i, j] w[o, j].
// in <= int8_max_in (no int32 overflow; invalid_argument beyond), shape_mismatch when a span's
// size is not the product of its dims, size_overflow.
inline constexpr std::size_t int8_max_in = 2147483647 / (127 * 127);  // 133144
status int8_gemm(const int8_dims& d, std::span<const std::int8_t> x, std::span<const std::int8_t> w,
                 std::span<std::int32_t> c) noexcept;

// One nn.Linear in int8: codes of the weight, and per output channel the requantisation
// multiplier (input scale * weight scale of that row, one float product made when the model is
// quantised) and the float bias.
struct int8_linear_weights {
  const std::int8_t* weight = nullptr;  // (out, in) codes
  const float* multiplier = nullptr;    // (out)
  const float* bias = nullptr;          // (out), null = none
};

enum class int8_output : unsigned char {
  store,       // y = r
  accumulate,  // y = y + r (a residual connection)
};

// y (rows, out) from x (rows, in) codes: r[i, o] = float(acc[i, o]) * multiplier[o] (+ bias[o]),
// acc the exact int32 product of int8_gemm, each step one float operation in that order; then
// stored or added to y (int8_output). Errors as int8_gemm, and invalid_argument for a null
// weight or multiplier. y must not overlap x or the weights.
status int8_linear(const int8_dims& d, const int8_linear_weights& w, std::span<const std::int8_t> x,
                   std::span<float> y, int8_output mode = int8_output::store) noexcept;

// Which inner-product code this build runs: "dsp" (SXTB16 + SMLAD) or "portable".
const char* int8_backend() noexcept;

}  // namespace gpsa
