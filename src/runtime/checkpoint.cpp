// SPDX-License-Identifier: MIT
// The checkpoint module: key names, natural order, tensors by key, the shape and NaN/Inf texts.
#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace gpsa {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// A key (or prefix) from the file, for a one-line message: control characters escaped
// (docs/io.md, "What the errors look like"), long keys cut.
std::string shown(std::string_view key) { return io::printable(key, 200); }

// "(H,3)", "(D,)": a shape in the symbols of `dims`, numbers where a dim has no symbol.
std::string symbolic_text(std::span<const dim> dims) {
  std::string s = "(";
  std::size_t i = 0;
  for (const dim& d : dims) {
    if (i++ != 0) s += ',';
    s += d.name.empty() ? std::to_string(d.size) : std::string(d.name);
  }
  return s + (dims.size() == 1 ? ",)" : ")");
}

}  // namespace

bool natural_less(std::string_view a, std::string_view b) noexcept {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && is_digit(a[i2])) ++i2;
      while (j2 < b.size() && is_digit(b[j2])) ++j2;
      // Compare the runs by value: strip leading zeros, then longer is larger, then lexically.
      std::string_view ra = a.substr(i, i2 - i), rb = b.substr(j, j2 - j);
      while (ra.size() > 1 && ra[0] == '0') ra.remove_prefix(1);
      while (rb.size() > 1 && rb[0] == '0') rb.remove_prefix(1);
      if (ra.size() != rb.size()) return ra.size() < rb.size();
      if (ra != rb) return ra < rb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;  // equal up to leading zeros: any strict order
}

std::string join_key(std::string_view prefix, std::string_view name) {
  std::string k(prefix);
  if (!k.empty()) k += '.';
  k += name;
  return k;
}

checkpoint_view::checkpoint_view(const io::safetensors_file& file, std::string prefix)
    : file_(&file), prefix_(std::move(prefix)) {}

checkpoint_view checkpoint_view::sub(std::string_view name) const {
  return checkpoint_view(*file_, key(name));
}

std::string checkpoint_view::key(std::string_view name) const { return join_key(prefix_, name); }

bool checkpoint_view::has(std::string_view name) const {
  const std::string k = key(name);
  return file_->tensors.count(k) != 0 || file_->unsupported.count(k) != 0;
}

void checkpoint_view::fail(const std::string& what) const {
  throw checkpoint_error(io::display_path(file_->path) + ": " + what);
}

void checkpoint_view::shape_error(std::string_view name, std::span<const std::size_t> actual,
                                  std::span<const dim> expected, std::string_view note) const {
  std::string msg = shown(key(name)) + " has shape " + io::shape_text(actual) + ", expected " +
                    symbolic_text(expected);
  // The numbers where they are known ("(1,N,D) = (1,N,432)"); shown when they add something.
  std::string numbers = "(";
  std::size_t i = 0;
  for (const dim& d : expected) {
    if (i++ != 0) numbers += ',';
    numbers += d.size == dim::any ? std::string(d.name) : std::to_string(d.size);
  }
  numbers += expected.size() == 1 ? ",)" : ")";
  if (numbers != symbolic_text(expected)) msg += " = " + numbers;
  if (!note.empty()) msg += " (" + std::string(note) + ")";
  fail(msg);
}

const io::tensor& checkpoint_view::get(std::string_view name) const {
  if (!has(name)) fail("missing key '" + shown(key(name)) + "'");
  return file_->at(key(name));  // io_error naming the dtype when it cannot be converted
}

std::vector<std::string> checkpoint_view::prefixes_of(std::string_view suffix) const {
  std::vector<std::string> out;
  const auto consider = [&](const std::string& k) {
    if (!prefix_.empty() && k.compare(0, prefix_.size() + 1, prefix_ + ".") != 0) return;
    if (k == suffix) {
      out.emplace_back();
    } else if (k.size() > suffix.size() + 1 &&
               k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0 &&
               k[k.size() - suffix.size() - 1] == '.') {
      out.push_back(k.substr(0, k.size() - suffix.size() - 1));
    }
  };
  for (const auto& kv : file_->tensors) consider(kv.first);
  for (const auto& kv : file_->unsupported) consider(kv.first);  // get() then names the dtype
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return natural_less(a, b); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string first_nonfinite(std::span<const std::size_t> shape, std::span<const float> values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (std::isfinite(v)) continue;
    std::vector<std::size_t> idx(shape.size());
    std::size_t flat = i;
    for (std::size_t k = shape.size(); k-- > 0;) {
      idx[k] = shape[k] == 0 ? 0 : flat % shape[k];
      flat = shape[k] == 0 ? 0 : flat / shape[k];
    }
    std::string s = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
    s += " at index (";
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if (k != 0) s += ',';
      s += std::to_string(idx[k]);
    }
    return s + ")";
  }
  return {};
}

}  // namespace gpsa
