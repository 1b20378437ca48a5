/* SPDX-License-Identifier: MIT */
/* gpsa C API (C99): the whole ConViT forward, the whole GPSA layer forward, relative-index
 * tables, folded positional attention, gated blend.
 *
 * For firmware projects written in C: every function works on caller-owned buffers, never
 * allocates, never throws, and reports errors with a gpsa_status. Link gpsa::core (C++ inside,
 * but no C++ runtime features: no exceptions, no RTTI, no heap).
 *
 * The C spelling of gpsa::core's C++ API: C gpsa_NAME is C++ gpsa::NAME (a template's float
 * instance adds _f32), structs have the same members in the same order (a C++ grid is rows, cols),
 * and arguments come in the same order, a C span as pointer + length in floats. The layer's
 * lifecycle: gpsa_layer_folded_size / gpsa_layer_fold (once per grid), gpsa_layer_packed_size /
 * gpsa_layer_pack (optional, once per set of weights), gpsa_layer_scratch_size, then
 * gpsa_layer_forward / gpsa_layer_attention.
 *
 * Layouts (all row-major, float32):
 *   relative-index table   (N, N, 3): dx, dy, dx^2+dy^2 for query p, key q, N = rows*cols
 *   pos_weight             (H, 3)      ConViT's pos_proj.weight
 *   pos_bias, gating       (H)         pos_proj.bias (may be NULL: it cancels), gating_param
 *   fx                     (H, C, C)   softmax over column offsets  W0*dx + W2*dx^2
 *   gy                     (H, R, R)   softmax over row offsets     W1*dy + W2*dy^2
 *   lambda                 (H)         sigmoid(gating_param)
 * position[h][p][q] = gy[h][yp][yq] * fx[h][xp][xq], p = yp*C + xp.  The headers written by
 * `gpsa fold --format c` hold exactly these fx, gy and lambda arrays (and, with --with-weights,
 * the layer's weights below).
 * The layer (timm's GPSA, nn.Linear weights are (out, in)), D = dim, H = heads, d = D / H:
 *   x, y                   (B, N, D)   B = batch, N = rows*cols patches
 *   qk_weight, qk_bias     (2D, D), (2D)   rows [0, D) give q, rows [D, 2D) give k
 *   v_weight, v_bias       (D, D), (D)
 *   proj_weight, proj_bias (D, D), (D)
 *   attn                   (B, H, N, N)
 */
#ifndef GPSA_GPSA_H
#define GPSA_GPSA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Same values as gpsa::status in C++. */
typedef enum gpsa_status {
  GPSA_OK = 0,
  GPSA_EMPTY_GRID = 1,         /* zero rows or zero columns */
  GPSA_NOT_SQUARE = 2,         /* a patch count that is not a perfect square */
  GPSA_BUFFER_TOO_SMALL = 3,   /* an output or scratch buffer is shorter than required */
  GPSA_SIZE_OVERFLOW = 4,      /* an element count overflows size_t */
  GPSA_VALUE_OUT_OF_RANGE = 5, /* table values do not fit the element type */
  GPSA_SHAPE_MISMATCH = 6,     /* e.g. a row block outside the grid */
  GPSA_INVALID_ARGUMENT = 7    /* NULL pointer, zero heads, NaN/Inf weight, bad stride */
} gpsa_status;

/* A short static description of s (never NULL). */
const char* gpsa_status_message(gpsa_status s);

/* The library version, "MAJOR.MINOR.PATCH". */
const char* gpsa_version(void);

/* Fills out[0 .. rows*cols*rows*cols*3) with the float32 relative-index table of the grid
 * (C++ gpsa::fill_rel_indices<float>). out_len is the buffer's length in floats. */
gpsa_status gpsa_fill_rel_indices_f32(size_t rows, size_t cols, float* out, size_t out_len);

/* Lengths (in floats) of the folded factors of `heads` heads on a rows x cols grid:
 * fx = H*C*C, gy = H*R*R, lambda = H (C++ gpsa::layer_folded_size and its fold_counts). Any
 * output pointer may be NULL. */
gpsa_status gpsa_layer_folded_size(size_t rows, size_t cols, size_t heads, size_t* fx_len,
                                   size_t* gy_len, size_t* lambda_len);

/* Folds one GPSA layer's positional branch (see the layout above). Bit-identical to the C++
 * gpsa::layer_fold and to the tables `gpsa fold --format c` writes. pos_bias may be NULL. */
