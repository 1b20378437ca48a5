// SPDX-License-Identifier: MIT
// Shared by the .npy and safetensors readers (io_detail.hpp): input files opened so they never
// block, checked element counts, float narrowing, out-of-memory messages.
#include "io_detail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "gpsa/detail/checked.hpp"
#include "gpsa/runtime/io.hpp"

namespace gpsa::io {
namespace {

const char* file_kind(mode_t m) {
  if (S_ISFIFO(m)) return "FIFO";
  if (S_ISCHR(m)) return "character device";
  if (S_ISBLK(m)) return "block device";
  if (S_ISSOCK(m)) return "socket";
  return "not a file";
}

}  // namespace
}  // namespace gpsa::io

namespace gpsa::io::detail {

input_file open_input(const std::filesystem::path& path, std::uint64_t max_bytes) {
  input_file f;
  f.shown_ = display_path(path);
  const std::string& shown = f.shown_;
  if (path.empty()) throw io_error(shown + ": cannot open: no file name given");
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (f.fd_ < 0) {
    const int err = errno;
    throw io_error(shown + ": cannot open: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(f.fd_, &st) != 0) throw io_error(shown + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw io_error(shown + ": is a folder, expected a file");
  if (!S_ISREG(st.st_mode))
    throw io_error(shown + ": not a regular file (" + file_kind(st.st_mode) + ")");
  f.size_ = static_cast<std::uint64_t>(st.st_size);
  if (f.size_ > max_bytes)
    throw io_error(shown + ": file is " + std::to_string(f.size_) + " bytes, over the " +
                   bytes_text(max_bytes) + " limit for inputs");
  // Regular files ignore O_NONBLOCK on Linux, but clear it so reads never return EAGAIN.
  if (const int fl = ::fcntl(f.fd_, F_GETFL); fl >= 0) ::fcntl(f.fd_, F_SETFL, fl & ~O_NONBLOCK);
  return f;
}

input_file::input_file(input_file&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), size_(o.size_), shown_(std::move(o.shown_)) {}

input_file::~input_file() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t input_file::read_at(std::uint64_t offset, void* dst, std::size_t n) const {
  auto* out = static_cast<std::uint8_t*>(dst);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, out + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw io_error(shown_ + ": read failed: " + std::strerror(errno));
    }
    if (r == 0) break;  // end of file
    got += static_cast<std::size_t>(r);
  }
  return got;
}

}  // namespace gpsa::io::detail

namespace gpsa::io::detail {

bool checked_numel(std::span<const std::size_t> shape, std::size_t elem_size,
                   std::size_t& numel) noexcept {
  std::size_t bytes = 0, count = 0;
  if (!gpsa::detail::checked_product<std::size_t>(shape, elem_size == 0 ? 1 : elem_size, bytes) ||
      !gpsa::detail::checked_product<std::size_t>(shape, 1, count))
    return false;
  numel = count;
  return true;
}

void throw_out_of_memory(const std::string& name, const std::string& what, std::size_t bytes) {
  throw io_error(name + ": not enough memory for " + what + " (" + std::to_string(bytes) +
                 " bytes)");
}

float narrow(double v) noexcept {
  // Halfway between FLT_MAX and 2^128: from here on round-to-nearest-even gives infinity.
  constexpr double overflow = 0x1.ffffffp+127;
  if (v >= overflow) return std::numeric_limits<float>::infinity();
  if (v <= -overflow) return -std::numeric_limits<float>::infinity();
  constexpr float fmax = std::numeric_limits<float>::max();
  if (v > static_cast<double>(fmax)) return fmax;
  if (v < -static_cast<double>(fmax)) return -fmax;
  return static_cast<float>(v);  // NaN stays NaN
}

}  // namespace gpsa::io::detail
