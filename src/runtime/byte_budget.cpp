// SPDX-License-Identifier: MIT
// Checked sizes: bytes of a shape with overflow detection, and a budget that refuses an
// oversize computation up front with a message naming what the user controls.
#include <algorithm>
#include <cstdio>
#include <string>

#include "gpsa/detail/checked.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "io_detail.hpp"

namespace gpsa::io {

std::optional<std::uint64_t> checked_bytes(std::span<const std::size_t> shape,
                                           std::size_t elem_size) noexcept {
  std::uint64_t bytes = 0;
  if (!gpsa::detail::checked_product<std::uint64_t>(shape, elem_size, bytes)) return std::nullopt;
  return bytes;
}

std::optional<std::uint64_t> checked_bytes(std::initializer_list<std::size_t> shape,
                                           std::size_t elem_size) noexcept {
  return checked_bytes(std::span<const std::size_t>(shape.begin(), shape.size()), elem_size);
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
