// SPDX-License-Identifier: MIT
// The firmware promise, checked: the core headers and kernels build with -fno-exceptions
// -fno-rtti and run without touching the heap. Every global operator new/new[] (and, through
// the linker's --wrap, every malloc-family call made by this program's own objects and by
// libgpsa_core.a) aborts once main() starts. No GoogleTest here: it allocates.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "gpsa/core/convit.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/gpsa.h"
#include "gpsa/grid.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"
#include "gpsa/version.hpp"

#if defined(__cpp_exceptions) || defined(__GXX_RTTI) || defined(__cpp_rtti)
#error "this test must be compiled with -fno-exceptions -fno-rtti"
#endif

namespace {

[[noreturn]] void forbidden(const char* what) {
  // write(2) rather than stdio: nothing here may allocate.
  static const char prefix[] = "freestanding: heap use detected: ";
  (void)!::write(2, prefix, sizeof prefix - 1);
  std::size_t n = 0;
  while (what[n]) ++n;
  (void)!::write(2, what, n);
  (void)!::write(2, "\n", 1);
  std::abort();
}

}  // namespace

// ---- the heap is off limits while `armed` --------------------------------------------------
// Armed for all of main(): gpsa's code runs only there. Before main, shared libraries' static
// initialisers may allocate (libhwy's does), which says nothing about gpsa, so those calls are
// served by the real malloc.
namespace {
bool armed = false;
}

extern "C" {
void* __real_malloc(std::size_t);
void* __real_calloc(std::size_t, std::size_t);
void* __real_realloc(void*, std::size_t);
void* __real_aligned_alloc(std::size_t, std::size_t);
int __real_posix_memalign(void**, std::size_t, std::size_t);

// Linked with -Wl,--wrap=malloc,...: calls from this program's objects and static libraries
// (libgpsa_core.a) land here. Shared libraries (libc's stdio, a BLAS) are not redirected.
void* __wrap_malloc(std::size_t n) {
  if (armed) forbidden("malloc");
  return __real_malloc(n);
}
void* __wrap_calloc(std::size_t n, std::size_t m) {
  if (armed) forbidden("calloc");
  return __real_calloc(n, m);
}
void* __wrap_realloc(void* p, std::size_t n) {
  if (armed) forbidden("realloc");
  return __real_realloc(p, n);
}
void* __wrap_aligned_alloc(std::size_t a, std::size_t n) {
  if (armed) forbidden("aligned_alloc");
  return __real_aligned_alloc(a, n);
}
int __wrap_posix_memalign(void** p, std::size_t a, std::size_t n) {
  if (armed) forbidden("posix_memalign");
  return __real_posix_memalign(p, a, n);
}
}

namespace {
void* unarmed_alloc(std::size_t n, std::size_t align, const char* what) {
  if (armed) forbidden(what);
  void* p = nullptr;
  if (__real_posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, n ? n : 1) != 0)
    std::abort();  // out of memory before main: nothing sensible to do without exceptions
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return unarmed_alloc(n, 16, "operator new"); }
void* operator new[](std::size_t n) { return unarmed_alloc(n, 16, "operator new[]"); }
void* operator new(std::size_t n, std::align_val_t a) {
  return unarmed_alloc(n, static_cast<std::size_t>(a), "operator new(align)");
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return unarmed_alloc(n, static_cast<std::size_t>(a), "operator new[](align)");
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return unarmed_alloc(n, 16, "operator new(nothrow)");
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return unarmed_alloc(n, 16, "operator new[](nothrow)");
}
// Freeing is harmless (and may happen at exit for memory taken before main).
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

bool near(float a, float b, float tol) { return (a > b ? a - b : b - a) <= tol; }

// Compile time: the baked table is a constant expression.
static_assert(gpsa::rel_indices_v<4>(0, 15, 0) == 3.0f &&
              gpsa::rel_indices_v<4>(0, 15, 2) == 18.0f);
static_assert(gpsa::rel_indices_v<3, 5, std::int8_t>(14, 0, 1) == -2);

