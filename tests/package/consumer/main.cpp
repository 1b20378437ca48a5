// SPDX-License-Identifier: MIT
// A gpsa user: a baked table, the registry, the compiled core, the runtime, the code generator
// and the image library.
#include <gpsa/codegen.hpp>
#include <gpsa/core/fold.hpp>
#include <gpsa/image.hpp>
#include <gpsa/registry.hpp>
#include <gpsa/rel_indices.hpp>
#include <gpsa/runtime/checkpoint.hpp>
#include <gpsa/runtime/folded_state.hpp>
#include <gpsa/version.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

static_assert(gpsa::rel_indices_v<7>(0, 48, 2) == 72.0f);

int main() {
  std::vector<float> scratch(5 * 5 * 5 * 5 * 3);
  const auto r = gpsa::lookup_rel_indices<float>(gpsa::grid{5, 5}, scratch);
  const auto baked = gpsa::lookup_rel_indices<float>(std::size_t{49}, scratch);
  if (!r || r.view(0, 24, 2) != 32.0f || !baked ||
      baked.view.data() != gpsa::rel_indices_v<7>.data()) {
    std::puts("consumer: wrong table");
    return 1;
  }
  if (std::strcmp(gpsa::version(), GPSA_VERSION_STRING) != 0) return 1;  // gpsa::core
  // gpsa::runtime: a fold into owned storage; gpsa::codegen: its C99 header
  const float w[3] = {-1.0f, -1.0f, -1.0f}, g[1] = {1.0f};
  std::vector<gpsa::checkpoint_fold> layers;
  layers.push_back({"blocks.0.attn", gpsa::folded_state({3, 3}, 1, w, {}, g)});
  const std::string header = gpsa::codegen::folded_header(layers, {});
  if (header.find("#define GPSA_FOLD_HEADS 1") == std::string::npos ||
      !gpsa::natural_less("blocks.2", "blocks.10")) {
    std::puts("consumer: wrong runtime / codegen");
    return 1;
  }
  // gpsa::image (libpng): a 2 x 1 RGB image through PNG and back
  gpsa::image::rgb8_image img;
  img.width = 2;
  img.height = 1;
  img.pixels = {255, 0, 10, 1, 2, 3};
  const std::string png = gpsa::image::encode_png(img);
  const auto back = gpsa::image::decode(
      std::span(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()), "consumer.png");
  if (back.width != 2 || back.height != 1 || back.pixels != img.pixels) {
    std::puts("consumer: wrong image round trip");
    return 1;
  }
  std::printf("consumer ok: gpsa %s, %zu baked grids, 7x7 %s\n", GPSA_VERSION_STRING,
              gpsa::baked_grid_sizes.size(), gpsa::rel_source_name(baked.source));
  return 0;
}
