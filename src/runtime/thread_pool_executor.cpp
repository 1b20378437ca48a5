// SPDX-License-Identifier: MIT
// gpsa::thread_pool_executor: the caller plus workers - 1 std::threads sharing an atomic index.
#include "gpsa/runtime/thread_pool_executor.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace gpsa {

using task_fn = void (*)(void* arg, std::size_t index, std::size_t worker);

struct thread_pool_executor::state {
  std::mutex run_mutex;  // one parallel_for at a time
  std::mutex m;
  std::condition_variable start, done;
  std::uint64_t generation = 0;
  bool stop = false;
  task_fn task = nullptr;
  void* arg = nullptr;
  std::size_t count = 0;
  std::size_t active = 0;  // helpers still working on the current generation
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;

  void drain(task_fn t, void* a, std::size_t n, std::size_t worker) noexcept {
    for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed))
      t(a, i, worker);
  }

  void helper(std::size_t worker) noexcept {
    std::uint64_t seen = 0;
    std::unique_lock lk(m);
    for (;;) {
      start.wait(lk, [&] { return stop || generation != seen; });
      if (stop) return;
      seen = generation;
      const task_fn t = task;
      void* const a = arg;
      const std::size_t n = count;
      lk.unlock();
      drain(t, a, n, worker);
      lk.lock();
      if (--active == 0) done.notify_one();
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
      std::lock_guard lk(m);
      task = t;
      arg = a;
      count = n;
      next.store(0, std::memory_order_relaxed);
      active = threads.size();
      ++generation;
    }
    start.notify_all();
    drain(t, a, n, 0);
    std::unique_lock lk(m);
    done.wait(lk, [&] { return active == 0; });
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
      s_->stop = true;
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
    s_->stop = true;
  }
  s_->start.notify_all();
  for (auto& t : s_->threads) t.join();
}

}  // namespace gpsa
