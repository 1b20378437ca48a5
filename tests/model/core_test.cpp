// SPDX-License-Identifier: MIT
// The core whole-model API (gpsa/core/convit.hpp): status codes, size queries, folded state, GELU
// and LayerNorm (gpsa/core/nn_kernels.hpp) against float64 formulas, and the core forward on
// caller-owned buffers agreeing with the golden PyTorch outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gpsa/core/convit.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/nn_kernels.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "model_test_util.hpp"

namespace {

using namespace model_test;
using gpsa::status;

gpsa::convit_config tiny_config() {
  gpsa::convit_config c;
  c.image_size = 224;
  c.patch_size = 16;
  c.dim = 192;
  c.heads = 4;
  c.depth = 12;
  c.local_up_to_layer = 10;
  c.mlp_hidden = 768;
  c.classes = 1000;
  return c;
}

TEST(ConvitCore, GeluMatchesErfFormula) {
  std::vector<float> x;
  for (int i = -200000; i <= 200000; ++i) x.push_back(static_cast<float>(i) * 5e-5f);  // [-10, 10]
  for (const float v : {-60.0f, -12.5f, 12.5f, 60.0f, 1e-30f, -1e-30f, 0.0f}) x.push_back(v);
  std::vector<float> y = x;
  ASSERT_EQ(gpsa::gelu_inplace(y), status::ok);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    const double err = std::abs(y[i] - want) / std::max(1.0, std::abs(v));
    worst = std::max(worst, err);
  }
  std::printf("[ gelu     ] max |gelu - exact| / max(1, |x|) = %.3g\n", worst);
  EXPECT_LE(worst, 5e-7);
  float nan = std::numeric_limits<float>::quiet_NaN();
  ASSERT_EQ(gpsa::gelu_inplace({&nan, 1}), status::ok);
  EXPECT_TRUE(std::isnan(nan));
  EXPECT_EQ(gpsa::gelu_inplace({}), status::ok);
  EXPECT_EQ(gpsa::gelu_inplace({static_cast<float*>(nullptr), 3}), status::invalid_argument);
}

TEST(ConvitCore, LayerNormMatchesFormula) {
  // Rows with a large mean and a small spread: the case a one-pass float variance gets wrong.
  for (const std::size_t D : {192u, 37u, 5u}) {
    const std::size_t rows = 5, ld = 200;
    std::mt19937 gen(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> x(rows * ld), w(D), b(D), y(rows * ld, -7.0f);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < D; ++j) x[r * ld + j] = 1000.0f * float(r) + 0.01f * u(gen);
    for (auto& v : w) v = 1.0f + 0.2f * u(gen);
    for (auto& v : b) v = 0.1f * u(gen);
    ASSERT_EQ(gpsa::layer_norm_rows(rows, D, w, b, 1e-6f, x.data(), ld, y.data(), ld), status::ok);
    double worst = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (std::size_t j = 0; j < D; ++j) mean += x[r * ld + j];
      mean /= D;
      for (std::size_t j = 0; j < D; ++j) var += (x[r * ld + j] - mean) * (x[r * ld + j] - mean);
      var /= D;
      for (std::size_t j = 0; j < D; ++j) {
        const double want = (x[r * ld + j] - mean) / std::sqrt(var + 1e-6) * w[j] + b[j];
        worst = std::max(worst, std::abs(y[r * ld + j] - want));
      }
      for (std::size_t j = D; j < ld; ++j) EXPECT_EQ(y[r * ld + j], -7.0f);  // padding untouched
    }
    EXPECT_LE(worst, 2e-6);
    // In place, without affine parameters: mean 0, variance 1.
    ASSERT_EQ(gpsa::layer_norm_rows(rows, D, {}, {}, 0.0f, x.data(), ld, x.data(), ld), status::ok);
    for (std::size_t r = 0; r < rows; ++r) {
      double m = 0, v = 0;
      for (std::size_t j = 0; j < D; ++j) m += x[r * ld + j];
      for (std::size_t j = 0; j < D; ++j) v += double(x[r * ld + j]) * x[r * ld + j];
      EXPECT_NEAR(m / D, 0.0, 1e-6);
      EXPECT_NEAR(v / D, 1.0, 1e-5);
    }
    // The checks: weight / bias of another length, a short stride, a null row pointer, bad eps.
    EXPECT_EQ(gpsa::layer_norm_rows(rows, D, std::span(w).first(D - 1), {}, 0.0f, x.data(), ld,
                                    y.data(), ld),
              status::shape_mismatch);
    EXPECT_EQ(gpsa::layer_norm_rows(rows, D, {}, {}, 0.0f, x.data(), D - 1, y.data(), ld),
              status::invalid_argument);
    EXPECT_EQ(gpsa::layer_norm_rows(rows, D, {}, {}, 0.0f, nullptr, ld, y.data(), ld),
              status::invalid_argument);
    EXPECT_EQ(gpsa::layer_norm_rows(rows, D, {}, {}, -1.0f, x.data(), ld, y.data(), ld),
              status::invalid_argument);
    EXPECT_EQ(gpsa::layer_norm_rows(0, D, {}, {}, 0.0f, nullptr, ld, nullptr, ld), status::ok);
  }
}

