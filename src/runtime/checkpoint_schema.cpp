// SPDX-License-Identifier: MIT
// The timm ConViT checkpoint schema: the tensor table, the shape check, the NaN/Inf check and
// the GPSA layer reader (gpsa/runtime/checkpoint_schema.hpp).
#include "gpsa/runtime/checkpoint_schema.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "gpsa/detail/checked.hpp"
#include "gpsa/runtime/io.hpp"

namespace gpsa {
namespace {

using W = convit_weights;
using B = convit_block_weights;
using L = layer_params;
using shape4 = std::array<std::string_view, 4>;
constexpr auto required = tensor_presence::required;

constexpr tensor_spec model_tensor(std::string_view key, shape4 shape, const float* W::*field,
                                   std::string_view member, tensor_presence presence = required) {
  tensor_spec t{};
  t.key = key;
  t.shape = shape;
  t.presence = presence;
  t.model_field = field;
  t.member = member;
  return t;
}

constexpr tensor_spec model_linear(std::string_view key, shape4 shape, const float* W::*field,
                                   std::string_view member, convit_linear which,
                                   std::string_view note = {}) {
  tensor_spec t = model_tensor(key, shape, field, member);
  t.linear = true;
  t.which = which;
  t.note = note;
  return t;
}

constexpr tensor_spec block_tensor(std::string_view key, shape4 shape, const float* B::*field,
                                   std::string_view member, block_kind kind = block_kind::every,
                                   tensor_presence presence = required) {
  tensor_spec t{};
  t.key = key;
  t.shape = shape;
  t.presence = presence;
  t.kind = kind;
  t.block_field = field;
  t.member = member;
  return t;
}

constexpr tensor_spec block_linear(std::string_view key, shape4 shape, const float* B::*field,
                                   std::string_view member, convit_linear which,
                                   block_kind kind = block_kind::every) {
  tensor_spec t = block_tensor(key, shape, field, member, kind);
  t.linear = true;
  t.which = which;
  return t;
}

// A tensor of the GPSA layer too (key "attn.<layer key>").
constexpr tensor_spec in_layer(tensor_spec t, std::vector<float> L::*field,
                               bool positional = false) {
  t.layer_field = field;
  t.positional = positional;
  return t;
}

constexpr block_kind gpsa_block = block_kind::gpsa;
constexpr block_kind mhsa_block = block_kind::mhsa;
constexpr auto qkv_bias = tensor_presence::qkv_bias;

// The model's tensors, in the order the loader checks them (each symbol is given by the first
// tensor that shows it: D, C, p by the patch embedding, N by pos_embed, classes by head.weight).
constexpr tensor_spec model_table[] = {
    model_linear("patch_embed.proj.weight", {"D", "C", "p", "p"}, &W::patch_weight, "patch_weight",
                 convit_linear::patch_embed, "a square Conv2d kernel"),
    model_tensor("patch_embed.proj.bias", {"D"}, &W::patch_bias, "patch_bias"),
    model_tensor("pos_embed", {"1", "N", "D"}, &W::pos_embed, "pos_embed",
                 tensor_presence::optional),
    model_tensor("cls_token", {"1", "1", "D"}, &W::cls_token, "cls_token"),
    model_tensor("norm.weight", {"D"}, &W::norm_weight, "norm_weight"),
    model_tensor("norm.bias", {"D"}, &W::norm_bias, "norm_bias"),
    model_linear("head.weight", {"classes", "D"}, &W::head_weight, "head_weight",
                 convit_linear::head),
    model_tensor("head.bias", {"classes"}, &W::head_bias, "head_bias"),
};

// A block's tensors in convit_block_weights' member order. H is given by the first GPSA block's
// pos_proj.weight, M by the first block's mlp.fc1.weight.
constexpr tensor_spec block_table[] = {
    block_tensor("norm1.weight", {"D"}, &B::norm1_weight, "norm1_weight"),
    block_tensor("norm1.bias", {"D"}, &B::norm1_bias, "norm1_bias"),
    in_layer(block_linear("attn.qk.weight", {"2D", "D"}, &B::qk_weight, "qk_weight",
                          convit_linear::qk, gpsa_block),
             &L::qk_weight),
    in_layer(block_tensor("attn.qk.bias", {"2D"}, &B::qk_bias, "qk_bias", gpsa_block, qkv_bias),
             &L::qk_bias),
    in_layer(block_linear("attn.v.weight", {"D", "D"}, &B::v_weight, "v_weight", convit_linear::v,
                          gpsa_block),
             &L::v_weight),
    in_layer(block_tensor("attn.v.bias", {"D"}, &B::v_bias, "v_bias", gpsa_block, qkv_bias),
             &L::v_bias),
    in_layer(block_tensor("attn.pos_proj.weight", {"H", "3"}, &B::pos_proj_weight,
                          "pos_proj_weight", gpsa_block),
             &L::pos_proj_weight, true),
    in_layer(
        block_tensor("attn.pos_proj.bias", {"H"}, &B::pos_proj_bias, "pos_proj_bias", gpsa_block),
        &L::pos_proj_bias, true),
    in_layer(block_tensor("attn.gating_param", {"H"}, &B::gating_param, "gating_param", gpsa_block),
             &L::gating_param, true),
    block_linear("attn.qkv.weight", {"3D", "D"}, &B::qkv_weight, "qkv_weight", convit_linear::qkv,
                 mhsa_block),
    block_tensor("attn.qkv.bias", {"3D"}, &B::qkv_bias, "qkv_bias", mhsa_block, qkv_bias),
    in_layer(block_linear("attn.proj.weight", {"D", "D"}, &B::proj_weight, "proj_weight",
                          convit_linear::proj),
             &L::proj_weight),
    in_layer(block_tensor("attn.proj.bias", {"D"}, &B::proj_bias, "proj_bias"), &L::proj_bias),
    block_tensor("norm2.weight", {"D"}, &B::norm2_weight, "norm2_weight"),
    block_tensor("norm2.bias", {"D"}, &B::norm2_bias, "norm2_bias"),
    block_linear("mlp.fc1.weight", {"M", "D"}, &B::fc1_weight, "fc1_weight", convit_linear::fc1),
    block_tensor("mlp.fc1.bias", {"M"}, &B::fc1_bias, "fc1_bias"),
    block_linear("mlp.fc2.weight", {"D", "M"}, &B::fc2_weight, "fc2_weight", convit_linear::fc2),
    block_tensor("mlp.fc2.bias", {"D"}, &B::fc2_bias, "fc2_bias"),
};

// A key from the file, for a one-line message (control characters escaped, long keys cut).
std::string shown(std::string_view key) { return io::printable(key, 200); }

// One extent of a symbolic shape: factor * symbol, or the number `factor` when symbol is empty.
struct extent {
  std::size_t factor = 1;
  std::string_view symbol;
};

extent parse_extent(std::string_view s) noexcept {
  extent e;
  std::size_t i = 0, f = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    f = f * 10 + static_cast<std::size_t>(s[i++] - '0');
  if (i != 0) e.factor = f;
  e.symbol = s.substr(i);
  return e;
}

// The message for a GPSA layer key that is absent: what the layer needs, what the file has.
[[noreturn]] void missing_layer_key(const checkpoint_view& v, std::string_view name,
                                    bool positional_only) {
  std::string msg = "missing key '" + shown(v.key(name)) + "'; expected " +
                    (v.prefix().empty() ? std::string() : shown(v.prefix()) + ".") + "{";
  std::string optional;
  std::size_t n = 0;
  for (const tensor_spec& t : block_table) {
    if (t.layer_field == nullptr || (positional_only && !t.positional)) continue;
    if (t.presence == required)
      msg += (n++ ? ", " : "") + std::string(t.layer_key());
    else
      optional += (optional.empty() ? "" : ", ") + std::string(t.layer_key());
  }
  msg += "}";
  if (!optional.empty()) msg += " and optionally {" + optional + "}";
  const std::vector<std::string> prefixes = gpsa_layer_prefixes(v.file());
  if (prefixes.empty()) {
    msg += "; the file has no GPSA layer (no key ends in ." + std::string(gpsa_layer_marker) + ")";
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

// The marker first (its absence means "wrong prefix"), then every required key; then H from
// pos_proj.weight (and, for the whole layer, D from qk.weight, divisible by H).
shape_symbols layer_symbols(const checkpoint_view& v, bool positional_only) {
  if (!v.has(gpsa_layer_marker)) missing_layer_key(v, gpsa_layer_marker, positional_only);
  for (const tensor_spec& t : block_table)
    if (t.layer_field != nullptr && t.presence == required && (!positional_only || t.positional) &&
        !v.has(t.layer_key()))
      missing_layer_key(v, t.layer_key(), positional_only);
  shape_symbols s;
  check_tensor(v, gpsa_layer_marker, find_block_tensor("attn.pos_proj.weight")->dims(), s);
  if (!positional_only) {
    check_tensor(v, "qk.weight", find_block_tensor("attn.qk.weight")->dims(), s);
    check_heads_divide_width(v, s);
  }
  return s;
}

// The layer's tensors that `positional_only` selects into `p`, shapes checked against `s`.
void read_layer_tensors(const checkpoint_view& v, shape_symbols& s, bool positional_only,
                        layer_params& p) {
  for (const tensor_spec& t : block_table) {
    if (t.layer_field == nullptr || (positional_only && !t.positional) ||
        (t.presence != required && !v.has(t.layer_key())))
      continue;
    p.*t.layer_field = check_tensor(v, t.layer_key(), t.dims(), s).data;
  }
}

}  // namespace

std::span<const std::string_view> tensor_spec::dims() const noexcept {
  std::size_t n = 0;
  while (n < shape.size() && !shape[n].empty()) ++n;
  return {shape.data(), n};
}

std::string_view tensor_spec::layer_key() const noexcept {
  if (layer_field == nullptr) return {};
  return key.substr(gpsa_layer_in_block.size() + 1);
}

std::span<const tensor_spec> convit_model_tensors() noexcept { return model_table; }
std::span<const tensor_spec> convit_block_tensors() noexcept { return block_table; }

const tensor_spec* find_block_tensor(std::string_view key) noexcept {
  for (const tensor_spec& t : block_table)
    if (t.key == key) return &t;
  return nullptr;
}

std::size_t tensor_floats(const tensor_spec& t, const shape_symbols& s) {
  std::size_t n = 1;
  for (const std::string_view d : t.dims()) {
    const extent e = parse_extent(d);
    const std::size_t v = e.symbol.empty() ? 1 : s.at(e.symbol);
    if (!detail::checked_mul(n, e.factor, v, n))
      throw std::length_error(std::string(t.key) + ": size overflow");
  }
  return n;
}

shape_symbols convit_shape_symbols(const convit_config& c) {
  shape_symbols s;
  const std::pair<const char*, std::size_t> values[] = {
      {"D", c.dim},   {"C", c.channels},   {"p", c.patch_size},   {"N", c.patches()},
      {"H", c.heads}, {"M", c.mlp_hidden}, {"classes", c.classes}};
  for (const auto& [name, v] : values) s.set(name, v, "the configuration");
  return s;
}

std::optional<std::size_t> shape_symbols::find(std::string_view name) const {
  for (const entry& e : entries_)
    if (e.name == name) return e.value;
  return std::nullopt;
}

std::size_t shape_symbols::at(std::string_view name) const {
  if (const std::optional<std::size_t> v = find(name)) return *v;
  throw std::out_of_range("shape symbol " + std::string(name) + " is not known yet");
}

const std::string& shape_symbols::from(std::string_view name) const {
  static const std::string none;
  for (const entry& e : entries_)
    if (e.name == name) return e.from;
  return none;
}

void shape_symbols::set(std::string_view name, std::size_t value, std::string key) {
  for (entry& e : entries_)
    if (e.name == name) {
      e.value = value;
      e.from = std::move(key);
      return;
    }
  entries_.push_back({std::string(name), value, std::move(key)});
}

const io::tensor& check_tensor(const checkpoint_view& v, std::string_view name,
                               std::span<const std::string_view> shape, shape_symbols& symbols,
                               std::string_view note) {
  const io::tensor& t = v.get(name);
  // The value of a symbol: known, or given by this tensor (`fresh`, bound only if all fits).
  std::vector<std::pair<std::string_view, std::size_t>> fresh;
  const auto value_of = [&](std::string_view sym) -> std::optional<std::size_t> {
    if (const std::optional<std::size_t> known = symbols.find(sym)) return known;
    for (const auto& [s, val] : fresh)
      if (s == sym) return val;
    return std::nullopt;
  };
  bool fits = t.shape.size() == shape.size();
  for (std::size_t i = 0; fits && i < shape.size(); ++i) {
    const extent e = parse_extent(shape[i]);
    const std::size_t a = t.shape[i];
    if (e.symbol.empty()) {
      fits = a == e.factor;
    } else if (const std::optional<std::size_t> val = value_of(e.symbol)) {
      std::size_t want = 0;
      fits = detail::checked_mul(e.factor, *val, want) && a == want;
    } else {
      fits = a != 0 && a % e.factor == 0;
      if (fits) fresh.emplace_back(e.symbol, a / e.factor);
    }
  }
  if (fits) {
    for (const auto& [s, val] : fresh) symbols.set(s, val, v.key(name));
    return t;
  }
  // Expected: numbers as such, known symbols with their numbers after " = ", the others as
  // symbols; then where the known ones came from.
  std::vector<dim> want;
  std::string notes(note);
  std::vector<std::string_view> said;
  for (const std::string_view d : shape) {
    const extent e = parse_extent(d);
    const std::optional<std::size_t> val = e.symbol.empty() ? std::nullopt : symbols.find(e.symbol);
    std::size_t n = 0;
    if (e.symbol.empty())
      want.emplace_back(e.factor);
    else if (val && detail::checked_mul(e.factor, *val, n))
      want.emplace_back(n, d);
    else
      want.push_back(dim::named(d));
    if (!val || std::find(said.begin(), said.end(), e.symbol) != said.end()) continue;
    said.push_back(e.symbol);
    const std::string& from = symbols.from(e.symbol);
    if (from == v.key(name)) continue;
    notes += (notes.empty() ? "" : ", ") + std::string(e.symbol) + " = " + std::to_string(*val) +
             " from " + shown(from);
  }
  v.shape_error(name, t.shape, want, notes);
}

const io::tensor& check_tensor(const checkpoint_view& v, std::string_view name,
                               std::initializer_list<std::string_view> shape,
                               shape_symbols& symbols, std::string_view note) {
  return check_tensor(v, name, std::span<const std::string_view>(shape.begin(), shape.size()),
                      symbols, note);
}

void check_heads_divide_width(const checkpoint_view& v, const shape_symbols& symbols) {
  const std::size_t D = symbols.at("D"), H = symbols.at("H");
  if (D % H != 0)
    v.fail("width D = " + std::to_string(D) + " (from " + shown(symbols.from("D")) +
           ") is not divisible by H = " + std::to_string(H) + " heads (from " +
           shown(symbols.from("H")) + ")");
}

void require_finite(const checkpoint_view& v, std::string_view name, std::span<const float> values,
                    std::string_view why) {
  const std::string bad = first_nonfinite(v.get(name).shape, values);
  if (!bad.empty()) v.fail("tensor '" + shown(v.key(name)) + "' has " + bad + std::string(why));
}

std::vector<std::string> gpsa_layer_prefixes(const io::safetensors_file& f) {
  return checkpoint_view(f).prefixes_of(gpsa_layer_marker);
}

positional_params read_gpsa_positional(const io::safetensors_file& f, std::string_view prefix) {
  const checkpoint_view v(f, std::string(prefix));
  shape_symbols s = layer_symbols(v, true);
  layer_params l;
  read_layer_tensors(v, s, true, l);
  positional_params p;
  p.heads = s.at("H");
  p.pos_proj_weight = std::move(l.pos_proj_weight);
  p.pos_proj_bias = std::move(l.pos_proj_bias);
  p.gating_param = std::move(l.gating_param);
  return p;
}

layer_params read_gpsa_layer(const io::safetensors_file& f, std::string_view prefix) {
  const checkpoint_view v(f, std::string(prefix));
  shape_symbols s = layer_symbols(v, false);
  layer_params p;
  p.heads = s.at("H");
  p.dim = s.at("D");
  read_layer_tensors(v, s, false, p);
  return p;
}

}  // namespace gpsa
