// SPDX-License-Identifier: MIT
// The timm ConViT checkpoint schema: which keys a ConViT has, what their shapes must be, and the
// configuration they imply (depth, D, H, local_up_to_layer, patch and image size, MLP width,
// classes, qkv bias).
#include "convit_checkpoint.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "gpsa/grid.hpp"
#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa::detail {
namespace {

// The tensors, their shapes and the shape check are the schema's
// (gpsa/runtime/checkpoint_schema.hpp); this file infers the configuration from them and checks
// what the table cannot say (depth, block kinds, qkv bias in every block or none, metadata).
using shape_t = std::vector<std::size_t>;

class schema {
 public:
  schema(const io::safetensors_file& f, const convit_options& o) : view_(f), file_(f), options_(o) {
    for (const auto& [k, t] : f.tensors) keys_.insert(k);
    for (const auto& [k, d] : f.unsupported) keys_.insert(k);
  }

  convit_checkpoint run() {
    convit_checkpoint out;
    convit_config& c = out.config;
    index_blocks();
    if (const std::string other = other_model(); !other.empty())
      fail("not a ConViT: " + other + "; gpsa runs timm ConViT checkpoints");

    // Patch embedding: D, C and p.
    check(model_spec("patch_embed.proj.weight"), "patch_embed.proj.weight");
    c.dim = sym("D");
    c.channels = sym("C");
    c.patch_size = sym("p");

    // What the tensors cannot say: timm's global_pool and img_size, from the options or the
    // safetensors metadata (which must then agree), else timm's defaults.
    settings(out);

    // Positional embedding: N patches on a square grid, image size S = sqrt(N) * p (or the
    // given S with floor(S / p) = sqrt(N)). Without it (timm's use_pos_embed=False) S must be
    // given.
    const std::size_t S = out.config.image_size;  // 0: not given
    const std::string S_from = out.image_size_source == convit_setting::option
                                   ? "(given)"
                                   : "(from the metadata img_size)";
    if (S != 0 && S < c.patch_size)
      fail("image size " + std::to_string(S) + " is smaller than the patch (" +
           std::to_string(c.patch_size) + " from patch_embed.proj.weight)");
    if (S > max_image_size)
      fail("image size " + std::to_string(S) + " " + S_from + " is over gpsa's limit of " +
           std::to_string(max_image_size));
    if (has("pos_embed")) {
      const io::tensor& pe = check(model_spec("pos_embed"), "pos_embed");  // N
      if (pe.shape[1] > max_convit_patches)
        fail("pos_embed has shape " + io::shape_text(pe.shape) +
             ": N = " + std::to_string(pe.shape[1]) + " patches, over the limit of " +
             std::to_string(max_convit_patches) +
             " (a 64x64 grid) of the models gpsa runs (the attention is O(N^2) per block)");
      grid g{};
      if (square_grid_from_patches(pe.shape[1], g) != status::ok)
        fail("pos_embed has shape " + io::shape_text(pe.shape) +
             ": N = " + std::to_string(pe.shape[1]) +
             " patches is not a square grid (ConViT takes square images)");
      const std::size_t G = g.rows, p = c.patch_size;
      if (S != 0 && S / p != G)
        fail("image size " + std::to_string(S) + " " + S_from + " makes a " +
             std::to_string(S / p) + "x" + std::to_string(S / p) + " grid of " + std::to_string(p) +
             "-pixel patches, but pos_embed has N = " + std::to_string(pe.shape[1]) +
             " patches (a " + std::to_string(G) + "x" + std::to_string(G) +
             " grid): give an image size from " + std::to_string(G * p) + " to " +
             std::to_string(G * p + p - 1));
      c.image_size = S != 0 ? S : G * p;
    } else {
      if (S == 0)
        fail(
            "no pos_embed (timm's use_pos_embed=False): the image size is not in the "
            "checkpoint; give it (--image-size S, image_size=S) or store img_size in its "
            "safetensors metadata");
      c.use_pos_embed = false;
      const std::size_t G = S / c.patch_size;
      if (G * G > max_convit_patches)
        fail("image size " + std::to_string(S) + " " + S_from +
             " makes N = " + std::to_string(G * G) + " patches, over the limit of " +
             std::to_string(max_convit_patches) +
             " (a 64x64 grid) of the models gpsa runs (the attention is O(N^2) per block)");
    }

    // Blocks: depth, local_up_to_layer, H, M, qkv bias.
    c.depth = depth();
    c.local_up_to_layer = c.depth;
    for (const auto& [i, count] : blocks_) {  // the blocks present, in order (not 0..depth-1)
      if (i >= c.depth) break;
      if (has(block_key(i, "attn.qkv.weight"))) {
        c.local_up_to_layer = i;
        break;
      }
    }
    if (c.local_up_to_layer == 0)
      fail(
          "blocks.0 is an MHSA block (has blocks.0.attn.qkv.weight): gpsa needs at least one "
          "GPSA block first (its attn.pos_proj.weight gives the number of heads)");
    const tensor_spec& pos_proj = *find_block_tensor("attn.pos_proj.weight");
    check(pos_proj, block_key(0, pos_proj.key));  // H
    c.heads = sym("H");
    check_heads_divide_width(view_, sym_);
    const tensor_spec& fc1 = *find_block_tensor("mlp.fc1.weight");
    check(fc1, block_key(0, fc1.key));  // M
    c.mlp_hidden = sym("M");
    out.qkv_bias = has(block_key(0, "attn.qk.bias"));
    bias_from_ = block_key(0, "attn.qk.bias");

    // The model's own tensors (classes from head.weight), then every block's.
    for (const tensor_spec& t : convit_model_tensors())
      if (t.presence != tensor_presence::optional || has(std::string(t.key)))
        expect(out, convit_slot::no_block, std::string(t.key), t);
    c.classes = sym("classes");
    for (std::size_t i = 0; i < c.depth; ++i) block(out, i);

    reject_unused(c);
    check_work(c);
    if (c.pool == convit_pool::avg && c.tokens() < 2)
      fail("global_pool avg averages tokens 1.. of the final features, but this model has a " +
           std::string("single token"));
    return out;
  }

