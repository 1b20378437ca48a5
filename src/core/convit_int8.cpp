// SPDX-License-Identifier: MIT
// The whole int8 ConViT (gpsa/core/convit_int8.hpp, docs/DESIGN.md §9): the forward, one image at a
// time, and the calibration, all images in step so that each quantisation point's amax is known
// before any image is quantised there. One engine does both: a stage (attention, MLP) runs once
// per image to measure its point's amax when calibrating, then again to quantise and go on (the
// same operations, so the same values).
//
// Every float step is one IEEE single-precision operation in the order §9 gives (contraction
// off: GPSA_FP_STRICT_BEGIN and -ffp-contract=off in src/CMakeLists.txt), sums in index order;
// exp is gpsa's (exp_scalar.hpp), sqrt correctly rounded. tools/int8_reference.py computes the
// same bits in NumPy.
#include "gpsa/core/convit_int8.hpp"

#include <cstring>

#include "fp_env.hpp"
#include "gpsa/core/int8.hpp"
#include "gpsa/core/types.hpp"             // detail::checked_mul
#include "gpsa/detail/constexpr_math.hpp"  // GPSA_FP_STRICT_BEGIN / END, runtime_sqrt

#include "nn_kernels_hwy.hpp"  // gelu_coeff

GPSA_FP_STRICT_BEGIN

// Inside the strict region: its exp is compiled unfused even where the command line allows
// contraction (test_int8_fma builds this file with -mfma -ffp-contract=fast).
#include "exp_scalar.hpp"

namespace gpsa {
namespace {

// Token rows per block of the MLP, the queries and the patches (two 2 x 2 product tiles).
constexpr std::size_t kRows = 8;

// sqrt(x) correctly rounded to float: the FPU's VSQRT.F32 on Arm, else through double (a double
// square root rounded to float is the correctly rounded float square root: 53 >= 2 * 24 + 2).
inline float sqrt_f32(float x) noexcept {
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__GNUC__)
  float r;
  __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
  return r;
#else
  return static_cast<float>(detail::runtime_sqrt(static_cast<double>(x)));
#endif
}

// The largest magnitude of x[0..n) and m; NaN once any value is NaN (it must not pass as 0).
inline float absmax(const float* x, std::size_t n, float m) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const float a = x[i] < 0.0f ? -x[i] : x[i];
    m = (a > m || a != a) ? a : m;
  }
  return m;
}

// LayerNorm of one row (DESIGN.md §9): sums in index order, each operation rounded once.
void layer_norm_row(const float* x, std::size_t n, const float* weight, const float* bias,
                    float eps, float* y) noexcept {
  float s = 0.0f;
  for (std::size_t j = 0; j < n; ++j) s = s + x[j];
  const auto nf = static_cast<float>(n);
  const float mean = s / nf;
  float v = 0.0f;
  for (std::size_t j = 0; j < n; ++j) {
    const float dev = x[j] - mean;
    y[j] = dev;
    v = v + dev * dev;
  }
  const float var = v / nf;
  const float rstd = 1.0f / sqrt_f32(var + eps);
  for (std::size_t j = 0; j < n; ++j) y[j] = y[j] * rstd * weight[j] + bias[j];
}

// gpsa::gelu_inplace's formula, one operation at a time (DESIGN.md §9).
void gelu_row(float* x, std::size_t n) noexcept { detail::gelu_rational(x, n); }

constexpr std::size_t bytes_as_floats(std::size_t bytes) noexcept {
  return (bytes + sizeof(float) - 1) / sizeof(float);
}
constexpr std::size_t a4(std::size_t floats) noexcept { return (floats + 3) / 4 * 4; }
constexpr std::size_t max2(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }

// The sizes of one configuration and the scratch regions (floats, each a multiple of 4 so that
// every region stays 16-byte aligned when the scratch is).
struct layout {
  std::size_t D, H, d, M, N, T, G, K, R, classes;
  std::size_t stream, codes, q, kv, row_t, mult, hidden, hidden_codes;
  std::size_t work;  // everything but the token streams
};

