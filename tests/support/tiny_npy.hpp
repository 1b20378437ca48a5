// SPDX-License-Identifier: MIT
// A deliberately tiny, independent .npy reader for the tests (not gpsa's reader, so a bug in
// gpsa's I/O cannot hide itself): format 1.0/2.0, returns descr, shape and the raw data bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace tiny_npy {

struct array {
  std::string descr;  // e.g. "<f4"
  bool fortran_order = true;
  std::vector<std::size_t> shape;
  std::size_t data_offset = 0;  // where the data starts in the file
  std::vector<std::uint8_t> data;
};

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open (missing fixture?)");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline array parse(const std::vector<std::uint8_t>& b, const std::string& name) {
  const auto fail = [&](const std::string& what) { return std::runtime_error(name + ": " + what); };
  if (b.size() < 10 || std::string(b.begin(), b.begin() + 6) != "\x93NUMPY") throw fail("not .npy");
  std::size_t hl = 0, off = 0;
  if (b[6] == 1) {
    hl = b[8] | (std::size_t{b[9]} << 8);
    off = 10;
  } else if (b[6] == 2 && b.size() >= 12) {
    hl = b[8] | (std::size_t{b[9]} << 8) | (std::size_t{b[10]} << 16) | (std::size_t{b[11]} << 24);
    off = 12;
  } else {
    throw fail("unknown version");
  }
  if (off + hl > b.size()) throw fail("truncated header");
  const std::string h(b.begin() + static_cast<std::ptrdiff_t>(off),
                      b.begin() + static_cast<std::ptrdiff_t>(off + hl));
  array a;
  const auto d = h.find("'descr': '");
  if (d == std::string::npos) throw fail("no descr");
  a.descr = h.substr(d + 10, h.find('\'', d + 10) - (d + 10));
  a.fortran_order = h.find("'fortran_order': False") == std::string::npos;
  const auto s = h.find("'shape': (");
  if (s == std::string::npos) throw fail("no shape");
  std::size_t i = s + 10;
  while (h[i] != ')') {
    if (h[i] == ',' || h[i] == ' ') {
      ++i;
      continue;
    }
    std::size_t v = 0;
    while (h[i] >= '0' && h[i] <= '9') v = v * 10 + static_cast<std::size_t>(h[i++] - '0');
    a.shape.push_back(v);
  }
  a.data_offset = off + hl;
  a.data.assign(b.begin() + static_cast<std::ptrdiff_t>(a.data_offset), b.end());
  return a;
}

inline array load(const std::string& path) { return parse(read_bytes(path), path); }

}  // namespace tiny_npy
