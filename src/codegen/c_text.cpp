// SPDX-License-Identifier: MIT
// The C text helpers of gpsa::codegen: identifiers, macro names, float literals, comment text.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "gpsa/codegen.hpp"

namespace gpsa::codegen {

bool is_c_identifier(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string c_macro_name(std::string_view identifier) {
  std::string s(identifier);
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

std::string c_float_literal(float v) {
  if (!std::isfinite(v))
    throw std::invalid_argument("a NaN or infinite value has no C99 float literal");
  char buf[48];
  for (int prec = 1; prec <= 9; ++prec) {  // 9 significant digits always round-trip a float
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  std::string s(buf);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // "1" is an int, "1f" invalid
  return s + 'f';
}

std::string c_comment_text(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '*' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "*_";
      ++i;
    } else {
      out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
  }
  return out;
}

}  // namespace gpsa::codegen
