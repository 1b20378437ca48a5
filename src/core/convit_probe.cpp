// SPDX-License-Identifier: MIT
// What the GPSA blocks of a whole ConViT attend to: the nonlocality of each block's full gated
// attention (through the forward's probe hook) and of its positional attention alone
// (gpsa/convit.hpp). No heap, no exceptions; kept apart from the forward itself.
#include <cmath>
#include <cstddef>

#include "gpsa/attention.hpp"
#include "gpsa/convit.hpp"
#include "gpsa/detail/constexpr_math.hpp"
#include "gpsa/fold.hpp"
#include "nn.hpp"

namespace gpsa {
namespace {

using detail::mul_overflows;

bool add_to(std::size_t& total, std::size_t v) noexcept {
  if (v > static_cast<std::size_t>(-1) - total) return false;
  total += v;
  return true;
}

// The pieces of convit_nonlocality's scratch, in order.
struct nonlocality_layout {
  std::size_t forward = 0, logits = 0, attn = 0, layer = 0;
};

status layout_of(const convit_config& c, std::size_t batch, std::size_t workers,
                 nonlocality_layout& l) noexcept {
  if (const status s = convit_scratch_size(c, batch, workers, l.forward); s != status::ok) return s;
  const std::size_t N = c.patches();
  std::size_t bh = 0, nn = 0;
  if (mul_overflows(batch, c.classes, l.logits) || mul_overflows(batch, c.heads, bh) ||
      mul_overflows(N, N, nn) || mul_overflows(bh, nn, l.attn))
    return status::size_overflow;
  if (c.local_up_to_layer == 0) return status::ok;  // no GPSA block: nothing is measured
  return gpsa_scratch_size({batch, c.patch_grid(), c.heads, c.dim}, workers, l.layer);
}

// The probe's state: block i's attention into `attn`, its nonlocality into row i of `dist`.
struct nonlocality_probe {
  const convit_weights* w;
  const float* folded;
  fold_counts counts;
  float* attn;
  std::size_t attn_floats;
  std::span<float> layer_scratch;
  float* dist;
  const executor* ex;

  static status run(void* context, std::size_t block, std::size_t batch,
                    std::span<const float> normed) noexcept {
    const auto& p = *static_cast<const nonlocality_probe*>(context);
    const convit_config& c = p.w->config;
    const gpsa_weights lw = detail::convit_gpsa_layer(*p.w, block);
    const float* f = p.folded + block * p.counts.total();
    const folded_view pos{c.heads, c.patch_grid(), f, f + p.counts.fx,
                          f + p.counts.fx + p.counts.gy};
    if (const status s =
            gpsa_attention(lw, pos, batch, normed, {p.attn, p.attn_floats}, p.layer_scratch, p.ex);
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
  if (!add_to(total, l.forward) || !add_to(total, l.logits) || !add_to(total, l.attn) ||
      !add_to(total, l.layer))
    return status::size_overflow;
  floats = total;
  return status::ok;
}

status convit_nonlocality(const convit_weights& w, std::span<const float> folded, std::size_t batch,
                          const float* images, std::span<float> distances, std::span<float> scratch,
                          const executor* ex) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (ex != nullptr && (ex->workers == 0 || ex->parallel_for == nullptr))
    return status::invalid_argument;
  if (batch == 0) return status::ok;
  if (images == nullptr) return status::invalid_argument;
  const convit_config& c = w.config;
  std::size_t need_dist = 0, need = 0;
  if (mul_overflows(c.local_up_to_layer, c.heads, need_dist)) return status::size_overflow;
  if (distances.size() < need_dist || (need_dist != 0 && distances.data() == nullptr))
    return status::buffer_too_small;
  const std::size_t workers = ex != nullptr ? ex->workers : 1;
  if (const status s = convit_nonlocality_scratch_size(c, batch, workers, need); s != status::ok)
    return s;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;
  nonlocality_layout l;
  if (const status s = layout_of(c, batch, workers, l); s != status::ok) return s;
  fold_counts counts{};
  if (const status s = fold_size(c.patch_grid(), c.heads, counts); s != status::ok) return s;

  float* logits = scratch.data() + l.forward;
  float* attn = logits + l.logits;
  nonlocality_probe state{
      &w, folded.data(), counts, attn, l.attn, {attn + l.attn, l.layer}, distances.data(), ex};
  const convit_probe probe{&state, &nonlocality_probe::run};
  return convit_forward_probed(w, folded, batch, images, logits, nullptr, scratch.first(l.forward),
                               probe, ex);
}

status convit_positional_nonlocality(const convit_weights& w, std::span<const float> folded,
                                     std::span<float> distances) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  const convit_config& c = w.config;
  std::size_t need = 0, need_dist = 0;
  if (const status s = convit_folded_size(c, need); s != status::ok) return s;
  if (mul_overflows(c.local_up_to_layer, c.heads, need_dist)) return status::size_overflow;
  if (folded.size() < need || (need != 0 && folded.data() == nullptr) ||
      distances.size() < need_dist || (need_dist != 0 && distances.data() == nullptr))
    return status::buffer_too_small;
  fold_counts counts{};
  if (const status s = fold_size(c.patch_grid(), c.heads, counts); s != status::ok) return s;
  const std::size_t G = c.grid_side(), H = c.heads;
  // position[h, p, q] = gy[h, yp, yq] * fx[h, xp, xq], so the sum over (p, q) runs over the
  // four coordinates; the distance depends on |xq - xp| and |yq - yp| only.
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    const float* f = folded.data() + i * counts.total();
    const folded_view v{H, c.patch_grid(), f, f + counts.fx, f + counts.fx + counts.gy};
    for (std::size_t h = 0; h < H; ++h) {
      double sum = 0;
      for (std::size_t yp = 0; yp < G; ++yp)
        for (std::size_t yq = 0; yq < G; ++yq) {
          const double dy = static_cast<double>(yq) - static_cast<double>(yp);
          const double gy = v.gy_at(h, yp, yq);
          double row = 0;
          for (std::size_t xp = 0; xp < G; ++xp)
            for (std::size_t xq = 0; xq < G; ++xq) {
              const double dx = static_cast<double>(xq) - static_cast<double>(xp);
              row += detail::runtime_sqrt(dx * dx + dy * dy) * v.fx_at(h, xp, xq);
            }
          sum += gy * row;
        }
      distances[i * H + h] = static_cast<float>(sum / static_cast<double>(G * G));
    }
  }
  return status::ok;
}

}  // namespace gpsa
