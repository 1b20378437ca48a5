// SPDX-License-Identifier: MIT
// Checked sizes: bytes of a shape with overflow detection, and a budget that refuses an
// oversize computation up front with a message naming what the user controls.
#include <algorithm>
#include <cstdio>
#include <string>

#include "gpsa/runtime/io.hpp"
#include "io_detail.hpp"

namespace gpsa::io {

std::optional<std::uint64_t> checked_bytes(std::span<const std::size_t> shape,
                                           std::size_t elem_size) noexcept {
  std::uint64_t nonzero = 1;
  bool empty = false;
  for (const std::size_t s : shape) {
    if (s == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero, std::uint64_t{s}, &nonzero)) return std::nullopt;
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(nonzero, std::uint64_t{elem_size}, &bytes)) return std::nullopt;
  return empty ? 0 : bytes;
}

std::optional<std::uint64_t> checked_bytes(std::initializer_list<std::size_t> shape,
                                           std::size_t elem_size) noexcept {
  return checked_bytes(std::span<const std::size_t>(shape.begin(), shape.size()), elem_size);
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

byte_budget::byte_budget(std::string subject, std::uint64_t limit)
    : subject_(std::move(subject)), limit_(limit) {}

byte_budget& byte_budget::add(std::string_view what, std::span<const std::size_t> shape,
                              std::size_t elem_size) {
  const auto b = checked_bytes(shape, elem_size);
  if (!b) {
    if (!overflowed_)
      overflow_part_ = std::string(what) + " " + shape_text(shape) + " x " +
                       std::to_string(elem_size) + " bytes";
    overflowed_ = true;
    return *this;
  }
  return add_bytes(std::string(what) + " " + shape_text(shape), *b);
}

byte_budget& byte_budget::add(std::string_view what, std::initializer_list<std::size_t> shape,
                              std::size_t elem_size) {
  return add(what, std::span<const std::size_t>(shape.begin(), shape.size()), elem_size);
}

byte_budget& byte_budget::add_bytes(std::string_view what, std::uint64_t bytes) {
  if (overflowed_) return *this;
  if (__builtin_add_overflow(total_, bytes, &total_)) {
    overflowed_ = true;
    overflow_part_ = "the total with " + std::string(what);
    return *this;
  }
  parts_.emplace_back(std::string(what), bytes);
  return *this;
}

std::string byte_budget::message() const {
  if (ok()) return {};
  if (overflowed_)
    return subject_ + ": the size of " + overflow_part_ + " overflows 64 bits (far over the " +
           bytes_text(limit_) + " limit)";
  std::string msg =
      subject_ + ": needs " + std::to_string(total_) + " bytes (" + bytes_text(total_);
  // The parts, largest first, at most four (a message stays short).
  std::vector<const std::pair<std::string, std::uint64_t>*> order;
  for (const auto& p : parts_) order.push_back(&p);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return a->second > b->second; });
  for (std::size_t i = 0; i < order.size() && i < 4; ++i)
    msg += (i ? ", " : ": ") + detail::shown(order[i]->first) + " " + bytes_text(order[i]->second);
  if (order.size() > 4) msg += ", ...";
  return msg + "), over the " + bytes_text(limit_) + " limit";
}

void byte_budget::require() const {
  if (!ok()) throw io_error(message());
}

}  // namespace gpsa::io
