// SPDX-License-Identifier: MIT
// A timm ConViT checkpoint read through the schema (gpsa/runtime/checkpoint_schema.hpp): the
// configuration inferred from keys and shapes, every tensor checked (private to gpsa::runtime;
// used by gpsa::convit).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gpsa/core/convit.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa::detail {

// One tensor the model uses: its key and its schema entry (the view field it fills), in the
// model (block == no_block) or in block `block`.
struct convit_slot {
  static constexpr std::size_t no_block = static_cast<std::size_t>(-1);
  std::string key;
  std::size_t block = no_block;
  const tensor_spec* spec = nullptr;
};

struct convit_checkpoint {
  convit_config config{};
  bool qkv_bias = false;
  convit_setting pool_source = convit_setting::default_value;
  convit_setting image_size_source = convit_setting::default_value;
  std::vector<convit_slot> slots;  // every tensor of the model, shapes checked
};

// Infers the configuration of a timm-keyed ConViT checkpoint and checks every tensor's shape.
// Throws gpsa::checkpoint_error with one line naming the file and the key: a missing key, a wrong
// shape (with the expected one and where each symbol came from), inconsistent heads / widths /
// qkv bias across blocks, a GPSA block after an MHSA block, a non-square patch count, a key that
// is not part of a ConViT, metadata (global_pool, img_size) or options that contradict each other
// or the tensors. io_error for a tensor of a dtype gpsa cannot read.
convit_checkpoint inspect_convit_checkpoint(const io::safetensors_file& file,
                                            const convit_options& options = {});

}  // namespace gpsa::detail
