// Internal helpers shared by the .npy and safetensors readers: whole-file reads, message text.
#include "io_detail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "gpsa/grid.hpp"
#include "gpsa/io.hpp"

namespace gpsa::io::detail {

std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  const std::string shown = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw io_error(shown + ": cannot open: " + std::strerror(err));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw io_error(shown + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw io_error(shown + ": is a folder, expected a file");
  if (!S_ISREG(st.st_mode)) throw io_error(shown + ": not a regular file");
  std::vector<std::uint8_t> bytes;
  resize_or_throw(bytes, static_cast<std::size_t>(st.st_size), shown, "the file");
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error(shown + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) break;  // shrank while we read: parse what is there, the parser will complain
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

std::string printable(std::string_view s, std::size_t max) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool checked_numel(const std::vector<std::size_t>& shape, std::size_t& out) noexcept {
  std::size_t n = 1;
  for (auto s : shape)
    if (gpsa::detail::mul_overflows(n, s, n)) return false;
  out = n;
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

namespace gpsa::io {

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  return detail::read_file_bytes(path);
}

}  // namespace gpsa::io

namespace gpsa::io {

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

}  // namespace gpsa::io
