// SPDX-License-Identifier: MIT
// The C API (include/gpsa/gpsa.h): thin extern "C" wrappers over the core's C++ entry points.
#include "gpsa/gpsa.h"

#include <bit>
#include <cstddef>
#include <span>
#include <type_traits>

#include "gpsa/attention.hpp"
#include "gpsa/convit.hpp"
#include "gpsa/convit_int8.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/int8.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"
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

// gpsa_folded is the C spelling of gpsa::folded_view: same members, same order, same layout, so
// a view crosses the API by a bit copy.
using gpsa::folded_view;
static_assert(std::is_standard_layout_v<folded_view> && std::is_trivially_copyable_v<folded_view>);
static_assert(sizeof(gpsa_folded) == sizeof(folded_view));
static_assert(offsetof(gpsa_folded, heads) == offsetof(folded_view, heads));
static_assert(offsetof(gpsa_folded, rows) ==
              offsetof(folded_view, shape) + offsetof(gpsa::grid, rows));
static_assert(offsetof(gpsa_folded, cols) ==
              offsetof(folded_view, shape) + offsetof(gpsa::grid, cols));
static_assert(offsetof(gpsa_folded, fx) == offsetof(folded_view, fx));
static_assert(offsetof(gpsa_folded, gy) == offsetof(folded_view, gy));
static_assert(offsetof(gpsa_folded, lambda) == offsetof(folded_view, lambda));

bool to_view(const gpsa_folded* f, folded_view& v) noexcept {
  if (f == nullptr) return false;
  v = std::bit_cast<folded_view>(*f);
  return true;
}

// The checks of gpsa_layer_size, in its documented order.
gpsa::status check_dims(const gpsa_layer_dims* d) noexcept {
  if (d == nullptr || d->heads == 0 || d->dim == 0) return gpsa::status::invalid_argument;
  if (d->rows == 0 || d->cols == 0) return gpsa::status::empty_grid;
  if (d->dim % d->heads != 0) return gpsa::status::invalid_argument;
  return gpsa::status::ok;
}

gpsa::gpsa_dims cxx_dims(const gpsa_layer_dims& d) noexcept {
  return {d.batch, gpsa::grid{d.rows, d.cols}, d.heads, d.dim};
}

bool mul(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  return !gpsa::detail::mul_overflows(a, b, out);
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
  m.w.norm_weight = c->norm_weight;
  m.w.norm_bias = c->norm_bias;
  m.w.head_weight = c->head_weight;
  m.w.head_bias = c->head_bias;
  m.w.packed = c->packed;
  return gpsa::validate(m.w);
}

bool to_plan(gpsa_convit_plan p, gpsa::convit_plan& out) noexcept {
  switch (p) {
    case GPSA_CONVIT_FAST:
      out = gpsa::convit_plan::fast;
      return true;
    case GPSA_CONVIT_LOW_MEMORY:
      out = gpsa::convit_plan::low_memory;
      return true;
  }
  return false;
}

}  // namespace

extern "C" {

const char* gpsa_status_message(gpsa_status s) {
  return gpsa::status_message(static_cast<gpsa::status>(s));
}

const char* gpsa_version(void) { return gpsa::version(); }

gpsa_status gpsa_rel_indices_f32(size_t rows, size_t cols, float* out, size_t out_len) {
  if (out == nullptr && out_len != 0) return GPSA_INVALID_ARGUMENT;
  return to_c(
      gpsa::fill_rel_indices<float>(gpsa::grid{rows, cols}, std::span<float>(out, out_len)));
}

gpsa_status gpsa_fold_size(size_t heads, size_t rows, size_t cols, size_t* fx_len, size_t* gy_len,
                           size_t* lambda_len) {
  gpsa::fold_counts n{};
  const gpsa::status s = gpsa::fold_size(gpsa::grid{rows, cols}, heads, n);
  if (s != gpsa::status::ok) return to_c(s);
  if (fx_len != nullptr) *fx_len = n.fx;
  if (gy_len != nullptr) *gy_len = n.gy;
  if (lambda_len != nullptr) *lambda_len = n.lambda;
  return GPSA_OK;
}

gpsa_status gpsa_fold(size_t heads, size_t rows, size_t cols, const float* pos_weight,
                      const float* pos_bias, const float* gating, float* fx, size_t fx_len,
                      float* gy, size_t gy_len, float* lambda, size_t lambda_len) {
  if (pos_weight == nullptr || gating == nullptr || fx == nullptr || gy == nullptr ||
      lambda == nullptr)
    return GPSA_INVALID_ARGUMENT;
  if (heads > static_cast<size_t>(-1) / 3) return GPSA_SIZE_OVERFLOW;
  const std::span<const float> bias =
      pos_bias == nullptr ? std::span<const float>{} : std::span<const float>(pos_bias, heads);
  return to_c(gpsa::fold_positional(
      gpsa::grid{rows, cols}, heads, std::span<const float>(pos_weight, heads * 3), bias,
      std::span<const float>(gating, heads), std::span<float>(fx, fx_len),
      std::span<float>(gy, gy_len), std::span<float>(lambda, lambda_len)));
}

size_t gpsa_positional_apply_scratch(size_t rows, size_t cols, size_t head_dim) {
  return gpsa::positional_apply_scratch(gpsa::grid{rows, cols}, head_dim);
}

gpsa_status gpsa_positional_apply(const gpsa_folded* f, size_t head_dim, const float* v, size_t ldv,
                                  float* out, size_t ldo, float* scratch, size_t scratch_len) {
  gpsa::folded_view view{};
  if (!to_view(f, view) || (scratch == nullptr && scratch_len != 0)) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::positional_apply(view, head_dim, v, ldv, out, ldo,
                                     std::span<float>(scratch, scratch_len)));
}

