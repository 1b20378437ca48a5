// SPDX-License-Identifier: MIT
// Checked sizes of the runtime: bytes of a shape with overflow detection, and a budget that
// refuses an oversize computation up front with a message naming what the user controls. Part of
// gpsa::runtime (gpsa::io).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gpsa/runtime/io.hpp"

namespace gpsa::io {

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

}  // namespace gpsa::io
