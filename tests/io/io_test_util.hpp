// SPDX-License-Identifier: MIT
// Helpers for the reader tests: byte builders for .npy / safetensors inputs and error checks.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa_test {

using bytes = std::vector<std::uint8_t>;

inline void append(bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }

template <class T>
void append_le(bytes& b, T v) {
  using U = std::conditional_t<sizeof(T) == 8, std::uint64_t,
                               std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint16_t>>;
  const U u = std::bit_cast<U>(v);
  for (std::size_t i = 0; i < sizeof(T); ++i) b.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
}

// A .npy file written the way the format spec describes it: magic, version, little-endian header
// length (2 bytes for 1.0, 4 for 2.0/3.0), the dict padded with spaces and '\n' to a multiple of
// 64, then `data`. Independent of gpsa's writer on purpose.
inline bytes make_npy(std::string_view dict, const bytes& data, int major = 1, int minor = 0) {
  const std::size_t pre = major == 1 ? 10 : 12;
  std::string header(dict);
  const std::size_t total = pre + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  bytes b = {0x93,
             'N',
             'U',
             'M',
             'P',
             'Y',
             static_cast<std::uint8_t>(major),
             static_cast<std::uint8_t>(minor)};
  if (major == 1)
    append_le(b, static_cast<std::uint16_t>(header.size()));
  else
    append_le(b, static_cast<std::uint32_t>(header.size()));
  append(b, header);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

inline std::string npy_dict(std::string_view descr, std::string_view shape, bool fortran = false) {
  return "{'descr': '" + std::string(descr) +
         "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + std::string(shape) + ", }";
}

template <class T>
bytes le_bytes(std::initializer_list<T> values) {
  bytes b;
  for (T v : values) append_le(b, v);
  return b;
}

// A safetensors file: 8-byte little-endian header length, the JSON text, the data section.
inline bytes make_safetensors(std::string_view header, const bytes& data) {
  bytes b;
  append_le(b, static_cast<std::uint64_t>(header.size()));
  append(b, header);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// Runs `f`, expects io_error whose message is one line, starts with `start` and contains
// every string of `parts` (for messages that begin with flags rather than a file name).
template <class F>
std::string expect_io_message(F&& f, const std::string& start,
                              std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const gpsa::io::io_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(start, 0), 0u) << "message does not start with '" << start << "': " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const char c : msg)
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          << "raw control character " << int(c) << " in: " << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected gpsa::io::io_error, nothing was thrown";
  return {};
}

// Runs `f`, expects io_error whose message is one line, starts with "NAME: " and contains
// every string of `parts`. Returns the message for further checks.
template <class F>
std::string expect_io_error(F&& f, const std::string& name,
                            std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const gpsa::io::io_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(name + ": ", 0), 0u)
        << "message does not start with the file name: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const char c : msg)
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          << "raw control character " << int(c) << " in: " << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected gpsa::io::io_error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected gpsa::io::io_error, nothing was thrown";
  return {};
}

}  // namespace gpsa_test
