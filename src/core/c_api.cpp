// SPDX-License-Identifier: MIT
// The C API (include/gpsa/gpsa.h): thin extern "C" wrappers over the core's C++ entry points.
#include "gpsa/gpsa.h"

#include <bit>
#include <cstddef>
#include <span>
#include <type_traits>

#include "gpsa/core/convit.hpp"
#include "gpsa/core/convit_int8.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/int8.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/types.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/version.hpp"

namespace {

// The C enum mirrors gpsa::status value for value; a new status must be added to both.
constexpr bool same_codes() {
  using gpsa::status;
  return GPSA_OK == static_cast<int>(status::ok) &&
         GPSA_EMPTY_GRID == static_cast<int>(status::empty_grid) &&
         GPSA_NOT_SQUARE == static_cast<int>(status::not_square) &&
         GPSA_BUFFER_TOO_SMALL == static_cast<int>(status::buffer_too_small) &&
         GPSA_SIZE_OVERFLOW == static_cast<int>(status::size_overflow) &&
         GPSA_VALUE_OUT_OF_RANGE == static_cast<int>(status::value_out_of_range) &&
         GPSA_SHAPE_MISMATCH == static_cast<int>(status::shape_mismatch) &&
         GPSA_INVALID_ARGUMENT == static_cast<int>(status::invalid_argument);
}
static_assert(same_codes(), "gpsa_status (gpsa.h) and gpsa::status (status.hpp) disagree");

gpsa_status to_c(gpsa::status s) noexcept { return static_cast<gpsa_status>(static_cast<int>(s)); }

// The C structs are the C spellings of the C++ ones: same members, same order, same layout, so
// a view crosses the API by a bit copy (a C++ grid is the C rows, cols).
#define GPSA_SAME_MEMBER(c_type, cxx_type, c_member, cxx_offset) \
  static_assert(offsetof(c_type, c_member) == (cxx_offset), #c_type "." #c_member)

using gpsa::folded_view;
static_assert(std::is_standard_layout_v<folded_view> && std::is_trivially_copyable_v<folded_view>);
static_assert(sizeof(gpsa_folded_view) == sizeof(folded_view));
GPSA_SAME_MEMBER(gpsa_folded_view, folded_view, heads, offsetof(folded_view, heads));
GPSA_SAME_MEMBER(gpsa_folded_view, folded_view, rows,
                 offsetof(folded_view, shape) + offsetof(gpsa::grid, rows));
GPSA_SAME_MEMBER(gpsa_folded_view, folded_view, cols,
                 offsetof(folded_view, shape) + offsetof(gpsa::grid, cols));
GPSA_SAME_MEMBER(gpsa_folded_view, folded_view, fx, offsetof(folded_view, fx));
GPSA_SAME_MEMBER(gpsa_folded_view, folded_view, gy, offsetof(folded_view, gy));
GPSA_SAME_MEMBER(gpsa_folded_view, folded_view, lambda, offsetof(folded_view, lambda));

using gpsa::layer_weights;
static_assert(std::is_standard_layout_v<layer_weights> &&
              std::is_trivially_copyable_v<layer_weights>);
static_assert(sizeof(gpsa_layer_weights) == sizeof(layer_weights));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, heads, offsetof(layer_weights, heads));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, dim, offsetof(layer_weights, dim));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, qk_weight, offsetof(layer_weights, qk_weight));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, qk_bias, offsetof(layer_weights, qk_bias));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, v_weight, offsetof(layer_weights, v_weight));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, v_bias, offsetof(layer_weights, v_bias));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, proj_weight,
                 offsetof(layer_weights, proj_weight));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, proj_bias, offsetof(layer_weights, proj_bias));
GPSA_SAME_MEMBER(gpsa_layer_weights, layer_weights, packed, offsetof(layer_weights, packed));

using gpsa::layer_dims;
static_assert(std::is_standard_layout_v<layer_dims> && std::is_trivially_copyable_v<layer_dims>);
static_assert(sizeof(gpsa_layer_dims) == sizeof(layer_dims));
GPSA_SAME_MEMBER(gpsa_layer_dims, layer_dims, heads, offsetof(layer_dims, heads));
GPSA_SAME_MEMBER(gpsa_layer_dims, layer_dims, dim, offsetof(layer_dims, dim));
GPSA_SAME_MEMBER(gpsa_layer_dims, layer_dims, rows,
                 offsetof(layer_dims, shape) + offsetof(gpsa::grid, rows));
