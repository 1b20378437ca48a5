// SPDX-License-Identifier: MIT
// NumPy .npy reader: format 1.0/2.0/3.0, little-endian float32/float64, C order, checked sizes.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "gpsa/io.hpp"
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

// Magic, version and header length: returns the header text; `data_at` is where the data start.
// `bytes` holds the file's first bytes (at least the preamble and the header when the file has
// them), `size` is the whole file's size.
std::string_view read_preamble(std::span<const std::uint8_t> bytes, std::uint64_t file_size,
                               const std::string& name, const read_limits& limits,
                               std::size_t& data_at) {
  static constexpr std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  const std::size_t size =
      file_size < bytes.size() ? static_cast<std::size_t>(file_size) : bytes.size();
  if (size < 6 || std::memcmp(bytes.data(), magic, 6) != 0)
    throw io_error(name + ": not a .npy file (no \\x93NUMPY magic at the start)" +
                   (size < 6 ? " - file has only " + std::to_string(size) + " bytes" : ""));
  if (size < 8) throw io_error(name + ": truncated .npy file: no format version");
  const unsigned major = bytes[6], minor = bytes[7];
  if ((major < 1 || major > 3) || minor != 0)
    throw io_error(name + ": unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  // 1.0: 2-byte header length; 2.0/3.0: 4-byte (3.0 only allows UTF-8 in the header).
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t preamble = 8 + len_bytes;
  if (size < preamble) throw io_error(name + ": truncated .npy file: incomplete header length");
  std::size_t header_len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i)
    header_len |= static_cast<std::size_t>(bytes[8 + i]) << (8 * i);
  if (header_len > limits.npy_header_bytes)
    throw io_error(name + ": header length " + std::to_string(header_len) + " bytes is over the " +
                   bytes_text(limits.npy_header_bytes) + " limit (corrupt, or not a .npy file)");
  if (header_len > file_size - preamble || header_len > size - preamble)
    throw io_error(name + ": truncated .npy file: header says " + std::to_string(header_len) +
                   " bytes, only " + std::to_string(file_size - preamble) + " follow");
  data_at = preamble + header_len;
  return {reinterpret_cast<const char*>(bytes.data()) + preamble, header_len};
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

// The header of a file of `file_size` bytes whose first bytes are `head`, checked; `data_at` and
// `itemsize` say where the data start and how wide an element is.
struct npy_layout {
  std::vector<std::size_t> shape;
  std::size_t itemsize = 0, numel = 0, data_at = 0;
};

npy_layout parse_header(std::span<const std::uint8_t> head, std::uint64_t file_size,
                        const std::string& name, const read_limits& limits) {
  npy_layout r;
  const std::string_view header = read_preamble(head, file_size, name, limits, r.data_at);
  const auto h = header_parser(header, name, limits.rank).parse();
  r.itemsize = check_dtype(h.descr, name);
  check_order(h.fortran, h.shape, name);
  if (!detail::checked_numel(h.shape, r.itemsize, r.numel))
    throw io_error(name + ": shape " + detail::shape_text(h.shape) + " is too large");
  const std::uint64_t want = std::uint64_t{r.numel} * r.itemsize;
  const std::uint64_t have = file_size - r.data_at;
  if (have != want) {
    throw io_error(name + ": data is " + std::to_string(have) + " bytes, shape " +
                   detail::shape_text(h.shape) + " of '" + detail::shown(h.descr) + "' needs " +
                   std::to_string(want) +
                   (have < want ? " (file is truncated)" : " (trailing bytes)"));
  }
  r.shape = h.shape;
  return r;
}

// Bytes converted per step for float64 data: the reader's memory beyond the array stays small.
constexpr std::size_t k_chunk_bytes = std::size_t{1} << 20;

}  // namespace

tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& file,
                 const read_limits& limits) {
  const std::string name = display_path(file);
  const npy_layout h = parse_header(bytes, bytes.size(), name, limits);
  tensor t;
  t.shape = h.shape;
  detail::resize_or_throw(t.data, h.numel, name, "the array");
  convert(bytes.data() + h.data_at, h.numel, h.itemsize, t.data.data());
  return t;
}

// Reads the preamble and the header, then the data straight into the array (float64 through
// one bounded chunk): peak memory is the array, not the file plus the array.
tensor read_npy(const std::filesystem::path& path, const read_limits& limits) {
  const detail::input_file in = detail::open_input(path, limits.file_bytes);
  const std::string& name = in.shown();
  // The preamble (at most 12 bytes), then exactly the header it announces (when that is within
  // the limit and the file; otherwise parse_header reports the problem on what was read).
  std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), 12)));
  head.resize(in.read_at(0, head.data(), head.size()));
  if (head.size() >= 10 && (head[6] == 1 || head.size() == 12)) {
    const std::size_t len_bytes = head[6] == 1 ? 2 : 4;
    std::uint64_t header_len = 0;
    for (std::size_t i = 0; i < len_bytes; ++i) header_len |= std::uint64_t{head[8 + i]} << (8 * i);
    const std::uint64_t end = 8 + len_bytes + header_len;
    if (header_len <= limits.npy_header_bytes && end <= in.size()) {
      const std::size_t at = head.size();
      head.resize(static_cast<std::size_t>(end));
      head.resize(at + in.read_at(at, head.data() + at, head.size() - at));
    }
  }
  const npy_layout h = parse_header(head, in.size(), name, limits);
  head = {};
  tensor t;
  t.shape = h.shape;
  detail::resize_or_throw(t.data, h.numel, name, "the array");
  const auto fail_short = [&](std::uint64_t at) {
    throw io_error(name + ": truncated .npy file: the data end at byte " +
                   std::to_string(h.data_at + std::uint64_t{h.numel} * h.itemsize) +
                   " but the file ends at byte " + std::to_string(at) +
                   " (it shrank while being read)");
  };
  if (h.itemsize == 4 && std::endian::native == std::endian::little) {
    const std::size_t bytes = h.numel * 4;
    if (const std::size_t got = in.read_at(h.data_at, t.data.data(), bytes); got != bytes)
      fail_short(h.data_at + got);
    return t;
  }
  const std::size_t per_chunk = k_chunk_bytes / h.itemsize;
  std::vector<std::uint8_t> chunk(std::min(h.numel, per_chunk) * h.itemsize);
  for (std::size_t i = 0; i < h.numel; i += per_chunk) {
    const std::size_t m = std::min(per_chunk, h.numel - i), bytes = m * h.itemsize;
    const std::uint64_t at = h.data_at + std::uint64_t{i} * h.itemsize;
    if (const std::size_t got = in.read_at(at, chunk.data(), bytes); got != bytes)
      fail_short(at + got);
    convert(chunk.data(), m, h.itemsize, t.data.data() + i);
  }
  return t;
}

}  // namespace gpsa::io