// Caller-owned memory, all static: .bss, not the heap and not a huge stack frame.
float table[196 * 196 * 3];
float scratch[1 << 16];

void tables() {
  const gpsa::grid g{3, 5};
  check(gpsa::fill_rel_indices<float>(g, table) == gpsa::status::ok, "fill_rel_indices 3x5");
  bool same = true;
  for (std::size_t p = 0; p < 15; ++p)
    for (std::size_t q = 0; q < 15; ++q) {
      const float dx = float(q % 5) - float(p % 5), dy = float(q / 5) - float(p / 5);
      const float* v = table + (p * 15 + q) * 3;
      same = same && v[0] == dx && v[1] == dy && v[2] == dx * dx + dy * dy;
    }
  check(same, "runtime table equals the formula");
  check(gpsa::fill_rel_indices<float>(gpsa::grid{3, 5}, std::span<float>(table, 10)) ==
            gpsa::status::buffer_too_small,
        "short buffer is a status, not a crash");

  const auto l = gpsa::lookup_rel_indices<float>(std::size_t{196}, table);
  check(l.code == gpsa::status::ok && l.baked() == gpsa::is_baked(gpsa::grid{14, 14}),
        "lookup of N = 196");
  check(l && l.view(0, 195, 0) == 13.0f && l.view(195, 0, 2) == 338.0f, "lookup values");
  const auto bad = gpsa::lookup_rel_indices<float>(std::size_t{8 * 4}, table);
  check(!bad && bad.code == gpsa::status::not_square, "non-square patch count");

  float c_table[2 * 2 * 2 * 2 * 3];
  check(gpsa_fill_rel_indices_f32(2, 2, c_table, 48) == GPSA_OK &&
            c_table[(0 * 4 + 3) * 3 + 2] == 2.0f,
        "C API table");
}