TEST(ConvitCore, ConfigValidationAndSizes) {
  gpsa::convit_config c = tiny_config();
  EXPECT_EQ(gpsa::validate(c), status::ok);
  EXPECT_EQ(c.patches(), 196u);
  EXPECT_EQ(c.tokens(), 197u);
  EXPECT_EQ(c.head_dim(), 48u);
  std::size_t f = 0;
  ASSERT_EQ(gpsa::convit_folded_size(c, f), status::ok);
  EXPECT_EQ(f, 10u * (4u * (14 * 14 + 14 * 14) + 4u));  // L * (H (R^2 + C^2) + H)
  std::size_t s1 = 0, s2 = 0, s8 = 0;
  ASSERT_EQ(gpsa::convit_scratch_size(c, 1, 1, s1), status::ok);
  ASSERT_EQ(gpsa::convit_scratch_size(c, 1, 2, s2), status::ok);
  ASSERT_EQ(gpsa::convit_scratch_size(c, 8, 1, s8), status::ok);
  EXPECT_GE(s1, 2u * 197 * 192);            // the token stream and its normed copy
  EXPECT_LT(s1, 2u * 197 * 192 + 200000u);  // ~0.9 MB for ConViT-Ti, B = 1
  EXPECT_GT(s2, s1);
  EXPECT_GT(s8, s1);
  EXPECT_EQ(gpsa::convit_scratch_size(c, 1, 0, s1), status::invalid_argument);

  const auto bad = [&](auto edit) {
    gpsa::convit_config k = tiny_config();
    edit(k);
    return gpsa::validate(k);
  };
  EXPECT_EQ(bad([](auto& k) { k.image_size = 15; }), status::invalid_argument);  // S < p
  // S % p != 0 is timm's stride-p convolution: floor(225 / 16) = 14, the last pixel row unused.
  EXPECT_EQ(bad([](auto& k) { k.image_size = 225; }), status::ok);
  EXPECT_EQ(bad([](auto& k) { k.pool = gpsa::convit_pool::avg; }), status::ok);
  EXPECT_EQ(bad([](auto& k) { k.pool = static_cast<gpsa::convit_pool>(7); }),
            status::invalid_argument);
  // The average of tokens [1, T) needs T >= 2: one patch and no class token has none.
  EXPECT_EQ(bad([](auto& k) {
              k.image_size = 16;
              k.local_up_to_layer = k.depth;
              k.pool = gpsa::convit_pool::avg;
            }),
            status::invalid_argument);
  EXPECT_EQ(bad([](auto& k) { k.heads = 5; }), status::invalid_argument);  // D % H
  EXPECT_EQ(bad([](auto& k) { k.local_up_to_layer = 13; }), status::invalid_argument);
  EXPECT_EQ(bad([](auto& k) { k.depth = 0; }), status::invalid_argument);
  EXPECT_EQ(bad([](auto& k) { k.classes = 0; }), status::invalid_argument);
  EXPECT_EQ(bad([](auto& k) { k.eps = -1.0f; }), status::invalid_argument);
  EXPECT_EQ(bad([](auto& k) { k.eps = NAN; }), status::invalid_argument);
  EXPECT_EQ(bad([](auto& k) { k.local_up_to_layer = 12; }), status::ok);  // no MHSA block
  EXPECT_EQ(bad([](auto& k) { k.local_up_to_layer = 0; }), status::ok);   // no GPSA block
  EXPECT_EQ(gpsa::convit_scratch_size(c, std::numeric_limits<std::size_t>::max() / 64, 1, s1),
            status::size_overflow);
}