 private:
  // Largest image side accepted from the options or the metadata (gpsa::image's limit too).
  static constexpr std::size_t max_image_size = 4096;

  // global_pool and img_size: options and metadata, which must agree.
  void settings(convit_checkpoint& out) const {
    const auto meta = [&](const char* key) -> const std::string* {
      const auto it = file_.metadata.find(key);
      return it == file_.metadata.end() ? nullptr : &it->second;
    };
    std::optional<convit_pool> meta_pool;
    if (const std::string* v = meta("global_pool")) {
      meta_pool = convit_pool_from(*v);
      if (!meta_pool)
        fail("metadata global_pool '" + io::printable(*v, 200) +
             "': gpsa computes the heads of global_pool 'token' and 'avg'");
    }
    if (options_.pool && meta_pool && *options_.pool != *meta_pool)
      fail("global_pool " + std::string(convit_pool_name(*options_.pool)) +
           " (given) contradicts the checkpoint's metadata global_pool '" +
           std::string(convit_pool_name(*meta_pool)) + "'");
    out.config.pool = options_.pool ? *options_.pool : meta_pool.value_or(convit_pool::token);
    out.pool_source = options_.pool ? convit_setting::option
                      : meta_pool   ? convit_setting::metadata
                                    : convit_setting::default_value;

    std::optional<std::size_t> meta_size;
    if (const std::string* v = meta("img_size")) {
      std::size_t n = 0;
      const bool digits =
          !v->empty() && v->size() <= 6 && v->find_first_not_of("0123456789") == std::string::npos;
      if (digits) n = std::stoul(*v);
      if (!digits || n == 0)
        fail("metadata img_size '" + io::printable(*v, 200) + "': expected a positive integer");
      meta_size = n;
    }
    if (options_.image_size && meta_size && *options_.image_size != *meta_size)
      fail("image size " + std::to_string(*options_.image_size) +
           " (given) contradicts the checkpoint's metadata img_size '" +
           std::to_string(*meta_size) + "'");
    if (options_.image_size && *options_.image_size == 0) fail("image size 0 (given)");
    out.config.image_size = options_.image_size.value_or(meta_size.value_or(0));
    out.image_size_source = options_.image_size ? convit_setting::option
                            : meta_size         ? convit_setting::metadata
                                                : convit_setting::default_value;
  }

  checkpoint_view view_;  // the whole file, no prefix
  const io::safetensors_file& file_;
  convit_options options_;
  std::set<std::string> keys_;  // every key of the file (readable dtype or not)
  std::set<std::string> used_;
  shape_symbols sym_;
  std::string bias_from_;
  std::map<std::size_t, std::size_t> blocks_;  // block index -> keys "blocks.{i}.*" in the file

  [[noreturn]] void fail(const std::string& msg) const { view_.fail(msg); }

  bool has(const std::string& key) const { return keys_.count(key) != 0; }

  static std::string block_key(std::size_t i, std::string_view suffix) {
    return join_key("blocks." + std::to_string(i), suffix);
  }

