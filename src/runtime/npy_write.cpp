// NumPy .npy writer (format 1.0): the header NumPy itself writes, byte for byte, then the data.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include "gpsa/io.hpp"

namespace gpsa::io {

namespace {

struct dtype_info {
  const char* descr;
  std::size_t size;
};

dtype_info info(npy_dtype d) {
  switch (d) {
    case npy_dtype::f32:
      return {"<f4", 4};
    case npy_dtype::f64:
      return {"<f8", 8};
    case npy_dtype::i8:
      return {"|i1", 1};
    case npy_dtype::i16:
      return {"<i2", 2};
    case npy_dtype::i32:
      return {"<i4", 4};
  }
  throw io_error("npy: unknown element type");
}

// Python's repr of the shape tuple: "()", "(5,)", "(196, 196, 3)".
std::string shape_repr(std::span<const std::size_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ',';
  s += ')';
  return s;
}

}  // namespace

std::string npy_bytes(npy_dtype dtype, std::span<const std::size_t> shape, const void* data) {
  const dtype_info di = info(dtype);
  std::size_t numel = 1;
  for (const std::size_t d : shape) {
    if (d != 0 && numel > std::numeric_limits<std::size_t>::max() / d)
      throw io_error("npy: shape " + shape_repr(shape) + " has too many elements");
    numel *= d;
  }
  if (numel > std::numeric_limits<std::size_t>::max() / di.size)
    throw io_error("npy: shape " + shape_repr(shape) + " has too many bytes");
  const std::size_t nbytes = numel * di.size;
  if (nbytes > 0 && data == nullptr) throw io_error("npy: no data for shape " + shape_repr(shape));

  // As numpy.lib.format._write_array_header: dict with sorted keys, spare spaces so the first
  // axis can grow in place (GROWTH_AXIS_MAX_DIGITS = 21), then spaces and '\n' so the data
  // starts at a multiple of 64 bytes (ARRAY_ALIGN; a full 64 when already aligned).
  std::string dict = "{'descr': '";
  dict.append(di.descr).append("', 'fortran_order': False, 'shape': ");
  dict.append(shape_repr(shape)).append(", }");
  if (!shape.empty())
    dict.append(21 - std::min<std::size_t>(21, std::to_string(shape[0]).size()), ' ');
  constexpr std::size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  const std::size_t hlen = dict.size() + 1;
  const std::size_t pad = 64 - (prefix + hlen) % 64;
  const std::size_t header_len = hlen + pad;
  if (header_len > 0xffff)
    throw io_error("npy: header of shape " + shape_repr(shape) + " too long");

  std::string out;
  out.reserve(prefix + header_len + nbytes);
  out.append("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header_len & 0xff));
  out.push_back(static_cast<char>(header_len >> 8));
  out.append(dict).append(pad, ' ').push_back('\n');
  const std::size_t data_at = out.size();
  if (nbytes > 0) out.append(static_cast<const char*>(data), nbytes);
  if constexpr (std::endian::native == std::endian::big) {  // .npy data is little-endian
    for (std::size_t i = data_at; di.size > 1 && i < out.size(); i += di.size)
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(i),
                   out.begin() + static_cast<std::ptrdiff_t>(i + di.size));
  }
  return out;
}

}  // namespace gpsa::io