struct golden_micro {
  gpsa::convit model = gpsa::convit::load(golden_dir() / "convit_micro_4x4" / "model.safetensors");
  std::vector<float> x = read_f32(golden_dir() / "convit_micro_4x4" / "x.npy");
  std::vector<float> logits = read_f32(golden_dir() / "convit_micro_4x4" / "logits.npy");
  std::vector<float> features = read_f32(golden_dir() / "convit_micro_4x4" / "features.npy");
};

// The model's blocks with every folded view cleared, and the weights viewing them: what a caller
// that folds into its own buffer starts from.
struct unfolded {
  std::vector<gpsa::convit_block_weights> blocks;
  gpsa::convit_weights w;
  explicit unfolded(const gpsa::convit_weights& from)
      : blocks(from.blocks.begin(), from.blocks.end()), w(from) {
    for (auto& b : blocks) b.folded = {};
    w.blocks = blocks;
  }
};

// The core API on caller-owned buffers, driven by hand as firmware would.
TEST(ConvitCore, ForwardOnCallerBuffers) {
  const golden_micro g;
  unfolded u(g.model.weights());
  const gpsa::convit_weights& w = u.w;
  const std::size_t B = 2;
  std::size_t nf = 0, ns = 0;
  ASSERT_EQ(gpsa::convit_folded_size(w.config, nf), status::ok);
  ASSERT_EQ(gpsa::convit_scratch_size(w.config, B, 1, ns), status::ok);
  std::vector<float> folded(nf), scratch(ns), logits(B * 10, NAN), features(B * 17 * 96, NAN);
  ASSERT_EQ(gpsa::convit_fold(w.config, u.blocks, folded), status::ok);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_GE(u.blocks[i].folded.fx, folded.data());
  EXPECT_EQ(u.blocks[3].folded.fx, nullptr);  // the MHSA block has none
  ASSERT_EQ(gpsa::convit_forward(w, B, g.x, logits, features, scratch), status::ok);
  EXPECT_LE(rel_error(logits, g.logits), 1e-4);
  EXPECT_LE(rel_error(features, g.features), 1e-4);
  // Without features (and a scratch full of NaN: nothing may read it before writing it).
  std::fill(scratch.begin(), scratch.end(), NAN);
  std::vector<float> logits2(B * 10, NAN);
  ASSERT_EQ(gpsa::convit_forward(w, B, g.x, logits2, {}, scratch), status::ok);
  EXPECT_LE(rel_error(logits2, g.logits), 1e-4);
}

