// SPDX-License-Identifier: MIT
// Shared by the .npy and safetensors readers: whole-file reads that never block, message text
// safe for one line, checked sizes.
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

#include "gpsa/grid.hpp"
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

// Length of the valid UTF-8 sequence at s[i] (2..4), or 0 when it is not one. Overlong forms,
// surrogates and code points above U+10FFFF are invalid, as in RFC 3629.
std::size_t utf8_length(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  char32_t min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1fu, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0fu, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Characters that move the cursor, change lines or reorder text although they are valid UTF-8.
bool is_unsafe_code_point(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) ||                      // C1 controls (0x9b is CSI)
         cp == 0x2028 || cp == 0x2029 ||                    // line / paragraph separator
         (cp >= 0x202a && cp <= 0x202e) ||                  // bidi embeddings and overrides
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||  // bidi isolates, marks
         cp == 0x200f || cp == 0x061c || cp == 0xfeff;      // ... and the BOM
}

}  // namespace

std::string printable(std::string_view s, std::size_t max_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes) + 3);
  char piece[16];
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 1, used = 1;
    char32_t cp = 0;
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      piece[0] = static_cast<char>(c);
    } else if (c >= 0x80 && (used = utf8_length(s, i, cp)) != 0) {
      if (is_unsafe_code_point(cp)) {
        len = static_cast<std::size_t>(
            std::snprintf(piece, sizeof piece, "\\u%04x", static_cast<unsigned>(cp)));
      } else {
        std::memcpy(piece, s.data() + i, used);
        len = used;
      }
    } else {
      used = 1;
      piece[0] = '\\', piece[1] = 'x', piece[2] = hex[c >> 4], piece[3] = hex[c & 15];
      len = 4;
    }
    if (out.size() + len > max_bytes) {
      out += "...";
      break;
    }
    out.append(piece, len);
    i += used;
  }
  return out;
}

std::string display_path(const std::filesystem::path& path) {
  return path.empty() ? std::string("(empty path)") : printable(path.native());
}

std::string shape_text(std::span<const std::size_t> shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ',';
  out += ')';
  return out;
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  const detail::input_file in = detail::open_input(path, max_bytes);
  std::vector<std::uint8_t> bytes;
  detail::resize_or_throw(bytes, static_cast<std::size_t>(in.size()), in.shown(), "the file");
  // A file that shrank while we read: parse what is there, the parser will complain.
  bytes.resize(in.read_at(0, bytes.data(), bytes.size()));
  return bytes;
}

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
  std::size_t nonzero = 1;
  bool empty = false;
  for (const std::size_t s : shape) {
    if (s == 0) {
      empty = true;
      continue;
    }
    if (gpsa::detail::mul_overflows(nonzero, s, nonzero)) return false;
  }
  std::size_t bytes = 0;
  if (gpsa::detail::mul_overflows(nonzero, elem_size == 0 ? 1 : elem_size, bytes)) return false;
  numel = empty ? 0 : nonzero;
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
  if (v > std::numeric_limits<float>::max()) return std::numeric_limits<float>::max();
  if (v < -std::numeric_limits<float>::max()) return -std::numeric_limits<float>::max();
  return static_cast<float>(v);  // NaN stays NaN
}

}  // namespace gpsa::io::detail
