// SPDX-License-Identifier: MIT
// The GPSA layer on caller-owned buffers (gpsa/core/layer.hpp): validation, pack, scratch size,
// gated attention and forward (GEMMs and softmax from linalg, the fused path from nn).
#include "gpsa/core/layer.hpp"

#include <cstddef>

#include "fold_kernels.hpp"
#include "fp_env.hpp"
#include "gpsa/detail/constexpr_math.hpp"
#include "linalg_impl.hpp"
#include "nn.hpp"
#include "packing.hpp"

namespace gpsa {
namespace {

using detail::checked_add;

using detail::checked_mul;

// softmax_rows(q k^T * scale) into out; the callers have checked the arguments.
void content_rows(std::size_t nq, std::size_t nk, std::size_t d, const float* q, std::size_t ldq,
                  const float* k, std::size_t ldk, float scale, float* out,
                  std::size_t ldo) noexcept {
  detail::gemm_unchecked(false, true, nq, nk, d, scale, q, ldq, k, ldk, 0.0f, out, ldo);
  detail::softmax_rows_unchecked(nq, nk, out, ldo);
}

// PyTorch's get_attention blend of head h in place, with the fold's lambda:
// (1 - lambda) * content + lambda * position, each row then divided by its sum.
void blend_head(const folded_view& pos, std::size_t h, float* attn) noexcept {
  const std::size_t R = pos.shape.rows, C = pos.shape.cols, N = R * C;
  const float lam = pos.lambda[h];
  detail::blend_rows_factored(pos.fx + h * C * C, pos.gy + h * R * R, R, C, lam, 1.0f - lam, 0, N,
                              attn, N, attn, N);
}

// The layer's three linear layers, packed or not.
struct layer_linears {
  detail::linear_weight qk, v, proj;
};

layer_linears linears_of(const layer_weights& w) noexcept {
  layer_linears l{{w.qk_weight, nullptr, w.qk_bias},
                  {w.v_weight, nullptr, w.v_bias},
                  {w.proj_weight, nullptr, w.proj_bias}};
  detail::layer_pack_layout p{};
  if (w.packed != nullptr && detail::layer_pack_layout_of(w.dim, p)) {
    l.qk.packed = w.packed + p.qk;
    l.v.packed = w.packed + p.v;
    l.proj.packed = w.packed + p.proj;
  }
  return l;
}

// Scratch: 64-byte slack, then the q, k, v rows (B*N*3D, rounded to 16 floats), then the fused
// attention's work (detail::mha_scratch_floats).
bool qkv_floats(std::size_t BN, std::size_t D, std::size_t& floats) noexcept {
  std::size_t n = 0;
  return checked_mul(BN, D, 3, n) && detail::round_up_aligned(n, floats);
}

// The (item, head) pairs of the exact path (attn returned): index = b * H + h. Rows of qkv are
// [q (D) | k (D) | v (D)]; the forward writes o_h = attn_h v_h over q_h (no longer needed once
// its rows are used), so the concat of heads is columns [0, D) of qkv.
struct layer_job {
  folded_view pos;
  float* qkv;
  float* attn;  // (B, H, N, N)
  std::size_t N, D, H, d;
  float scale;
  bool forward;  // false: layer_attention (attn only)

