// SPDX-License-Identifier: MIT
// File formats users have (NumPy .npy, safetensors), crash-safe all-or-nothing output files and
// the size limits of both. Part of gpsa::runtime (allocates, throws gpsa::io::io_error); not for
// firmware builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
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

// ---- Checked sizes -----------------------------------------------------------------------------

// Bytes of an array of `shape` with `elem_size`-byte elements, or nullopt when the element count
// or the byte count overflows 64 bits. A dimension of length 0 does not hide an overflow of the
// others: (0, 2^32, 2^32) overflows exactly like (2^32, 2^32, 0).
std::optional<std::uint64_t> checked_bytes(std::span<const std::size_t> shape,
                                           std::size_t elem_size) noexcept;
std::optional<std::uint64_t> checked_bytes(std::initializer_list<std::size_t> shape,
                                           std::size_t elem_size) noexcept;

// Adds up, with overflow checks, the buffers a computation is about to allocate, so an oversize
// request is refused up front with a message naming what the user controls and the bytes
// needed, never discovered by std::bad_alloc half-way:
//
//   io::byte_budget b("--grid '1x16384'");
//   b.add("attention (B,H,N,N) float32", {B, H, N, N}, 4).add("y", {B, N, D}, 4);
//   b.require();  // io_error: "--grid '1x16384': needs 4295229440 bytes (4.0 GiB: attention ...
//                 //  (1,4,16384,16384) float32 4.0 GiB, y ...), over the limit of 4 GiB"
//   if (!b.ok()) throw layer_error(b.message());  // or with another exception type
class byte_budget {
 public:
  explicit byte_budget(std::string subject, std::uint64_t limit = max_work_bytes);

  // product(shape) x elem_size bytes for `what`. Never throws for sizes: an overflow is recorded.
  byte_budget& add(std::string_view what, std::span<const std::size_t> shape,
                   std::size_t elem_size);
  byte_budget& add(std::string_view what, std::initializer_list<std::size_t> shape,
                   std::size_t elem_size);
  byte_budget& add_bytes(std::string_view what, std::uint64_t bytes);

  bool overflowed() const noexcept { return overflowed_; }
  // Sum so far; the largest uint64_t once it overflowed.
  std::uint64_t total() const noexcept { return overflowed_ ? ~std::uint64_t{0} : total_; }
  std::uint64_t limit() const noexcept { return limit_; }
  bool ok() const noexcept { return !overflowed_ && total_ <= limit_; }
  // "" when ok(); otherwise one line starting with the subject.
  std::string message() const;
  // Throws io_error(message()) unless ok().
  void require() const;

 private:
  std::string subject_;
  std::uint64_t limit_;
  std::uint64_t total_ = 0;
  bool overflowed_ = false;
  std::string overflow_part_;
  std::vector<std::pair<std::string, std::uint64_t>> parts_;
};

// "4.0 GiB", "512 MiB", "12 bytes": a byte count for messages.
std::string bytes_text(std::uint64_t bytes);

// ---- Reading -----------------------------------------------------------------------------------

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

// The whole content of a regular file (e.g. to hash a checkpoint before parse_safetensors).
// Never blocks on a FIFO (opened non-blocking and checked before reading). Throws io_error
// "PATH: cannot open: REASON", "PATH: is a folder, expected a file", "PATH: not a regular file
// (FIFO)" (pipes and devices are refused: /dev/zero would never end), "PATH: file is N bytes,
// over the 4.0 GiB limit" or "(empty path): cannot open: no file name given".
std::vector<std::uint8_t> read_file(const std::filesystem::path& path,
                                    std::uint64_t max_bytes = max_input_bytes);

// Reads a .npy holding float32 ('<f4') or float64 ('<f8', numpy's default; converted).
// Rejects everything else (bad magic, version, Fortran order, big-endian, other dtypes,
// truncated or oversized data, rank over max_rank, header over max_npy_header_bytes) with a
// message that says how to convert the array. parse_npy works on bytes in memory; `name`
// stands for the file in messages.
tensor read_npy(const std::filesystem::path& path, const read_limits& limits = {});
tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& name,
                 const read_limits& limits = {});

// A safetensors file, every tensor converted to float32 (F32, F16, BF16, F64 accepted).
struct safetensors_file {
  std::filesystem::path path;
  std::map<std::string, tensor> tensors;
  // Tensors of a valid dtype gpsa cannot convert (I64, U8, F8_E4M3, ...): key -> dtype name.
  // They do not make the whole file unreadable; at() on one of them throws naming the dtype.
  std::map<std::string, std::string> unsupported;
  // The header's __metadata__ strings (timm writes {"format": "pt"}; gpsa reads global_pool and
  // img_size, see gpsa::convit).
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& key) const { return tensors.count(key) != 0; }
  // Throws io_error "FILE: missing key 'K'" when absent, or "FILE: tensor 'K' has dtype I64,
  // which gpsa does not read ..." when it has an unsupported dtype.
  const tensor& at(const std::string& key) const;
};