bool layout_of(const convit_config& c, layout& l) noexcept {
  l.D = c.dim;
  l.H = c.heads;
  l.d = c.head_dim();
  l.M = c.mlp_hidden;
  l.N = c.patches();
  l.T = c.tokens();
  l.G = c.grid_side();
  l.classes = c.classes;
  l.R = l.T < kRows ? l.T : kRows;
  std::size_t td = 0, k = 0, rk = 0, rm = 0, td_mult = 0;
  if (!detail::checked_mul(l.T, l.D, td) || !detail::checked_mul(c.channels, c.patch_size, k) ||
      !detail::checked_mul(k, c.patch_size, k) || !detail::checked_mul(l.R, k, rk) ||
      !detail::checked_mul(l.R, l.M, rm) || !detail::checked_mul(l.D, 4, td_mult))
    return false;
  if (td > (static_cast<std::size_t>(-1) >> 4) || rk > (static_cast<std::size_t>(-1) >> 4) ||
      rm > (static_cast<std::size_t>(-1) >> 4) || l.M > (static_cast<std::size_t>(-1) >> 4) ||
      l.classes > (static_cast<std::size_t>(-1) >> 4))
    return false;
  l.K = k;
  l.stream = a4(td);
  l.codes = a4(bytes_as_floats(td));  // norm codes (T, D); the attention's codes likewise
  l.q = a4(l.R * l.d);
  l.kv = a4(l.T * l.d);
  l.row_t = a4(max2(l.T, l.D));  // a score row, or a LayerNorm row
  l.mult = a4(max2(max2(td_mult, l.M + l.D), l.classes));
  l.hidden = a4(rm);
  l.hidden_codes = a4(bytes_as_floats(max2(rm, rk)));
  const std::size_t parts[] = {l.codes, l.codes, l.q,    l.kv,     l.kv,
                               l.row_t, a4(l.d), l.mult, l.hidden, l.hidden_codes};
  l.work = 0;
  for (const std::size_t p : parts) {
    if (l.work > static_cast<std::size_t>(-1) - p) return false;
    l.work += p;
  }
  return true;
}

status check_linear(const convit_int8_linear& l) noexcept {
  return l.weight != nullptr && l.scale != nullptr ? status::ok : status::invalid_argument;
}

// The engine: the model, the scratch regions and the activation amax (read, or written when
// calibrating).
class engine {
 public:
  engine(const convit_int8_weights& w, const layout& l, float* work, float* amax,
         bool calibrating) noexcept
      : w_(w), c_(w.config), l_(l), amax_(amax), calibrating_(calibrating) {
    float* p = work;
    xq_ = reinterpret_cast<std::int8_t*>(p);
    p += l.codes;
    aq_ = reinterpret_cast<std::int8_t*>(p);
    p += l.codes;
    qb_ = p;
    p += l.q;
    kb_ = p;
    p += l.kv;
    vb_ = p;
    p += l.kv;
    row_ = p;
    p += l.row_t;
    orow_ = p;
    p += a4(l.d);
    mult_ = p;
    p += l.mult;
    hidden_ = p;
    p += l.hidden;
    hq_ = reinterpret_cast<std::int8_t*>(p);
  }