gpsa_status gpsa_layer_fold(size_t rows, size_t cols, size_t heads, const float* pos_weight,
                            const float* pos_bias, const float* gating, float* fx, size_t fx_len,
                            float* gy, size_t gy_len, float* lambda, size_t lambda_len);

/* Folded factors of one layer, as produced by gpsa_layer_fold or a generated header: the C
 * spelling of C++'s gpsa::folded_view (same members in the same order; lambda is the fold's
 * sigmoid). */
typedef struct gpsa_folded_view {
  size_t heads;
  size_t rows;
  size_t cols;
  const float* fx;     /* (heads, cols, cols) */
  const float* gy;     /* (heads, rows, rows) */
  const float* lambda; /* (heads) */
} gpsa_folded_view;

/* Scratch floats gpsa_positional_apply needs: rows*cols*head_dim. GPSA_EMPTY_GRID,
 * GPSA_INVALID_ARGUMENT (head_dim 0 or a NULL floats), GPSA_SIZE_OVERFLOW. */
gpsa_status gpsa_positional_apply_scratch_size(size_t rows, size_t cols, size_t head_dim,
                                               size_t* floats);

/* out_h = position[h] * v_h for every head h, in O(N*(R+C)*head_dim) per head, without the
 * N x N matrix. v is (N, heads*head_dim) with row stride ldv (floats), head h in columns
 * [h*head_dim, (h+1)*head_dim); out likewise with stride ldo; out must not overlap v. */
gpsa_status gpsa_positional_apply(const gpsa_folded_view* f, size_t head_dim, const float* v,
                                  size_t ldv, float* out, size_t ldo, float* scratch,
                                  size_t scratch_len);

/* The dense positional attention of head h, (N, N), into out (out_len floats). */
gpsa_status gpsa_positional_expand(const gpsa_folded_view* f, size_t h, float* out, size_t out_len);

/* Gated blend of head h for query rows [p0, p0 + rows): PyTorch's GPSA.get_attention,
 *   a = (1 - lambda_h) * content + lambda_h * position[h], each row then divided by its sum.
 * content and out are rows x N with row strides ldc / ldo (floats); out may equal content. */
gpsa_status gpsa_gated_blend_rows(const gpsa_folded_view* f, size_t h, size_t p0, size_t rows,
                                  const float* content, size_t ldc, float* out, size_t ldo);

/* ---- The whole layer ---------------------------------------------------------------------- */

/* One GPSA layer's linear weights (borrowed, row-major float32, layouts above) and its shape:
 * C++'s gpsa::layer_weights. qk_bias and v_bias are NULL for a layer without qkv bias; proj_bias
 * NULL means zero. pos_proj and gating_param are not here: the layer reads them folded
 * (gpsa_folded_view, from gpsa_layer_fold or a `gpsa fold` header). A `gpsa fold --with-weights`
 * header included after this one defines <name>_weights[] of this type. */
typedef struct gpsa_layer_weights {
  size_t heads;             /* H > 0 */
  size_t dim;               /* D > 0, divisible by H */
  const float* qk_weight;   /* (2D, D), required */
  const float* qk_bias;     /* (2D) or NULL */
  const float* v_weight;    /* (D, D), required */
  const float* v_bias;      /* (D) or NULL */
  const float* proj_weight; /* (D, D), required */
  const float* proj_bias;   /* (D) or NULL */
  const float* packed;      /* NULL, or gpsa_layer_pack's output for these weights */
} gpsa_layer_weights;

/* The shape of one call, what gpsa_layer_scratch_size needs before any buffer exists: `batch`
 * items of rows*cols tokens of width `dim`, `heads` heads (C++ gpsa::layer_dims). */
typedef struct gpsa_layer_dims {
  size_t heads; /* H > 0 */
  size_t dim;   /* D > 0, divisible by H */
  size_t rows;  /* patch grid R x C, both > 0 */
  size_t cols;
  size_t batch; /* B */
} gpsa_layer_dims;

/* Floats of gpsa_layer_pack's output for a layer of width `dim` (about 4 D^2): qk, v and proj
 * packed once in the layout the GEMM reads, so a forward does not repack them. The layout is the
 * build's (its SIMD panel width). GPSA_INVALID_ARGUMENT (dim 0, NULL floats),
 * GPSA_SIZE_OVERFLOW. */
gpsa_status gpsa_layer_packed_size(size_t dim, size_t* floats);