GPSA_SAME_MEMBER(gpsa_layer_dims, layer_dims, cols,
                 offsetof(layer_dims, shape) + offsetof(gpsa::grid, cols));
GPSA_SAME_MEMBER(gpsa_layer_dims, layer_dims, batch, offsetof(layer_dims, batch));
#undef GPSA_SAME_MEMBER

// A C struct as its C++ twin (null: false).
template <class Cxx, class C>
bool to_cxx(const C* c, Cxx& out) noexcept {
  if (c == nullptr) return false;
  out = std::bit_cast<Cxx>(*c);
  return true;
}

// A C buffer as a span: false when the pointer is NULL with a nonzero length.
template <class T>
bool to_span(T* p, std::size_t n, std::span<T>& out) noexcept {
  if (p == nullptr && n != 0) return false;
  out = std::span<T>(p, n);
  return true;
}

// The C model descriptor as the C++ views, member by member (same names, same order; fields the
// C++ structs may gain stay at their defaults). block_count must equal depth (checked by
// validate, shape_mismatch).
gpsa::convit_config cxx_config(const gpsa_convit_config& c) noexcept {
  gpsa::convit_config x;
  x.image_size = c.image_size;
  x.patch_size = c.patch_size;
  x.channels = c.channels;
  x.dim = c.dim;
  x.heads = c.heads;
  x.depth = c.depth;
  x.local_up_to_layer = c.local_up_to_layer;
  x.mlp_hidden = c.mlp_hidden;
  x.classes = c.classes;
  x.eps = c.eps;
  return x;
}

// The blocks are converted into a fixed array on the stack: a model deeper than
// GPSA_CONVIT_MAX_BLOCKS is size_overflow (C++ callers have no such limit). 32 blocks of views are
// 2.4 KB of stack on a 32-bit target.
constexpr std::size_t kMaxCBlocks = GPSA_CONVIT_MAX_BLOCKS;
struct cxx_model {
  gpsa::convit_block_weights blocks[kMaxCBlocks];
  std::size_t blocks_count = 0;
  gpsa::convit_weights w;
};

gpsa::status to_cxx(const gpsa_convit_weights* c, cxx_model& m) noexcept {
  if (c == nullptr) return gpsa::status::invalid_argument;
  if (c->blocks == nullptr && c->block_count != 0) return gpsa::status::invalid_argument;
  if (c->block_count > kMaxCBlocks) return gpsa::status::size_overflow;
  for (std::size_t i = 0; i < c->block_count; ++i) {
    const gpsa_convit_block_weights& b = c->blocks[i];
    gpsa::convit_block_weights& x = m.blocks[i];
    x.norm1_weight = b.norm1_weight;
    x.norm1_bias = b.norm1_bias;
    x.qk_weight = b.qk_weight;
    x.qk_bias = b.qk_bias;
    x.v_weight = b.v_weight;
    x.v_bias = b.v_bias;
    x.pos_proj_weight = b.pos_proj_weight;
    x.pos_proj_bias = b.pos_proj_bias;
    x.gating_param = b.gating_param;
    x.qkv_weight = b.qkv_weight;
    x.qkv_bias = b.qkv_bias;
    x.proj_weight = b.proj_weight;
    x.proj_bias = b.proj_bias;
    x.norm2_weight = b.norm2_weight;
    x.norm2_bias = b.norm2_bias;
    x.fc1_weight = b.fc1_weight;
    x.fc1_bias = b.fc1_bias;
    x.fc2_weight = b.fc2_weight;
    x.fc2_bias = b.fc2_bias;
  }
  m.w.config = cxx_config(c->config);
  m.w.patch_weight = c->patch_weight;
  m.w.patch_bias = c->patch_bias;
  m.w.pos_embed = c->pos_embed;
  m.w.cls_token = c->cls_token;
  m.w.blocks = std::span<const gpsa::convit_block_weights>(m.blocks, c->block_count);
  m.blocks_count = c->block_count;
  m.w.norm_weight = c->norm_weight;
  m.w.norm_bias = c->norm_bias;
  m.w.head_weight = c->head_weight;
  m.w.head_bias = c->head_bias;
  m.w.packed = c->packed;
  return gpsa::validate(m.w);
}