void layer() {
  // D = 8, H = 4 (d = 2), 3x3 grid, batch 2; qk = 0 (uniform content), v = proj = identity,
  // local_init positions. Every attention row sums to 1, so a patch-constant input comes back
  // unchanged: y[b, p, :] = x[b, 0, :].
  constexpr std::size_t D = 8, H = 4, B = 2, N = 9;
  static float qk[2 * D * D], v[D * D], proj[D * D], pos_w[H * 3], gating[H];
  static float x[B * N * D], y[B * N * D], attn[B * H * N * N], dist[H];
  check(gpsa::local_init(H, 1.0f, D, pos_w, v) == gpsa::status::ok, "local_init");
  check(gpsa::identity_init(D, proj) == gpsa::status::ok, "identity_init");
  for (std::size_t h = 0; h < H; ++h) gating[h] = 0.5f * float(h) - 1.0f;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t p = 0; p < N; ++p)
      for (std::size_t c = 0; c < D; ++c) x[(b * N + p) * D + c] = float(c) - 3.5f + float(b);

  gpsa::layer_weights w;
  w.heads = H;
  w.dim = D;
  w.qk_weight = qk;
  w.v_weight = v;
  w.proj_weight = proj;
  check(gpsa::validate(w) == gpsa::status::ok, "validate");
  const gpsa::grid g{3, 3};
  // The folded positional branch, into static buffers.
  static float fx[H * 9], gy[H * 9], lambda[H];
  check(gpsa::layer_fold(g, H, std::span<const float>(pos_w), {}, std::span<const float>(gating),
                         fx, gy, lambda) == gpsa::status::ok,
        "layer_fold");
  const gpsa::folded_view f{H, g, fx, gy, lambda};
  std::size_t need = 0;
  check(gpsa::layer_scratch_size(gpsa::dims_of(w, f, B), 1, need) == gpsa::status::ok,
        "scratch size");
  check(need <= std::size(scratch), "scratch fits the static buffer");
  check(
      gpsa::layer_forward(w, f, B, x, y, attn, std::span<float>(scratch, need)) == gpsa::status::ok,
      "layer_forward");
  float worst = 0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t p = 0; p < N; ++p)
      for (std::size_t c = 0; c < D; ++c) {
        const float e = y[(b * N + p) * D + c] - x[b * N * D + c];
        worst = e > worst ? e : (-e > worst ? -e : worst);
      }
  check(worst <= 1e-5f, "constant input passes through (rows of attn sum to 1)");
  bool rows = true;
  for (std::size_t r = 0; r < B * H * N; ++r) {
    float s = 0;
    for (std::size_t q = 0; q < N; ++q) s += attn[r * N + q];
    rows = rows && near(s, 1.0f, 1e-5f);
  }
  check(rows, "attention rows sum to 1");
  check(gpsa::nonlocality(g, H, B, attn, dist) == gpsa::status::ok && dist[0] > 0.0f,
        "nonlocality");
  check(gpsa::layer_forward(w, f, B, x, y, {}, std::span<float>(scratch, 1)) ==
            gpsa::status::buffer_too_small,
        "short scratch is a status");

  // The folded positional branch applied to a column-constant V gives V back.
  static float vv[N * D], out[N * D];
  for (std::size_t p = 0; p < N; ++p)
    for (std::size_t c = 0; c < D; ++c) vv[p * D + c] = float(c + 1);
  std::size_t apply_floats = 0;
  check(gpsa::positional_apply_scratch_size(g, D / H, apply_floats) == gpsa::status::ok,
        "positional_apply_scratch_size");
  check(gpsa::positional_apply(f, D / H, vv, D, out, D, std::span<float>(scratch, apply_floats)) ==
            gpsa::status::ok,
        "positional_apply");
  bool same = true;
  for (std::size_t i = 0; i < N * D; ++i) same = same && near(out[i], vv[i], 1e-5f * vv[i]);
  check(same, "position rows sum to 1");

  float m[4] = {1, 2, 3, 4}, id[4] = {1, 0, 0, 1}, r[4] = {};
  check(gpsa::gemm(false, false, 2, 2, 2, 1.0f, m, 2, id, 2, 0.0f, r, 2) == gpsa::status::ok &&
            r[0] == 1 && r[1] == 2 && r[2] == 3 && r[3] == 4,
        "gemm");
  float s[2] = {1e4f, -1e4f};
  check(gpsa::softmax_rows(1, 2, s, 2) == gpsa::status::ok && s[0] == 1.0f && s[1] == 0.0f,
        "softmax_rows");
}

