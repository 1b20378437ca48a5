// SPDX-License-Identifier: MIT
// gpsa::thread_pool_executor: a std::thread pool implementing the core's gpsa::executor.
//
// Part of gpsa::runtime. The core kernels (gpsa/core/layer.hpp) never start threads; they split
// their per-(item, head) work through a `const gpsa::executor*` the host supplies. An inference
// engine passes its own pool; this class is the ready-made one:
//
//   gpsa::thread_pool_executor pool(2);                  // the caller + 1 helper thread
//   gpsa::layer_scratch_size(gpsa::dims_of(w, pos, B), pool.workers(), floats);
//   gpsa::layer_forward(w, pos, B, x, y, {}, scratch, &pool.get());
//   layer.set_executor(&pool.get());                     // or through gpsa::layer
#pragma once

#include <cstddef>
#include <memory>

#include "gpsa/core/types.hpp"

namespace gpsa {

class thread_pool_executor {
 public:
  // `workers` >= 1 (std::invalid_argument otherwise): the calling thread is worker 0 and
  // workers - 1 helper threads are started here and joined by the destructor. One
  // parallel_for runs at a time (concurrent callers take turns); tasks must not throw. A thread
  // the system refuses is std::system_error "cannot start helper thread K of N: REASON" (the
  // threads already started are joined first).
  explicit thread_pool_executor(std::size_t workers);
  ~thread_pool_executor();
  thread_pool_executor(const thread_pool_executor&) = delete;
  thread_pool_executor& operator=(const thread_pool_executor&) = delete;

  std::size_t workers() const noexcept { return ex_.workers; }
  // The view to pass to the kernels / gpsa::layer::set_executor; valid while this pool lives.
  const executor& get() const noexcept { return ex_; }

 private:
  struct state;
  static void run(void* context, std::size_t count,
                  void (*task)(void* arg, std::size_t index, std::size_t worker), void* arg);
  std::unique_ptr<state> s_;
  executor ex_{};
};

}  // namespace gpsa