// Points each GPSA block's folded view into `folded`, laid out as convit_fold writes it (per GPSA
// block: fx (H, C, C), gy (H, R, R), lambda (H)); buffer_too_small when it is shorter than
// convit_folded_size.
gpsa::status attach_folded(cxx_model& m, std::span<const float> folded) noexcept {
  const gpsa::convit_config& c = m.w.config;
  std::size_t need = 0;
  if (const gpsa::status s = gpsa::convit_folded_size(c, need); s != gpsa::status::ok) return s;
  if (folded.size() < need || (need != 0 && folded.data() == nullptr))
    return gpsa::status::buffer_too_small;
  gpsa::fold_counts n{};
  if (c.local_up_to_layer != 0) {
    if (const gpsa::status s = gpsa::layer_folded_size(c.patch_grid(), c.heads, n);
        s != gpsa::status::ok)
      return s;
  }
  for (std::size_t i = 0; i < c.local_up_to_layer; ++i) {
    const float* at = folded.data() + i * n.total();
    m.blocks[i].folded =
        gpsa::folded_view{c.heads, c.patch_grid(), at, at + n.fx, at + n.fx + n.gy};
  }
  return gpsa::status::ok;
}

bool to_plan(gpsa_convit_plan p, gpsa::convit_plan& out) noexcept {
  switch (p) {
    case GPSA_CONVIT_FAST:
      out = gpsa::convit_plan::fast;
      return true;
    case GPSA_CONVIT_LOW_MEMORY:
      out = gpsa::convit_plan::low_memory;
      return true;
    case GPSA_CONVIT_PLAN_INT_RANGE:
      break;
  }
  return false;
}

}  // namespace

extern "C" {

const char* gpsa_status_message(gpsa_status s) {
  return gpsa::status_message(static_cast<gpsa::status>(s));
}

const char* gpsa_version(void) { return gpsa::version(); }

gpsa_status gpsa_fill_rel_indices_f32(size_t rows, size_t cols, float* out, size_t out_len) {
  std::span<float> o;
  if (!to_span(out, out_len, o)) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::fill_rel_indices<float>(gpsa::grid{rows, cols}, o));
}

gpsa_status gpsa_layer_folded_size(size_t rows, size_t cols, size_t heads, size_t* fx_len,
                                   size_t* gy_len, size_t* lambda_len) {
  gpsa::fold_counts n{};
  const gpsa::status s = gpsa::layer_folded_size(gpsa::grid{rows, cols}, heads, n);
  if (s != gpsa::status::ok) return to_c(s);
  if (fx_len != nullptr) *fx_len = n.fx;
  if (gy_len != nullptr) *gy_len = n.gy;
  if (lambda_len != nullptr) *lambda_len = n.lambda;
  return GPSA_OK;
}

gpsa_status gpsa_layer_fold(size_t rows, size_t cols, size_t heads, const float* pos_weight,
                            const float* pos_bias, const float* gating, float* fx, size_t fx_len,
                            float* gy, size_t gy_len, float* lambda, size_t lambda_len) {
  if (pos_weight == nullptr || gating == nullptr || fx == nullptr || gy == nullptr ||
      lambda == nullptr)
    return GPSA_INVALID_ARGUMENT;
  std::size_t weight_len = 0;
  if (!gpsa::detail::checked_mul(heads, 3, weight_len)) return GPSA_SIZE_OVERFLOW;
  const std::span<const float> bias =
      pos_bias == nullptr ? std::span<const float>{} : std::span<const float>(pos_bias, heads);
  return to_c(gpsa::layer_fold(gpsa::grid{rows, cols}, heads,
                               std::span<const float>(pos_weight, weight_len), bias,
                               std::span<const float>(gating, heads), std::span<float>(fx, fx_len),
                               std::span<float>(gy, gy_len), std::span<float>(lambda, lambda_len)));
}

gpsa_status gpsa_positional_apply_scratch_size(size_t rows, size_t cols, size_t head_dim,
                                               size_t* floats) {
  if (floats == nullptr) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::positional_apply_scratch_size(gpsa::grid{rows, cols}, head_dim, *floats));
}

