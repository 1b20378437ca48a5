// SPDX-License-Identifier: MIT
// Firmware image: the relative-index tables on the Cortex-M4, bit for bit against PyTorch.
//
// For every golden grid S (tests/golden/rel_indices_s*.npy, embedded by
// golden/rel_indices_golden.h):
//  - gpsa::rel_indices_v<S>, evaluated by the cross compiler into .rodata (flash);
//  - the runtime fill gpsa::fill_rel_indices on the target, into a RAM buffer;
//  - the C API gpsa_fill_rel_indices_f32;
//  - the registry (Boost.Hana): lookup_rel_indices gives the baked table for S in
//    GPSA_BAKED_GRIDS (the same object as rel_indices_v<S>) and the runtime fill otherwise.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>

#include "fw_check.h"
#include "gpsa/gpsa.h"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "rel_indices_golden.h"

namespace {

constexpr std::size_t max_count = 196 * 196 * 3;
float fill_buffer[max_count];  // RAM, for the runtime paths

// Compile-time spot checks by the cross compiler (the corners of the 14x14 table).
static_assert(gpsa::rel_indices_v<14>(0, 195, 0) == 13.0f);
static_assert(gpsa::rel_indices_v<14>(0, 195, 1) == 13.0f);
static_assert(gpsa::rel_indices_v<14>(0, 195, 2) == 338.0f);
static_assert(gpsa::rel_indices_v<14>(195, 0, 0) == -13.0f);

// Elements whose float32 bits differ from the golden value (int16 in the header, converting
// exactly to the golden float32; see golden_headers.py).
std::size_t mismatches(const float* table, const short* golden, std::size_t count) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < count; ++i)
    if (std::bit_cast<std::uint32_t>(table[i]) !=
        std::bit_cast<std::uint32_t>(static_cast<float>(golden[i])))
      ++bad;
  return bad;
}

void poison() {
  for (float& v : fill_buffer) v = -1.0e30f;
}

template <std::size_t S>
void check_grid(const short* golden, std::size_t count) {
  char what[96];
  constexpr auto& baked = gpsa::rel_indices_v<S>;
  static_assert(baked.size() == S * S * S * S * 3);

  std::snprintf(what, sizeof what, "S=%u golden size", unsigned(S));
  fw_check_true(what, baked.size() == count);
  std::snprintf(what, sizeof what, "S=%u rel_indices_v (flash)", unsigned(S));
  fw_check_bits(what, mismatches(baked.data(), golden, count), count);

  // A size the compiler cannot see, so the fill runs on the target.
  volatile std::size_t runtime_s = S;
  const gpsa::grid g{runtime_s, runtime_s};
  poison();
  const gpsa::status s = gpsa::fill_rel_indices<float>(g, std::span<float>(fill_buffer, count));
  std::snprintf(what, sizeof what, "S=%u fill_rel_indices status", unsigned(S));
  fw_check_true(what, s == gpsa::status::ok);
  std::snprintf(what, sizeof what, "S=%u fill_rel_indices (run time)", unsigned(S));
  fw_check_bits(what, mismatches(fill_buffer, golden, count), count);

  poison();
  const gpsa_status cs = gpsa_fill_rel_indices_f32(g.rows, g.cols, fill_buffer, count);
  std::snprintf(what, sizeof what, "S=%u gpsa_fill_rel_indices_f32 status", unsigned(S));
  fw_check_true(what, cs == GPSA_OK);
  std::snprintf(what, sizeof what, "S=%u gpsa_fill_rel_indices_f32 (C API)", unsigned(S));
  fw_check_bits(what, mismatches(fill_buffer, golden, count), count);

  poison();
  const auto r = gpsa::lookup_rel_indices<float>(g, std::span<float>(fill_buffer, count));
  const bool baked_expected = gpsa::is_baked<float>(gpsa::grid{S, S});
  std::snprintf(what, sizeof what, "S=%u registry lookup: %s%s", unsigned(S),
                gpsa::rel_source_name(r.source), baked_expected ? " (baked grid)" : "");
  fw_check_true(what, r.code == gpsa::status::ok && r.baked() == baked_expected &&
                          (!baked_expected || r.view.data() == baked.data()));
  std::snprintf(what, sizeof what, "S=%u registry table", unsigned(S));
  fw_check_bits(what, r ? mismatches(r.view.data(), golden, count) : count, count);
}

}  // namespace

int main() {
  std::printf("rel_indices: baked grids of the registry:");
  for (const std::size_t s : gpsa::baked_grid_sizes) std::printf(" %u", unsigned(s));
  std::printf("\n");
  check_grid<1>(golden_rel_s1, GOLDEN_REL_S1_COUNT);
  check_grid<2>(golden_rel_s2, GOLDEN_REL_S2_COUNT);
  check_grid<3>(golden_rel_s3, GOLDEN_REL_S3_COUNT);
  check_grid<4>(golden_rel_s4, GOLDEN_REL_S4_COUNT);
  check_grid<7>(golden_rel_s7, GOLDEN_REL_S7_COUNT);
  check_grid<14>(golden_rel_s14, GOLDEN_REL_S14_COUNT);
  static_assert(GOLDEN_REL_S14_COUNT == max_count);
  return fw_finish("rel_indices");
}