/* Packs w's qk, v and proj weights into packed (packed_len floats, at least
 * gpsa_layer_packed_size; 64-byte aligned for best speed); set w.packed = packed afterwards.
 * Outputs of the forward are the same bits with or without it. */
gpsa_status gpsa_layer_pack(const gpsa_layer_weights* w, float* packed, size_t packed_len);

/* Scratch floats of gpsa_layer_forward / gpsa_layer_attention for these dims with `workers`
 * workers (1: the C API runs on the calling thread): the q, k, v rows (B*N*3D), one head's k and
 * v packed for the GEMM (about 2*N*d, padded to the build's panel width), a block of score rows
 * or the positional product (the larger of min(64, N)*(N+1) and 2*N*d) and 64-byte alignment
 * slack; the exact count depends on the build's SIMD panel width. Nothing is written unless the
 * result is GPSA_OK: GPSA_INVALID_ARGUMENT (NULL dims or floats, H or D zero, D % H != 0,
 * workers 0), GPSA_EMPTY_GRID, or GPSA_SIZE_OVERFLOW (never a wrapped size). */
gpsa_status gpsa_layer_scratch_size(const gpsa_layer_dims* dims, size_t workers, size_t* floats);

/* An upper bound of gpsa_layer_scratch_size (one worker) as a constant expression, for sizing a
 * static buffer at compile time (firmware: `static float scratch[GPSA_LAYER_SCRATCH_LEN(4, 192,
 * 14, 14, 1)];`), valid for every build: B*N*3D + d*P(N) + N*P(d) + max(min(64, N)*(N + 1),
 * 2*N*d) + 76, d = D/H, P(n) = n rounded up to a multiple of 48 (every build's GEMM panel width
 * divides 48). It exceeds the exact count by at most 47*(N + d) + 64*(N + 1) + 76 floats.
 * Arguments in gpsa_layer_dims' order; valid shapes only, and no overflow check: use
 * gpsa_layer_scratch_size for shapes known at run time. tests/c_api checks the bound and its
 * margin against the query. */
#define GPSA_DETAIL_PANEL48(n) (((size_t)(n) + 47u) / 48u * 48u)
#define GPSA_DETAIL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GPSA_LAYER_SCRATCH_LEN(heads, dim, rows, cols, batch)                                 \
  ((size_t)(batch) * (size_t)(rows) * (size_t)(cols)*3u * (size_t)(dim) +                     \
   ((size_t)(dim) / (size_t)(heads)) * GPSA_DETAIL_PANEL48((size_t)(rows) * (size_t)(cols)) + \
   (size_t)(rows) * (size_t)(cols)*GPSA_DETAIL_PANEL48((size_t)(dim) / (size_t)(heads)) +     \
   GPSA_DETAIL_MAX(                                                                           \
       ((size_t)(rows) * (size_t)(cols) < 64u ? (size_t)(rows) * (size_t)(cols) : 64u) *      \
           ((size_t)(rows) * (size_t)(cols) + 1u),                                            \
       2u * (size_t)(rows) * (size_t)(cols) * ((size_t)(dim) / (size_t)(heads))) +            \
   76u)

/* y = GPSA.forward(x) (timm): q, k, v projections, gated attention
 *   attn[h] = (1 - lambda[h]) * softmax(q_h k_h^T / sqrt(d)) + lambda[h] * position[h],
 * attn[h] @ v_h per head, heads concatenated, proj. `pos` is the layer's folded positional state;
 * its heads must equal w's (GPSA_SHAPE_MISMATCH); its grid gives N. x and y must hold exactly
 * B*N*D floats (GPSA_SHAPE_MISMATCH otherwise); y may be x itself (in place) but must not
 * partially overlap it. attn: NULL with attn_len 0 (no N x N matrix is stored: the positional
 * part runs in the separable form, O(N (R + C) d) per head), or exactly B*H*N*N floats that
 * receive the attention, PyTorch's order (blend, rows renormalised). scratch: at least
 * gpsa_layer_scratch_size floats (GPSA_BUFFER_TOO_SMALL), caller-owned, contents not kept. Runs
 * on the calling thread; no allocation. Errors also: GPSA_INVALID_ARGUMENT for NULL w or pos, a
 * NULL x, y, attn or scratch with a nonzero length, a NULL required weight, H or D zero or
 * D % H != 0; GPSA_EMPTY_GRID; GPSA_SIZE_OVERFLOW. batch 0 is a no-op. */
