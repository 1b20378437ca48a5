// SPDX-License-Identifier: MIT
// gpsa::layer: construction from files and raw arrays, shape and file errors, grids, batching.
#include <gtest/gtest.h>

#include <cstring>

#include "forward_test_util.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace {

using namespace gpsa_test;
using gpsa::layer;
using gpsa::layer_error;

const std::string kCase = "s3_h9_c36_bias";  // H = 9, D = 36, qkv bias
const std::string P = "blocks.0.attn.";

fs::path weights_of(const std::string& c) { return golden_dir() / c / "weights.safetensors"; }

// Expects `f` to throw E with a one-line message containing every part; returns the message.
template <class E, class F>
std::string expect_throw(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

// Writes the golden weights of kCase with `edit` applied, returns the new file.
template <class Edit>
fs::path edited(const temp_dir& t, Edit edit) {
  auto ts = load_as_st(weights_of(kCase));
  edit(ts);
  const fs::path p = t / "w.safetensors";
  write_safetensors(p, ts);
  return p;
}

TEST(LayerErrors, PosProjWrongShape) {
  temp_dir t;
  const fs::path w = edited(t, [](auto& ts) {
    ts[P + "pos_proj.weight"] = f32_tensor({4, 2}, std::vector<float>(8, 0.0f));
  });
  const std::string msg = expect_throw<gpsa::checkpoint_error>(
      [&] { layer::load(w); },
      {w.string() + ": ", "blocks.0.attn.pos_proj.weight has shape (4,2), expected (H,3)"});
  EXPECT_EQ(msg, w.string() + ": blocks.0.attn.pos_proj.weight has shape (4,2), expected (H,3)");
}

TEST(LayerErrors, QkWeightWrongShape) {
  temp_dir t;
  const fs::path w = edited(t, [](auto& ts) {
    ts[P + "qk.weight"] = f32_tensor({70, 36}, std::vector<float>(70 * 36, 0.0f));
  });
  expect_throw<gpsa::checkpoint_error>(
      [&] { layer::load(w); }, {"blocks.0.attn.qk.weight has shape (70,36), expected (2D,D)"});
}

TEST(LayerErrors, WidthNotDivisibleByHeads) {
  temp_dir t;
  const fs::path w = edited(t, [](auto& ts) {
    ts[P + "pos_proj.weight"] = f32_tensor({8, 3}, std::vector<float>(24, 0.0f));
  });
  expect_throw<gpsa::checkpoint_error>([&] { layer::load(w); },
                                       {"D = 36", "not divisible by H = 8", "pos_proj.weight"});
}

TEST(LayerErrors, OtherTensorsWrongShape) {
  struct c {
    std::string key;
    std::vector<std::size_t> shape;
    std::string expect;
  };
  const c cases[] = {
      {"v.weight", {36, 35}, "blocks.0.attn.v.weight has shape (36,35), expected (D,D) = (36,36)"},
      {"proj.weight", {36}, "blocks.0.attn.proj.weight has shape (36,), expected (D,D) = (36,36)"},
      {"proj.bias", {35}, "blocks.0.attn.proj.bias has shape (35,), expected (D,) = (36,)"},
      {"pos_proj.bias",
       {9, 1},
       "blocks.0.attn.pos_proj.bias has shape (9,1), expected (H,) = (9,)"},
      {"gating_param", {8}, "blocks.0.attn.gating_param has shape (8,), expected (H,) = (9,)"},
      {"qk.bias", {36}, "blocks.0.attn.qk.bias has shape (36,), expected (2D,) = (72,)"},
      {"v.bias", {72}, "blocks.0.attn.v.bias has shape (72,), expected (D,) = (36,)"},
  };
  for (const auto& k : cases) {
    temp_dir t;
    std::size_t n = 1;
    for (auto s : k.shape) n *= s;
    const fs::path w = edited(
        t, [&](auto& ts) { ts[P + k.key] = f32_tensor(k.shape, std::vector<float>(n, 0.0f)); });
    expect_throw<gpsa::checkpoint_error>([&] { layer::load(w); }, {k.expect});
  }
}

TEST(LayerErrors, MissingKeyListsExpectedKeysAndPrefixes) {
  // Wrong prefix on a good file: the message lists the keys and the prefix that exists.
  const fs::path w = weights_of(kCase);
  expect_throw<gpsa::checkpoint_error>(
      [&] { layer::load(w, "blocks.1.attn"); },
      {"missing key 'blocks.1.attn.pos_proj.weight'", "qk.weight", "pos_proj.weight",
       "gating_param", "proj.bias", "GPSA prefixes in the file: blocks.0.attn"});
  // A key removed from an otherwise good file.
  temp_dir t;
  const fs::path w2 = edited(t, [](auto& ts) { ts.erase(P + "gating_param"); });
  expect_throw<gpsa::checkpoint_error>(
      [&] { layer::load(w2); }, {"missing key 'blocks.0.attn.gating_param'", "blocks.0.attn"});
  // Two GPSA layers in one file: both prefixes are listed.
  temp_dir t3;
  const fs::path w3 = edited(t3, [](auto& ts) {
    std::map<std::string, st_tensor> more;
    for (const auto& [k, v] : ts) more["blocks.1.attn." + k.substr(P.size())] = v;
    ts.insert(more.begin(), more.end());
  });
  EXPECT_NO_THROW(layer::load(w3, "blocks.1.attn"));
  expect_throw<gpsa::checkpoint_error>([&] { layer::load(w3, "blocks.7.attn"); },
                                       {"blocks.0.attn, blocks.1.attn"});
  // No GPSA layer at all.
  temp_dir t4;
  const fs::path w4 = t4 / "empty.safetensors";
  write_safetensors(w4, {{"head.weight", f32_tensor({2}, {1.0f, 2.0f})}});
  expect_throw<gpsa::checkpoint_error>([&] { layer::load(w4); }, {"no GPSA layer"});
}

TEST(LayerErrors, FileProblemsAreIoErrors) {
  temp_dir t;
  expect_throw<gpsa::io::io_error>([&] { layer::load(t / "nope.safetensors"); },
                                   {(t / "nope.safetensors").string()});
  const fs::path w = edited(t, [](auto& ts) {
    st_tensor g;
    g.dtype = "I64";
    g.shape = {9};
    g.bytes.assign(72, '\0');
    ts[P + "gating_param"] = g;
  });
  expect_throw<gpsa::io::io_error>([&] { layer::load(w); }, {"I64"});
}

TEST(LayerErrors, RawArraysWrongSize) {
  gpsa::layer_params p = layer(gpsa::io::read_safetensors(weights_of(kCase))).params();
  EXPECT_NO_THROW(layer{p});
  auto bad = p;
  bad.v_weight.pop_back();
  expect_throw<layer_error>([&] { layer{bad}; }, {"v_weight has 1295 values, expected D*D = 1296"});
  bad = p;
  bad.heads = 5;
  expect_throw<layer_error>([&] { layer{bad}; }, {"D = 36", "H = 5"});
  bad = p;
  bad.gating_param.push_back(1.0f);
  expect_throw<layer_error>([&] { layer{bad}; }, {"gating_param has 10 values, expected H = 9"});
}

TEST(LayerErrors, ForwardInputProblems) {
  const layer l = layer::load(weights_of(kCase));  // D = 36
  const std::vector<float> x(2 * 9 * 36, 0.5f);
  expect_throw<layer_error>([&] { l.forward(std::span(x).first(100), 1); },
                            {"input has 100 values", "B*D = 1*36"});
  expect_throw<layer_error>([&] { l.forward(x, 0); }, {"batch size is 0"});
  // 2*9*36 values with B = 1 is N = 18 patches: not square
  expect_throw<layer_error>([&] { l.forward(x, 1); }, {"N = 18", "not a perfect square"});
  layer fixed = l;
  fixed.set_grid({4, 4});
  expect_throw<layer_error>([&] { fixed.forward(x, 2); }, {"N = 9", "grid 4x4 has 16"});
  expect_throw<layer_error>([&] { fixed.set_grid({0, 4}); }, {"0x4"});
}

// ---- behaviour ----------------------------------------------------------------------------

TEST(Layer, BatchEqualsSingleRuns) {
  for (const std::string name : {"s2_h4_c16", "s3_h9_c36_bias"}) {
    const layer l = layer::load(weights_of(name));
    const auto x = gpsa::io::read_npy(golden_dir() / name / "x.npy");
    const std::size_t B = x.shape[0], per = x.shape[1] * x.shape[2];
    ASSERT_GE(B, 2u);
    std::vector<float> attn, dist;
    const auto y = l.forward(x.data, B, &attn, &dist);
    const std::size_t per_attn = attn.size() / B;
    for (std::size_t b = 0; b < B; ++b) {
      const std::vector<float> xb(x.data.begin() + b * per, x.data.begin() + (b + 1) * per);
      std::vector<float> ab;
      const auto yb = l.forward(xb, 1, &ab, nullptr);
      const std::vector<float> ys(y.begin() + b * per, y.begin() + (b + 1) * per);
      const std::vector<float> as(attn.begin() + b * per_attn, attn.begin() + (b + 1) * per_attn);
      EXPECT_LE(max_abs_diff(ys, yb), 1e-6 * max_abs(yb)) << name << " item " << b;
      EXPECT_LE(max_abs_diff(as, ab), 1e-7) << name << " item " << b;
    }
  }
}

TEST(Layer, RawArraysGiveTheSameLayer) {
  const layer a = layer::load(weights_of(kCase));
  const layer b{a.params()};
  const auto x = gpsa::io::read_npy(golden_dir() / kCase / "x.npy");
  EXPECT_EQ(a.forward(x.data, 2), b.forward(x.data, 2));
  EXPECT_TRUE(b.has_qkv_bias());
}

// PyTorch infers a square grid from N = 256 and silently uses 16x16 for an 8x32 image; gpsa
// uses the grid it is given, and the results differ.
TEST(Layer, RectangularGridIsHonoured) {
  const layer sq = layer::load(weights_of("s2_h4_c16"));  // D = 16
  layer rect = sq;
  rect.set_grid({8, 32});
  EXPECT_EQ(rect.folded().shape, (gpsa::grid{8, 32}));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(256 * 16);
  for (auto& v : x) v = u(rng);
  std::vector<float> a_sq, a_rect;
  sq.forward(x, 1, &a_sq, nullptr);
  rect.forward(x, 1, &a_rect, nullptr);
  EXPECT_GT(max_abs_diff(a_sq, a_rect), 1e-3);
  // the positional attention matches the kernels' offset path for 8x32
  std::vector<float> pos(4 * 256 * 256);
  ASSERT_EQ(gpsa::pos_attention({8, 32}, 4, rect.params().pos_proj_weight,
                                rect.params().pos_proj_bias, pos),
            gpsa::status::ok);
  EXPECT_LE(max_abs_diff(rect.position(), pos), 1e-7);
}

TEST(Layer, SinglePatchDistanceIsZero) {
  const layer l = layer::load(weights_of("s1_h1_c8"));
  const auto x = gpsa::io::read_npy(golden_dir() / "s1_h1_c8" / "x.npy");
  std::vector<float> attn, dist;
  l.forward(x.data, 1, &attn, &dist);
  ASSERT_EQ(dist.size(), 1u);
  EXPECT_EQ(dist[0], 0.0f);
  EXPECT_EQ(attn, std::vector<float>{1.0f});
}

// local_init through the layer: pos_proj follows the formula, v is the identity, and the
// resulting layer attends locally as documented.
TEST(Layer, LocalInitLayer) {
  gpsa::layer_params p = layer::load(weights_of("s2_h4_c16")).params();  // H = 4, D = 16
  ASSERT_EQ(gpsa::local_init(4, 2.0f, 16, p.pos_proj_weight, p.v_weight), gpsa::status::ok);
  // K = 2, c = 0.5: head h1 + 2*h2 = (2(h2-c), 2(h1-c), -1), all times alpha = 2
  const std::vector<float> want{-2, -2, -2, -2, 2, -2, 2, -2, -2, 2, 2, -2};
  EXPECT_EQ(p.pos_proj_weight, want);
  for (std::size_t i = 0; i < 16; ++i)
    for (std::size_t j = 0; j < 16; ++j) EXPECT_EQ(p.v_weight[i * 16 + j], i == j ? 1.0f : 0.0f);
  const layer l{p, gpsa::grid{5, 5}};
  // head 3 = (h1=1, h2=1) is centred on (dx, dy) = (+0.5, +0.5): from the centre patch (2,2) its
  // four nearest keys (2,2), (2,3), (3,2), (3,3) share the top weight.
  const auto pos = l.position();
  const std::size_t N = 25, p0 = 12;
  const float* row = pos.data() + (3 * N + p0) * N;
  EXPECT_FLOAT_EQ(row[12], row[13]);
  EXPECT_FLOAT_EQ(row[12], row[17]);
  EXPECT_FLOAT_EQ(row[12], row[18]);
  EXPECT_GT(row[12], row[11]);
}

}  // namespace
