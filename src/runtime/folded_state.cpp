// SPDX-License-Identifier: MIT
// gpsa::folded_state and the fold of a checkpoint's GPSA layers.
#include "gpsa/runtime/folded_state.hpp"

#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {
namespace {

[[noreturn]] void fold_failed(gpsa::grid g, std::size_t heads, status s) {
  throw std::invalid_argument("fold of grid " + std::to_string(g.rows) + "x" +
                              std::to_string(g.cols) + " with " + std::to_string(heads) +
                              " heads: " + status_message(s));
}

}  // namespace

folded_state::folded_state(gpsa::grid g, std::size_t heads, std::span<const float> pos_weight,
                           std::span<const float> pos_bias, std::span<const float> gating,
                           nonfinite_policy policy) {
  fold_counts n{};
  if (const status s = layer_folded_size(g, heads, n); s != status::ok) fold_failed(g, heads, s);
  std::vector<float> fx(n.fx), gy(n.gy), lam(n.lambda);
  if (const status s = layer_fold(g, heads, pos_weight, pos_bias, gating, fx, gy, lam, policy);
      s != status::ok)
    fold_failed(g, heads, s);
  heads_ = heads;
  shape_ = g;
  fx_ = std::move(fx);
  gy_ = std::move(gy);
  lambda_ = std::move(lam);
}

folded_view folded_state::view() const noexcept {
  if (empty()) return {};
  return {heads_, shape_, fx_.data(), gy_.data(), lambda_.data()};
}

std::vector<float> folded_state::expand() const {
  if (empty()) return {};
  const std::size_t nn = shape_.patches() * shape_.patches();
  std::vector<float> out(heads_ * nn);
  for (std::size_t h = 0; h < heads_; ++h)
    if (const status s = positional_expand(view(), h, std::span<float>(out).subspan(h * nn, nn));
        s != status::ok)
      fold_failed(shape_, heads_, s);
  return out;
}

std::vector<checkpoint_fold> fold_checkpoint(const io::safetensors_file& f, gpsa::grid g) {
  const checkpoint_view root(f);
  const std::vector<std::string> prefixes = gpsa_layer_prefixes(f);
  if (prefixes.empty()) {
    // Every key, also those of a dtype gpsa does not read (an F8 or C64 file is not empty).
    std::map<std::string, std::string> all;
    for (const auto& kv : f.tensors) all.emplace(kv.first, "");
    for (const auto& kv : f.unsupported) all.emplace(kv.first, " (" + kv.second + ")");
    std::string keys;
    std::size_t shown = 0;
    for (const auto& [key, dtype] : all) {
      if (shown == 6) {
        keys += ", ...";
        break;
      }
      keys += (shown++ == 0 ? "" : ", ") + io::printable(key, 200) + dtype;
    }
    root.fail(
        "no GPSA layer found (no key ends in '." + std::string(gpsa_layer_marker) + "'" +
        (keys.empty() ? std::string("; the file holds no tensors)") : "; keys: " + keys + ")"));
  }
  std::vector<checkpoint_fold> layers;
  for (const std::string& prefix : prefixes) {
    const positional_params p = read_gpsa_positional(f, prefix);
    const checkpoint_view v(f, prefix);
    const std::pair<const char*, const std::vector<float>*> named[] = {
        {"pos_proj.weight", &p.pos_proj_weight},
        {"pos_proj.bias", &p.pos_proj_bias},
        {"gating_param", &p.gating_param}};
    for (const auto& [name, values] : named)
      require_finite(v, name, *values, nonfinite_cannot_fold);
    if (!layers.empty() && p.heads != layers.front().state.heads())
      v.fail(io::printable(v.key(gpsa_layer_marker), 200) + " has " + std::to_string(p.heads) +
             " heads but " +
             io::printable(join_key(layers.front().prefix, gpsa_layer_marker), 200) + " has " +
             std::to_string(layers.front().state.heads()) +
             "; a fold needs the same head count in every layer");
    layers.push_back(
        {prefix, folded_state(g, p.heads, p.pos_proj_weight, p.pos_proj_bias, p.gating_param)});
  }
  return layers;
}

gpsa::grid checkpoint_grid(const io::safetensors_file& f, std::optional<gpsa::grid> given) {
  const checkpoint_view root(f);
  const auto grid_text = [](gpsa::grid g) {
    return std::to_string(g.rows) + "x" + std::to_string(g.cols);
  };
  if (!root.has("pos_embed")) {
    if (!given)
      root.fail("no pos_embed to take the patch grid from (not a whole ConViT); give the grid");
    return *given;
  }
  const io::tensor& pos = root.get("pos_embed");
  gpsa::grid g{};
  if (pos.shape.size() != 3 || pos.shape[0] != 1 ||
      square_grid_from_patches(pos.shape[1], g) != status::ok)
    root.fail("pos_embed has shape " + io::shape_text(pos.shape) +
              ", expected (1,N,D) with N = S*S patches of a square grid");
  if (given && *given != g)
    root.fail("grid " + grid_text(*given) + " contradicts pos_embed " + io::shape_text(pos.shape) +
              ", whose N = " + std::to_string(pos.shape[1]) + " patches make the grid " +
              grid_text(g));
  return g;
}

}  // namespace gpsa
