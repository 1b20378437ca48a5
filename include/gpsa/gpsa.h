/* SPDX-License-Identifier: MIT */
/* gpsa C API (C99): relative-index tables, folded positional attention, gated blend.
 *
 * For firmware projects written in C: every function works on caller-owned buffers, never
 * allocates, never throws, and reports errors with a gpsa_status. Link gpsa::core (C++ inside,
 * but no C++ runtime features: no exceptions, no RTTI, no heap).
 *
 * Layouts (all row-major, float32):
 *   relative-index table   (N, N, 3): dx, dy, dx^2+dy^2 for query p, key q, N = rows*cols
 *   pos_weight             (H, 3)      ConViT's pos_proj.weight
 *   pos_bias, gating       (H)         pos_proj.bias (may be NULL: it cancels), gating_param
 *   fx                     (H, C, C)   softmax over column offsets  W0*dx + W2*dx^2
 *   gy                     (H, R, R)   softmax over row offsets     W1*dy + W2*dy^2
 *   lambda                 (H)         sigmoid(gating_param)
 * position[h][p][q] = gy[h][yp][yq] * fx[h][xp][xq], p = yp*C + xp.  The headers written by
 * `gpsa fold --format c` hold exactly these fx, gy and lambda arrays.
 */
#ifndef GPSA_GPSA_H
#define GPSA_GPSA_H

#include <stddef.h>

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

/* Fills out[0 .. rows*cols*rows*cols*3) with the float32 relative-index table of the grid.
 * out_len is the buffer's length in floats. */
gpsa_status gpsa_rel_indices_f32(size_t rows, size_t cols, float* out, size_t out_len);

/* Lengths (in floats) of the folded factors of `heads` heads on a rows x cols grid:
 * fx = H*C*C, gy = H*R*R, lambda = H. Any output pointer may be NULL. */
gpsa_status gpsa_fold_size(size_t heads, size_t rows, size_t cols, size_t* fx_len, size_t* gy_len,
                           size_t* lambda_len);

/* Folds one GPSA layer's positional branch (see the layout above). Bit-identical to the C++
 * gpsa::fold_positional and to the tables `gpsa fold --format c` writes. */
gpsa_status gpsa_fold(size_t heads, size_t rows, size_t cols, const float* pos_weight,
                      const float* pos_bias, const float* gating, float* fx, size_t fx_len,
                      float* gy, size_t gy_len, float* lambda, size_t lambda_len);

/* Folded factors of one layer, as produced by gpsa_fold or a generated header: the C spelling of
 * C++'s gpsa::folded_view (same members in the same order; lambda is the fold's sigmoid). */
typedef struct gpsa_folded {
  size_t heads;
  size_t rows;
  size_t cols;
  const float* fx;     /* (heads, cols, cols) */
  const float* gy;     /* (heads, rows, rows) */
  const float* lambda; /* (heads) */
} gpsa_folded;

/* Scratch floats gpsa_positional_apply needs: rows*cols*head_dim; 0 when that overflows size_t
 * (no valid call needs 0 floats; gpsa_positional_apply then returns GPSA_SIZE_OVERFLOW). */
size_t gpsa_positional_apply_scratch(size_t rows, size_t cols, size_t head_dim);

/* out_h = position[h] * v_h for every head h, in O(N*(R+C)*head_dim) per head, without the
 * N x N matrix. v is (N, heads*head_dim) with row stride ldv (floats), head h in columns
 * [h*head_dim, (h+1)*head_dim); out likewise with stride ldo; out must not overlap v. */
gpsa_status gpsa_positional_apply(const gpsa_folded* f, size_t head_dim, const float* v, size_t ldv,
                                  float* out, size_t ldo, float* scratch, size_t scratch_len);

/* The dense positional attention of head h, (N, N), into out (out_len floats). */
gpsa_status gpsa_positional_expand(const gpsa_folded* f, size_t h, float* out, size_t out_len);

/* Gated blend of head h for query rows [p0, p0 + rows): PyTorch's GPSA.get_attention,
 *   a = (1 - lambda_h) * content + lambda_h * position[h], each row then divided by its sum.
 * content and out are rows x N with row strides ldc / ldo (floats); out may equal content. */
gpsa_status gpsa_gated_blend(const gpsa_folded* f, size_t h, size_t p0, size_t rows,
                             const float* content, size_t ldc, float* out, size_t ldo);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GPSA_GPSA_H */
