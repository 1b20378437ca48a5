// SPDX-License-Identifier: MIT
// The files an output_set has staged, in a fixed table a signal handler can walk without
// allocating or locking, and the opt-in signal handlers that clean them up.
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "io_detail.hpp"

namespace gpsa::io::detail {
namespace {

// Each output needs a temporary and, during commit, a backup or "created" slot.
constexpr std::size_t k_slots = 2 * max_pending_outputs;

enum slot_state : int { slot_free = 0, slot_filling = 1, slot_live = 2 };

struct slot {
  staged_kind kind;
  const std::atomic<int>* phase;
  char path[PATH_MAX];
  char target[PATH_MAX];
};

// Zero-initialised static storage: no constructor runs, usable from a handler at any time. The
// states are scanned (stage_path, the cleanup) and sit together in one page; a slot's 8 KB of
// paths is written only when it is used, so the slots no output uses never become resident.
std::atomic<int> g_state[k_slots];
slot g_slots[k_slots];

static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");

bool fits(const std::string& s) { return s.size() < PATH_MAX; }

}  // namespace

int stage_path(staged_kind kind, const std::string& path, const std::string& target,
               const std::atomic<int>* phase) noexcept {
  if (!fits(path) || !fits(target)) return -1;
  for (std::size_t i = 0; i < k_slots; ++i) {
    int expected = slot_free;
    if (!g_state[i].compare_exchange_strong(expected, slot_filling)) continue;
    slot& s = g_slots[i];
    s.kind = kind;
    s.phase = phase;
    std::memcpy(s.path, path.c_str(), path.size() + 1);
    std::memcpy(s.target, target.c_str(), target.size() + 1);
    g_state[i].store(slot_live, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void unstage(int i) noexcept {
  if (i >= 0 && static_cast<std::size_t>(i) < k_slots)
    g_state[i].store(slot_free, std::memory_order_release);
}

void undo_slot(int i) noexcept {
  if (i < 0 || static_cast<std::size_t>(i) >= k_slots) return;
  slot& s = g_slots[i];
  int expected = slot_live;
  // Claim it first, so the main thread and a handler never undo the same slot twice.
  if (!g_state[i].compare_exchange_strong(expected, slot_filling, std::memory_order_acq_rel))
    return;
  const int phase = s.phase ? s.phase->load(std::memory_order_acquire) : phase_staging;
  switch (s.kind) {
    case staged_kind::temp:
      ::unlink(s.path);
      break;
    case staged_kind::backup:
      // While renaming, the target may already hold the new file: put the old one back. If the
      // target still is the old file, both names are one inode and rename() does nothing.
      if (phase == phase_renaming) ::rename(s.path, s.target);
      ::unlink(s.path);
      break;
    case staged_kind::created:
      if (phase == phase_renaming) ::unlink(s.target);
      break;
  }
  g_state[i].store(slot_free, std::memory_order_release);
}

}  // namespace gpsa::io::detail

namespace gpsa::io {
namespace {

// Every signal whose default action ends the process: the ones a user or the system sends
// (terminal, kill, timers, resource limits, a closed pipe) and the crashes (the handler must then
// be async-signal-safe, and it is: it only walks the fixed table and calls unlink/rename).
constexpr int k_signals[] = {SIGTERM, SIGINT,  SIGHUP,  SIGQUIT,   SIGPIPE, SIGALRM,
                             SIGUSR1, SIGUSR2, SIGXCPU, SIGVTALRM, SIGPROF, SIGSEGV,
                             SIGBUS,  SIGABRT, SIGFPE,  SIGILL,    SIGTRAP, SIGSYS};

// An alternate stack, so the handler also runs after a stack overflow (SIGSEGV).
alignas(16) char g_alt_stack[64 * 1024];

void on_signal(int sig) {
  remove_pending_outputs();
  // Die of the same signal, so the parent sees what ended us (the signal is blocked while this
  // handler runs; it is delivered, with the default action, when the handler returns; a crash
  // signal from a faulting instruction is delivered before that instruction runs again).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}

void on_sanitizer_death() { remove_pending_outputs(); }

}  // namespace

void remove_pending_outputs() noexcept {
  for (std::size_t i = 0; i < detail::k_slots; ++i) detail::undo_slot(static_cast<int>(i));
}

}  // namespace gpsa::io

// AddressSanitizer and UBSan end the process with _exit after a report (no signal): their death
// callback cleans up then. Weak: null unless a sanitizer runtime is linked in.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace gpsa::io {

void install_cleanup_handlers() {
  stack_t ss{};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof g_alt_stack;
  const bool alt = sigaltstack(&ss, nullptr) == 0;
  for (const int sig : k_signals) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0) continue;
    const bool is_default = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
    if (!is_default) continue;  // ignored (nohup) or the host's (or a sanitizer's): leave it
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (const int other : k_signals) sigaddset(&sa.sa_mask, other);  // one cleanup at a time
    sa.sa_flags = alt ? SA_ONSTACK : 0;
    sigaction(sig, &sa, nullptr);
  }
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(on_sanitizer_death);
}

}  // namespace gpsa::io
