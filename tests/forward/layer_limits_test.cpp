// SPDX-License-Identifier: MIT
// gpsa::layer at absurd sizes: a wrapped B*D, grids and attention arrays over the work limit are
// refused with layer_error naming the sizes, never a SIGFPE or std::bad_alloc.
#include <gtest/gtest.h>

#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include "forward_test_util.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/layer.hpp"

namespace {

using namespace gpsa_test;
using gpsa::layer;
using gpsa::layer_error;

const layer& tiny() {  // H = 9, D = 36
  static const layer l = layer::load(golden_dir() / "s3_h9_c36_bias" / "weights.safetensors");
  return l;
}

// Runs f, expecting layer_error whose one-line message holds every part.
template <class F>
void expect_layer_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const layer_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << p << " not in: " << msg;
  } catch (const std::bad_alloc&) {
    ADD_FAILURE() << "std::bad_alloc instead of layer_error";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// B * D = 2^62 * 36 = 9 * 2^64 wraps to exactly 0: it used to divide by zero (SIGFPE).
TEST(LayerLimits, BatchTimesDimWrappingToZero) {
  const std::vector<float> x(128, 0.5f);
  const std::size_t batch = std::size_t{1} << 62;
  expect_layer_error([&] { (void)tiny().forward(x, batch); }, {"overflows", "D = 36"});
  expect_layer_error([&] { (void)tiny().attention(x, batch); }, {"overflows"});
}

// The folded factors of grid 1x2^14 are H*C*C = 9 * 2^28 floats (9 GiB), over max_work_bytes.
TEST(LayerLimits, SetGridOverTheWorkLimit) {
  layer l = tiny();
  expect_layer_error(
      [&] {
        l.set_grid({1, std::size_t{1} << 14});
      },
      {"grid 1x16384", "bytes", "limit"});
  expect_layer_error([&] { l.set_grid({1, std::size_t{1} << 20}); }, {"1x1048576"});
  EXPECT_FALSE(l.patch_grid().has_value()) << "a refused grid must not be kept";
}

// The attention (B,H,N,N) of N = 16384 patches is 9 * 2^28 floats; y alone is 2.4 MB.
TEST(LayerLimits, AttentionOverTheWorkLimit) {
  layer l = tiny();
  l.set_grid({128, 128});
  const std::vector<float> x(std::size_t{16384} * 36, 0.25f);
  std::vector<float> attn;
  expect_layer_error([&] { (void)l.forward(x, 1, &attn); }, {"attn", "bytes", "limit"});
  expect_layer_error([&] { (void)l.attention(x, 1); }, {"attn", "bytes"});
}

// positional_apply's scratch size query reports an overflow as a status, never a wrapped size,
// and leaves its output alone then.
TEST(LayerLimits, PositionalApplyScratchSizeOverflowIsAStatus) {
  const std::size_t big = std::size_t{1} << 32;
  std::size_t floats = 7;
  EXPECT_EQ(gpsa::positional_apply_scratch_size(gpsa::grid{big, big}, 8, floats),
            gpsa::status::size_overflow);
  EXPECT_EQ(gpsa::positional_apply_scratch_size(gpsa::grid{big, 2}, big, floats),
            gpsa::status::size_overflow);
  EXPECT_EQ(floats, 7u);
  EXPECT_EQ(gpsa::positional_apply_scratch_size(gpsa::grid{0, 14}, 48, floats),
            gpsa::status::empty_grid);
  EXPECT_EQ(gpsa::positional_apply_scratch_size(gpsa::grid{14, 14}, 0, floats),
            gpsa::status::invalid_argument);
  EXPECT_EQ(gpsa::positional_apply_scratch_size(gpsa::grid{14, 14}, 48, floats), gpsa::status::ok);
  EXPECT_EQ(floats, std::size_t{196 * 48});
}

}  // namespace