// A whole ConViT (gpsa/core/convit.hpp) on static buffers: 16x16 images, 4-pixel patches, D = 8,
// H = 2, one GPSA and one MHSA block. Checks structural facts: final-norm rows have mean 0 and
// variance 1 (unit norm weight, zero bias), and the logits are the head applied to token 0.
void model() {
  constexpr std::size_t S = 16, P = 4, C = 3, D = 8, H = 2, M = 16, K = 3, B = 2, N = 16, T = 17;
  static float patch_w[D * C * P * P], pos[N * D], cls[D], ones[M], zeros[M];
  static float qk[2 * D * D], v[D * D], pos_w[H * 3], gate[H], qkv[3 * D * D], proj[D * D];
  static float fc1[M * D], fc2[D * M], head_w[K * D], head_b[K];
  static float images[B * C * S * S], logits[B * K], features[B * T * D],
      folded[2 * H * 2 * 16 + H];
  static float scratch[1 << 15];
  unsigned seed = 12345u;
  const auto fill = [&seed](float* a, std::size_t n, float scale) {
    for (std::size_t i = 0; i < n; ++i) {
      seed = seed * 1664525u + 1013904223u;
      a[i] = scale * (static_cast<float>(seed >> 8) / 16777216.0f - 0.5f);
    }
  };
  fill(patch_w, std::size(patch_w), 0.3f);
  fill(pos, std::size(pos), 1.0f);
  fill(cls, D, 1.0f);
  fill(qk, std::size(qk), 1.0f);
  fill(v, std::size(v), 1.0f);
  fill(qkv, std::size(qkv), 1.0f);
  fill(proj, std::size(proj), 1.0f);
  fill(fc1, std::size(fc1), 1.0f);
  fill(fc2, std::size(fc2), 0.5f);
  fill(head_w, std::size(head_w), 1.0f);
  fill(head_b, K, 1.0f);
  fill(images, std::size(images), 4.0f);
  check(gpsa::local_init(H, 1.0f, pos_w) == gpsa::status::ok, "model: local_init");
  gate[0] = 1.0f;
  gate[1] = -1.0f;
  for (std::size_t i = 0; i < M; ++i) ones[i] = 1.0f, zeros[i] = 0.0f;

  gpsa::convit_block_weights blocks[2]{};
  for (auto& b : blocks) {
    b.norm1_weight = b.norm2_weight = ones;
    b.norm1_bias = b.norm2_bias = zeros;
    b.proj_weight = proj;
    b.fc1_weight = fc1;
    b.fc2_weight = fc2;
  }
  blocks[0].qk_weight = qk;
  blocks[0].v_weight = v;
  blocks[0].pos_proj_weight = pos_w;
  blocks[0].gating_param = gate;
  blocks[1].qkv_weight = qkv;
  gpsa::convit_weights w;
  w.config = {S, P, C, D, H, 2, 1, M, K, 1e-6f};
  w.patch_weight = patch_w;
  w.pos_embed = pos;
  w.cls_token = cls;
  w.blocks = blocks;
  w.norm_weight = ones;
  w.norm_bias = zeros;
  w.head_weight = head_w;
  w.head_bias = head_b;
  check(gpsa::validate(w) == gpsa::status::ok, "model: validate");
  std::size_t nf = 0, ns = 0;
  check(gpsa::convit_folded_size(w.config, nf) == gpsa::status::ok && nf <= std::size(folded),
        "model: folded size");
  check(
      gpsa::convit_scratch_size(w.config, B, 1, ns) == gpsa::status::ok && ns <= std::size(scratch),
      "model: scratch size");
  check(gpsa::convit_fold(w.config, blocks, std::span<float>(folded, nf)) == gpsa::status::ok,
        "model: fold");
  check(gpsa::convit_forward(w, B, images, logits, features, std::span<float>(scratch, ns)) ==
            gpsa::status::ok,
        "model: forward");
  bool normed = true, head = true;
  for (std::size_t r = 0; r < B * T; ++r) {
    double m = 0, q = 0;
    for (std::size_t j = 0; j < D; ++j) m += features[r * D + j];
    for (std::size_t j = 0; j < D; ++j) q += double(features[r * D + j]) * features[r * D + j];
    normed = normed && near(float(m / D), 0.0f, 1e-5f) && near(float(q / D), 1.0f, 1e-4f);
  }
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t k = 0; k < K; ++k) {
      double z = head_b[k];
      for (std::size_t j = 0; j < D; ++j) z += double(head_w[k * D + j]) * features[b * T * D + j];
      head = head && near(logits[b * K + k], float(z), 1e-5f);
    }
  check(normed, "model: final-norm rows have mean 0, variance 1");
  check(head, "model: logits = head(token 0)");
  check(gpsa::convit_forward(w, B, images, logits, {}, std::span<float>(scratch, ns - 1)) ==
            gpsa::status::buffer_too_small,
        "model: short scratch is a status");
}

// The replacements must really be in force: a child that allocates has to die by SIGABRT.
template <class F>
bool child_aborts(F f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);  // the expected abort message is noise here
    if (null >= 0) ::dup2(null, 2);
    f();
    ::_exit(0);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

void* volatile sink;

}  // namespace

int main() {
  armed = true;
  tables();
  layer();
  model();
  check(child_aborts([] { sink = ::operator new(16); }), "operator new aborts");
  check(child_aborts([] { sink = std::malloc(16); }), "malloc aborts");
  armed = false;  // printf may allocate its buffer through libc (not wrapped, but be plain)
  std::printf("freestanding: gpsa %s, gemm %s, simd %s: %s\n", gpsa::version(),
              gpsa::gemm_backend(), gpsa::simd_backend(), failures ? "FAILED" : "ok, no heap use");
  return failures ? 1 : 0;
}
