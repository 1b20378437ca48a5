// SPDX-License-Identifier: MIT
// NumPy .npy files: the float32 / float64 reader and the writers (whole arrays in memory, or
// streamed into an output_set's output). Part of gpsa::runtime (gpsa::io).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/output_set.hpp"

namespace gpsa::io {

// ---- Reading -----------------------------------------------------------------------------------

// Element types gpsa writes to .npy ('<f4', '<f8', '|i1', '<i2', '<i4').
enum class npy_dtype { f32, f64, i8, i16, i32 };

// Reads a .npy holding float32 ('<f4') or float64 ('<f8', numpy's default; converted).
// Rejects everything else (bad magic, version, Fortran order, big-endian, other dtypes,
// truncated or oversized data, rank over max_rank, header over max_npy_header_bytes) with a
// message that says how to convert the array. parse_npy works on bytes in memory; `name`
// stands for the file in messages.
tensor read_npy(const std::filesystem::path& path, const read_limits& limits = {});
tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& name,
                 const read_limits& limits = {});

// ---- .npy writing ------------------------------------------------------------------------------

// The .npy header (format 1.0, byte for byte what numpy writes) of an array of `shape`/`dtype`;
// the little-endian data follow it directly. Throws io_error when the size overflows.
std::string npy_header(npy_dtype dtype, std::span<const std::size_t> shape);

// The complete contents of a .npy file in memory. `data` holds product(shape) elements of
// `dtype` in native byte order. Prefer write_npy / npy_writer for large arrays (no second copy).
std::string npy_bytes(npy_dtype dtype, std::span<const std::size_t> shape, const void* data);
// Checks that `data` holds exactly product(shape) values (io_error otherwise).
std::string npy_bytes(std::span<const std::size_t> shape, std::span<const float> data);

// Streams one .npy array into an output: the header first, then the data as it is appended, so
// peak memory is the caller's data only (not a second, whole-file copy).
class npy_writer {
 public:
  // Writes the header. Throws io_error when the size overflows.
  npy_writer(output_file& out, npy_dtype dtype, std::span<const std::size_t> shape);
  // Appends values of the writer's dtype (float for f32, double for f64, std::int8_t/int16_t/
  // int32_t); io_error when the type does not match or more values than the shape holds.
  void append(std::span<const float> v);
  void append(std::span<const double> v);
  void append(std::span<const std::int8_t> v);
  void append(std::span<const std::int16_t> v);
  void append(std::span<const std::int32_t> v);
  // Values still expected.
  std::uint64_t remaining() const noexcept { return remaining_; }
  // Throws io_error unless exactly product(shape) values were appended.
  void finish() const;

 private:
  void append_raw(const void* data, std::size_t count, npy_dtype type);
  output_file& out_;
  npy_dtype dtype_;
  std::uint64_t remaining_;
};

// One whole array through npy_writer: header, data, size check.
void write_npy(output_file& out, std::span<const std::size_t> shape, std::span<const float> data);
void write_npy(output_file& out, std::span<const std::size_t> shape, std::span<const double> data);

}  // namespace gpsa::io
