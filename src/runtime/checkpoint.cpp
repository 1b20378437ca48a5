// SPDX-License-Identifier: MIT
// The checkpoint module: key names, natural order, shape-checked tensors, the GPSA layer schema.
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

bool shape_matches(std::span<const std::size_t> actual, std::span<const dim> want) {
  if (actual.size() != want.size()) return false;
  std::size_t i = 0;
  for (const dim& d : want) {
    const std::size_t a = actual[i++];
    if (d.size == dim::any ? a == 0 : a != d.size) return false;
  }
  return true;
}

// The message for a GPSA layer key that is absent: what the layer needs, what the file has.
[[noreturn]] void missing_gpsa_key(const checkpoint_view& v, std::string_view name,
                                   std::span<const std::string_view> required, bool optional) {
  std::string msg = "missing key '" + shown(v.key(name)) + "'; expected " +
                    (v.prefix().empty() ? std::string() : shown(v.prefix()) + ".") + "{";
  for (std::size_t i = 0; i < required.size(); ++i)
    msg += (i ? ", " : "") + std::string(required[i]);
  msg += "}";
  if (optional) msg += " and optionally {qk.bias, v.bias}";
  const std::vector<std::string> prefixes = gpsa_layer_prefixes(v.file());
  if (prefixes.empty()) {
    msg += "; the file has no GPSA layer (no key ends in .pos_proj.weight)";
  } else {
    // At most 8 (a 1000-layer file must not make a 1000-name line).
    msg += "; GPSA prefixes in the file: ";
    for (std::size_t i = 0; i < prefixes.size() && i < 8; ++i)
      msg += (i ? ", " : "") +
             (prefixes[i].empty() ? std::string("\"\" (keys without prefix)") : shown(prefixes[i]));
    if (prefixes.size() > 8) msg += ", ... (" + std::to_string(prefixes.size()) + " in all)";
  }
  v.fail(msg);
}

// pos_proj.weight first: it marks a GPSA layer, so its absence means "wrong prefix".
void require_keys(const checkpoint_view& v, std::span<const std::string_view> required,
                  bool optional) {
  if (!v.has("pos_proj.weight")) missing_gpsa_key(v, "pos_proj.weight", required, optional);
  for (const std::string_view k : required)
    if (!v.has(k)) missing_gpsa_key(v, k, required, optional);
}

// pos_proj.weight (H,3), pos_proj.bias (H,), gating_param (H,); returns H.
positional_params read_positional(const checkpoint_view& v) {
  const io::tensor& pw = v.get("pos_proj.weight", {dim::named("H"), 3});
  positional_params p;
  p.heads = pw.shape[0];
  const dim H{p.heads, "H"};
  p.pos_proj_weight = pw.data;
  p.pos_proj_bias = v.get("pos_proj.bias", {H}).data;
  p.gating_param = v.get("gating_param", {H}).data;
  return p;
}

constexpr std::string_view positional_keys[] = {"pos_proj.weight", "pos_proj.bias", "gating_param"};

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

const io::tensor& checkpoint_view::get(std::string_view name,
                                       std::initializer_list<dim> shape) const {
  const io::tensor& t = get(name);
  const std::span<const dim> want(shape.begin(), shape.size());
  if (!shape_matches(t.shape, want)) shape_error(name, t.shape, want);
  return t;
}

const io::tensor* checkpoint_view::find(std::string_view name,
                                        std::initializer_list<dim> shape) const {
  return has(name) ? &get(name, shape) : nullptr;
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

std::vector<std::string> gpsa_layer_prefixes(const io::safetensors_file& f) {
  return checkpoint_view(f).prefixes_of("pos_proj.weight");
}

positional_params read_gpsa_positional(const io::safetensors_file& f, std::string_view prefix) {
  const checkpoint_view v(f, std::string(prefix));
  require_keys(v, positional_keys, false);
  return read_positional(v);
}

layer_params read_gpsa_layer(const io::safetensors_file& f, std::string_view prefix) {
  const checkpoint_view v(f, std::string(prefix));
  require_keys(v, gpsa_required_keys, true);
  // H and D first, from the two tensors that define them; then every shape against them.
  const io::tensor& pw = v.get("pos_proj.weight", {dim::named("H"), 3});
  const std::size_t H = pw.shape[0];
  const io::tensor& qw = v.get("qk.weight");
  if (qw.shape.size() != 2 || qw.shape[1] == 0 || qw.shape[0] != 2 * qw.shape[1]) {
    const dim want[] = {dim::named("2D"), dim::named("D")};
    v.shape_error("qk.weight", qw.shape, want);
  }
  const std::size_t D = qw.shape[1];
  if (D % H != 0)
    v.fail("width D = " + std::to_string(D) + " (from " + shown(v.key("qk.weight")) +
           ") is not divisible by H = " + std::to_string(H) + " heads (from " +
           shown(v.key("pos_proj.weight")) + ")");
  const dim h{H, "H"}, d{D, "D"}, d2{2 * D, "2D"};
  layer_params p;
  p.heads = H;
  p.dim = D;
  p.pos_proj_weight = pw.data;
  p.qk_weight = qw.data;
  p.pos_proj_bias = v.get("pos_proj.bias", {h}).data;
  p.gating_param = v.get("gating_param", {h}).data;
  p.v_weight = v.get("v.weight", {d, d}).data;
  p.proj_weight = v.get("proj.weight", {d, d}).data;
  p.proj_bias = v.get("proj.bias", {d}).data;
  if (const io::tensor* t = v.find("qk.bias", {d2})) p.qk_bias = t->data;
  if (const io::tensor* t = v.find("v.bias", {d})) p.v_bias = t->data;
  return p;
}

}  // namespace gpsa
