// SPDX-License-Identifier: MIT
// gpsa::convit on the golden PyTorch models (tests/golden/convit): logits and features within
// the tolerance of cases.json, configuration inferred from the checkpoint, batching, threads,
// F16 / BF16 checkpoints. Measured errors are printed.
#include <gtest/gtest.h>

#include <cstdio>

#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "model_test_util.hpp"

namespace {

using namespace model_test;

class GoldenConvit : public ::testing::TestWithParam<std::string> {};

struct golden_io {
  golden_case c;
  tolerance tol;
  std::vector<std::size_t> x_shape;
  std::vector<float> x, logits, features;
};

golden_io load_io(const std::string& name) {
  golden_io g;
  load_cases(&g.tol);
  g.c = find_case(name);
  const fs::path dir = golden_dir() / name;
  g.x = read_f32(dir / "x.npy", &g.x_shape);
  g.logits = read_f32(dir / "logits.npy");
  g.features = read_f32(dir / "features.npy");
  return g;
}

TEST_P(GoldenConvit, ConfigurationInferredFromCheckpoint) {
  const golden_io g = load_io(GetParam());
  const auto m = gpsa::convit::load(golden_dir() / GetParam() / "model.safetensors");
  const gpsa::convit_config& c = m.config();
  EXPECT_EQ(c.image_size, g.c.cfg.image);
  EXPECT_EQ(c.patch_size, g.c.cfg.patch);
  EXPECT_EQ(c.channels, 3u);
  EXPECT_EQ(c.dim, g.c.cfg.dim);
  EXPECT_EQ(c.heads, g.c.cfg.heads);
  EXPECT_EQ(c.depth, g.c.cfg.depth);
  EXPECT_EQ(c.local_up_to_layer, g.c.cfg.local);
  EXPECT_EQ(c.mlp_hidden, g.c.cfg.hidden);
  EXPECT_EQ(c.classes, g.c.cfg.classes);
  EXPECT_EQ(m.qkv_bias(), g.c.qkv_bias);
  EXPECT_FLOAT_EQ(c.eps, static_cast<float>(g.c.cfg.eps));
  EXPECT_EQ(c.tokens(), c.patches() + 1);
  // Every float of the file is a parameter the model holds.
  const auto f = gpsa::io::read_safetensors(golden_dir() / GetParam() / "model.safetensors");
  std::size_t total = 0;
  for (const auto& [k, t] : f.tensors) total += t.numel();
  EXPECT_EQ(m.parameter_count(), total);
}

TEST_P(GoldenConvit, LogitsAndFeaturesMatchPyTorch) {
  const golden_io g = load_io(GetParam());
  const auto m = gpsa::convit::load(golden_dir() / GetParam() / "model.safetensors");
  const std::size_t B = m.batch_of(g.x_shape, "x.npy");
  ASSERT_EQ(B, g.c.batch);
  std::vector<float> features;
  const std::vector<float> logits = m.forward(g.x, B, &features);
  const double el = rel_error(logits, g.logits), ef = rel_error(features, g.features);
  std::printf(
      "[ golden   ] %s: logits max|d|/max(1,max|ref|) = %.3g, features = %.3g (tolerance %g / "
      "%g)\n",
      GetParam().c_str(), el, ef, g.tol.logits, g.tol.features);
  EXPECT_LE(el, g.tol.logits);
  EXPECT_LE(ef, g.tol.features);
  // Without features the last block runs the class-token rows alone: the same bits.
  const std::vector<float> only = m.forward(g.x, B);
  EXPECT_EQ(only, logits);
}

// The float64 reference of the tests agrees with PyTorch too: it is then a fair judge for the
// shapes that have no golden file (the full ConViT-Ti test).
TEST_P(GoldenConvit, TestReferenceMatchesPyTorch) {
  const golden_io g = load_io(GetParam());
  const st_map weights = load_golden_map(GetParam());
  const convit_ref::result r =
      convit_ref::forward(g.c.cfg, reference_values(weights), g.x, g.c.batch);
  const double el = rel_error(g.logits, r.logits), ef = rel_error(g.features, r.features);
  std::printf(
      "[ golden   ] %s: PyTorch float32 vs test's float64 reference: logits %.3g, features %.3g\n",
      GetParam().c_str(), el, ef);
  EXPECT_LE(el, g.tol.logits);
  EXPECT_LE(ef, g.tol.features);
}

// A bigger batch: items repeated and reordered give the golden rows in that order.
TEST_P(GoldenConvit, BatchOfRepeatedItems) {
  const golden_io g = load_io(GetParam());
  const auto m = gpsa::convit::load(golden_dir() / GetParam() / "model.safetensors");
  const std::size_t B = g.c.batch, per = g.x.size() / B, classes = m.config().classes;
  const std::size_t feat = m.config().tokens() * m.config().dim;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < 3; ++i) order.push_back((B - 1 + i) % B);  // e.g. 1, 0, 1
  std::vector<float> x, want_logits, want_features;
  for (const std::size_t i : order) {
    x.insert(x.end(), g.x.begin() + i * per, g.x.begin() + (i + 1) * per);
    want_logits.insert(want_logits.end(), g.logits.begin() + i * classes,
                       g.logits.begin() + (i + 1) * classes);
    want_features.insert(want_features.end(), g.features.begin() + i * feat,
                         g.features.begin() + (i + 1) * feat);
  }
  std::vector<float> features;
  const auto logits = m.forward(x, order.size(), &features);
  EXPECT_LE(rel_error(logits, want_logits), g.tol.logits);
  EXPECT_LE(rel_error(features, want_features), g.tol.features);
  // One item at a time gives the same rows.
  for (std::size_t j = 0; j < order.size(); ++j) {
    const std::vector<float> xj(x.begin() + j * per, x.begin() + (j + 1) * per);
    const auto lj = m.forward(xj, 1);
    const std::vector<float> wj(want_logits.begin() + j * classes,
                                want_logits.begin() + (j + 1) * classes);
    EXPECT_LE(rel_error(lj, wj), g.tol.logits) << "item " << j;
  }
}