gpsa_status gpsa_positional_expand(const gpsa_folded* f, size_t h, float* out, size_t out_len) {
  gpsa::folded_view view{};
  if (!to_view(f, view) || out == nullptr) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::positional_expand(view, h, std::span<float>(out, out_len)));
}

gpsa_status gpsa_gated_blend(const gpsa_folded* f, size_t h, size_t p0, size_t rows,
                             const float* content, size_t ldc, float* out, size_t ldo) {
  gpsa::folded_view view{};
  if (!to_view(f, view)) return GPSA_INVALID_ARGUMENT;
  return to_c(gpsa::gated_blend_rows(view, h, p0, rows, content, ldc, out, ldo));
}

gpsa_status gpsa_layer_size(const gpsa_layer_dims* dims, size_t* x_len, size_t* attn_len,
                            size_t* scratch_len) {
  if (const gpsa::status s = check_dims(dims); s != gpsa::status::ok) return to_c(s);
  std::size_t n = 0, bn = 0, bnd = 0, nn = 0, bh = 0, bhnn = 0, scratch = 0;
  if (!mul(dims->rows, dims->cols, n)) return GPSA_SIZE_OVERFLOW;
  if (x_len != nullptr && !(mul(dims->batch, n, bn) && mul(bn, dims->dim, bnd)))
    return GPSA_SIZE_OVERFLOW;
  if (attn_len != nullptr &&
      !(mul(n, n, nn) && mul(dims->batch, dims->heads, bh) && mul(bh, nn, bhnn)))
    return GPSA_SIZE_OVERFLOW;
  if (scratch_len != nullptr) {
    if (const gpsa::status s = gpsa::gpsa_scratch_size(cxx_dims(*dims), 1, scratch);
        s != gpsa::status::ok)
      return to_c(s);
  }
  if (x_len != nullptr) *x_len = bnd;
  if (attn_len != nullptr) *attn_len = bhnn;
  if (scratch_len != nullptr) *scratch_len = scratch;
  return GPSA_OK;
}

gpsa_status gpsa_layer_forward(const gpsa_layer_dims* dims, const gpsa_layer_weights* weights,
                               const gpsa_folded* pos, const float* x, size_t x_len, float* y,
                               size_t y_len, float* attn, size_t attn_len, float* scratch,
                               size_t scratch_len) {
  if (const gpsa::status s = check_dims(dims); s != gpsa::status::ok) return to_c(s);
  gpsa::folded_view view{};
  if (weights == nullptr || !to_view(pos, view)) return GPSA_INVALID_ARGUMENT;
  if ((x == nullptr && x_len != 0) || (y == nullptr && y_len != 0) ||
      (attn == nullptr && attn_len != 0) || (scratch == nullptr && scratch_len != 0))
    return GPSA_INVALID_ARGUMENT;
  if (view.heads != dims->heads || view.shape.rows != dims->rows || view.shape.cols != dims->cols)
    return GPSA_SHAPE_MISMATCH;
  // Members by name: fields the C++ struct may gain (e.g. pre-packed weights) stay at their
  // defaults (null = not used).
  gpsa::gpsa_weights w;
  w.heads = dims->heads;
  w.dim = dims->dim;
  w.qk_weight = weights->qk_weight;
  w.qk_bias = weights->qk_bias;
  w.v_weight = weights->v_weight;
  w.v_bias = weights->v_bias;
  w.proj_weight = weights->proj_weight;
  w.proj_bias = weights->proj_bias;
  return to_c(gpsa::gpsa_forward(w, view, dims->batch, std::span<const float>(x, x_len),
                                 std::span<float>(y, y_len), std::span<float>(attn, attn_len),
                                 std::span<float>(scratch, scratch_len)));
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
  return to_c(gpsa::convit_fold(m.w, std::span<float>(folded, folded_len)));
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
  const gpsa::convit_config& c = m.w.config;
  std::size_t image_floats = 0, logit_floats = 0, feature_floats = 0;
  if (!mul(batch, c.channels, image_floats) || !mul(image_floats, c.image_size, image_floats) ||
      !mul(image_floats, c.image_size, image_floats) || !mul(batch, c.classes, logit_floats) ||
      !mul(batch, c.tokens(), feature_floats) || !mul(feature_floats, c.dim, feature_floats))
    return GPSA_SIZE_OVERFLOW;
  if (batch == 0) return GPSA_OK;
  if (images == nullptr || logits == nullptr) return GPSA_INVALID_ARGUMENT;
  if (images_len != image_floats || logits_len != logit_floats ||
      (features != nullptr && features_len != feature_floats))
    return GPSA_SHAPE_MISMATCH;
  return to_c(gpsa::convit_forward(m.w, std::span<const float>(folded, folded_len), p, batch,
                                   images, logits, features,
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
  if (!mul(batch, c.channels, image_floats) || !mul(image_floats, c.image_size, image_floats) ||
      !mul(image_floats, c.image_size, image_floats) || !mul(batch, c.classes, logit_floats))
    return GPSA_SIZE_OVERFLOW;
  if (batch == 0) return GPSA_OK;
  if (images == nullptr || logits == nullptr) return GPSA_INVALID_ARGUMENT;
  if (images_len != image_floats || logits_len != logit_floats) return GPSA_SHAPE_MISMATCH;
  return to_c(
      gpsa::convit_int8_forward(w, batch, images, logits, std::span<float>(scratch, scratch_len)));
}

}  // extern "C"
