// SPDX-License-Identifier: MIT
// NumPy .npy reader: format 1.0/2.0/3.0, little-endian float32/float64, C order, checked sizes.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "io_detail.hpp"

namespace gpsa::io {
namespace {

constexpr std::string_view k_convert = "; convert with a.astype('<f4')";

// The Python dict literal numpy writes, e.g. "{'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }". A small recursive-descent parser for exactly that subset.
class header_parser {
 public:
  header_parser(std::string_view text, const std::string& name, std::size_t max_rank)
      : s_(text), name_(name), max_rank_(max_rank) {}

  struct result {
    std::string descr;
    bool fortran = false;
    std::vector<std::size_t> shape;
  };

  result parse() {
    result r;
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{', "the header to start with '{'");
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string("a quoted key");
      skip_ws();
      expect(':', "':' after key '" + detail::shown(key) + "'");
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail("key 'descr' appears twice");
        have_descr = true;
        if (peek() == '[')
          fail("structured dtypes (record arrays) are not supported; save a plain float array");
        r.descr = parse_string("a quoted dtype string for 'descr'");
      } else if (key == "fortran_order") {
        if (have_fortran) fail("key 'fortran_order' appears twice");
        have_fortran = true;
        r.fortran = parse_bool();
      } else if (key == "shape") {
        if (have_shape) fail("key 'shape' appears twice");
        have_shape = true;
        r.shape = parse_shape();
      } else {
        fail("unexpected key '" + detail::shown(key) +
             "' (a .npy header has exactly 'descr', 'fortran_order', 'shape')");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') break;
      fail_expected("',' or '}'");
    }
    ++pos_;  // '}'
    // numpy pads with spaces and ends the header with '\n'; nothing else may follow.
    skip_ws();
    if (pos_ != s_.size()) fail_expected("only padding after the closing '}'");
    if (!have_descr) fail("header has no 'descr' (dtype)");
    if (!have_fortran) fail("header has no 'fortran_order'");
    if (!have_shape) fail("header has no 'shape'");
    return r;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw io_error(name_ + ": malformed .npy header: " + what);
  }
  [[noreturn]] void fail_expected(const std::string& what) const {
    std::string got = pos_ < s_.size() ? "'" + detail::shown(s_.substr(pos_, 1)) + "'"
                                       : std::string("end of header");
    fail("expected " + what + " at byte " + std::to_string(pos_) + ", found " + got);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c || pos_ >= s_.size()) fail_expected(what);
    ++pos_;
  }
  std::string parse_string(const std::string& what) {
    const char q = peek();
    if (pos_ >= s_.size() || (q != '\'' && q != '"')) fail_expected(what);
    const std::size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\' || s_[pos_] == '\n')
        fail("escapes and line breaks in strings are not supported");
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    return std::string(s_.substr(start, pos_++ - start));
  }
  bool parse_bool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail_expected("True or False for 'fortran_order'");
  }
  std::size_t parse_int() {
    if (peek() < '0' || peek() > '9') fail_expected("a non-negative integer in 'shape'");
    std::size_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const auto d = static_cast<std::size_t>(peek() - '0');
      if (v > (std::numeric_limits<std::size_t>::max() - d) / 10) fail("shape entry is too large");
      v = v * 10 + d;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long, as old numpy wrote "(3L, 4L)"
    return v;
  }
  std::vector<std::size_t> parse_shape() {
    expect('(', "a tuple '(...)' for 'shape'");
    std::vector<std::size_t> shape;
    bool trailing_comma = false;
    for (;;) {
      skip_ws();
      if (peek() == ')') break;
      if (shape.size() >= max_rank_)
        fail("shape has more than " + std::to_string(max_rank_) + " dimensions");
      shape.push_back(parse_int());
      trailing_comma = false;
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        continue;
      }
      if (peek() != ')') fail_expected("',' or ')' in 'shape'");
    }
    ++pos_;
    // "(3)" is the integer 3 in Python, not a tuple: numpy would refuse it too.
    if (shape.size() == 1 && !trailing_comma) fail("'shape' must be a tuple, e.g. (3,) not (3)");
    return shape;
  }

  std::string_view s_;
  const std::string& name_;
  std::size_t max_rank_;
  std::size_t pos_ = 0;
};

