// SPDX-License-Identifier: MIT
// Firmware image: the int8 kernels (gpsa/core/int8.hpp) on the Cortex-M4, bit for bit.
//
//  - the DSP inner products (SXTB16 + SMLAD, the build's backend) against the portable code and
//    a plain int64 loop, on pseudo-random codes over shapes with odd rows / columns and inputs
//    that are not a multiple of 4 (the DSP loop's tail), the full int8 range included;
//  - the NumPy reference's fixtures (golden/int8_kernels_golden.h, from tests/golden/int8):
//    block 0's fc2 of the digits model, its weights quantised here from the float weights, the
//    input codes, the int32 product and the requantised output with its residual; block 0's norm1
//    codes; every number equal to the host's and the reference's;
//  - the same bits with the FPU switched to flush-to-zero and round-toward-+inf by the caller
//    (the kernels run in IEEE's default mode whatever the caller's FPSCR).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "fw_check.h"
#include "gpsa/core/int8.hpp"
#include "int8_kernels.hpp"
#include "int8_kernels_golden.h"

namespace {

constexpr std::size_t kMaxM = 9, kMaxN = 10, kMaxK = 515;
std::int8_t xs[kMaxM * kMaxK], ws[kMaxN * kMaxK];
std::int32_t c_dsp[kMaxM * kMaxN], c_portable[kMaxM * kMaxN], c_api[kMaxM * kMaxN];

std::uint32_t lcg_state = 12345u;
std::int8_t next_code(int lo, int span) {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return static_cast<std::int8_t>(lo +
                                  static_cast<int>((lcg_state >> 8) % static_cast<unsigned>(span)));
}

void check_random_products() {
  struct shape {
    std::size_t m, n, k;
  };
  const shape shapes[] = {{1, 1, 1},  {2, 2, 4},  {3, 5, 7},   {4, 4, 8},   {5, 3, 9},
                          {9, 10, 3}, {2, 1, 13}, {8, 8, 128}, {9, 9, 515}, {1, 7, 0}};
  std::size_t bad_dsp = 0, bad_portable = 0, bad_api = 0, total = 0;
  for (int round = 0; round < 2; ++round)  // [-127, 127] codes, then the full int8 range
    for (const shape& s : shapes) {
      const int lo = round == 0 ? -127 : -128, span = round == 0 ? 255 : 256;
      for (std::size_t i = 0; i < s.m * s.k; ++i) xs[i] = next_code(lo, span);
      for (std::size_t i = 0; i < s.n * s.k; ++i) ws[i] = next_code(lo, span);
#if defined(GPSA_HAVE_INT8_DSP)
      gpsa::detail::int8_gemm_dsp(s.m, s.n, s.k, xs, ws, c_dsp);
#endif
      gpsa::detail::int8_gemm_portable(s.m, s.n, s.k, xs, ws, c_portable);
      if (gpsa::int8_gemm({s.m, s.n, s.k}, {xs, s.m * s.k}, {ws, s.n * s.k}, {c_api, s.m * s.n}) !=
          gpsa::status::ok)
        ++bad_api;
      for (std::size_t i = 0; i < s.m; ++i)
        for (std::size_t o = 0; o < s.n; ++o) {
          std::int64_t want = 0;
          for (std::size_t j = 0; j < s.k; ++j)
            want += std::int64_t{xs[i * s.k + j]} * ws[o * s.k + j];
          const std::size_t at = i * s.n + o;
          bad_dsp += c_dsp[at] != want;
          bad_portable += c_portable[at] != want;
          bad_api += c_api[at] != want;
          ++total;
        }
    }
  fw_check_bits("int8_gemm_dsp vs int64 sums (random, tails)", bad_dsp, total);
  fw_check_bits("int8_gemm_portable vs int64 sums", bad_portable, total);
  fw_check_bits("gpsa::int8_gemm vs int64 sums", bad_api, total);
}

template <class A, class B>
std::size_t mismatched_bits(const A* a, const B* b, std::size_t n) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += std::memcmp(&a[i], &b[i], sizeof a[i]) != 0;
  return bad;
}

constexpr std::size_t M = INT8_FC2_M, N = INT8_FC2_N, K = INT8_FC2_K;
std::int8_t w_codes[N * K], x_codes[M * K], q_codes[INT8_Q_ROWS * INT8_Q_COLS];
float w_scales[N], multiplier[N], y[M * N];
std::int32_t acc[M * N];