gpsa_status gpsa_layer_forward(const gpsa_layer_weights* w, const gpsa_folded_view* pos,
                               size_t batch, const float* x, size_t x_len, float* y, size_t y_len,
                               float* attn, size_t attn_len, float* scratch, size_t scratch_len);

/* attn (B, H, N, N) of x (B, N, D) only, exactly PyTorch's GPSA.get_attention: attn must hold
 * exactly B*H*N*N floats. Other rules as gpsa_layer_forward. */
gpsa_status gpsa_layer_attention(const gpsa_layer_weights* w, const gpsa_folded_view* pos,
                                 size_t batch, const float* x, size_t x_len, float* attn,
                                 size_t attn_len, float* scratch, size_t scratch_len);

/* ---- The whole model: timm's ConViT ----------------------------------------------------- */

/* The shape of a ConViT (C++ gpsa::convit_config, same members in the same order). timm's
 * convit_tiny is {224, 16, 3, 192, 4, 12, 10, 768, 1000, 1e-6f}. T = N + 1 tokens (the class
 * token) when local_up_to_layer < depth, else T = N; N = (image_size / patch_size)^2. */
typedef struct gpsa_convit_config {
  size_t image_size;        /* S: square images, S % patch_size == 0 */
  size_t patch_size;        /* p */
  size_t channels;          /* C (in_chans) */
  size_t dim;               /* D, divisible by heads */
  size_t heads;             /* H */
  size_t depth;             /* blocks, >= 1 */
  size_t local_up_to_layer; /* blocks [0, L) are GPSA, [L, depth) MHSA */
  size_t mlp_hidden;        /* M: fc1 rows */
  size_t classes;           /* head rows */
  float eps;                /* LayerNorm epsilon */
} gpsa_convit_config;

/* One block's parameters (C++ gpsa::convit_block_weights), timm's layouts: nn.Linear (out, in).
 * A GPSA block (i < local_up_to_layer) uses qk/v/pos_proj/gating, an MHSA block qkv; biases may
 * be NULL (zero). pos_proj and gating_param are read only by gpsa_convit_fold. */
typedef struct gpsa_convit_block_weights {
  const float* norm1_weight;    /* (D) */
  const float* norm1_bias;      /* (D) */
  const float* qk_weight;       /* (2D, D)  GPSA */
  const float* qk_bias;         /* (2D)     GPSA, qkv_bias models */
  const float* v_weight;        /* (D, D)   GPSA */
  const float* v_bias;          /* (D)      GPSA, qkv_bias models */
  const float* pos_proj_weight; /* (H, 3)   GPSA */
  const float* pos_proj_bias;   /* (H)      GPSA (cancels in the softmax) */
  const float* gating_param;    /* (H)      GPSA */
  const float* qkv_weight;      /* (3D, D)  MHSA: rows q | k | v */
  const float* qkv_bias;        /* (3D)     MHSA, qkv_bias models */
  const float* proj_weight;     /* (D, D) */
  const float* proj_bias;       /* (D) */
  const float* norm2_weight;    /* (D) */
  const float* norm2_bias;      /* (D) */
  const float* fc1_weight;      /* (M, D) */
  const float* fc1_bias;        /* (M) */
  const float* fc2_weight;      /* (D, M) */
  const float* fc2_bias;        /* (D) */
} gpsa_convit_block_weights;

/* The model descriptor (C++ gpsa::convit_weights): its shape and views of every parameter,
 * borrowed (e.g. the const arrays of a `gpsa export` header, in flash). blocks/block_count is
 * C++'s std::span of blocks (at most GPSA_CONVIT_MAX_BLOCKS: the C entry points convert the
 * views on the stack; timm's ConViTs have 12). packed: NULL, or what the C++
 * gpsa::convit_pack_weights wrote. */
#define GPSA_CONVIT_MAX_BLOCKS 32
typedef struct gpsa_convit_weights {
  gpsa_convit_config config;
  const float* patch_weight; /* (D, C, p, p) */
  const float* patch_bias;   /* (D) */
  const float* pos_embed;    /* (1, N, D) */
  const float* cls_token;    /* (1, 1, D); unused (may be NULL) when local_up_to_layer == depth */
  const gpsa_convit_block_weights* blocks; /* depth blocks */
  size_t block_count;
  const float* norm_weight; /* (D) */
  const float* norm_bias;   /* (D) */
  const float* head_weight; /* (classes, D) */
  const float* head_bias;   /* (classes) */
  const float* packed;      /* NULL: not pre-packed */
} gpsa_convit_weights;

