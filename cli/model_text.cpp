// SPDX-License-Identifier: MIT
// One-line model descriptions for the commands' reports (model_text.hpp).
#include "model_text.hpp"

#include "gpsa/runtime/convit.hpp"

namespace gpsa::cli {

std::string describe(const convit& m) {
  const convit_config& c = m.config();
  const std::size_t G = c.grid_side();
  const char* from = m.pool_source() == convit_setting::metadata ? " (from the metadata)"
                     : m.pool_source() == convit_setting::option ? " (--global-pool)"
                                                                 : "";
  return "ConViT " + std::to_string(c.image_size) + "x" + std::to_string(c.image_size) + " (" +
         std::to_string(G) + "x" + std::to_string(G) + " patches of " +
         std::to_string(c.patch_size) + " px), D = " + std::to_string(c.dim) +
         ", H = " + std::to_string(c.heads) + ", depth " + std::to_string(c.depth) + " (" +
         std::to_string(c.local_up_to_layer) + " GPSA + " +
         std::to_string(c.depth - c.local_up_to_layer) + " MHSA)" +
         (m.qkv_bias() ? ", qkv bias" : "") + (c.use_pos_embed ? "" : ", no pos_embed") + ", " +
         std::to_string(c.classes) + " classes" +
         (c.pool == convit_pool::avg || m.pool_source() != convit_setting::default_value
              ? std::string(", global_pool ") + convit_pool_name(c.pool) + from
              : std::string());
}

}  // namespace gpsa::cli
