// libFuzzer target for gpsa::io::parse_npy: any byte string must either give a tensor whose
// data matches its shape or throw io_error with a one-line "fuzz.npy: ..." message. Crashes,
// sanitizer reports, other exceptions and oversized allocations are bugs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gpsa/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const gpsa::io::tensor t = gpsa::io::parse_npy({data, size}, "fuzz.npy");
    std::size_t n = 1;
    for (auto s : t.shape) n *= s;
    if (t.data.size() != n) __builtin_trap();
    if (t.data.size() * 4 > size) __builtin_trap();  // never more floats than the file held
  } catch (const gpsa::io::io_error& e) {
    const std::string_view msg = e.what();
    if (!msg.starts_with("fuzz.npy: ") || msg.find('\n') != std::string_view::npos)
      __builtin_trap();
  }
  return 0;
}
