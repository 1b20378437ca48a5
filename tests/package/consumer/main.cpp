// A gpsa user: a baked table, the registry and (installed package only) the compiled core.
#include <gpsa/registry.hpp>
#include <gpsa/rel_indices.hpp>
#include <gpsa/version.hpp>

#include <cstdio>
#include <cstring>
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
#ifdef GPSA_CONSUMER_LINKS_CORE
  if (std::strcmp(gpsa::version(), GPSA_VERSION_STRING) != 0) return 1;
#endif
  std::printf("consumer ok: gpsa %s, %zu baked grids, 7x7 %s\n", GPSA_VERSION_STRING,
              gpsa::baked_grid_sizes.size(), gpsa::rel_source_name(baked.source));
  return 0;
}