gpsa_status gpsa_positional_apply(const gpsa_folded_view* f, size_t head_dim, const float* v,
                                  size_t ldv, float* out, size_t ldo, float* scratch,
                                  size_t scratch_len) {
  folded_view view{};
  std::span<float> s;
  if (!to_cxx(f, view) || !to_span(scratch, scratch_len, s)) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::positional_apply(view, head_dim, v, ldv, out, ldo, s));
}

gpsa_status gpsa_positional_expand(const gpsa_folded_view* f, size_t h, float* out,
                                   size_t out_len) {
  folded_view view{};
  if (!to_cxx(f, view) || out == nullptr) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::positional_expand(view, h, std::span<float>(out, out_len)));
}

gpsa_status gpsa_gated_blend_rows(const gpsa_folded_view* f, size_t h, size_t p0, size_t rows,
                                  const float* content, size_t ldc, float* out, size_t ldo) {
  folded_view view{};
  if (!to_cxx(f, view)) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::gated_blend_rows(view, h, p0, rows, content, ldc, out, ldo));
}

gpsa_status gpsa_layer_packed_size(size_t dim, size_t* floats) {
  if (floats == nullptr) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::layer_packed_size(dim, *floats));
}

gpsa_status gpsa_layer_pack(const gpsa_layer_weights* w, float* packed, size_t packed_len) {
  layer_weights cw{};
  std::span<float> p;
  if (!to_cxx(w, cw) || !to_span(packed, packed_len, p)) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::layer_pack(cw, p));
}

gpsa_status gpsa_layer_scratch_size(const gpsa_layer_dims* dims, size_t workers, size_t* floats) {
  layer_dims d{};
  if (!to_cxx(dims, d) || floats == nullptr) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::layer_scratch_size(d, workers, *floats));
}

gpsa_status gpsa_layer_forward(const gpsa_layer_weights* w, const gpsa_folded_view* pos,
                               size_t batch, const float* x, size_t x_len, float* y, size_t y_len,
                               float* attn, size_t attn_len, float* scratch, size_t scratch_len) {
  layer_weights cw{};
  folded_view view{};
  std::span<const float> xs;
  std::span<float> ys, as, ss;
  if (!to_cxx(w, cw) || !to_cxx(pos, view) || !to_span(x, x_len, xs) || !to_span(y, y_len, ys) ||
      !to_span(attn, attn_len, as) || !to_span(scratch, scratch_len, ss))
    return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::layer_forward(cw, view, batch, xs, ys, as, ss));
}

gpsa_status gpsa_layer_attention(const gpsa_layer_weights* w, const gpsa_folded_view* pos,
                                 size_t batch, const float* x, size_t x_len, float* attn,
                                 size_t attn_len, float* scratch, size_t scratch_len) {
  layer_weights cw{};
  folded_view view{};
  std::span<const float> xs;
  std::span<float> as, ss;
  if (!to_cxx(w, cw) || !to_cxx(pos, view) || !to_span(x, x_len, xs) ||
      !to_span(attn, attn_len, as) || !to_span(scratch, scratch_len, ss))
    return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::layer_attention(cw, view, batch, xs, as, ss));
}

gpsa_status gpsa_convit_folded_size(const gpsa_convit_config* config, size_t* folded_len) {
  if (config == nullptr || folded_len == nullptr) return GPSA_INVALID_ARGUMENT;
  std::size_t n = 0;
  const gpsa::status s = gpsa::convit_folded_size(cxx_config(*config), n);
  if (s == gpsa::status::ok) *folded_len = n;
  return to_c(s);
}

gpsa_status gpsa_convit_fold(const gpsa_convit_weights* weights, float* folded, size_t folded_len) {
  if (folded == nullptr && folded_len != 0) return GPSA_INVALID_ARGUMENT;
  cxx_model m;
  if (const gpsa::status s = to_cxx(weights, m); s != gpsa::status::ok) return to_c(s);
  return to_c(gpsa::convit_fold(m.w.config,
                                std::span<gpsa::convit_block_weights>(m.blocks, m.blocks_count),
                                std::span<float>(folded, folded_len)));
}

