// SPDX-License-Identifier: MIT
// gpsa::thread_pool_executor: the caller plus workers - 1 std::threads sharing an atomic index.
//
// A parallel_for is a fork and a join. The kernels issue one per phase (a whole-model forward has
// a few dozen), so both ends wait by spinning for a short while before sleeping: a helper that
// has just finished a task set polls for the next one, and the caller polls for the helpers'
// end, for up to kSpin each; only then do they block on a condition variable (which on a busy
// or virtual machine can take tens of microseconds to wake).
#include "gpsa/runtime/thread_pool_executor.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace gpsa {
namespace {

using task_fn = void (*)(void* arg, std::size_t index, std::size_t worker);

// How long an idle thread polls before it sleeps.
constexpr std::chrono::microseconds kSpin{200};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#else
  std::this_thread::yield();
#endif
}

// Polls `ready` (with cpu_relax between tries) until it holds or kSpin has passed.
template <class Ready>
bool spin_until(Ready ready) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::time_point end = clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (clock::now() >= end) return ready();
  }
}

}  // namespace

struct thread_pool_executor::state {
  std::mutex run_mutex;  // one parallel_for at a time
  std::mutex m;          // guards the sleeping ends of start / done
  std::condition_variable start, done;
  // The current task set, published by the release store of `generation`.
  task_fn task = nullptr;
  void* arg = nullptr;
  std::size_t count = 0;
  std::atomic<std::uint64_t> generation{0};
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> active{0};  // helpers still working on the current generation
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;

  void drain(task_fn t, void* a, std::size_t n, std::size_t worker) noexcept {
    for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed))
      t(a, i, worker);
  }

  void helper(std::size_t worker) noexcept {
    std::uint64_t seen = 0;
    for (;;) {
      const auto fresh = [&] {
        return stop.load(std::memory_order_acquire) ||
               generation.load(std::memory_order_acquire) != seen;
      };
      if (!spin_until(fresh)) {
        std::unique_lock lk(m);
        start.wait(lk, fresh);
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = generation.load(std::memory_order_acquire);
      drain(task, arg, count, worker);
      if (active.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lk(m);  // the caller may be between its check and its wait
        done.notify_one();
      }
    }
  }

  void run(std::size_t n, task_fn t, void* a) noexcept {
    if (n == 0) return;
    std::lock_guard serial(run_mutex);
    if (threads.empty() || n == 1) {
      for (std::size_t i = 0; i < n; ++i) t(a, i, 0);
      return;
    }
    {
      std::lock_guard lk(m);  // a helper about to sleep either sees the new generation or is woken
      task = t;
      arg = a;
      count = n;
      next.store(0, std::memory_order_relaxed);
      active.store(threads.size(), std::memory_order_relaxed);
      generation.fetch_add(1, std::memory_order_release);
    }
    start.notify_all();
    drain(t, a, n, 0);
    const auto finished = [&] { return active.load(std::memory_order_acquire) == 0; };
    if (!spin_until(finished)) {
      std::unique_lock lk(m);
      done.wait(lk, finished);
    }
  }
};

void thread_pool_executor::run(void* context, std::size_t count, task_fn task, void* arg) {
  static_cast<state*>(context)->run(count, task, arg);
}

thread_pool_executor::thread_pool_executor(std::size_t workers) : s_(std::make_unique<state>()) {
  if (workers == 0)
    throw std::invalid_argument("thread_pool_executor: workers is 0, expected >= 1");
  s_->threads.reserve(workers - 1);
  const auto stop_started = [&] {
    {
      std::lock_guard lk(s_->m);
      s_->stop.store(true, std::memory_order_release);
    }
    s_->start.notify_all();
    for (auto& t : s_->threads) t.join();
  };
  try {
    for (std::size_t w = 1; w < workers; ++w)
      s_->threads.emplace_back([st = s_.get(), w] { st->helper(w); });
  } catch (const std::system_error& e) {
    const std::size_t started = s_->threads.size();
    stop_started();
    // The bare "Resource temporarily unavailable" says nothing about threads.
    throw std::system_error(e.code(), "cannot start helper thread " + std::to_string(started + 1) +
                                          " of " + std::to_string(workers - 1));
  } catch (...) {
    stop_started();
    throw;
  }
  ex_ = executor{s_.get(), &thread_pool_executor::run, workers};
}

thread_pool_executor::~thread_pool_executor() {
  {
    std::lock_guard lk(s_->m);
    s_->stop.store(true, std::memory_order_release);
  }
  s_->start.notify_all();
  for (auto& t : s_->threads) t.join();
}

}  // namespace gpsa
