// SPDX-License-Identifier: MIT
// gpsa::folded_state: the owning run-time form of a layer's folded positional branch (what
// gpsa::layer, `gpsa fold` and `gpsa demo` hold), and the fold of every GPSA layer of a
// checkpoint. Part of gpsa::runtime (allocates, throws).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gpsa/core/fold.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {

namespace io {
struct safetensors_file;
}

// Owns fx (H, C, C), gy (H, R, R) and lambda (H) and hands them to the kernels as the one
// folded_view. Same bits as a compile-time gpsa::folded_layer and as the C API's gpsa_fold.
class folded_state {
 public:
  folded_state() = default;  // empty: no grid, no heads
  // gpsa::layer_fold into owned storage (pos_weight (H,3), pos_bias (H) or empty,
  // gating (H)). Throws std::invalid_argument "fold of grid RxC with H heads: <status>" for an
  // empty grid, zero heads, sizes that overflow, spans of the wrong length, or (with
  // nonfinite_policy::reject) a NaN/Inf value.
  folded_state(gpsa::grid g, std::size_t heads, std::span<const float> pos_weight,
               std::span<const float> pos_bias, std::span<const float> gating,
               nonfinite_policy policy = nonfinite_policy::reject);

  bool empty() const noexcept { return heads_ == 0; }
  std::size_t heads() const noexcept { return heads_; }
  gpsa::grid shape() const noexcept { return shape_; }
  std::span<const float> fx() const noexcept { return fx_; }
  std::span<const float> gy() const noexcept { return gy_; }
  std::span<const float> lambda() const noexcept { return lambda_; }
  // The view the kernels take; valid while this object lives and is not reassigned.
  folded_view view() const noexcept;
  // The dense positional attention softmax(P), (H, N, N), expanded from the factors.
  std::vector<float> expand() const;

 private:
  std::size_t heads_ = 0;
  gpsa::grid shape_{};
  std::vector<float> fx_, gy_, lambda_;
};

// One GPSA layer of a checkpoint, folded: its key prefix and its factors.
struct checkpoint_fold {
  std::string prefix;
  folded_state state;
};

// Every GPSA layer of the checkpoint (gpsa_layer_prefixes, natural order) folded for grid g;
// all must have the same H. Throws checkpoint_error (gpsa/runtime/checkpoint.hpp) naming the file
// and key for a missing key, a wrong shape, a NaN/Inf value ("a non-finite weight cannot be
// folded"), differing head counts or no GPSA layer at all.
std::vector<checkpoint_fold> fold_checkpoint(const io::safetensors_file& f, gpsa::grid g);

// The patch grid to fold a checkpoint's layers for. A whole ConViT fixes it: pos_embed (1, N, D)
// gives the S x S grid of N = S^2 patches, and `given` must agree with it. A checkpoint without
// pos_embed (one GPSA layer, or a model without positional embedding) needs `given`. Throws
// checkpoint_error naming the file: a non-square N, a contradicting `given`, no grid at all.
gpsa::grid checkpoint_grid(const io::safetensors_file& f, std::optional<gpsa::grid> given);

}  // namespace gpsa
