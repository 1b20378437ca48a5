// SPDX-License-Identifier: MIT
// gpsa::io's base: the documented size limits, io_error, message text (printable paths, shapes,
// byte counts), the float32 tensor and the whole-file reader. Part of gpsa::runtime (allocates,
// throws gpsa::io::io_error); not for firmware builds. The formats and outputs build on it:
// gpsa/runtime/npy.hpp, safetensors.hpp, output_set.hpp; checked sizes: byte_budget.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gpsa::io {

// ---- Limits ------------------------------------------------------------------------------------
// The documented limits of gpsa's readers and writers, all in one place (the table in
// docs/reliability.md lists them). Anything over a limit is refused with a one-line io_error
// before memory is allocated for it.

// Largest file read_file / read_npy / read_safetensors read (4 GiB; ConViT-base in float32 is
// 344 MB). Peak memory of a reader is about the file plus its float32 copy.
inline constexpr std::uint64_t max_input_bytes = std::uint64_t{4} << 30;
// Largest safetensors JSON header (the reference implementation's limit, 10^8 bytes).
inline constexpr std::uint64_t max_header_bytes = 100'000'000;
// Most tensors in one safetensors file (timm's largest ConViT has 250).
inline constexpr std::size_t max_tensors = 65'536;
// Most entries in a safetensors __metadata__ map (timm writes one: {"format": "pt"}).
inline constexpr std::size_t max_metadata_entries = 65'536;
// Most dimensions of a tensor, .npy and safetensors alike (numpy's own NPY_MAXDIMS is 64).
inline constexpr std::size_t max_rank = 64;
// Largest .npy header (a float array's header is under 2 kB; numpy reads at most 10 kB unless
// told).
inline constexpr std::size_t max_npy_header_bytes = std::size_t{1} << 20;
// Default budget of byte_budget: the most memory one gpsa command may plan to allocate.
inline constexpr std::uint64_t max_work_bytes = std::uint64_t{4} << 30;
// Largest single output file a gpsa command writes.
inline constexpr std::uint64_t max_output_bytes = std::uint64_t{4} << 30;
// Most outputs staged at once in the whole process (over every output_set).
inline constexpr std::size_t max_pending_outputs = 32;

// The reader limits, for tests and hosts that want smaller ones (never larger: the defaults
// bound memory per header byte).
struct read_limits {
  std::uint64_t file_bytes = max_input_bytes;
  std::uint64_t header_bytes = max_header_bytes;
  std::size_t tensors = max_tensors;
  std::size_t metadata_entries = max_metadata_entries;
  std::size_t rank = max_rank;
  std::size_t npy_header_bytes = max_npy_header_bytes;
};

// ---- Errors and messages -----------------------------------------------------------------------

// Every reader/writer failure. what() is one line naming the file and the problem,
// e.g. "x.npy: Fortran-order arrays are not supported (save with np.ascontiguousarray)".
struct io_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `text` made safe to print inside a one-line message: valid UTF-8 stays as it is; control
// characters (newline is \x0a, ESC is \x1b), DEL, the backslash itself (\x5c, so an escape is
// never ambiguous) and every byte that is not part of valid UTF-8 become \xNN; C1 controls and
// the Unicode line/paragraph separators and bidirectional overrides become \uNNNN. This is the
// convention of image::printable and of every gpsa message. Longer results are cut (never inside an
// escape or a character) to at most `max_bytes` bytes plus "...". Every io_error message that
// echoes file content (keys, dtypes) or a path goes through this; the CLI uses it for everything it
// echoes.
std::string printable(std::string_view text, std::size_t max_bytes = 4096);

// A path for a message: printable(path), or "(empty path)" for an empty one.
std::string display_path(const std::filesystem::path& path);

// A shape as Python prints a tuple, for messages: "(2,3)", "(4,)", "()".
std::string shape_text(std::span<const std::size_t> shape);

std::string bytes_text(std::uint64_t bytes);

// ---- Reading -----------------------------------------------------------------------------------

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

// The whole content of a regular file (e.g. to hash a checkpoint before parse_safetensors).
// Never blocks on a FIFO (opened non-blocking and checked before reading). Throws io_error
// "PATH: cannot open: REASON", "PATH: is a folder, expected a file", "PATH: not a regular file
// (FIFO)" (pipes and devices are refused: /dev/zero would never end), "PATH: file is N bytes,
// over the 4.0 GiB limit" or "(empty path): cannot open: no file name given".
std::vector<std::uint8_t> read_file(const std::filesystem::path& path,
                                    std::uint64_t max_bytes = max_input_bytes);

}  // namespace gpsa::io