// Without features (class-token pool) the last block runs only row 0 of each item (the rows the
// head reads); with features it runs every row. Both must give the same logits bit for bit, for
// any worker count, whether the last block is MHSA (a class token) or GPSA (no class token: row
// 0 is the first patch), and the logits must match the tests' float64 reference.
TEST(ConvitCore, HeadRowsOnlyLastBlockSameBitsAsFullLastBlock) {
  struct shape {
    std::size_t depth, local;
  };
  for (const shape sh : {shape{3, 2}, shape{3, 3}, shape{2, 1}, shape{1, 1}}) {
    SCOPED_TRACE("depth " + std::to_string(sh.depth) + ", local " + std::to_string(sh.local));
    convit_ref::config c;
    c.image = 24, c.patch = 4, c.channels = 3, c.dim = 32, c.heads = 4, c.depth = sh.depth;
    c.local = sh.local, c.hidden = 64, c.classes = 7;
    const st_map weights = random_model(c, true, 11);
    const auto m = gpsa::convit(parse(weights, "head_rows.safetensors"));
    const std::size_t B = 3;
    const auto x = random_images(c, B, 5);
    std::vector<float> features;
    const auto full = m.forward(x, B, &features);
    const convit_ref::result r = convit_ref::forward(c, reference_values(weights), x, B);
    EXPECT_LE(rel_error(full, r.logits), 1e-4);
    const auto rows_only = m.forward(x, B);
    EXPECT_EQ(rows_only, full);
    for (const std::size_t workers : {2u, 3u}) {
      gpsa::thread_pool_executor pool(workers);
      auto mw = gpsa::convit(parse(weights, "head_rows.safetensors"));
      mw.set_executor(&pool.get());
      EXPECT_EQ(mw.forward(x, B), full) << workers << " workers";
    }
  }
}