/* How the forward spends its scratch (C++ gpsa::convit_plan). FAST: all tokens and heads of
 * the batch at once (the most RAM, the host's choice). LOW_MEMORY: one image and one head at a
 * time, buffers reused by every block, the same scratch for any batch (the firmware's choice;
 * logits equal FAST's to float rounding). */
typedef enum gpsa_convit_plan {
  GPSA_CONVIT_FAST = 0,
  GPSA_CONVIT_LOW_MEMORY = 1,
  GPSA_CONVIT_PLAN_INT_RANGE = 0x7fffffff /* not a plan: any int is a valid argument */
} gpsa_convit_plan;

/* Floats of the folded positional state: local_up_to_layer * (H*(R^2 + C^2) + H), R = C = S/p.
 * GPSA_INVALID_ARGUMENT for a NULL argument or an invalid configuration (a zero count,
 * S % p != 0, D % H != 0, local_up_to_layer > depth, eps not finite and >= 0). */
gpsa_status gpsa_convit_folded_size(const gpsa_convit_config* config, size_t* folded_len);

/* Folds every GPSA block's positional branch into `folded` (per GPSA block: fx (H, C, C),
 * gy (H, R, R), lambda (H)); the same bits as `gpsa export` writes. GPSA_BUFFER_TOO_SMALL when
 * folded_len is short; GPSA_INVALID_ARGUMENT for NULL arguments, a missing required weight or a
 * NaN/Inf pos_proj or gating value; GPSA_SHAPE_MISMATCH when block_count != depth. */
gpsa_status gpsa_convit_fold(const gpsa_convit_weights* weights, float* folded, size_t folded_len);

/* Scratch floats of gpsa_convit_forward for `batch` images with this plan (the calling thread
 * only). LOW_MEMORY's count does not depend on the batch and equals GPSA_CONVIT_SCRATCH_LEN. */
gpsa_status gpsa_convit_scratch_size(const gpsa_convit_config* config, gpsa_convit_plan plan,
                                     size_t batch, size_t* scratch_len);

/* LOW_MEMORY's scratch as a constant expression, for a static buffer (arguments: the config's
 * members in order, up to mlp_hidden; valid configurations only, no overflow check). With
 * T tokens, N patches, d = D/H, r = min(T, 16), K = C p p and A(n) = n rounded up to 16:
 *   2 A(T D) + max(A(2 T d) + A(r D) + max(A(N d), 2 A(r d) + A(r (T + 1))),
 *                  A(r D) + A(r M), A(r K)) + 16.                                         */
#define GPSA_DETAIL_A16(n) (((size_t)(n) + 15u) / 16u * 16u)
#define GPSA_DETAIL_CONVIT_N(S, p) (((size_t)(S) / (size_t)(p)) * ((size_t)(S) / (size_t)(p)))
#define GPSA_DETAIL_CONVIT_T(S, p, depth, L) \
  (GPSA_DETAIL_CONVIT_N(S, p) + ((size_t)(L) < (size_t)(depth) ? 1u : 0u))
#define GPSA_DETAIL_CONVIT_R(T) ((T) < 16u ? (T) : 16u)
#define GPSA_DETAIL_CONVIT_LEN(N, T, r, D, d, M, K)                                               \
  (2u * GPSA_DETAIL_A16((T) * (D)) +                                                              \
   GPSA_DETAIL_MAX(GPSA_DETAIL_MAX(GPSA_DETAIL_A16(2u * (T) * (d)) + GPSA_DETAIL_A16((r) * (D)) + \
                                       GPSA_DETAIL_MAX(GPSA_DETAIL_A16((N) * (d)),                \
                                                       2u * GPSA_DETAIL_A16((r) * (d)) +          \
                                                           GPSA_DETAIL_A16((r) * ((T) + 1u))),    \
                                   GPSA_DETAIL_A16((r) * (D)) + GPSA_DETAIL_A16((r) * (M))),      \
                   GPSA_DETAIL_A16((r) * (K))) +                                                  \
   16u)
