// SPDX-License-Identifier: MIT
// libFuzzer target for gpsa::io::parse_npy: any byte string must either give a tensor whose
// data matches its shape or throw io_error with a one-line "fuzz.npy: ..." message. Crashes,
// sanitizer reports, other exceptions and oversized allocations are bugs, and so is a control
// character in a message. The rank and header limits are lowered so the fuzzer reaches them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gpsa::io::read_limits limits;
  limits.rank = 8;
  limits.npy_header_bytes = 1024;
  try {
    const gpsa::io::tensor t = gpsa::io::parse_npy({data, size}, "fuzz.npy", limits);
    if (t.shape.size() > limits.rank) __builtin_trap();
    std::size_t n = 1;
    for (auto s : t.shape) n *= s;
    if (t.data.size() != n) __builtin_trap();
    if (t.data.size() * 4 > size) __builtin_trap();  // never more floats than the file held
  } catch (const gpsa::io::io_error& e) {
    const std::string_view msg = e.what();
    if (!msg.starts_with("fuzz.npy: ")) __builtin_trap();
    for (const char c : msg)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
  }
  return 0;
}