  // `batch` images in step; streams: batch * T * D floats. logits: null when calibrating.
  status run(std::size_t batch, const float* images, float* streams, float* logits) noexcept {
    const layout& l = l_;
    const std::size_t image = c_.channels * c_.image_size * c_.image_size;
    const std::size_t first = c_.has_class_token() ? l.D : 0;  // patches after the class token
    if (calibrating_) {
      float m = 0.0f;
      for (std::size_t b = 0; b < batch; ++b) m = absmax(images + b * image, image, m);
      if (const status s = set_amax(0, m); s != status::ok) return s;
    }
    for (std::size_t b = 0; b < batch; ++b)
      if (const status s = patch_embed(images + b * image, streams + b * l.stream + first);
          s != status::ok)
        return s;
    for (std::size_t i = 0; i < c_.depth; ++i) {
      const bool gpsa = c_.is_gpsa_block(i);
      if (i == c_.local_up_to_layer && c_.has_class_token())
        for (std::size_t b = 0; b < batch; ++b)
          std::memcpy(streams + b * l.stream, w_.cls_token, l.D * sizeof(float));
      const std::size_t T = gpsa ? l.N : l.T;
      const std::size_t off = gpsa ? first : 0;
      const convit_int8_block& blk = w_.blocks[i];
      const std::size_t p = 1 + 4 * i;
      // The head reads row 0 alone: the last block's output is computed for that row only
      // (rows are independent after the attention's k and v: the same bits). Calibration
      // measures every row.
      const std::size_t out_rows = !calibrating_ && i + 1 == c_.depth ? 1 : T;
      if (calibrating_) {
        float m = 0.0f;
        for (std::size_t b = 0; b < batch; ++b)
          m = norm_amax(streams + b * l.stream + off, T, blk.norm1_weight, blk.norm1_bias, m);
        if (const status s = set_amax(p, m); s != status::ok) return s;
        m = 0.0f;
        for (std::size_t b = 0; b < batch; ++b)
          if (const status s = attention(i, streams + b * l.stream + off, T, T, &m);
              s != status::ok)
            return s;
        if (const status s = set_amax(p + 1, m); s != status::ok) return s;
      }
      for (std::size_t b = 0; b < batch; ++b)
        if (const status s = attention(i, streams + b * l.stream + off, T, out_rows, nullptr);
            s != status::ok)
          return s;
      if (calibrating_) {
        float m = 0.0f;
        for (std::size_t b = 0; b < batch; ++b)
          m = norm_amax(streams + b * l.stream + off, T, blk.norm2_weight, blk.norm2_bias, m);
        if (const status s = set_amax(p + 2, m); s != status::ok) return s;
        m = 0.0f;
        for (std::size_t b = 0; b < batch; ++b)
          if (const status s = mlp(i, streams + b * l.stream + off, T, &m); s != status::ok)
            return s;
        if (const status s = set_amax(p + 3, m); s != status::ok) return s;
      }
      for (std::size_t b = 0; b < batch; ++b)
        if (const status s = mlp(i, streams + b * l.stream + off, out_rows, nullptr);
            s != status::ok)
          return s;
    }
    const std::size_t last = 4 * c_.depth + 1;
    if (calibrating_) {
      float m = 0.0f;
      for (std::size_t b = 0; b < batch; ++b)
        m = norm_amax(streams + b * l.stream, 1, w_.norm_weight, w_.norm_bias, m);
      return set_amax(last, m);
    }
    for (std::size_t b = 0; b < batch; ++b) {
      layer_norm_row(streams + b * l.stream, l.D, w_.norm_weight, w_.norm_bias, c_.eps, row_);
      int8_params px{};
      if (const status s = int8_params_of(amax_[last], px); s != status::ok) return s;
      if (const status s = quantize(row_, l.D, px.multiplier, xq_); s != status::ok) return s;
      multipliers(px.scale, w_.head.scale, l.classes, mult_);
      if (const status s = int8_linear({1, l.classes, l.D}, {w_.head.weight, mult_, w_.head.bias},
                                       {xq_, l.D}, {logits + b * l.classes, l.classes});
          s != status::ok)
        return s;
    }
    return status::ok;
  }

 private:
  status set_amax(std::size_t point, float m) noexcept {
    amax_[point] = m;
    int8_params p{};
    return int8_params_of(m, p);  // invalid_argument for NaN / Inf
  }

  static status quantize(const float* x, std::size_t n, float multiplier, std::int8_t* q) noexcept {
    return int8_quantize({x, n}, multiplier, {q, n});
  }

  // m[o] = s_x * s_w[o]: the requantisation multipliers of a layer (one product each).
  static void multipliers(float sx, const float* sw, std::size_t n, float* m) noexcept {
    for (std::size_t o = 0; o < n; ++o) m[o] = sx * sw[o];
  }