#define GPSA_CONVIT_SCRATCH_LEN(image_size, patch_size, channels, dim, heads, depth,              \
                                local_up_to_layer, mlp_hidden)                                    \
  GPSA_DETAIL_CONVIT_LEN(GPSA_DETAIL_CONVIT_N(image_size, patch_size),                            \
                         GPSA_DETAIL_CONVIT_T(image_size, patch_size, depth, local_up_to_layer),  \
                         GPSA_DETAIL_CONVIT_R(GPSA_DETAIL_CONVIT_T(image_size, patch_size, depth, \
                                                                   local_up_to_layer)),           \
                         (size_t)(dim), (size_t)(dim) / (size_t)(heads), (size_t)(mlp_hidden),    \
                         (size_t)(channels) * (size_t)(patch_size) * (size_t)(patch_size))

/* logits (B, classes) and, when features is not NULL, features (B, T, D) after the final norm,
 * of `batch` images (B, C, S, S) preprocessed as the model expects: timm's ConViT.forward.
 * folded: gpsa_convit_fold's output (or a `gpsa export` header's) for these weights. images_len,
 * logits_len and features_len must be exactly B*C*S*S, B*classes and B*T*D (features: NULL
 * with 0, or that length): GPSA_SHAPE_MISMATCH otherwise. scratch: gpsa_convit_scratch_size
 * floats for this plan and batch (GPSA_BUFFER_TOO_SMALL), contents not kept. Runs on the
 * calling thread, allocates nothing. Errors also: GPSA_INVALID_ARGUMENT (a NULL weights,
 * images or logits, a NULL buffer with a nonzero length, an invalid configuration, a missing
 * required weight, an unknown plan), GPSA_SHAPE_MISMATCH (block_count != depth),
 * GPSA_BUFFER_TOO_SMALL (folded_len short), GPSA_SIZE_OVERFLOW (also: more than
 * GPSA_CONVIT_MAX_BLOCKS blocks). batch 0 is a no-op. */
gpsa_status gpsa_convit_forward(const gpsa_convit_weights* weights, const float* folded,
                                size_t folded_len, gpsa_convit_plan plan, size_t batch,
                                const float* images, size_t images_len, float* logits,
                                size_t logits_len, float* features, size_t features_len,
                                float* scratch, size_t scratch_len);

/* ---- The whole model in int8 (docs/int8.md; the scheme: docs/DESIGN.md section 9) ---------- */

/* One quantised nn.Linear: weight codes (out, in) in [-127, 127], one scale per output row (the
 * value of code 1: the row's largest magnitude / 127) and the float bias (NULL = zero). The C++
 * gpsa::convit_int8_linear is this type. */
typedef struct gpsa_int8_linear {
  const int8_t* weight; /* (out, in) */
  const float* scale;   /* (out) */
  const float* bias;    /* (out) or NULL */
} gpsa_int8_linear;

/* One block, quantised (C++ gpsa::convit_int8_block is this type): GPSA blocks
 * (i < local_up_to_layer) use qk and v, MHSA blocks qkv; the others may be all NULL. */
typedef struct gpsa_convit_int8_block {
  const float* norm1_weight; /* (D) */
  const float* norm1_bias;   /* (D) */
  gpsa_int8_linear qk;       /* (2D, D)  GPSA */
  gpsa_int8_linear v;        /* (D, D)   GPSA */
  gpsa_int8_linear qkv;      /* (3D, D)  MHSA, rows q | k | v */
  gpsa_int8_linear proj;     /* (D, D) */
  const float* norm2_weight; /* (D) */
  const float* norm2_bias;   /* (D) */
  gpsa_int8_linear fc1;      /* (M, D) */
  gpsa_int8_linear fc2;      /* (D, M) */
} gpsa_convit_int8_block;

/* The quantised model (C++ gpsa::convit_int8_weights, same members in the same order; pointer
 * and length pairs are C++'s spans), e.g. the const arrays of a `gpsa export --int8` header.
 * activation_amax: the calibrated largest magnitude of each quantisation point, 4 depth + 2
 * values in forward order (image patches; per block norm1 output, attention output, norm2
 * output, GELU output; the final norm's class-token row). folded: gpsa_convit_fold's state. */
typedef struct gpsa_convit_int8_weights {
  gpsa_convit_config config;
  gpsa_int8_linear patch; /* (D, C p p): the conv kernels flattened (c, ky, kx) */
  const float* pos_embed; /* (1, N, D) */
  const float* cls_token; /* (1, 1, D); unused (may be NULL) when local_up_to_layer == depth */
  const gpsa_convit_int8_block* blocks; /* depth blocks */
  size_t block_count;
  const float* norm_weight; /* (D) */
  const float* norm_bias;   /* (D) */
  gpsa_int8_linear head;    /* (classes, D) */
  const float* activation_amax;
  size_t activation_count; /* 4 depth + 2 */
  const float* folded;
  size_t folded_len; /* gpsa_convit_folded_size */
} gpsa_convit_int8_weights;