// Reads and validates the whole file: header length (<= max_header_bytes and within the file),
// JSON parsed in one linear pass (no duplicate keys at any level, at most max_tensors tensors,
// ranks up to max_rank, __metadata__ a map of at most max_metadata_entries strings), each
// tensor's dtype, shape and data_offsets (inside the data section, matching shape x dtype size,
// no overlaps). Throws io_error "FILE: problem" otherwise. Memory beyond the file is a small
// multiple of the header size plus the float32 tensors. parse_safetensors does the same on bytes
// in memory; `name` stands for the file in messages.
safetensors_file read_safetensors(const std::filesystem::path& path,
                                  const read_limits& limits = {});
safetensors_file parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name,
                                   const read_limits& limits = {});

// ---- Writing -----------------------------------------------------------------------------------

class output_set;

// One output of an output_set: bytes go to a temporary file `.NAME.tmp.XXXXXX` beside the target
// and reach the target only when the whole set commits.
class output_file {
 public:
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file();

  // The target path, as given.
  const std::filesystem::path& path() const noexcept { return path_; }
  // Appends to the temporary. Throws io_error "PATH: write failed: REASON" (disk full, file-size
  // limit); the whole set then refuses to commit.
  void write(std::string_view bytes);
  void write(const void* data, std::size_t size);
  // Bytes written so far.
  std::uint64_t size() const noexcept { return size_; }

 private:
  friend class output_set;
  output_file() = default;

  std::filesystem::path path_;    // as given (messages)
  std::filesystem::path target_;  // absolute
  std::filesystem::path temp_;    // absolute
  std::string flag_;
  int fd_ = -1;
  int temp_slot_ = -1;
  bool failed_ = false;
  std::uint64_t size_ = 0;
};

// All-or-nothing writer for the outputs of one command (e.g. forward's y, attn and dist):
//
//   io::output_set out;
//   out.add_input(weights, "--weights");             // no output may replace an input
//   io::output_file& y = out.add(y_path, "-o");      // checks the target, creates its temporary
//   io::output_file& a = out.add(attn_path, "--attention");
//   ... read, compute; y.write(...) or io::write_npy(y, ...) ...
//   out.commit();                                    // every target replaced, or none
//
// add() checks everything that can be checked before any work: the path is not empty, its folder
// exists and is writable (the temporary is created right away), the target is not a folder or a
// non-regular file, and it is not another output or an input (same path after normalisation, or
// the same file: symlinks and hard links). commit() flushes (fsync) every temporary, then
// renames them over their targets; if any step fails, the targets already replaced are put back
// (each old file is kept as a hard link `.NAME.old.XXXXXX` until the commit is done; on a file
// system without hard links such targets are renamed last) and every temporary is removed, so
// the old files stay exactly as they were. Without commit(), the destructor removes every
// temporary. A new file gets mode 0666 minus the umask; a replaced file keeps its mode.
// Temporaries are also removed on SIGTERM/SIGINT/SIGHUP once install_cleanup_handlers() ran.
class output_set {
 public:
  output_set();
  ~output_set();
  output_set(const output_set&) = delete;
  output_set& operator=(const output_set&) = delete;

  // Records an input of the command; `flag` names it in messages ("--weights"). Throws io_error
  // when an output added so far is this file.
  void add_input(const std::filesystem::path& path, std::string_view flag = {});
  // Checks `path` as described above and creates its temporary. Throws io_error:
  //   "(empty path): no output file name given for -o"
  //   "PATH: output folder 'DIR' does not exist" / "... is not a folder"
  //   "PATH: is a folder, expected a file name"
  //   "PATH: exists and is not a regular file (device, FIFO or socket); gpsa replaces only ..."
  //   "PATH: cannot write: REASON" (creating the temporary failed: read-only folder, /proc, ...)
  //   "-o and --attention name the same file 'PATH'"
  //   "-o 'PATH' is the input --weights 'PATH'; refusing to overwrite an input file"
  // The reference stays valid until the set is destroyed.
  output_file& add(const std::filesystem::path& path, std::string_view flag = {});
  // Replaces every target (see above). Throws io_error naming the output that failed; then no
  // target has changed. Calling it twice, or after a failed write, throws.
  void commit();
  // Removes every temporary without touching a target (what the destructor does).
  void discard() noexcept;
  std::size_t size() const noexcept;
  bool committed() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Writes `bytes` to `path` through a one-output output_set: never a partial file.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Installs handlers for SIGTERM, SIGINT and SIGHUP that remove every staged temporary (and put
// back targets of a commit in progress), then re-raise the signal with the default disposition,
// so the exit status still says which signal ended the process. A library must not take signal
// handlers behind its host's back, so nothing installs them implicitly: the gpsa CLI's main()
// calls this. A signal whose disposition is not the default (ignored, e.g. under nohup, or
// handled by the host) is left alone; a host with its own handler can call
// remove_pending_outputs() from it instead. Idempotent.
void install_cleanup_handlers();
// Removes every staged temporary and undoes a commit in progress. Async-signal-safe (no
// allocation, no locks); for hosts' own signal handlers.
void remove_pending_outputs() noexcept;

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
