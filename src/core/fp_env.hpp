// SPDX-License-Identifier: MIT
// Core-private: a scope in which subnormal floats count as zero (x86 MXCSR FTZ + DAZ), the
// caller's floating-point mode restored on exit.
//
// Subnormal numbers cost x86 cores a microcode assist per operation (~100 cycles). Products of the
// positional softmax's tiny tails produce them: the separable positional GEMMs ran 15x slower in
// the layer forward, the factored blend 2x. Inside this scope such values become 0: results move
// by less than FLT_MIN per term, identically on every run and SIMD target. Elsewhere (no x86
// MXCSR) the scope does nothing.
#pragma once

#if defined(__SSE__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 1)
#include <xmmintrin.h>
#define GPSA_HAVE_MXCSR 1
#endif

namespace gpsa::detail {

class flush_subnormals {
 public:
#if defined(GPSA_HAVE_MXCSR)
  flush_subnormals() noexcept : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtzDaz); }
  ~flush_subnormals() { _mm_setcsr(saved_); }
#else
  flush_subnormals() noexcept = default;
#endif
  flush_subnormals(const flush_subnormals&) = delete;
  flush_subnormals& operator=(const flush_subnormals&) = delete;

 private:
#if defined(GPSA_HAVE_MXCSR)
  static constexpr unsigned kFtzDaz = 0x8040u;  // flush-to-zero (bit 15), denormals-are-zero (6)
  unsigned saved_;
#endif
};

// A scope in which float arithmetic follows IEEE 754's defaults: round to nearest-even, subnormal
// inputs and results kept (x86: MXCSR FTZ, DAZ and rounding control cleared; Arm with an FPU:
// FPSCR FZ and RMode cleared), the caller's mode restored on exit. The int8 kernels run in it, so
// their float steps give the same bits whatever mode the caller (or gpsa's float forward, see
// flush_subnormals) left behind.
class ieee_mode {
 public:
#if defined(GPSA_HAVE_MXCSR)
  ieee_mode() noexcept : saved_(_mm_getcsr()) { _mm_setcsr(saved_ & ~kModeBits); }
  ~ieee_mode() { _mm_setcsr(saved_); }
#elif defined(__ARM_FP) && defined(__GNUC__) && !defined(__clang__)
  ieee_mode() noexcept : saved_(__builtin_arm_get_fpscr()) {
    __builtin_arm_set_fpscr(saved_ & ~kModeBits);
  }
  ~ieee_mode() { __builtin_arm_set_fpscr(saved_); }
#else
  ieee_mode() noexcept = default;
#endif
  ieee_mode(const ieee_mode&) = delete;
  ieee_mode& operator=(const ieee_mode&) = delete;

 private:
#if defined(GPSA_HAVE_MXCSR)
  static constexpr unsigned kModeBits = 0x8040u | 0x6000u;  // FTZ, DAZ, rounding control
  unsigned saved_;
#elif defined(__ARM_FP) && defined(__GNUC__) && !defined(__clang__)
  static constexpr unsigned kModeBits = (1u << 24) | (3u << 22);  // FZ, RMode
  unsigned saved_;
#endif
};

// The calling thread's subnormal handling (FTZ / DAZ) and rounding mode, captured before work
// goes to an executor's workers: each task then runs under the caller's mode (fp_mode_scope), so
// a split computation rounds exactly as the serial one (MXCSR is per thread).
struct fp_mode {
#if defined(GPSA_HAVE_MXCSR)
  static constexpr unsigned kMask = 0x8040u | 0x6000u;  // FTZ, DAZ, rounding control
  unsigned bits = _mm_getcsr() & kMask;
#endif
};

class fp_mode_scope {
 public:
#if defined(GPSA_HAVE_MXCSR)
  explicit fp_mode_scope(const fp_mode& m) noexcept : saved_(_mm_getcsr()) {
    _mm_setcsr((saved_ & ~fp_mode::kMask) | m.bits);
  }
  ~fp_mode_scope() { _mm_setcsr(saved_); }
#else
  explicit fp_mode_scope(const fp_mode& /*m*/) noexcept {}
#endif
  fp_mode_scope(const fp_mode_scope&) = delete;
  fp_mode_scope& operator=(const fp_mode_scope&) = delete;

 private:
#if defined(GPSA_HAVE_MXCSR)
  unsigned saved_;
#endif
};

}  // namespace gpsa::detail