// The fixtures through the public kernels. The per-channel multipliers (input scale * weight
// scale, made on the host when a model is quantised) are computed here only in IEEE's default
// mode (`own_multipliers`); otherwise the reference's are used.
void run_fc2_case(const char* label, bool own_multipliers) {
  char what[128];
  using gpsa::status;
  const bool ok_w = gpsa::int8_quantize_weights(N, K, {&int8_fc2_w[0][0], N * K}, w_codes,
                                                w_scales) == status::ok;
  const bool ok_x = gpsa::int8_quantize({&int8_fc2_x[0][0], M * K}, int8_fc2_x_multiplier[0],
                                        x_codes) == status::ok;
  for (std::size_t o = 0; o < N; ++o)
    multiplier[o] = own_multipliers ? int8_fc2_x_scale[0] * w_scales[o] : int8_fc2_multiplier[o];
  const bool ok_g = gpsa::int8_gemm({M, N, K}, x_codes, w_codes, acc) == status::ok;
  std::memcpy(y, int8_fc2_y_in, sizeof y);
  const bool ok_l = gpsa::int8_linear({M, N, K}, {w_codes, multiplier, int8_fc2_bias}, x_codes, y,
                                      gpsa::int8_output::accumulate) == status::ok;
  const bool ok_q = gpsa::int8_quantize({&int8_q_x[0][0], INT8_Q_ROWS * INT8_Q_COLS},
                                        int8_q_multiplier[0], q_codes) == status::ok;
  std::snprintf(what, sizeof what, "%s: every kernel returns ok", label);
  fw_check_true(what, ok_w && ok_x && ok_g && ok_l && ok_q);
  std::snprintf(what, sizeof what, "%s: fc2 weight codes", label);
  fw_check_bits(what, mismatched_bits(w_codes, &int8_fc2_w_codes[0][0], N * K), N * K);
  std::snprintf(what, sizeof what, "%s: fc2 weight scales", label);
  fw_check_bits(what, mismatched_bits(w_scales, int8_fc2_w_scales, N), N);
  std::snprintf(what, sizeof what, "%s: fc2 input codes", label);
  fw_check_bits(what, mismatched_bits(x_codes, &int8_fc2_x_codes[0][0], M * K), M * K);
  std::snprintf(what, sizeof what, "%s: fc2 multipliers", label);
  fw_check_bits(what, mismatched_bits(multiplier, int8_fc2_multiplier, N), N);
  std::snprintf(what, sizeof what, "%s: fc2 int32 products", label);
  fw_check_bits(what, mismatched_bits(acc, &int8_fc2_acc[0][0], M * N), M * N);
  std::snprintf(what, sizeof what, "%s: fc2 output + residual", label);
  fw_check_bits(what, mismatched_bits(y, &int8_fc2_y[0][0], M * N), M * N);
  std::snprintf(what, sizeof what, "%s: norm1 codes", label);
  fw_check_bits(what, mismatched_bits(q_codes, &int8_q_codes[0][0], INT8_Q_ROWS * INT8_Q_COLS),
                INT8_Q_ROWS * INT8_Q_COLS);
}

}  // namespace

int main() {
  std::printf("int8 backend: %s\n", gpsa::int8_backend());
#if defined(GPSA_HAVE_INT8_DSP)
  fw_check_true("the build uses the DSP inner products",
                std::strcmp(gpsa::int8_backend(), "dsp") == 0);
#else
  fw_check_true("this core has the DSP extension (__ARM_FEATURE_DSP)", false);
#endif
  check_random_products();
  run_fc2_case("reference fixtures", true);
#if defined(__ARM_FP)
  // The caller's FPU mode: flush-to-zero (FPSCR.FZ) and round toward +inf (RMode = 01).
  const unsigned saved = __builtin_arm_get_fpscr();
  __builtin_arm_set_fpscr((saved & ~(3u << 22)) | (1u << 24) | (1u << 22));
  run_fc2_case("caller in FZ + round-up mode", false);
  const unsigned after = __builtin_arm_get_fpscr();
  __builtin_arm_set_fpscr(saved);
  fw_check_true("the caller's FPSCR mode is restored", ((after >> 22) & 7u) == 5u);
#endif
  return fw_finish("int8_kernels");
}
