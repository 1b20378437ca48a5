// SPDX-License-Identifier: MIT
// Small helpers shared by gpsa's tests: whole-file reads and error measures.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace gpsa_test {

// The whole file as bytes; empty when it cannot be read (tests assert on content).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Largest |a[i] - b[i]| in double; infinite when the sizes differ or any difference is NaN,
// so a NaN or a truncated output never looks like a small error.
template <class A, class B>
double max_abs_diff(const A& a, const B& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(double(a[i]) - double(b[i]));
    if (std::isnan(e)) return INFINITY;
    m = std::max(m, e);
  }
  return m;
}

template <class A>
double max_abs(const A& a) {
  double m = 0;
  for (auto v : a) m = std::max(m, std::abs(double(v)));
  return m;
}

}  // namespace gpsa_test