  float norm_amax(const float* t, std::size_t rows, const float* weight, const float* bias,
                  float m) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
      layer_norm_row(t + r * l_.D, l_.D, weight, bias, c_.eps, row_);
      m = absmax(row_, l_.D, m);
    }
    return m;
  }

  // s[k] = (sum_j q[j] kv[k, j]) * scale for the T keys (rows of kb_, d apart): each sum in
  // index order; two keys at a time share the loads of q.
  void scores(const float* q, std::size_t T, std::size_t d, float scale, float* s) const noexcept {
    std::size_t k = 0;
    for (; k + 2 <= T; k += 2) {
      const float* k0 = kb_ + k * d;
      const float* k1 = k0 + d;
      float s0 = 0.0f, s1 = 0.0f;
      for (std::size_t j = 0; j < d; ++j) {
        const float qj = q[j];
        s0 = s0 + qj * k0[j];
        s1 = s1 + qj * k1[j];
      }
      s[k] = s0 * scale;
      s[k + 1] = s1 * scale;
    }
    if (k < T) {
      const float* k0 = kb_ + k * d;
      float s0 = 0.0f;
      for (std::size_t j = 0; j < d; ++j) s0 = s0 + q[j] * k0[j];
      s[k] = s0 * scale;
    }
  }

  // o[j] = sum_k a[k] vb_[k, j] over the T keys, each sum in key order; four columns at a time
  // share the loads of a.
  void weighted_sum(const float* a, std::size_t T, std::size_t d, float* o) const noexcept {
    std::size_t j = 0;
    for (; j + 4 <= d; j += 4) {
      float o0 = 0.0f, o1 = 0.0f, o2 = 0.0f, o3 = 0.0f;
      const float* v = vb_ + j;
      for (std::size_t k = 0; k < T; ++k, v += d) {
        const float ak = a[k];
        o0 = o0 + ak * v[0];
        o1 = o1 + ak * v[1];
        o2 = o2 + ak * v[2];
        o3 = o3 + ak * v[3];
      }
      o[j] = o0;
      o[j + 1] = o1;
      o[j + 2] = o2;
      o[j + 3] = o3;
    }
    for (; j < d; ++j) {
      float oj = 0.0f;
      for (std::size_t k = 0; k < T; ++k) oj = oj + a[k] * vb_[k * d + j];
      o[j] = oj;
    }
  }

  // t (N, D) = patch_embed(x) + pos_embed; x one image (C, S, S).
  status patch_embed(const float* x, float* t) noexcept {
    const layout& l = l_;
    const std::size_t p = c_.patch_size, S = c_.image_size;
    int8_params px{};
    if (const status s = int8_params_of(amax_[0], px); s != status::ok) return s;
    multipliers(px.scale, w_.patch.scale, l.D, mult_);
    for (std::size_t n0 = 0; n0 < l.N; n0 += l.R) {
      const std::size_t rows = l.N - n0 < l.R ? l.N - n0 : l.R;
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t gy = (n0 + r) / l.G, gx = (n0 + r) % l.G;
        for (std::size_t ch = 0; ch < c_.channels; ++ch)
          for (std::size_t ky = 0; ky < p; ++ky)
            if (const status s = quantize(x + (ch * S + gy * p + ky) * S + gx * p, p, px.multiplier,
                                          hq_ + r * l.K + (ch * p + ky) * p);
                s != status::ok)
              return s;
      }
      if (const status s = int8_linear({rows, l.D, l.K}, {w_.patch.weight, mult_, w_.patch.bias},
                                       {hq_, rows * l.K}, {t + n0 * l.D, rows * l.D});
          s != status::ok)
        return s;
    }
    for (std::size_t i = 0; i < l.N * l.D; ++i) t[i] = t[i] + w_.pos_embed[i];
    return status::ok;
  }

  // Block i's attention on t (T, D): t += proj(attn(norm1(t))) for the first `outputs` rows
  // (every row's k and v enter it). With `measure`: only the attention output's amax, max'ed
  // into *measure (t unchanged).
  status attention(std::size_t i, float* t, std::size_t T, std::size_t outputs,
                   float* measure) noexcept {
    const layout& l = l_;
    const std::size_t D = l.D, d = l.d;
    const convit_int8_block& blk = w_.blocks[i];
    const bool gpsa = c_.is_gpsa_block(i);
    const std::size_t p = 1 + 4 * i;
    int8_params pn{}, pa{};
    if (const status s = int8_params_of(amax_[p], pn); s != status::ok) return s;
    if (measure == nullptr)
      if (const status s = int8_params_of(amax_[p + 1], pa); s != status::ok) return s;
    for (std::size_t r = 0; r < T; ++r) {
      layer_norm_row(t + r * D, D, blk.norm1_weight, blk.norm1_bias, c_.eps, row_);
      if (const status s = quantize(row_, D, pn.multiplier, xq_ + r * D); s != status::ok) return s;
    }
    // Rows [0, D) q, [D, 2D) k, [2D, 3D) v: qk and v (GPSA), or qkv (MHSA).
    const std::int8_t* wrow[3];
    const float* brow[3];
    if (gpsa) {
      multipliers(pn.scale, blk.qk.scale, 2 * D, mult_);
      multipliers(pn.scale, blk.v.scale, D, mult_ + 2 * D);
      wrow[0] = blk.qk.weight;
      wrow[1] = blk.qk.weight + D * D;
      wrow[2] = blk.v.weight;
      brow[0] = blk.qk.bias;
      brow[1] = blk.qk.bias != nullptr ? blk.qk.bias + D : nullptr;
      brow[2] = blk.v.bias;
    } else {
      multipliers(pn.scale, blk.qkv.scale, 3 * D, mult_);
      for (std::size_t j = 0; j < 3; ++j) {
        wrow[j] = blk.qkv.weight + j * D * D;
        brow[j] = blk.qkv.bias != nullptr ? blk.qkv.bias + j * D : nullptr;
      }
    }
    const float scale = static_cast<float>(1.0 / detail::runtime_sqrt(static_cast<double>(d)));
    const std::size_t G = l.G;
    const float* fx = nullptr;
    const float* gy = nullptr;
    const float* lambda = nullptr;
    if (gpsa) {
      const std::size_t per_block = l.H * (2 * G * G) + l.H;
      fx = w_.folded.data() + i * per_block;
      gy = fx + l.H * G * G;
      lambda = gy + l.H * G * G;
    }
    for (std::size_t h = 0; h < l.H; ++h) {
      auto head_rows = [&](std::size_t j) {
        const std::size_t o = j * D + h * d;
        return int8_linear_weights{wrow[j] + h * d * D, mult_ + o,
                                   brow[j] != nullptr ? brow[j] + h * d : nullptr};
      };
      if (const status s = int8_linear({T, d, D}, head_rows(1), {xq_, T * D}, {kb_, T * d});
          s != status::ok)
        return s;
      if (const status s = int8_linear({T, d, D}, head_rows(2), {xq_, T * D}, {vb_, T * d});
          s != status::ok)
        return s;
      const float lam = gpsa ? lambda[h] : 0.0f;
      const float* fxh = gpsa ? fx + h * G * G : nullptr;
      const float* gyh = gpsa ? gy + h * G * G : nullptr;
      for (std::size_t p0 = 0; p0 < outputs; p0 += l.R) {
        const std::size_t rows = outputs - p0 < l.R ? outputs - p0 : l.R;
        if (const status s =
                int8_linear({rows, d, D}, head_rows(0), {xq_ + p0 * D, rows * D}, {qb_, rows * d});
            s != status::ok)
          return s;
        for (std::size_t r = 0; r < rows; ++r) {
          const std::size_t pq = p0 + r;
          const float* qv = qb_ + r * d;
          scores(qv, T, d, scale, row_);
          float mx = row_[0];
          for (std::size_t k = 1; k < T; ++k) mx = row_[k] > mx ? row_[k] : mx;
          float z = 0.0f;
          for (std::size_t k = 0; k < T; ++k) {
            const float e = detail::exp1(row_[k] - mx);
            row_[k] = e;
            z = z + e;
          }
          if (gpsa) {
            // a = e c + lambda (gy[yp][yq] fx[xp][xq]), keys in row-major grid order
            const float c = (1.0f - lam) / z;
            const float* fr = fxh + (pq % G) * G;
            const float* gr = gyh + (pq / G) * G;
            float* a = row_;
            for (std::size_t yq = 0; yq < G; ++yq, a += G) {
              const float g = gr[yq];
              for (std::size_t xq = 0; xq < G; ++xq) a[xq] = a[xq] * c + lam * (g * fr[xq]);
            }
          } else {
            const float c = 1.0f / z;
            for (std::size_t k = 0; k < T; ++k) row_[k] = row_[k] * c;
          }
          weighted_sum(row_, T, d, orow_);
          if (measure != nullptr) {
            *measure = absmax(orow_, d, *measure);
          } else if (const status s = quantize(orow_, d, pa.multiplier, aq_ + pq * D + h * d);
                     s != status::ok) {
            return s;
          }
        }
      }
    }
    if (measure != nullptr) return status::ok;
    multipliers(pa.scale, blk.proj.scale, D, mult_ + 3 * D);
    return int8_linear({outputs, D, D}, {blk.proj.weight, mult_ + 3 * D, blk.proj.bias},
                       {aq_, outputs * D}, {t, outputs * D}, int8_output::accumulate);
  }

  // Block i's MLP on the first T rows of t: t += fc2(gelu(fc1(norm2(t)))), kRows rows at a
  // time. With `measure`: only the GELU output's amax (t unchanged).
  status mlp(std::size_t i, float* t, std::size_t T, float* measure) noexcept {
    const layout& l = l_;
    const std::size_t D = l.D, M = l.M;
    const convit_int8_block& blk = w_.blocks[i];
    const std::size_t p = 3 + 4 * i;
    int8_params pn{}, pg{};
    if (const status s = int8_params_of(amax_[p], pn); s != status::ok) return s;
    if (measure == nullptr)
      if (const status s = int8_params_of(amax_[p + 1], pg); s != status::ok) return s;
    multipliers(pn.scale, blk.fc1.scale, M, mult_);
    multipliers(pg.scale, blk.fc2.scale, D, mult_ + M);
    for (std::size_t r0 = 0; r0 < T; r0 += l.R) {
      const std::size_t rows = T - r0 < l.R ? T - r0 : l.R;
      for (std::size_t r = 0; r < rows; ++r) {
        layer_norm_row(t + (r0 + r) * D, D, blk.norm2_weight, blk.norm2_bias, c_.eps, row_);
        if (const status s = quantize(row_, D, pn.multiplier, xq_ + r * D); s != status::ok)
          return s;
      }
      if (const status s = int8_linear({rows, M, D}, {blk.fc1.weight, mult_, blk.fc1.bias},
                                       {xq_, rows * D}, {hidden_, rows * M});
          s != status::ok)
        return s;
      gelu_row(hidden_, rows * M);
      if (measure != nullptr) {
        *measure = absmax(hidden_, rows * M, *measure);
        continue;
      }
      if (const status s = quantize(hidden_, rows * M, pg.multiplier, hq_); s != status::ok)
        return s;
      if (const status s =
              int8_linear({rows, D, M}, {blk.fc2.weight, mult_ + M, blk.fc2.bias}, {hq_, rows * M},
                          {t + r0 * D, rows * D}, int8_output::accumulate);
          s != status::ok)
        return s;
    }
    return status::ok;
  }

  const convit_int8_weights& w_;
  const convit_config& c_;
  const layout& l_;
  float* amax_;
  bool calibrating_;
  std::int8_t* xq_ = nullptr;
  std::int8_t* aq_ = nullptr;
  float* qb_ = nullptr;
  float* kb_ = nullptr;
  float* vb_ = nullptr;
  float* row_ = nullptr;
  float* orow_ = nullptr;
  float* mult_ = nullptr;
  float* hidden_ = nullptr;
  std::int8_t* hq_ = nullptr;
};