  static void run(void* arg, std::size_t index, std::size_t /*worker*/) noexcept {
    // The blend multiplies the positional softmax's tiny tails: subnormal products would cost a
    // microcode assist each (the exact path ran 2x slower).
    [[maybe_unused]] const detail::flush_subnormals ftz;
    const auto& j = *static_cast<const layer_job*>(arg);
    const std::size_t b = index / j.H, h = index % j.H, N = j.N, D = j.D, d = j.d, ld = 3 * D;
    float* rows = j.qkv + b * N * ld;
    float* q = rows + h * d;
    const float* k = rows + D + h * d;
    const float* v = rows + 2 * D + h * d;
    // PyTorch's order (content softmax, blend, renormalise), then attn @ v.
    float* a = j.attn + index * N * N;
    content_rows(N, N, d, q, ld, k, ld, j.scale, a, N);
    blend_head(j.pos, h, a);
    if (j.forward) detail::gemm_unchecked(false, false, N, d, N, 1.0f, a, N, v, ld, 0.0f, q, ld);
  }
};

// The checks both kernels share, in order: the weights, the folded branch and its head count,
// the executor, the activation and attention lengths, the scratch. Sets `run` false for
// batch == 0 (nothing to do, buffers not looked at).
status check_call(const layer_weights& w, const folded_view& pos, std::size_t batch,
                  std::span<const float> x, std::size_t y_floats, std::span<float> attn,
                  bool attn_required, std::span<float> scratch, const executor* ex,
                  bool& run) noexcept {
  run = false;
  if (const status s = validate(w); s != status::ok) return s;
  if (const status s = validate(pos); s != status::ok) return s;
  if (pos.heads != w.heads) return status::shape_mismatch;
  if (const status s = validate(ex); s != status::ok) return s;
  const layer_dims dims = dims_of(w, pos, batch);
  std::size_t need = 0;
  if (const status s = layer_scratch_size(dims, workers_of(ex), need); s != status::ok) return s;
  if (batch == 0) return status::ok;
  std::size_t bnd = 0, bhnn = 0, nn = 0;
  if (!checked_mul(batch, dims.patches(), w.dim, bnd) ||
      !checked_mul(dims.patches(), dims.patches(), nn) || !checked_mul(batch, w.heads, nn, bhnn))
    return status::size_overflow;
  if (x.size() != bnd || y_floats != bnd) return status::shape_mismatch;
  if (attn_required ? attn.size() != bhnn : (!attn.empty() && attn.size() != bhnn))
    return status::shape_mismatch;
  if (x.data() == nullptr) return status::invalid_argument;
  if (scratch.size() < need || scratch.data() == nullptr) return status::buffer_too_small;
  if (w.packed != nullptr) {
    std::size_t packed = 0;
    if (const status s = layer_packed_size(w.dim, packed); s != status::ok) return s;
  }
  run = true;
  return status::ok;
}

// layer_forward without attn on checked arguments: qk and v, the fused attention, proj.
void forward_fused(const layer_weights& w, const folded_view& pos, std::size_t batch,
                   const float* x, float* y, std::span<float> scratch,
                   const executor* ex) noexcept {
  using namespace detail;
  [[maybe_unused]] const flush_subnormals ftz;
  const std::size_t N = pos.patches(), D = w.dim, BN = batch * N, ld = 3 * D;
  std::size_t qkv_n = 0;
  (void)qkv_floats(BN, D, qkv_n);  // checked by layer_scratch_size
  float* qkv = align_floats(scratch.data());
  const layer_linears l = linears_of(w);
  // x is read only here, so y may alias x. qk and v in one task set.
  linear2({BN, 2 * D, D, x, D, l.qk, qkv, ld, false, activation::none},
          {BN, D, D, x, D, l.v, qkv + 2 * D, ld, false, activation::none}, ex);
  const std::size_t used = static_cast<std::size_t>(qkv - scratch.data()) + qkv_n;
  mha_forward({N, D, w.heads}, batch, qkv, head_scale(w.head_dim()), &pos, scratch.subspan(used),
              ex);
  linear(BN, D, D, qkv, ld, l.proj, y, D, false, activation::none, ex);
}

}  // namespace

status validate(const layer_weights& w) noexcept {
  if (w.heads == 0 || w.dim == 0 || w.dim % w.heads != 0) return status::invalid_argument;
  if (w.packed == nullptr &&
      (w.qk_weight == nullptr || w.v_weight == nullptr || w.proj_weight == nullptr))
    return status::invalid_argument;
  std::size_t dd = 0;
  if (!checked_mul(w.dim, w.dim, 3, dd)) return status::size_overflow;
  return status::ok;
}

status layer_packed_size(std::size_t dim, std::size_t& floats) noexcept {
  if (dim == 0) return status::invalid_argument;
  detail::layer_pack_layout l{};
  std::size_t dd = 0;
  if (!checked_mul(dim, dim, dd) || !detail::layer_pack_layout_of(dim, l))
    return status::size_overflow;
  floats = l.total;
  return status::ok;
}

status layer_pack(const layer_weights& w, std::span<float> packed) noexcept {
  if (const status s = validate(w); s != status::ok) return s;
  if (w.qk_weight == nullptr || w.v_weight == nullptr || w.proj_weight == nullptr)
    return status::invalid_argument;  // packing reads the plain weights
  detail::layer_pack_layout l{};
  if (!detail::layer_pack_layout_of(w.dim, l)) return status::size_overflow;
  if (packed.size() < l.total || packed.data() == nullptr) return status::buffer_too_small;
  const std::size_t D = w.dim;
  detail::linear_pack(2 * D, D, w.qk_weight, packed.data() + l.qk);
  detail::linear_pack(D, D, w.v_weight, packed.data() + l.v);
  detail::linear_pack(D, D, w.proj_weight, packed.data() + l.proj);
  return status::ok;
}

float head_scale(std::size_t head_dim) noexcept {
  return static_cast<float>(1.0 / detail::runtime_sqrt(static_cast<double>(head_dim)));
}

status content_attention(std::size_t nq, std::size_t nk, std::size_t d, float scale, const float* q,
                         std::size_t ldq, const float* k, std::size_t ldk, float* out,
                         std::size_t ldo) noexcept {
  if (nq == 0 || nk == 0) return status::ok;
  if (q == nullptr || k == nullptr || out == nullptr) return status::invalid_argument;
  if (ldq < d || ldk < d || ldo < nk) return status::invalid_argument;
  content_rows(nq, nk, d, q, ldq, k, ldk, scale, out, ldo);
  return status::ok;
}

status layer_scratch_size(const layer_dims& d, std::size_t workers, std::size_t& floats) noexcept {
  if (d.shape.empty()) return status::empty_grid;
  if (d.heads == 0 || d.dim == 0 || d.dim % d.heads != 0 || workers == 0)
    return status::invalid_argument;
  std::size_t N = 0, bn = 0, qkv = 0, work = 0, total = 0;
  if (!checked_mul(d.shape.rows, d.shape.cols, N) || !checked_mul(d.batch, N, bn) ||
      !qkv_floats(bn, d.dim, qkv) ||
      !detail::mha_scratch_floats({N, d.dim, d.heads}, true, d.batch, workers, work) ||
      !checked_add(qkv, work, total) || !checked_add(total, scratch_align_floats, total))
    return status::size_overflow;
  floats = total;
  return status::ok;
}

status layer_attention(const layer_weights& w, const folded_view& pos, std::size_t batch,
                       std::span<const float> x, std::span<float> attn, std::span<float> scratch,
                       const executor* ex) noexcept {
  bool run = false;
  if (const status s = check_call(w, pos, batch, x, x.size(), attn, true, scratch, ex, run); !run)
    return s;
  [[maybe_unused]] const detail::flush_subnormals ftz;
  const std::size_t N = pos.patches(), D = w.dim, H = w.heads, d = w.head_dim(), BN = batch * N;
  float* qkv = detail::align_floats(scratch.data());
  detail::linear(BN, 2 * D, D, x.data(), D, linears_of(w).qk, qkv, 3 * D, false,
                 detail::activation::none, ex);
  layer_job job{pos, qkv, attn.data(), N, D, H, d, head_scale(d), false};
  detail::run_tasks(ex, batch * H, &layer_job::run, &job);
  return status::ok;
}

status layer_forward(const layer_weights& w, const folded_view& pos, std::size_t batch,
                     std::span<const float> x, std::span<float> y, std::span<float> attn,
                     std::span<float> scratch, const executor* ex) noexcept {
  bool run = false;
  if (const status s = check_call(w, pos, batch, x, y.size(), attn, false, scratch, ex, run); !run)
    return s;
  if (y.data() == nullptr) return status::invalid_argument;
  if (attn.empty()) {
    forward_fused(w, pos, batch, x.data(), y.data(), scratch, ex);
    return status::ok;
  }
  [[maybe_unused]] const detail::flush_subnormals ftz;
  const std::size_t N = pos.patches(), D = w.dim, H = w.heads, d = w.head_dim(), BN = batch * N;
  const std::size_t ld = 3 * D;
  float* qkv = detail::align_floats(scratch.data());
  const layer_linears l = linears_of(w);
  // x is read only here, so y may alias x. qk and v in one task set.
  detail::linear2({BN, 2 * D, D, x.data(), D, l.qk, qkv, ld, false, detail::activation::none},
                  {BN, D, D, x.data(), D, l.v, qkv + 2 * D, ld, false, detail::activation::none},
                  ex);
  layer_job job{pos, qkv, attn.data(), N, D, H, d, head_scale(d), true};
  detail::run_tasks(ex, batch * H, &layer_job::run, &job);
  detail::linear(BN, D, D, qkv, ld, l.proj, y.data(), D, false, detail::activation::none, ex);
  return status::ok;
}

}  // namespace gpsa