/* Which int8 inner-product code this build runs: "dsp" (Arm SXTB16 + SMLAD) or "portable" (C++
 * gpsa::int8_backend); both give the same bits. */
const char* gpsa_int8_backend(void);

/* Scratch floats of gpsa_convit_int8_forward (any batch: one image at a time). */
gpsa_status gpsa_convit_int8_scratch_size(const gpsa_convit_config* config, size_t* scratch_len);

/* The same count as a constant expression, for a static buffer (arguments: the config's members
 * in order, up to classes; valid configurations only, no overflow check). With T tokens, N
 * patches, d = D/H, K = C p p, r = min(T, 8), A(n) = n rounded up to 4 and B(n) = A(ceil(n/4))
 * (n int8 codes in floats):
 *   A(T D) + 2 B(T D) + A(r d) + 2 A(T d) + A(max(T, D)) + A(d) + A(max(4 D, M + D, classes))
 *   + A(r M) + B(max(r M, r K)).                                                          */
#define GPSA_DETAIL_A4(n) (((size_t)(n) + 3u) / 4u * 4u)
#define GPSA_DETAIL_B4(n) GPSA_DETAIL_A4(((size_t)(n) + 3u) / 4u)
#define GPSA_DETAIL_INT8_R(T) ((T) < 8u ? (T) : 8u)
#define GPSA_DETAIL_CONVIT_INT8_LEN(T, D, d, M, K, classes, r)                                \
  (GPSA_DETAIL_A4((T) * (D)) + 2u * GPSA_DETAIL_B4((T) * (D)) + GPSA_DETAIL_A4((r) * (d)) +   \
   2u * GPSA_DETAIL_A4((T) * (d)) + GPSA_DETAIL_A4(GPSA_DETAIL_MAX((T), (D))) +               \
   GPSA_DETAIL_A4(d) +                                                                        \
   GPSA_DETAIL_A4(GPSA_DETAIL_MAX(GPSA_DETAIL_MAX(4u * (D), (M) + (D)), (size_t)(classes))) + \
   GPSA_DETAIL_A4((r) * (M)) + GPSA_DETAIL_B4(GPSA_DETAIL_MAX((r) * (M), (r) * (K))))
#define GPSA_CONVIT_INT8_SCRATCH_LEN(image_size, patch_size, channels, dim, heads, depth,    \
                                     local_up_to_layer, mlp_hidden, classes)                 \
  GPSA_DETAIL_CONVIT_INT8_LEN(                                                               \
      GPSA_DETAIL_CONVIT_T(image_size, patch_size, depth, local_up_to_layer), (size_t)(dim), \
      (size_t)(dim) / (size_t)(heads), (size_t)(mlp_hidden),                                 \
      (size_t)(channels) * (size_t)(patch_size) * (size_t)(patch_size), classes,             \
      GPSA_DETAIL_INT8_R(GPSA_DETAIL_CONVIT_T(image_size, patch_size, depth, local_up_to_layer)))

/* logits (B, classes) of `batch` images (B, C, S, S), one image at a time, on the calling
 * thread; allocates nothing. Every float step is specified (DESIGN.md section 9): the same bits
 * on every target and for any floating-point mode the caller left set. images_len and
 * logits_len must be exactly B*C*S*S and B*classes (GPSA_SHAPE_MISMATCH). Errors also:
 * GPSA_INVALID_ARGUMENT (NULL weights, a NULL buffer with a nonzero length, an invalid
 * configuration, a missing required array, an amax that is negative, NaN or infinite),
 * GPSA_SHAPE_MISMATCH (block_count != depth, activation_count or folded_len wrong),
 * GPSA_BUFFER_TOO_SMALL (scratch), GPSA_SIZE_OVERFLOW. batch 0 is a no-op. */
gpsa_status gpsa_convit_int8_forward(const gpsa_convit_int8_weights* weights, size_t batch,
                                     const float* images, size_t images_len, float* logits,
                                     size_t logits_len, float* scratch, size_t scratch_len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GPSA_GPSA_H */