// Name of a numpy type character + size, for messages ("int64", "float16", ...).
std::string dtype_name(char kind, std::string_view size) {
  // '<f' (numpy itself refuses it): a number kind without its size.
  if (size.empty() && std::string_view("fiuc").find(kind) != std::string_view::npos)
    return "no item size";
  const std::string bits = [&] {
    std::size_t n = 0;
    for (char c : size) {
      if (c < '0' || c > '9' || n > 1000) return detail::shown(size);
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    return std::to_string(n * 8);
  }();
  switch (kind) {
    case 'f':
      return "float" + bits;
    case 'i':
      return "int" + bits;
    case 'u':
      return "uint" + bits;
    case 'c':
      return "complex" + bits;
    case 'b':
      return "bool";
    case 'O':
      return "Python objects";
    case 'U':
      return "unicode string";
    case 'S':
      return "byte string";
    case 'V':
      return "raw void";
    case 'M':
      return "datetime64";
    case 'm':
      return "timedelta64";
    default:
      return "unknown kind";
  }
}

}  // namespace

namespace {

// Bytes of the preamble (magic, version, header length) of format `major`.
std::size_t preamble_bytes(unsigned major) { return major == 1 ? 10 : 12; }

// Magic, version and header length of a file of `file_size` bytes whose first bytes are `head`
// (at least min(file_size, 12) of them): returns the header length; `data_at` is where the
// header ends and the data start. Every check needs only these first bytes and the size.
std::size_t read_preamble(std::span<const std::uint8_t> head, std::uint64_t file_size,
                          const std::string& name, const read_limits& limits,
                          std::size_t& data_at) {
  static constexpr std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (file_size < 6 || head.size() < 6 || std::memcmp(head.data(), magic, 6) != 0)
    throw io_error(
        name + ": not a .npy file (no \\x93NUMPY magic at the start)" +
        (file_size < 6 ? " - file has only " + std::to_string(file_size) + " bytes" : ""));
  if (file_size < 8) throw io_error(name + ": truncated .npy file: no format version");
  const unsigned major = head[6], minor = head[7];
  if ((major < 1 || major > 3) || minor != 0)
    throw io_error(name + ": unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  // 1.0: 2-byte header length; 2.0/3.0: 4-byte (3.0 only allows UTF-8 in the header).
  const std::size_t preamble = preamble_bytes(major);
  if (file_size < preamble || head.size() < preamble)
    throw io_error(name + ": truncated .npy file: incomplete header length");
  std::size_t header_len = 0;
  for (std::size_t i = 8; i < preamble; ++i)
    header_len |= static_cast<std::size_t>(head[i]) << (8 * (i - 8));
  if (header_len > limits.npy_header_bytes)
    throw io_error(name + ": header length " + std::to_string(header_len) + " bytes is over the " +
                   bytes_text(limits.npy_header_bytes) + " limit (corrupt, or not a .npy file)");
  if (header_len > file_size - preamble)
    throw io_error(name + ": truncated .npy file: header says " + std::to_string(header_len) +
                   " bytes, only " + std::to_string(file_size - preamble) + " follow");
  data_at = preamble + header_len;
  return header_len;
}

// Bytes per element of the dtype string; refuses everything but '<f4' and '<f8'.
std::size_t check_dtype(const std::string& d, const std::string& name) {
  const std::string shown = detail::shown(d);
  if (d.size() < 2)
    throw io_error(name + ": dtype '" + shown + "' is not understood" + std::string(k_convert));
  const char order = d[0], kind = d[1];
  const std::string_view item = std::string_view(d).substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    throw io_error(name + ": dtype '" + shown + "' is not understood" + std::string(k_convert));
  if (kind != 'f' || (item != "4" && item != "8")) {
    throw io_error(name + ": dtype '" + shown + "' (" + dtype_name(kind, item) +
                   ") is not supported, only float32 '<f4' and float64 '<f8'" +
                   std::string(k_convert));
  }
  if (order == '>')
    throw io_error(name + ": dtype '" + shown + "' (big-endian) is not supported" +
                   std::string(k_convert));
  if (order != '<')  // '|' is meaningless for floats; '=' (native) is ambiguous in a file.
    throw io_error(name + ": dtype '" + shown +
                   "' has no explicit byte order; expected '<f4' or '<f8'" +
                   std::string(k_convert));
  return item == "4" ? 4 : 8;
}

// Fortran and C order coincide when at most one dimension is longer than 1.
void check_order(bool fortran, const std::vector<std::size_t>& shape, const std::string& name) {
  if (!fortran) return;
  std::size_t long_dims = 0;
  for (auto s : shape) long_dims += s > 1;
  if (long_dims > 1)
    throw io_error(name +
                   ": Fortran-order arrays are not supported; save "
                   "np.ascontiguousarray(a) instead");
}

// Little-endian float32 / float64 elements -> float.
void convert(const std::uint8_t* p, std::size_t numel, std::size_t itemsize, float* out) {
  if (itemsize == 4) {
    if constexpr (std::endian::native == std::endian::little) {
      if (numel) std::memcpy(out, p, numel * 4);
    } else {
      for (std::size_t i = 0; i < numel; ++i, p += 4) {
        std::uint32_t u = 0;
        for (int b = 0; b < 4; ++b) u |= std::uint32_t{p[b]} << (8 * b);
        out[i] = std::bit_cast<float>(u);
      }
    }
    return;
  }
  for (std::size_t i = 0; i < numel; ++i, p += 8) {
    std::uint64_t u = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&u, p, 8);
    } else {
      for (int b = 0; b < 8; ++b) u |= std::uint64_t{p[b]} << (8 * b);
    }
    out[i] = detail::narrow(std::bit_cast<double>(u));
  }
}

}  // namespace

