// SPDX-License-Identifier: MIT
// The C API (include/gpsa/gpsa.h): thin extern "C" wrappers over the core's C++ entry points.
#include "gpsa/gpsa.h"

#include <bit>
#include <cstddef>
#include <span>
#include <type_traits>

#include "gpsa/core/fold.hpp"
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

}  // extern "C"