// Outputs are bit-identical for any worker count.
TEST_P(GoldenConvit, ExecutorBitIdentical) {
  const golden_io g = load_io(GetParam());
  auto m = gpsa::convit::load(golden_dir() / GetParam() / "model.safetensors");
  std::vector<float> f1, f2, f3;
  const auto l1 = m.forward(g.x, g.c.batch, &f1);
  gpsa::thread_pool_executor two(2), three(3);
  m.set_executor(&two.get());
  EXPECT_EQ(m.get_executor(), &two.get());
  const auto l2 = m.forward(g.x, g.c.batch, &f2);
  m.set_executor(&three.get());
  const auto l3 = m.forward(g.x, g.c.batch, &f3);
  const auto l3_rows = m.forward(g.x, g.c.batch);  // the class-token rows alone, three workers
  m.set_executor(nullptr);
  EXPECT_EQ(l1, l3_rows);
  EXPECT_EQ(l1, l2);
  EXPECT_EQ(l1, l3);
  EXPECT_EQ(f1, f2);
  EXPECT_EQ(f1, f3);
  EXPECT_LE(rel_error(l2, g.logits), g.tol.logits);
}

// F16 and BF16 checkpoints load (converted to float32) and compute the model of the rounded
// weights: checked against the float64 reference on the same rounded weights.
TEST_P(GoldenConvit, HalfPrecisionCheckpoints) {
  const golden_io g = load_io(GetParam());
  for (const std::string dtype : {"F16", "BF16"}) {
    st_map w = load_golden_map(GetParam());
    for (auto& [k, t] : w) t.dtype = dtype;
    const auto m = gpsa::convit(parse(w, GetParam() + "_" + dtype + ".safetensors"));
    std::vector<float> features;
    const auto logits = m.forward(g.x, g.c.batch, &features);
    const convit_ref::result r = convit_ref::forward(g.c.cfg, reference_values(w), g.x, g.c.batch);
    const double el = rel_error(logits, r.logits), ef = rel_error(features, r.features);
    std::printf("[ golden   ] %s as %s: logits %.3g, features %.3g vs float64 reference\n",
                GetParam().c_str(), dtype.c_str(), el, ef);
    EXPECT_LE(el, g.tol.logits) << dtype;
    EXPECT_LE(ef, g.tol.features) << dtype;
    // Rounding the weights really changed the model (the conversion is not a no-op).
    EXPECT_GT(rel_error(logits, g.logits), 0.0) << dtype;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenConvit, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