  [[noreturn]] void missing(const std::string& key) const {
    std::string msg = "missing key '" + key + "'";
    // A wrapped state_dict ("module.cls_token", "model.cls_token") is the common mistake.
    for (const auto& k : keys_)
      if (k.size() > key.size() + 1 && k.compare(k.size() - key.size(), key.size(), key) == 0 &&
          k[k.size() - key.size() - 1] == '.') {
        msg += " (the file has '" + k + "': strip the prefix '" +
               k.substr(0, k.size() - key.size()) + "' from every key)";
        break;
      }
    if (keys_.empty()) msg += " (the file holds no tensors)";
    fail(msg + "; expected a timm ConViT state_dict");
  }

  std::size_t sym(std::string_view name) const { return sym_.at(name); }

  static const tensor_spec& model_spec(std::string_view key) {
    for (const tensor_spec& t : convit_model_tensors())
      if (t.key == key) return t;
    throw std::logic_error("not in the schema: " + std::string(key));
  }

  // The tensor `key` of the file against schema entry `t` (binds the symbols it shows first).
  const io::tensor& check(const tensor_spec& t, const std::string& key) {
    if (!has(key)) missing(key);
    return check_tensor(view_, key, t.dims(), sym_, t.note);
  }

  // check(), and the tensor is one of the model's (`block` or convit_slot::no_block).
  void expect(convit_checkpoint& out, std::size_t block, const std::string& key,
              const tensor_spec& t) {
    check(t, key);
    used_.insert(key);
    out.slots.push_back({key, block, &t});
  }

  // Keys per block index "blocks.{i}.*" present in the file.
  void index_blocks() {
    for (const auto& k : keys_)
      if (const auto i = block_index(k)) ++blocks_[*i];
  }

  // A block of a timm ConViT has 13 (MHSA, no bias) to 17 keys; fewer than half of that is a
  // stray key or a fragment, not a block that makes the model deeper.
  static constexpr std::size_t k_block_keys_min = 7;

  // Depth: blocks.0 ... blocks.{depth-1}, up to the largest index that holds a whole block (a
  // gap below it is then a missing key of the block in the gap; keys of a fragment above it are
  // unexpected keys). Only the indices present are visited: a key "blocks.9223372036854775807.x"
  // costs nothing.
  std::size_t depth() const {
    if (blocks_.empty()) missing("blocks.0.norm1.weight");
    std::size_t top = 0;
    for (const auto& [i, count] : blocks_)
      if (count >= k_block_keys_min) top = i;
    return top + 1;
  }

  // What a file that is not a timm ConViT looks like, or "" when it may be one. The one place
  // that recognises other models' checkpoints (so more layouts can be named here).
  std::string other_model() const {
    if (blocks_.empty()) return {};
    std::size_t gpsa = 0, mhsa = 0;
    for (const auto& [i, count] : blocks_) {
      gpsa += has(block_key(i, "attn.pos_proj.weight")) ? 1 : 0;
      mhsa += has(block_key(i, "attn.qkv.weight")) ? 1 : 0;
    }
    if (gpsa != 0 || mhsa == 0) return {};
    std::string what = has("dist_token") ? "a distilled DeiT" : "a ViT/DeiT";
    what += " with " + std::to_string(mhsa) +
            " block(s) of MHSA (attn.qkv.weight) and no GPSA block (no key ends in "
            "attn.pos_proj.weight)";
    if (const auto pe_it = view_.file().tensors.find("pos_embed");
        pe_it != view_.file().tensors.end()) {
      const shape_t& pe = pe_it->second.shape;
      const std::size_t tokens = has("dist_token") ? 2 : 1;
      grid g{};
      if (pe.size() == 3 && pe[1] > tokens &&
          square_grid_from_patches(pe[1] - tokens, g) == status::ok)
        what += "; its pos_embed " + io::shape_text(pe) + " counts the class token" +
                (tokens == 2 ? "s" : "");
    }
    return what;
  }

  // i of "blocks.{i}.*" (decimal, no leading zeros), or nothing.
  static std::optional<std::size_t> block_index(const std::string& k) {
    static constexpr std::string_view pre = "blocks.";
    if (k.compare(0, pre.size(), pre) != 0) return std::nullopt;
    std::size_t j = pre.size(), i = 0;
    const std::size_t start = j;
    while (j < k.size() && k[j] >= '0' && k[j] <= '9') {
      if (i > (static_cast<std::size_t>(-1) - 9) / 10) return std::nullopt;
      i = i * 10 + static_cast<std::size_t>(k[j] - '0');
      ++j;
    }
    if (j == start || j >= k.size() || k[j] != '.' || (k[start] == '0' && j - start > 1))
      return std::nullopt;
    return i;
  }

  void block(convit_checkpoint& out, std::size_t i) {
    const convit_config& c = out.config;
    const bool gpsa = c.is_gpsa_block(i);
    for (const tensor_spec& t : convit_block_tensors()) {
      if (t.kind == (gpsa ? block_kind::mhsa : block_kind::gpsa)) continue;
      if (t.kind == block_kind::mhsa && t.presence == tensor_presence::required)
        refuse_gpsa_keys(c, i);
      if (t.presence == tensor_presence::qkv_bias)
        qkv_bias(out, i, t);
      else
        expect(out, i, block_key(i, t.key), t);
    }
  }