TEST(ConvitCore, ForwardStatusCodes) {
  const golden_micro g;
  const gpsa::convit_weights& w = g.model.weights();
  std::size_t nf = 0, ns = 0;
  ASSERT_EQ(gpsa::convit_folded_size(w.config, nf), status::ok);
  ASSERT_EQ(gpsa::convit_scratch_size(w.config, 2, 1, ns), status::ok);
  std::vector<float> folded(nf), scratch(ns), logits(20, -3.0f);
  const std::span<const float> x = g.x;
  const auto fwd = [&](const gpsa::convit_weights& ww, std::size_t b, std::span<const float> in,
                       std::span<float> out, std::span<float> sc,
                       const gpsa::executor* ex = nullptr) {
    return gpsa::convit_forward(ww, b, in, out, {}, sc, ex);
  };
  EXPECT_EQ(fwd(w, 2, x, logits, {scratch.data(), ns - 1}), status::buffer_too_small);
  EXPECT_EQ(fwd(w, 2, x.first(x.size() - 1), logits, scratch), status::shape_mismatch);
  EXPECT_EQ(fwd(w, 2, {}, logits, scratch), status::shape_mismatch);
  EXPECT_EQ(fwd(w, 2, x, std::span(logits).first(19), scratch), status::shape_mismatch);
  std::vector<float> features(2 * 17 * 96 - 1);
  EXPECT_EQ(gpsa::convit_forward(w, 2, x, logits, features, scratch), status::shape_mismatch);
  EXPECT_EQ(fwd(w, 0, {}, {}, {}), status::ok);      // batch 0: nothing to do
  for (const float v : logits) EXPECT_EQ(v, -3.0f);  // outputs untouched so far
  gpsa::executor ex{};
  ex.workers = 2;  // no parallel_for
  EXPECT_EQ(fwd(w, 2, x, logits, scratch, &ex), status::invalid_argument);
  // Two workers: sized with the workers query, the same logits as serial.
  gpsa::thread_pool_executor pool(2);
  std::size_t ns2 = 0;
  ASSERT_EQ(gpsa::convit_scratch_size(w.config, 2, 2, ns2), status::ok);
  std::vector<float> scratch2(ns2), serial(20), parallel(20);
  EXPECT_EQ(fwd(w, 2, x, serial, scratch), status::ok);
  EXPECT_EQ(fwd(w, 2, x, parallel, scratch2, &pool.get()), status::ok);
  EXPECT_EQ(serial, parallel);
  gpsa::convit_weights bad = w;
  bad.blocks = w.blocks.subspan(1);
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::shape_mismatch);
  std::vector<gpsa::convit_block_weights> blocks(w.blocks.begin(), w.blocks.end());
  bad = w;
  bad.blocks = blocks;
  // gpsa::convit holds the linear weights once, packed: the view's plain ones are null, and the
  // forward reads the packed copy. Without it the plain weights are required.
  ASSERT_NE(w.packed, nullptr);
  EXPECT_EQ(w.blocks[3].qkv_weight, nullptr);
  EXPECT_EQ(w.head_weight, nullptr);
  bad.packed = nullptr;
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::invalid_argument);
  bad.packed = w.packed;
  // The forward reads the folded view, not pos_proj / gating_param: only the fold needs them.
  blocks[1].gating_param = nullptr;
  blocks[0].pos_proj_weight = nullptr;
  std::vector<float> without(20);
  EXPECT_EQ(fwd(bad, 2, x, without, scratch), status::ok);
  EXPECT_EQ(without, serial);
  EXPECT_EQ(gpsa::convit_fold(bad.config, blocks, folded), status::invalid_argument);
  blocks[1].gating_param = w.blocks[1].gating_param;
  EXPECT_EQ(gpsa::convit_fold(bad.config, blocks, folded), status::invalid_argument);
  blocks[0].pos_proj_weight = w.blocks[0].pos_proj_weight;
  // A GPSA block without its folded view, or with one of another grid or head count.
  blocks[2].folded = {};
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::invalid_argument);
  blocks[2].folded = w.blocks[2].folded;
  blocks[2].folded.shape = {2, 8};
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::shape_mismatch);
  blocks[2].folded = w.blocks[2].folded;
  blocks[2].folded.heads = 1;
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::shape_mismatch);
  blocks[2].folded = w.blocks[2].folded;
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::ok);
  bad = w;
  bad.pos_embed = nullptr;
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::invalid_argument);
  bad = w;
  bad.config.heads = 5;
  EXPECT_EQ(fwd(bad, 2, x, logits, scratch), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_fold(w.config, blocks, {folded.data(), nf - 1}), status::buffer_too_small);
  EXPECT_EQ(gpsa::convit_fold(w.config, std::span(blocks).first(3), folded),
            status::shape_mismatch);
  // NaN gate: the fold refuses it, and leaves every view as it was.
  std::vector<float> gate(w.blocks[2].gating_param, w.blocks[2].gating_param + 2);
  gate[0] = NAN;
  blocks.assign(w.blocks.begin(), w.blocks.end());
  blocks[2].gating_param = gate.data();
  EXPECT_EQ(gpsa::convit_fold(w.config, blocks, folded), status::invalid_argument);
  for (std::size_t i = 0; i < blocks.size(); ++i)
    EXPECT_EQ(blocks[i].folded.fx, w.blocks[i].folded.fx);
}

// Every weight of a timm checkpoint as a plain view (no pack), keys by timm's names.
struct plain_model {
  gpsa::io::safetensors_file file;
  std::vector<gpsa::convit_block_weights> blocks;
  gpsa::convit_weights w;

