// Internal helpers shared by gpsa::runtime's readers (not installed, not part of the API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gpsa/io.hpp"

namespace gpsa::io::detail {

// The whole content of a regular file; io_error "PATH: cannot open: REASON" otherwise.
// Pipes and devices are refused (reading /dev/zero would never end).
std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path);

// `s` made safe for a one-line message: control and non-ASCII bytes as \xNN, cut at `max`.
std::string printable(std::string_view s, std::size_t max = 64);

// Python-style shape text without spaces: "()", "(3,)", "(2,4,16)".
using gpsa::io::shape_text;

// Product of `shape`, false if it overflows size_t.
bool checked_numel(const std::vector<std::size_t>& shape, std::size_t& out) noexcept;

// Sizes `v` to n elements; io_error "NAME: not enough memory for WHAT (n elements)" instead of
// std::bad_alloc, so a huge but valid file still fails with a one-line message.
template <class T>
void resize_or_throw(std::vector<T>& v, std::size_t n, const std::string& name,
                     const std::string& what);

// double -> float rounded to nearest like PyTorch's .float() and numpy's astype: finite values
// beyond float's range become +-inf (a plain cast would be undefined behaviour there).
float narrow(double v) noexcept;

[[noreturn]] void throw_out_of_memory(const std::string& name, const std::string& what,
                                      std::size_t bytes);

template <class T>
void resize_or_throw(std::vector<T>& v, std::size_t n, const std::string& name,
                     const std::string& what) {
  try {
    v.resize(n);
  } catch (const std::bad_alloc&) {
    throw_out_of_memory(name, what, n * sizeof(T));
  } catch (const std::length_error&) {
    throw_out_of_memory(name, what, n * sizeof(T));
  }
}

}  // namespace gpsa::io::detail
