// SPDX-License-Identifier: MIT
// Crash-safe all-or-nothing output files: every output of a command staged as a temporary and
// renamed only when all are complete, cleaned up on signals. Part of gpsa::runtime (gpsa::io).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "gpsa/runtime/io.hpp"

namespace gpsa::io {

class output_set;

// One output of an output_set: bytes go to a temporary file `.NAME.tmp.XXXXXX` beside the target
// and reach the target only when the whole set commits.
class output_file {
 public:
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file();

  // The target path, as given.
  const std::filesystem::path& path() const noexcept { return path_; }
  // Appends to the temporary. Throws io_error "PATH: write failed: REASON" (disk full, file-size
  // limit); the whole set then refuses to commit.
  void write(std::string_view bytes);
  void write(const void* data, std::size_t size);
  // Bytes written so far.
  std::uint64_t size() const noexcept { return size_; }

 private:
  friend class output_set;
  output_file() = default;

  bool stream_ = false;           // the standard output (output_set::add_stdout)
  std::filesystem::path path_;    // as given (messages)
  std::filesystem::path target_;  // absolute
  std::filesystem::path temp_;    // absolute
  std::string flag_;
  int fd_ = -1;
  int temp_slot_ = -1;
  bool failed_ = false;
  std::uint64_t size_ = 0;
};

// All-or-nothing writer for the outputs of one command (e.g. forward's y, attn and dist):
//
//   io::output_set out;
//   out.add_input(weights, "--weights");             // no output may replace an input
//   io::output_file& y = out.add(y_path, "-o");      // checks the target, creates its temporary
//   io::output_file& a = out.add(attn_path, "--attention");
//   ... read, compute; y.write(...) or io::write_npy(y, ...) ...
//   out.commit();                                    // every target replaced, or none
//
// add() checks everything that can be checked before any work: the path is not empty, its folder
// exists and is writable (the temporary is created right away), the target is not a folder or a
// non-regular file, the final rename is allowed (in a sticky folder such as /tmp, a file of
// another user is refused), and it is not another output or an input (the same existing file,
// through any spelling, symlink or hard link; for a new file, the same name in the same folder,
// the folder compared by device and inode, so "y.npy", "./y.npy" and "$PWD/y.npy" are one).
// commit() flushes (fsync) every temporary, then renames them over their targets; if any step
// fails, the targets already replaced are put back (each old file is kept as a hard link
// `.NAME.old.XXXXXX` until the commit is done; on a file system without hard links such targets are
// renamed last) and every temporary is removed, so the old files stay exactly as they were. Without
// commit(), the destructor removes every temporary. A new file gets mode 0666 minus the umask; a
// replaced file keeps its mode. Temporaries are also removed on SIGTERM, SIGINT, SIGHUP, ... and
// crashes once install_cleanup_handlers() ran.
class output_set {
 public:
  output_set();
  ~output_set();
  output_set(const output_set&) = delete;
  output_set& operator=(const output_set&) = delete;

  // Records an input of the command; `flag` names it in messages ("--weights"). Throws io_error
  // when an output added so far is this file.
  void add_input(const std::filesystem::path& path, std::string_view flag = {});
  // Checks `path` as described above and creates its temporary. Throws io_error:
  //   "(empty path): no output file name given for -o"
  //   "PATH: output folder 'DIR' does not exist" / "... is not a folder"
  //   "PATH: is a folder, expected a file name"
  //   "PATH: exists and is not a regular file (device, FIFO or socket); gpsa replaces only ..."
  //   "PATH: cannot write: REASON" (creating the temporary failed: read-only folder, /proc, ...)
  //   "PATH: cannot replace it: the folder 'DIR' is sticky (like /tmp) and the file belongs to ..."
  //   "-o and --attention name the same file 'PATH'"
  //   "-o 'PATH' is the input --weights 'PATH'; refusing to overwrite an input file"
  // The reference stays valid until the set is destroyed.
  output_file& add(const std::filesystem::path& path, std::string_view flag = {});
  // The standard output as an output (a command's `-o -`), at most one per set (io_error
  // "FLAG and FLAG both name the standard output '-'"). Unlike a file it is not staged: bytes go
  // to stdout as they are written, so a command that fails later has written part of its output
  // there (its exit status says so); commit() and discard() leave stdout open. A write error
  // (closed stdout, a full disk, a pipe whose reader is gone with SIGPIPE ignored) throws io_error
  // "stdout: write failed: REASON".
  output_file& add_stdout(std::string_view flag = {});
  // Replaces every target (see above). Throws io_error naming the output that failed; then no
  // target has changed. Calling it twice, or after a failed write, throws.
  void commit();
  // Removes every temporary without touching a target (what the destructor does).
  void discard() noexcept;
  std::size_t size() const noexcept;
  bool committed() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Writes `bytes` to `path` through a one-output output_set: never a partial file.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Installs handlers for every signal whose default action ends the process (SIGTERM, SIGINT,
// SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGVTALRM, SIGPROF) and for the
// crashes (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGSYS; on an alternate stack, so
// a stack overflow is covered) that remove every staged temporary (and put back targets of a
// commit in progress), then re-raise the signal with the default disposition, so the exit
// status still says which signal ended the process. Under AddressSanitizer / UBSan, whose
// reports end the process without a signal, the sanitizer's death callback does the same. A
// library must not take signal handlers behind its host's back, so nothing installs them
// implicitly: the gpsa CLI's main() calls this. A signal whose disposition is not the default
// (ignored, e.g. SIGHUP under nohup, or handled by the host or a sanitizer) is left alone; a
// host with its own handler can call remove_pending_outputs() from it instead. Idempotent.
void install_cleanup_handlers();
// Removes every staged temporary and undoes a commit in progress. Async-signal-safe (no
// allocation, no locks); for hosts' own signal handlers.
void remove_pending_outputs() noexcept;

}  // namespace gpsa::io