  plain_model(const fs::path& path, const gpsa::convit_config& c)
      : file(gpsa::io::read_safetensors(path)), blocks(c.depth) {
    const auto t = [&](const std::string& key) -> const float* {
      const auto it = file.tensors.find(key);
      return it == file.tensors.end() ? nullptr : it->second.data.data();
    };
    w.config = c;
    w.patch_weight = t("patch_embed.proj.weight");
    w.patch_bias = t("patch_embed.proj.bias");
    w.pos_embed = t("pos_embed");
    w.cls_token = t("cls_token");
    w.norm_weight = t("norm.weight");
    w.norm_bias = t("norm.bias");
    w.head_weight = t("head.weight");
    w.head_bias = t("head.bias");
    for (std::size_t i = 0; i < c.depth; ++i) {
      const std::string k = "blocks." + std::to_string(i) + ".";
      auto& b = blocks[i];
      b.norm1_weight = t(k + "norm1.weight");
      b.norm1_bias = t(k + "norm1.bias");
      b.qk_weight = t(k + "attn.qk.weight");
      b.v_weight = t(k + "attn.v.weight");
      b.pos_proj_weight = t(k + "attn.pos_proj.weight");
      b.pos_proj_bias = t(k + "attn.pos_proj.bias");
      b.gating_param = t(k + "attn.gating_param");
      b.qkv_weight = t(k + "attn.qkv.weight");
      b.proj_weight = t(k + "attn.proj.weight");
      b.proj_bias = t(k + "attn.proj.bias");
      b.norm2_weight = t(k + "norm2.weight");
      b.norm2_bias = t(k + "norm2.bias");
      b.fc1_weight = t(k + "mlp.fc1.weight");
      b.fc1_bias = t(k + "mlp.fc1.bias");
      b.fc2_weight = t(k + "mlp.fc2.weight");
      b.fc2_bias = t(k + "mlp.fc2.bias");
    }
    w.blocks = blocks;
  }
};

// The weights held once: convit_pack_linear packs one weight at a time into the same bytes
// convit_pack writes; a forward reading only that pack (the plain linear weights null,
// as gpsa::convit keeps them) gives the same logits bit for bit as one that also has them, and
// as the plain weights packed on the fly.
TEST(ConvitCore, PackOneLinearAtATimeSameBytes) {
  const golden_micro g;
  const gpsa::convit_config& c = g.model.config();
  plain_model p(golden_dir() / "convit_micro_4x4" / "model.safetensors", c);
  ASSERT_EQ(gpsa::validate(p.w), status::ok);
  std::size_t np = 0;
  ASSERT_EQ(gpsa::convit_packed_size(c, np), status::ok);
  std::vector<float> all(np, NAN), one(np, NAN);
  ASSERT_EQ(gpsa::convit_pack(p.w, all), status::ok);
  using L = gpsa::convit_linear;
  // In reverse order, so that no weight relies on another having been packed first.
  ASSERT_EQ(gpsa::convit_pack_linear(c, L::head, 0, p.w.head_weight, one), status::ok);
  for (std::size_t i = c.depth; i-- > 0;) {
    const auto& b = p.blocks[i];
    ASSERT_EQ(gpsa::convit_pack_linear(c, L::fc2, i, b.fc2_weight, one), status::ok);
    ASSERT_EQ(gpsa::convit_pack_linear(c, L::fc1, i, b.fc1_weight, one), status::ok);
    ASSERT_EQ(gpsa::convit_pack_linear(c, L::proj, i, b.proj_weight, one), status::ok);
    if (c.is_gpsa_block(i)) {
      ASSERT_EQ(gpsa::convit_pack_linear(c, L::v, i, b.v_weight, one), status::ok);
      ASSERT_EQ(gpsa::convit_pack_linear(c, L::qk, i, b.qk_weight, one), status::ok);
    } else {
      ASSERT_EQ(gpsa::convit_pack_linear(c, L::qkv, i, b.qkv_weight, one), status::ok);
    }
  }
  ASSERT_EQ(gpsa::convit_pack_linear(c, L::patch_embed, 0, p.w.patch_weight, one), status::ok);
  EXPECT_EQ(0, std::memcmp(all.data(), one.data(), np * sizeof(float)));

  std::size_t nf = 0, ns = 0;
  ASSERT_EQ(gpsa::convit_folded_size(c, nf), status::ok);
  ASSERT_EQ(gpsa::convit_scratch_size(c, 2, 1, ns), status::ok);
  std::vector<float> folded(nf), scratch(ns);
  ASSERT_EQ(gpsa::convit_fold(c, p.blocks, folded), status::ok);
  const auto logits_of = [&](const gpsa::convit_weights& w) {
    std::vector<float> out(2 * c.classes);
    EXPECT_EQ(gpsa::convit_forward(w, 2, g.x, out, {}, scratch), status::ok);
    return out;
  };
  gpsa::convit_weights both = p.w;
  both.packed = one.data();
  const std::vector<float> plain = logits_of(p.w), packed_too = logits_of(both),
                           held_once = logits_of(g.model.weights());
  EXPECT_EQ(0, std::memcmp(plain.data(), packed_too.data(), plain.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(plain.data(), held_once.data(), plain.size() * sizeof(float)));
  EXPECT_LE(rel_error(held_once, g.logits), 1e-4);

  // Errors: a weight the block does not have, a block or buffer out of range, a null weight.
  const float* wt = p.w.patch_weight;
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::qkv, 0, wt, one), status::invalid_argument);  // GPSA
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::qk, 3, wt, one), status::invalid_argument);   // MHSA
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::v, 3, wt, one), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::fc1, c.depth, wt, one), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::head, 1, wt, one), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::fc1, 0, nullptr, one), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_pack_linear(c, L::fc1, 0, wt, {one.data(), np - 1}),
            status::buffer_too_small);
  gpsa::convit_config bad = c;
  bad.heads = 5;
  EXPECT_EQ(gpsa::convit_pack_linear(bad, L::fc1, 0, wt, one), status::invalid_argument);
}

