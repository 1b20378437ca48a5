// File formats users have (NumPy .npy, safetensors) and crash-safe output files. Part of
// gpsa::runtime (allocates, throws gpsa::io::io_error); not for firmware builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gpsa::io {

// Every reader/writer failure. what() is one line naming the file and the problem,
// e.g. "x.npy: Fortran-order arrays are not supported (save with np.ascontiguousarray)".
struct io_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Element types gpsa writes to .npy ('<f4', '<f8', '|i1', '<i2', '<i4').
enum class npy_dtype { f32, f64, i8, i16, i32 };

// A dense float32 tensor, C order.
struct tensor {
  std::vector<std::size_t> shape;
  std::vector<float> data;

  std::size_t numel() const noexcept {
    std::size_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

// A shape as Python prints a tuple, for messages: "(2,3)", "(4,)", "()".
std::string shape_text(std::span<const std::size_t> shape);

// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
// failure never leaves a partial or stale-looking output. Throws io_error naming the path.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// The whole content of a regular file (e.g. to hash a checkpoint before parse_safetensors).
// Throws io_error "PATH: cannot open: REASON", "PATH: is a folder, expected a file" or
// "PATH: not a regular file" (pipes and devices are refused: /dev/zero would never end).
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);

// The complete contents of a .npy file (format 1.0, little-endian, C order).
// `data` holds product(shape) elements of `dtype`, in native (little-endian) byte order.
std::string npy_bytes(npy_dtype dtype, std::span<const std::size_t> shape, const void* data);
inline std::string npy_bytes(std::span<const std::size_t> shape, std::span<const float> data) {
  return npy_bytes(npy_dtype::f32, shape, data.data());
}

// Reads a .npy holding float32 ('<f4') or float64 ('<f8', numpy's default; converted).
// Rejects everything else (bad magic, version, Fortran order, big-endian, other dtypes,
// truncated or oversized data) with a message that says how to convert the array.
tensor read_npy(const std::filesystem::path& path);
tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& name);

// A safetensors file, every tensor converted to float32 (F32, F16, BF16, F64 accepted).
struct safetensors_file {
  std::filesystem::path path;
  std::map<std::string, tensor> tensors;
  // Tensors of a valid dtype gpsa cannot convert (I64, U8, F8_E4M3, ...): key -> dtype name.
  // They do not make the whole file unreadable; at() on one of them throws naming the dtype.
  std::map<std::string, std::string> unsupported;

  bool contains(const std::string& key) const { return tensors.count(key) != 0; }
  // Throws io_error "FILE: missing key 'K'" when absent, or "FILE: tensor 'K' has dtype I64,
  // which gpsa does not read ..." when it has an unsupported dtype.
  const tensor& at(const std::string& key) const;
};

// Reads and validates the whole file: header length (<= 100 MB and within the file), JSON
// (no duplicate keys), each tensor's dtype, shape and data_offsets (inside the data section,
// matching shape x dtype size, no overlaps). Throws io_error "FILE: problem" otherwise.
// parse_safetensors does the same on bytes in memory; `name` stands for the file in messages.
safetensors_file read_safetensors(const std::filesystem::path& path);
safetensors_file parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name);

}  // namespace gpsa::io