status validate_layers(const convit_int8_weights& w) noexcept {
  const convit_config& c = w.config;
  if (w.patch.weight == nullptr || w.patch.scale == nullptr || w.pos_embed == nullptr ||
      w.norm_weight == nullptr || w.norm_bias == nullptr ||
      (c.has_class_token() && w.cls_token == nullptr))
    return status::invalid_argument;
  if (const status s = check_linear(w.head); s != status::ok) return s;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_int8_block& b = w.blocks[i];
    if (b.norm1_weight == nullptr || b.norm1_bias == nullptr || b.norm2_weight == nullptr ||
        b.norm2_bias == nullptr)
      return status::invalid_argument;
    const bool ok = c.is_gpsa_block(i)
                        ? check_linear(b.qk) == status::ok && check_linear(b.v) == status::ok
                        : check_linear(b.qkv) == status::ok;
    if (!ok || check_linear(b.proj) != status::ok || check_linear(b.fc1) != status::ok ||
        check_linear(b.fc2) != status::ok)
      return status::invalid_argument;
  }
  return status::ok;
}

status validate_model(const convit_int8_weights& w, bool need_amax) noexcept {
  if (const status s = validate(w.config); s != status::ok) return s;
  // timm's default ConViT only (gpsa_convit_int8_weights has no pool or use_pos_embed).
  if (w.config.pool != convit_pool::token || !w.config.use_pos_embed)
    return status::invalid_argument;
  if (w.blocks.size() != w.config.depth) return status::shape_mismatch;
  std::size_t nf = 0;
  if (const status s = convit_folded_size(w.config, nf); s != status::ok) return s;
  if (w.folded.size() != nf) return status::shape_mismatch;
  if (nf != 0 && w.folded.data() == nullptr) return status::invalid_argument;
  if (need_amax) {
    if (w.activation_amax.size() != convit_int8_points(w.config)) return status::shape_mismatch;
    for (const float a : w.activation_amax)
      if (!(a >= 0.0f) || !detail::is_finite(static_cast<double>(a)))
        return status::invalid_argument;
  }
  return validate_layers(w);
}

}  // namespace