namespace {

// What the header says, checked against the limits and the file size: the data that must follow.
struct npy_layout {
  std::vector<std::size_t> shape;
  std::size_t itemsize = 0, numel = 0, data_at = 0;
};

// `head` holds the file's first data_at bytes at least (or the whole file when it is shorter):
// the preamble and the header. Throws io_error for anything wrong, before any data is touched.
npy_layout read_layout(std::span<const std::uint8_t> head, std::uint64_t file_size,
                       const std::string& name, const read_limits& limits) {
  npy_layout l;
  const std::size_t header_len = read_preamble(head, file_size, name, limits, l.data_at);
  const std::string_view header(
      reinterpret_cast<const char*>(head.data()) + (l.data_at - header_len), header_len);
  auto h = header_parser(header, name, limits.rank).parse();
  l.itemsize = check_dtype(h.descr, name);
  check_order(h.fortran, h.shape, name);
  if (!detail::checked_numel(h.shape, l.itemsize, l.numel))
    throw io_error(name + ": shape " + detail::shape_text(h.shape) + " is too large");
  const std::uint64_t want = std::uint64_t{l.numel} * l.itemsize;
  const std::uint64_t have = file_size - l.data_at;
  if (have != want) {
    throw io_error(name + ": data is " + std::to_string(have) + " bytes, shape " +
                   detail::shape_text(h.shape) + " of '" + detail::shown(h.descr) + "' needs " +
                   std::to_string(want) +
                   (have < want ? " (file is truncated)" : " (trailing bytes)"));
  }
  l.shape = std::move(h.shape);
  return l;
}

}  // namespace

tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& file,
                 const read_limits& limits) {
  const std::string name = display_path(file);
  const npy_layout l = read_layout(bytes, bytes.size(), name, limits);
  tensor t;
  t.shape = l.shape;
  detail::resize_or_throw(t.data, l.numel, name, "the array");
  convert(bytes.data() + l.data_at, l.numel, l.itemsize, t.data.data());
  return t;
}

// Reads the preamble and the header first: a file that is not a .npy, or whose header does not
// match its size, is refused after reading a few bytes, not the whole file. The data then go
// straight into the float32 array (float64 through a 1 MiB buffer).
tensor read_npy(const std::filesystem::path& path, const read_limits& limits) {
  const detail::input_file in = detail::open_input(path, limits.file_bytes);
  const std::string name = display_path(path);
  const std::uint64_t size = in.size();
  std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(size, 12)));
  head.resize(in.read_at(0, head.data(), head.size()));
  std::size_t data_at = 0;
  (void)read_preamble(head, size, name, limits, data_at);
  head.resize(data_at);
  const std::size_t preamble = preamble_bytes(head[6]);
  if (in.read_at(preamble, head.data() + preamble, data_at - preamble) != data_at - preamble)
    throw io_error(name + ": truncated .npy file: the file shrank while it was read");
  const npy_layout l = read_layout(head, size, name, limits);

  tensor t;
  t.shape = l.shape;
  detail::resize_or_throw(t.data, l.numel, name, "the array");
  const auto shrank = [&] {
    throw io_error(name + ": truncated .npy file: the file shrank while it was read");
  };
  if (l.itemsize == 4) {
    const std::size_t bytes = l.numel * 4;
    if (in.read_at(l.data_at, t.data.data(), bytes) != bytes) shrank();
    if constexpr (std::endian::native != std::endian::little) {
      std::vector<std::uint8_t> raw(bytes);
      std::memcpy(raw.data(), t.data.data(), bytes);
      convert(raw.data(), l.numel, 4, t.data.data());
    }
  } else {
    constexpr std::size_t chunk = std::size_t{1} << 17;  // doubles per read: 1 MiB
    std::vector<std::uint8_t> raw(std::min(l.numel, chunk) * 8);
    for (std::size_t done = 0; done < l.numel;) {
      const std::size_t n = std::min(chunk, l.numel - done);
      if (in.read_at(l.data_at + std::uint64_t{done} * 8, raw.data(), n * 8) != n * 8) shrank();
      convert(raw.data(), n, 8, t.data.data() + done);
      done += n;
    }
  }
  return t;
}

}  // namespace gpsa::io
