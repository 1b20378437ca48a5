// SPDX-License-Identifier: MIT
// What the GPSA blocks of a whole ConViT attend to: the nonlocality of each block's full gated
// attention (through the forward's probe hook) and of its positional attention alone
// (gpsa/core/convit.hpp). No heap, no exceptions; kept apart from the forward itself.
#include <cstddef>

#include "convit_layers.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/positional.hpp"

namespace gpsa {
namespace {

using detail::checked_add;
using detail::checked_mul;

// The pieces of convit_nonlocality's scratch, in order.
struct nonlocality_layout {
  std::size_t forward = 0, logits = 0, attn = 0, layer = 0;
};

status layout_of(const convit_config& c, std::size_t batch, std::size_t workers,
                 nonlocality_layout& l) noexcept {
  if (const status s = convit_scratch_size(c, batch, workers, l.forward); s != status::ok) return s;
  const std::size_t N = c.patches();
  std::size_t bh = 0, nn = 0;
  if (!checked_mul(batch, c.classes, l.logits) || !checked_mul(batch, c.heads, bh) ||
      !checked_mul(N, N, nn) || !checked_mul(bh, nn, l.attn))
    return status::size_overflow;
  if (c.local_up_to_layer == 0) return status::ok;  // no GPSA block: nothing is measured
  return layer_scratch_size({c.heads, c.dim, c.patch_grid(), batch}, workers, l.layer);
}

// The probe's state: block i's attention into `attn`, its nonlocality into row i of `dist`.
struct nonlocality_probe {
  const convit_weights* w;
  float* attn;
  std::size_t attn_floats;
  std::span<float> layer_scratch;
  float* dist;
  const executor* ex;

  static status run(void* context, std::size_t block, std::size_t batch,
                    std::span<const float> normed) noexcept {
    const auto& p = *static_cast<const nonlocality_probe*>(context);
    const convit_config& c = p.w->config;
    const convit_block_weights& b = p.w->blocks[block];
    const layer_weights lw = detail::convit_gpsa_layer(*p.w, block);
    if (const status s = layer_attention(lw, b.folded, batch, normed, {p.attn, p.attn_floats},
                                         p.layer_scratch, p.ex);
        s != status::ok)
      return s;
    return nonlocality(c.patch_grid(), c.heads, batch, {p.attn, p.attn_floats},
                       {p.dist + block * c.heads, c.heads});
  }
};

}  // namespace

status convit_nonlocality_scratch_size(const convit_config& c, std::size_t batch,
                                       std::size_t workers, std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  if (workers == 0) return status::invalid_argument;
  nonlocality_layout l;
  if (const status s = layout_of(c, batch, workers, l); s != status::ok) return s;
  std::size_t total = 0;
  if (!checked_add(total, l.forward, total) || !checked_add(total, l.logits, total) ||
      !checked_add(total, l.attn, total) || !checked_add(total, l.layer, total))
    return status::size_overflow;
  floats = total;
  return status::ok;
}

status convit_nonlocality(const convit_weights& w, std::size_t batch, std::span<const float> images,
                          std::span<float> distances, std::span<float> scratch,
                          const executor* ex) noexcept {
  // The forward checks the folded views and the executor; the sizes below need the config.
  if (const status s = validate(w); s != status::ok) return s;
  if (batch == 0) return status::ok;
  const convit_config& c = w.config;
  std::size_t need_dist = 0, need = 0;
  if (!checked_mul(c.local_up_to_layer, c.heads, need_dist)) return status::size_overflow;
  if (distances.size() < need_dist || (need_dist != 0 && distances.data() == nullptr))
    return status::buffer_too_small;
  const std::size_t workers = workers_of(ex);
  if (const status s = convit_nonlocality_scratch_size(c, batch, workers, need); s != status::ok)
    return s;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;
  nonlocality_layout l;
  if (const status s = layout_of(c, batch, workers, l); s != status::ok) return s;

  float* logits = scratch.data() + l.forward;
  float* attn = logits + l.logits;
  nonlocality_probe state{&w, attn, l.attn, {attn + l.attn, l.layer}, distances.data(), ex};
  const convit_probe probe{&state, &nonlocality_probe::run};
  return convit_forward_probed(w, probe, batch, images, {logits, l.logits}, {},
                               scratch.first(l.forward), ex);
}

status convit_positional_nonlocality(const convit_weights& w, std::span<float> distances) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (const status s = validate_folded(w); s != status::ok) return s;
  const convit_config& c = w.config;
  std::size_t need_dist = 0;
  if (!checked_mul(c.local_up_to_layer, c.heads, need_dist)) return status::size_overflow;
  if (distances.size() < need_dist || (need_dist != 0 && distances.data() == nullptr))
    return status::buffer_too_small;
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    if (const status s =
            positional_nonlocality(w.blocks[i].folded, distances.subspan(i * c.heads, c.heads));
        s != status::ok)
      return s;
  }
  return status::ok;
}

}  // namespace gpsa
