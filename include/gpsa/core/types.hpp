// SPDX-License-Identifier: MIT
// The bottom of gpsa::core, included by every kernel header: status, the patch grid, checked size
// arithmetic, the host's executor (and its one validation), scratch alignment.
//
// Nothing here allocates, throws or starts a thread. The layering inside the core, each header
// including only those before it: core/types.hpp -> core/linalg.hpp, core/nn_kernels.hpp ->
// core/fold.hpp -> core/positional.hpp -> core/layer.hpp -> core/convit.hpp (core/preprocess.hpp
// stands beside them on core/types.hpp); docs/CONTRIBUTING.md states the conventions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpsa/detail/checked.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/status.hpp"

namespace gpsa {

// A host-supplied parallel loop: parallel_for(context, count, task, arg) runs task(arg, i, worker)
// once for every i in [0, count), on up to `workers` threads, and returns when all calls are done.
// `worker` (< workers) names the thread running the call: no two calls that overlap in time may
// get the same worker, since it selects that call's slice of scratch. The tasks are noexcept.
// gpsa::core itself starts no thread; gpsa::thread_pool_executor
// (gpsa/runtime/thread_pool_executor.hpp) is a ready-made one. A null `const executor*` is the
// serial path; results are bit-identical for any worker count.
struct executor {
  void* context = nullptr;
  void (*parallel_for)(void* context, std::size_t count,
                       void (*task)(void* arg, std::size_t index, std::size_t worker),
                       void* arg) = nullptr;
  std::size_t workers = 1;
};

// ok for null (the serial path) or an executor with workers >= 1 and a parallel_for;
// invalid_argument otherwise. Every kernel that takes an executor checks it with this.
constexpr status validate(const executor* ex) noexcept {
  if (ex != nullptr && (ex->workers == 0 || ex->parallel_for == nullptr))
    return status::invalid_argument;
  return status::ok;
}

// The worker count a scratch query needs for `ex`: ex->workers, or 1 for the serial path.
constexpr std::size_t workers_of(const executor* ex) noexcept {
  return ex != nullptr && ex->parallel_for != nullptr ? ex->workers : 1;
}

// Scratch is a caller-owned std::span<float>; its size query (`…_scratch_size(…, floats)`)
// includes the slack that lets a kernel start its first region on a 64-byte boundary whatever the
// caller's pointer, so any float-aligned buffer of that many floats works.
inline constexpr std::size_t scratch_align_floats = 16;  // 64 bytes

namespace detail {

// n rounded up to whole 64-byte units of floats; false when that overflows.
constexpr bool round_up_aligned(std::size_t n, std::size_t& out) noexcept {
  if (n > static_cast<std::size_t>(-1) - (scratch_align_floats - 1)) return false;
  out = (n + scratch_align_floats - 1) / scratch_align_floats * scratch_align_floats;
  return true;
}

// p rounded up to a 64-byte boundary (at most scratch_align_floats - 1 floats further).
inline float* align_floats(float* p) noexcept {
  const auto u = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t mask = scratch_align_floats * sizeof(float) - 1;
  return p + ((((u + mask) & ~mask) - u) / sizeof(float));
}

}  // namespace detail

}  // namespace gpsa
