// SPDX-License-Identifier: MIT
// Internal helpers shared by gpsa::runtime's readers and writers (not installed, not API).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/runtime/io.hpp"

namespace gpsa::io::detail {

// Python-style shape text without spaces: "()", "(3,)", "(2,4,16)".
using gpsa::io::shape_text;

// Keys and other file content in messages are cut here: a 90 MB key must not become a 90 MB
// message.
inline constexpr std::size_t k_shown_bytes = 200;

// printable() with the cut used for file content.
inline std::string shown(std::string_view s) { return printable(s, k_shown_bytes); }

// Product of `shape` (0 if a dimension is 0), false when the product of the non-zero
// dimensions overflows, or when it times `elem_size` does (see io::checked_bytes).
bool checked_numel(std::span<const std::size_t> shape, std::size_t elem_size,
                   std::size_t& numel) noexcept;

// Sizes `v` to n elements; io_error "NAME: not enough memory for WHAT (n elements)" instead of
// std::bad_alloc, so a huge but valid file still fails with a one-line message.
template <class T>
void resize_or_throw(std::vector<T>& v, std::size_t n, const std::string& name,
                     const std::string& what);

// double -> float rounded to nearest like PyTorch's .float() and numpy's astype: finite values
// beyond float's range become +-inf (a plain cast would be undefined behaviour there).
float narrow(double v) noexcept;

// An input file opened the way read_file opens one: without blocking on a FIFO, refused unless
// it is a regular file of at most `max_bytes` (io_error naming the path otherwise). The
// safetensors reader uses it to read a checkpoint piece by piece instead of whole.
class input_file {
 public:
  input_file(input_file&& o) noexcept;
  input_file& operator=(input_file&&) = delete;
  ~input_file();
  // Size when opened.
  std::uint64_t size() const noexcept { return size_; }
  // The path for messages (display_path).
  const std::string& shown() const noexcept { return shown_; }
  // Reads up to n bytes at `offset` (pread, retried on EINTR); fewer only at the end of the
  // file. io_error "PATH: read failed: REASON".
  std::size_t read_at(std::uint64_t offset, void* dst, std::size_t n) const;

 private:
  friend input_file open_input(const std::filesystem::path& path, std::uint64_t max_bytes);
  input_file() = default;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string shown_;
};

input_file open_input(const std::filesystem::path& path, std::uint64_t max_bytes);

[[noreturn]] void throw_out_of_memory(const std::string& name, const std::string& what,
                                      std::size_t bytes);

template <class T>
void resize_or_throw(std::vector<T>& v, std::size_t n, const std::string& name,
                     const std::string& what) {
  try {
    v.resize(n);
  } catch (const std::bad_alloc&) {
    throw_out_of_memory(name, what, n * sizeof(T));
  } catch (const std::length_error&) {
    throw_out_of_memory(name, what, n * sizeof(T));
  }
}

// ---- Registry of staged files, for the signal handlers (temp_registry.cpp) -------------------
// A fixed table, so a signal handler can walk it without allocating or locking.

enum class staged_kind : int {
  temp,     // a temporary: removed
  backup,   // a hard link keeping a target's old file: put back while the commit is renaming
  created,  // a target that did not exist: removed again while the commit is renaming
};

// Phase of an output_set's commit, read by the signal handler through the slot's pointer.
enum commit_phase : int { phase_staging = 0, phase_renaming = 1, phase_committed = 2 };

// Records `path` (and for backup/created the `target`, both absolute). Returns the slot, or -1
// when the table is full or a path does not fit.
int stage_path(staged_kind kind, const std::string& path, const std::string& target,
               const std::atomic<int>* phase) noexcept;
// Forgets a slot (after the file was renamed or removed). -1 is ignored.
void unstage(int slot) noexcept;
// Undoes one slot as a signal would (removes a temporary, puts a backup back during the rename
// phase, ...) and forgets it. Async-signal-safe.
void undo_slot(int slot) noexcept;

}  // namespace gpsa::io::detail
