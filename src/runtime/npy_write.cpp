// SPDX-License-Identifier: MIT
// NumPy .npy writer (format 1.0): the header NumPy itself writes, byte for byte, then the data,
// either as one string (npy_bytes) or streamed into an output_file (npy_writer).
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "io_detail.hpp"

namespace gpsa::io {

namespace {

struct dtype_info {
  const char* descr;
  std::size_t size;
  const char* type;  // C++ element type, for messages
};

dtype_info info(npy_dtype d) {
  switch (d) {
    case npy_dtype::f32:
      return {"<f4", 4, "float"};
    case npy_dtype::f64:
      return {"<f8", 8, "double"};
    case npy_dtype::i8:
      return {"|i1", 1, "int8_t"};
    case npy_dtype::i16:
      return {"<i2", 2, "int16_t"};
    case npy_dtype::i32:
      return {"<i4", 4, "int32_t"};
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

// Elements of `shape` whose bytes fit 64 bits; io_error otherwise.
std::uint64_t checked_count(std::span<const std::size_t> shape, std::size_t elem_size) {
  if (shape.size() > max_rank)
    throw io_error("npy: shape with " + std::to_string(shape.size()) + " dimensions; at most " +
                   std::to_string(max_rank));
  std::size_t numel = 0;
  if (!detail::checked_numel(shape, elem_size, numel))
    throw io_error("npy: shape " + shape_repr(shape) + " has too many bytes");
  return numel;
}

// .npy data are little-endian: on a big-endian host, swap each element.
void write_le(output_file& out, const void* data, std::size_t count, std::size_t size) {
  if constexpr (std::endian::native == std::endian::little) {
    out.write(data, count * size);
  } else {
    const auto* p = static_cast<const unsigned char*>(data);
    unsigned char buf[1 << 16];
    const std::size_t per = sizeof buf / size;
    while (count > 0) {
      const std::size_t n = std::min(count, per);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t b = 0; b < size; ++b) buf[i * size + b] = p[i * size + size - 1 - b];
      out.write(buf, n * size);
      p += n * size;
      count -= n;
    }
  }
}

}  // namespace

std::string npy_header(npy_dtype dtype, std::span<const std::size_t> shape) {
  const dtype_info di = info(dtype);
  checked_count(shape, di.size);
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
  out.reserve(prefix + header_len);
  out.append("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header_len & 0xff));
  out.push_back(static_cast<char>(header_len >> 8));
  out.append(dict).append(pad, ' ').push_back('\n');
  return out;
}

std::string npy_bytes(npy_dtype dtype, std::span<const std::size_t> shape, const void* data) {
  const dtype_info di = info(dtype);
  std::string out = npy_header(dtype, shape);
  const std::size_t nbytes = static_cast<std::size_t>(checked_count(shape, di.size)) * di.size;
  if (nbytes > 0 && data == nullptr) throw io_error("npy: no data for shape " + shape_repr(shape));
  const std::size_t data_at = out.size();
  out.reserve(data_at + nbytes);
  if (nbytes > 0) out.append(static_cast<const char*>(data), nbytes);
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = data_at; di.size > 1 && i < out.size(); i += di.size)
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(i),
                   out.begin() + static_cast<std::ptrdiff_t>(i + di.size));
  }
  return out;
}

std::string npy_bytes(std::span<const std::size_t> shape, std::span<const float> data) {
  const std::uint64_t n = checked_count(shape, sizeof(float));
  if (data.size() != n)
    throw io_error("npy: shape " + shape_repr(shape) + " holds " + std::to_string(n) +
                   " values but " + std::to_string(data.size()) + " were given");
  return npy_bytes(npy_dtype::f32, shape, data.data());
}

// ---- streaming ---------------------------------------------------------------------------------

npy_writer::npy_writer(output_file& out, npy_dtype dtype, std::span<const std::size_t> shape)
    : out_(out), dtype_(dtype), remaining_(checked_count(shape, info(dtype).size)) {
  out_.write(npy_header(dtype, shape));
}

void npy_writer::append_raw(const void* data, std::size_t count, npy_dtype type) {
  const std::string shown = display_path(out_.path());
  if (type != dtype_)
    throw io_error(shown + ": appending " + info(type).type + " values to a '" +
                   info(dtype_).descr + "' array");
  if (count > remaining_)
    throw io_error(shown + ": " + std::to_string(count) + " more values than the shape holds (" +
                   std::to_string(remaining_) + " left)");
  write_le(out_, data, count, info(type).size);
  remaining_ -= count;
}

void npy_writer::append(std::span<const float> v) {
  append_raw(v.data(), v.size(), npy_dtype::f32);
}
void npy_writer::append(std::span<const double> v) {
  append_raw(v.data(), v.size(), npy_dtype::f64);
}
void npy_writer::append(std::span<const std::int8_t> v) {
  append_raw(v.data(), v.size(), npy_dtype::i8);
}
void npy_writer::append(std::span<const std::int16_t> v) {
  append_raw(v.data(), v.size(), npy_dtype::i16);
}
void npy_writer::append(std::span<const std::int32_t> v) {
  append_raw(v.data(), v.size(), npy_dtype::i32);
}

void npy_writer::finish() const {
  if (remaining_ != 0)
    throw io_error(display_path(out_.path()) + ": " + std::to_string(remaining_) +
                   " values missing for the array's shape");
}

namespace {

template <class T>
void write_whole(output_file& out, npy_dtype dtype, std::span<const std::size_t> shape,
                 std::span<const T> data) {
  // Checked before the header is written, so a mismatch leaves the output untouched.
  const std::uint64_t n = checked_count(shape, sizeof(T));
  if (data.size() != n)
    throw io_error(display_path(out.path()) + ": shape " + shape_repr(shape) + " holds " +
                   std::to_string(n) + " values but " + std::to_string(data.size()) +
                   " were given");
  npy_writer w(out, dtype, shape);
  w.append(data);
}

}  // namespace

void write_npy(output_file& out, std::span<const std::size_t> shape, std::span<const float> data) {
  write_whole(out, npy_dtype::f32, shape, data);
}

void write_npy(output_file& out, std::span<const std::size_t> shape, std::span<const double> data) {
  write_whole(out, npy_dtype::f64, shape, data);
}

}  // namespace gpsa::io