// The folded state holds, per GPSA block, the positional softmax of its pos_proj weights:
// checked against softmax_q(w0 dx + w1 dy + w2 (dx^2 + dy^2)) in float64.
TEST(ConvitCore, FoldedStateLayout) {
  const golden_micro g;
  const gpsa::convit_weights& w = g.model.weights();
  const std::size_t H = 2, G = 4, N = 16, per = H * (G * G + G * G) + H;
  std::size_t nf = 0;
  ASSERT_EQ(gpsa::convit_folded_size(w.config, nf), status::ok);
  ASSERT_EQ(nf, 3 * per);
  double worst = 0;
  for (std::size_t l = 0; l < 3; ++l) {
    const float* pw = w.blocks[l].pos_proj_weight;
    const gpsa::folded_view& f = w.blocks[l].folded;
    ASSERT_EQ(f.heads, H);
    ASSERT_EQ(f.shape, (gpsa::grid{G, G}));
    // One buffer, block after block: fx (H, C, C), gy (H, R, R), lambda (H).
    EXPECT_EQ(f.gy, f.fx + H * G * G);
    EXPECT_EQ(f.lambda, f.gy + H * G * G);
    if (l > 0) {
      EXPECT_EQ(f.fx, w.blocks[l - 1].folded.fx + per);
    }
    for (std::size_t h = 0; h < H; ++h) {
      const double lam = 1.0 / (1.0 + std::exp(-double(w.blocks[l].gating_param[h])));
      EXPECT_NEAR(f.lambda[h], lam, 1e-7);
      for (std::size_t p = 0; p < N; ++p) {
        std::vector<double> row(N);
        double m = -1e300, s = 0;
        for (std::size_t q = 0; q < N; ++q) {
          const double dx = double(q % G) - double(p % G), dy = double(q / G) - double(p / G);
          row[q] = pw[h * 3] * dx + pw[h * 3 + 1] * dy + pw[h * 3 + 2] * (dx * dx + dy * dy);
          m = std::max(m, row[q]);
        }
        for (auto& v : row) s += (v = std::exp(v - m));
        for (std::size_t q = 0; q < N; ++q)
          worst = std::max(worst, std::abs(f.position(h, p, q) - row[q] / s));
      }
    }
  }
  EXPECT_LE(worst, 1e-6);
}

}  // namespace
