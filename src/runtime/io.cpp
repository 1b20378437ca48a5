// SPDX-License-Identifier: MIT
// gpsa::io's base (gpsa/runtime/io.hpp): message text safe for one line (printable paths, shapes,
// byte counts) and the whole-file reader.
#include "gpsa/runtime/io.hpp"

#include <cstdio>
#include <cstring>
#include <string>

#include "io_detail.hpp"

namespace gpsa::io {
namespace {

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

std::string bytes_text(std::uint64_t bytes) {
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

}  // namespace gpsa::io