status validate(const convit_int8_weights& w) noexcept { return validate_model(w, true); }

status convit_int8_scratch_size(const convit_config& c, std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  layout l{};
  if (!layout_of(c, l) || l.work > static_cast<std::size_t>(-1) - l.stream)
    return status::size_overflow;
  floats = l.stream + l.work;
  return status::ok;
}

status convit_int8_calibration_scratch_size(const convit_config& c, std::size_t batch,
                                            std::size_t& floats) noexcept {
  if (const status s = validate(c); s != status::ok) return s;
  layout l{};
  std::size_t streams = 0;
  if (!layout_of(c, l) || !detail::checked_mul(batch, l.stream, streams) ||
      l.work > static_cast<std::size_t>(-1) - streams)
    return status::size_overflow;
  floats = streams + l.work;
  return status::ok;
}

status convit_int8_forward(const convit_int8_weights& w, std::size_t batch, const float* images,
                           float* logits, std::span<float> scratch) noexcept {
  if (const status s = validate_model(w, true); s != status::ok) return s;
  layout l{};
  if (!layout_of(w.config, l) || l.work > static_cast<std::size_t>(-1) - l.stream)
    return status::size_overflow;
  std::size_t image = 0, nl = 0;
  if (!detail::checked_mul(w.config.channels, w.config.image_size, image) ||
      !detail::checked_mul(image, w.config.image_size, image) ||
      !detail::checked_mul(batch, image, nl) || !detail::checked_mul(batch, w.config.classes, nl))
    return status::size_overflow;
  if (batch == 0) return status::ok;
  if (images == nullptr || logits == nullptr) return status::invalid_argument;
  if (scratch.size() < l.stream + l.work) return status::buffer_too_small;
  if (scratch.data() == nullptr) return status::invalid_argument;
  [[maybe_unused]] const detail::ieee_mode mode;
  // Read-only in a forward: the engine writes amax only when calibrating.
  engine e(w, l, scratch.data() + l.stream, const_cast<float*>(w.activation_amax.data()), false);
  for (std::size_t b = 0; b < batch; ++b)
    if (const status s =
            e.run(1, images + b * image, scratch.data(), logits + b * w.config.classes);
        s != status::ok)
      return s;
  return status::ok;
}

status convit_int8_calibrate(const convit_int8_weights& w, std::size_t batch, const float* images,
                             std::span<float> amax, std::span<float> scratch) noexcept {
  if (const status s = validate_model(w, false); s != status::ok) return s;
  if (amax.size() != convit_int8_points(w.config)) return status::shape_mismatch;
  std::size_t need = 0;
  if (const status s = convit_int8_calibration_scratch_size(w.config, batch, need); s != status::ok)
    return s;
  if (batch == 0) return status::invalid_argument;  // no images: no amax
  if (images == nullptr || amax.data() == nullptr) return status::invalid_argument;
  if (scratch.size() < need) return status::buffer_too_small;
  if (scratch.data() == nullptr) return status::invalid_argument;
  layout l{};
  (void)layout_of(w.config, l);  // checked by the size query
  [[maybe_unused]] const detail::ieee_mode mode;
  engine e(w, l, scratch.data() + batch * l.stream, amax.data(), true);
  return e.run(batch, images, scratch.data(), nullptr);
}

}  // namespace gpsa

GPSA_FP_STRICT_END