gpsa_status gpsa_convit_scratch_size(const gpsa_convit_config* config, gpsa_convit_plan plan,
                                     size_t batch, size_t* scratch_len) {
  gpsa::convit_plan p{};
  if (config == nullptr || scratch_len == nullptr || !to_plan(plan, p))
    return GPSA_INVALID_ARGUMENT;
  std::size_t n = 0;
  const gpsa::status s = gpsa::convit_scratch_size(cxx_config(*config), p, batch, 1, n);
  if (s == gpsa::status::ok) *scratch_len = n;
  return to_c(s);
}

gpsa_status gpsa_convit_forward(const gpsa_convit_weights* weights, const float* folded,
                                size_t folded_len, gpsa_convit_plan plan, size_t batch,
                                const float* images, size_t images_len, float* logits,
                                size_t logits_len, float* features, size_t features_len,
                                float* scratch, size_t scratch_len) {
  gpsa::convit_plan p{};
  if (!to_plan(plan, p)) return GPSA_INVALID_ARGUMENT;
  if ((folded == nullptr && folded_len != 0) || (images == nullptr && images_len != 0) ||
      (logits == nullptr && logits_len != 0) || (features == nullptr && features_len != 0) ||
      (scratch == nullptr && scratch_len != 0))
    return GPSA_INVALID_ARGUMENT;
  cxx_model m;
  if (const gpsa::status s = to_cxx(weights, m); s != gpsa::status::ok) return to_c(s);
  if (const gpsa::status s = attach_folded(m, std::span<const float>(folded, folded_len));
      s != gpsa::status::ok)
    return to_c(s);
  if (batch == 0) return GPSA_OK;
  if (images == nullptr || logits == nullptr) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::convit_forward(m.w, p, batch, std::span<const float>(images, images_len),
                                   std::span<float>(logits, logits_len),
                                   std::span<float>(features, features_len),
                                   std::span<float>(scratch, scratch_len)));
}

const char* gpsa_int8_backend(void) { return gpsa::int8_backend(); }

gpsa_status gpsa_convit_int8_scratch_size(const gpsa_convit_config* config, size_t* scratch_len) {
  if (config == nullptr || scratch_len == nullptr) return GPSA_INVALID_ARGUMENT;
  std::size_t n = 0;
  const gpsa::status s = gpsa::convit_int8_scratch_size(cxx_config(*config), n);
  if (s == gpsa::status::ok) *scratch_len = n;
  return to_c(s);
}

gpsa_status gpsa_convit_int8_forward(const gpsa_convit_int8_weights* weights, size_t batch,
                                     const float* images, size_t images_len, float* logits,
                                     size_t logits_len, float* scratch, size_t scratch_len) {
  if (weights == nullptr || (images == nullptr && images_len != 0) ||
      (logits == nullptr && logits_len != 0) || (scratch == nullptr && scratch_len != 0) ||
      (weights->blocks == nullptr && weights->block_count != 0) ||
      (weights->activation_amax == nullptr && weights->activation_count != 0) ||
      (weights->folded == nullptr && weights->folded_len != 0))
    return GPSA_INVALID_ARGUMENT;
  gpsa::convit_int8_weights w;
  w.config = cxx_config(weights->config);
  w.patch = weights->patch;
  w.pos_embed = weights->pos_embed;
  w.cls_token = weights->cls_token;
  w.blocks = {weights->blocks, weights->block_count};
  w.norm_weight = weights->norm_weight;
  w.norm_bias = weights->norm_bias;
  w.head = weights->head;
  w.activation_amax = {weights->activation_amax, weights->activation_count};
  w.folded = {weights->folded, weights->folded_len};
  if (const gpsa::status s = gpsa::validate(w); s != gpsa::status::ok) return to_c(s);
  const gpsa::convit_config& c = w.config;
  std::size_t image_floats = 0, logit_floats = 0;
  using gpsa::detail::checked_mul;
  if (!checked_mul(batch, c.channels, c.image_size, image_floats) ||
      !checked_mul(image_floats, c.image_size, image_floats) ||
      !checked_mul(batch, c.classes, logit_floats))
    return GPSA_SIZE_OVERFLOW;
  if (batch == 0) return GPSA_OK;
  if (images == nullptr || logits == nullptr) return GPSA_INVALID_ARGUMENT;
  if (images_len != image_floats || logits_len != logit_floats) return GPSA_SHAPE_MISMATCH;
  return to_c(
      gpsa::convit_int8_forward(w, batch, images, logits, std::span<float>(scratch, scratch_len)));
}

}  // extern "C"
