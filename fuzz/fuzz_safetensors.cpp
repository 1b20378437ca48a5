// SPDX-License-Identifier: MIT
// libFuzzer target for gpsa::io::parse_safetensors: any byte string must either give tensors
// whose data match their shapes or throw io_error with a one-line "fuzz.safetensors: ..."
// message. Crashes, sanitizer reports, other exceptions (e.g. from the JSON library) and
// oversized allocations are bugs, and so is a control character in a message. The tensor-count,
// rank and metadata limits are lowered so the fuzzer reaches them within -max_len bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace {

void check_message(const gpsa::io::io_error& e) {
  const std::string_view msg = e.what();
  if (!msg.starts_with("fuzz.safetensors: ")) __builtin_trap();
  for (const char c : msg)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gpsa::io::read_limits limits;
  limits.tensors = 16;
  limits.rank = 8;
  limits.metadata_entries = 16;
  gpsa::io::safetensors_file f;
  try {
    f = gpsa::io::parse_safetensors({data, size}, "fuzz.safetensors", limits);
  } catch (const gpsa::io::io_error& e) {
    check_message(e);
    return 0;
  }
  if (f.tensors.size() + f.unsupported.size() > limits.tensors) __builtin_trap();
  std::size_t floats = 0;
  for (const auto& [key, t] : f.tensors) {
    if (t.shape.size() > limits.rank) __builtin_trap();
    std::size_t n = 1;
    for (auto s : t.shape) n *= s;
    if (t.data.size() != n || &f.at(key) != &t) __builtin_trap();
    floats += n;
  }
  // F16/BF16 double in size when converted; nothing else may grow.
  if (floats * 2 > size) __builtin_trap();
  for (const auto& [key, dtype] : f.unsupported) {
    try {
      (void)f.at(key);
      __builtin_trap();  // an unsupported tensor must not be returned
    } catch (const gpsa::io::io_error& e) {
      check_message(e);
    }
  }
  return 0;
}