  // An MHSA block with a GPSA key: a block of both kinds, or a GPSA block after an MHSA one.
  void refuse_gpsa_keys(const convit_config& c, std::size_t i) const {
    const std::string first_mhsa = block_key(c.local_up_to_layer, "attn.qkv.weight");
    for (const tensor_spec& t : convit_block_tensors()) {
      if (t.kind != block_kind::gpsa || t.presence != tensor_presence::required) continue;
      const std::string key = block_key(i, t.key);
      if (!has(key)) continue;
      if (i == c.local_up_to_layer)
        fail("unexpected key '" + key + "': blocks." + std::to_string(i) +
             " has both GPSA keys and an MHSA key (" + first_mhsa + ")");
      fail("unexpected key '" + key + "': a GPSA block after the first MHSA block (" + first_mhsa +
           "); timm's ConViT has all its GPSA blocks first");
    }
  }

  // qk / v / qkv biases: present in every block or in none (timm's one qkv_bias flag).
  void qkv_bias(convit_checkpoint& out, std::size_t i, const tensor_spec& t) {
    const std::string key = block_key(i, t.key);
    if (out.qkv_bias) {
      if (!has(key))
        fail("missing key '" + key + "' (" + bias_from_ +
             " is present: qkv_bias must be the same in every block)");
      expect(out, i, key, t);
    } else if (has(key)) {
      fail("unexpected key '" + key + "' (" + bias_from_ +
           " is absent: qkv_bias must be the same in every block)");
    }
  }

  // An integer or bool tensor the model does not use: a counter saved beside the weights (SWA's
  // n_averaged, BatchNorm's num_batches_tracked), not a weight; ignored.
  bool is_counter(const std::string& key) const {
    const auto it = view_.file().unsupported.find(key);
    if (it == view_.file().unsupported.end()) return false;
    const std::string& d = it->second;
    return d == "BOOL" || (!d.empty() && (d[0] == 'I' || d[0] == 'U') && d.size() <= 3 &&
                           d.find_first_not_of("0123456789", 1) == std::string::npos);
  }

  // The work of one image's forward (model.hpp's count) against max_convit_image_work.
  void check_work(const convit_config& c) const {
    const std::uint64_t N = c.patches(), D = c.dim, H = c.heads, M = c.mlp_hidden;
    // N <= 4096 and every count below comes from a tensor of a file under 4 GiB: no term
    // overflows 64 bits (N^2 < 2^24, D and M < 2^30, the sum of L terms < 2^63).
    const long double per_block = static_cast<long double>(N) * N * (2 * D + 8 * H) +
                                  static_cast<long double>(N) * (4 * D * D + 2 * D * M);
    const long double work =
        per_block * static_cast<long double>(c.depth) +
        static_cast<long double>(N) * D * c.channels * c.patch_size * c.patch_size +
        static_cast<long double>(D) * c.classes;
    if (work > static_cast<long double>(max_convit_image_work)) {
      char text[32];
      std::snprintf(text, sizeof text, "%.2g", static_cast<double>(work));
      fail("the forward of one image would take about " + std::string(text) +
           " operations (depth " + std::to_string(c.depth) + ", N = " + std::to_string(N) +
           " patches, D = " + std::to_string(D) + ", H = " + std::to_string(H) + ", MLP width " +
           std::to_string(M) + "), over the limit of 2^38 = 2.7e11 of the " + "models gpsa runs");
    }
  }

  void reject_unused(const convit_config& c) const {
    for (const auto& k : keys_) {
      if (used_.count(k) != 0 || is_counter(k)) continue;
      const std::string model = "a timm ConViT of depth " + std::to_string(c.depth) +
                                ", local_up_to_layer " + std::to_string(c.local_up_to_layer);
      if (const auto i = block_index(k); i && *i >= c.depth) {
        const std::size_t n = blocks_.at(*i);
        fail("unexpected key '" + io::printable(k, 200) + "': blocks." + std::to_string(*i) +
             " has only " + std::to_string(n) + (n == 1 ? " key" : " keys") +
             ", not a whole block (a stray key, or a block missing most of its keys), and the "
             "blocks before it make " +
             model);
      }
      fail("unexpected key '" + io::printable(k, 200) + "' (not part of " + model + ")");
    }
  }
};

}  // namespace

convit_checkpoint inspect_convit_checkpoint(const io::safetensors_file& file,
                                            const convit_options& options) {
  return schema(file, options).run();
}

}  // namespace gpsa::detail
