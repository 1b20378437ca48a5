// SPDX-License-Identifier: MIT
// The whole-model C API (gpsa_convit_*) on ConViT configurations unlike the golden ones, against
// the float64 reference written in the tests (convit_reference.hpp): non-square head counts
// (H = 3, 1), one and two channels, patch sizes 2, 3 and 8 (a 1 x 1 grid), no class token
// (local_up_to_layer == depth), qkv bias, several depths; both plans. And `gpsa export` on the
// same checkpoints: the header's shape macros, and its errors (too large for the part, naming
// the size; an unsupported configuration; bad and clashing names), never leaving an output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gpsa/gpsa.h"
#include "gpsa/runtime/convit.hpp"
#include "model_test_util.hpp"
#if defined(GPSA_CLI_PATH)
#include "../cli_matrix/cli_runner.hpp"
#endif

namespace {

using namespace model_test;

struct config_case {
  const char* name;
  convit_ref::config c;
  bool qkv_bias;
};

const config_case kCases[] = {
    // H = 3 (non-square), 2 channels, patch 3 on 12 x 12 (4 x 4 grid), all GPSA: no class token
    {"h3_c2_p3_no_cls", {12, 3, 2, 24, 3, 3, 3, 48, 5, 1e-6}, true},
    // H = 1, 1 channel, patch 2 on 10 x 10 (5 x 5 grid), 1 GPSA + 1 MHSA
    {"h1_c1_p2", {10, 2, 1, 16, 1, 2, 1, 32, 3, 1e-6}, false},
    // a 1 x 1 grid (patch 8 on 8 x 8), H = 2, depth 3 with 2 GPSA
    {"h2_grid1", {8, 8, 3, 12, 2, 3, 2, 24, 7, 1e-6}, false},
    // H = 6 (non-square), depth 5 with 4 GPSA, 2 channels
    {"h6_depth5", {8, 2, 2, 36, 6, 5, 4, 72, 4, 1e-6}, true},
};

// The C descriptor of a loaded model's views, member by member (what a header defines).
struct c_model {
  std::vector<gpsa_convit_block_weights> blocks;
  gpsa_convit_weights w{};
};

c_model c_view(const gpsa::convit_weights& x) {
  c_model m;
  for (const gpsa::convit_block_weights& b : x.blocks)
    m.blocks.push_back({b.norm1_weight, b.norm1_bias, b.qk_weight, b.qk_bias, b.v_weight, b.v_bias,
                        b.pos_proj_weight, b.pos_proj_bias, b.gating_param, b.qkv_weight,
                        b.qkv_bias, b.proj_weight, b.proj_bias, b.norm2_weight, b.norm2_bias,
                        b.fc1_weight, b.fc1_bias, b.fc2_weight, b.fc2_bias});
  const gpsa::convit_config& c = x.config;
  m.w.config = {c.image_size, c.patch_size,        c.channels,   c.dim,     c.heads,
                c.depth,      c.local_up_to_layer, c.mlp_hidden, c.classes, c.eps};
  m.w.patch_weight = x.patch_weight;
  m.w.patch_bias = x.patch_bias;
  m.w.pos_embed = x.pos_embed;
  m.w.cls_token = x.cls_token;
  m.w.blocks = m.blocks.data();
  m.w.block_count = m.blocks.size();
  m.w.norm_weight = x.norm_weight;
  m.w.norm_bias = x.norm_bias;
  m.w.head_weight = x.head_weight;
  m.w.head_bias = x.head_bias;
  m.w.packed = nullptr;
  return m;
}

TEST(CApiConfigs, EveryPlanMatchesTheFloat64Reference) {
  for (const config_case& k : kCases) {
    SCOPED_TRACE(k.name);
    const convit_ref::config& c = k.c;
    const st_map weights = random_model(c, k.qkv_bias, 11);
    gpsa::convit_options keep;
    keep.keep_plain_weights = true;  // the C views need the plain weights
    const gpsa::convit model(parse(weights, k.name), keep);
    const c_model m = c_view(model.weights());
    const std::size_t B = 3, T = c.image / c.patch * (c.image / c.patch) + (c.local < c.depth);
    const auto x = random_images(c, B, 5);
    const convit_ref::result r = convit_ref::forward(c, reference_values(weights), x, B);

    std::size_t folded_len = 0, low = 0, fast = 0;
    ASSERT_EQ(gpsa_convit_folded_size(&m.w.config, &folded_len), GPSA_OK);
    std::vector<float> folded(folded_len);
    ASSERT_EQ(gpsa_convit_fold(&m.w, folded.data(), folded.size()), GPSA_OK);
    ASSERT_EQ(gpsa_convit_scratch_size(&m.w.config, GPSA_CONVIT_LOW_MEMORY, B, &low), GPSA_OK);
    ASSERT_EQ(gpsa_convit_scratch_size(&m.w.config, GPSA_CONVIT_FAST, B, &fast), GPSA_OK);
    EXPECT_EQ(low, GPSA_CONVIT_SCRATCH_LEN(c.image, c.patch, c.channels, c.dim, c.heads, c.depth,
                                           c.local, c.hidden));
    for (const gpsa_convit_plan plan : {GPSA_CONVIT_LOW_MEMORY, GPSA_CONVIT_FAST}) {
      const std::size_t n = plan == GPSA_CONVIT_FAST ? fast : low;
      std::vector<float> scratch(n), logits(B * c.classes), features(B * T * c.dim);
      ASSERT_EQ(gpsa_convit_forward(&m.w, folded.data(), folded.size(), plan, B, x.data(), x.size(),
                                    logits.data(), logits.size(), features.data(), features.size(),
                                    scratch.data(), scratch.size()),
                GPSA_OK);
      const double el = rel_error(logits, r.logits), ef = rel_error(features, r.features);
      std::printf(
          "[ c api    ] %-16s %-10s logits %.3g, features %.3g of max(1, max|ref|); "
          "scratch %zu floats\n",
          k.name, plan == GPSA_CONVIT_FAST ? "fast" : "low memory", el, ef, n);
      EXPECT_LE(el, 2e-6);
      EXPECT_LE(ef, 2e-6);
      // Without features the last block computes the rows the head reads alone: the same bits.
      std::vector<float> logits_only(B * c.classes);
      ASSERT_EQ(gpsa_convit_forward(&m.w, folded.data(), folded.size(), plan, B, x.data(), x.size(),
                                    logits_only.data(), logits_only.size(), nullptr, 0,
                                    scratch.data(), scratch.size()),
                GPSA_OK);
      EXPECT_EQ(logits_only, logits);
    }
  }
}

TEST(CApiConfigs, TooManyBlocksForTheCApi) {
  convit_ref::config c{8, 4, 1, 8, 2, GPSA_CONVIT_MAX_BLOCKS + 1, 1, 8, 2, 1e-6};
  const gpsa::convit model(parse(random_model(c, false, 3), "deep"));
  const c_model m = c_view(model.weights());
  std::size_t folded_len = 0;
  ASSERT_EQ(gpsa_convit_folded_size(&m.w.config, &folded_len), GPSA_OK);
  std::vector<float> folded(folded_len);
  EXPECT_EQ(gpsa_convit_fold(&m.w, folded.data(), folded.size()), GPSA_SIZE_OVERFLOW);
}

#if defined(GPSA_CLI_PATH)

using gpsa_cli_test::golden;
using gpsa_cli_test::run_gpsa;
using gpsa_cli_test::run_result;
using gpsa_cli_test::scratch;
using gpsa_cli_test::slurp;
using gpsa_cli_test::spit;

TEST(Export, HeaderShapeMacrosForEveryConfiguration) {
  scratch dir;
  for (const config_case& k : kCases) {
    SCOPED_TRACE(k.name);
    const fs::path w = dir / (std::string(k.name) + ".safetensors"), h = dir / "m.h";
    spit(w, tiny_safetensors::serialise(random_model(k.c, k.qkv_bias, 11)));
    const run_result r =
        run_gpsa({"export", "--weights", w.string(), "--name", "m", "-o", h.string()});
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    const std::string text = slurp(h);
    const auto has = [&](const std::string& line) {
      EXPECT_NE(text.find(line + "\n"), std::string::npos) << line;
    };
    has("#define M_HEADS " + std::to_string(k.c.heads));
    has("#define M_CHANNELS " + std::to_string(k.c.channels));
    has("#define M_PATCH_SIZE " + std::to_string(k.c.patch));
    has("#define M_DEPTH " + std::to_string(k.c.depth));
    has("#define M_LOCAL_UP_TO_LAYER " + std::to_string(k.c.local));
    has("#define M_QKV_BIAS " + std::string(k.qkv_bias ? "1" : "0"));
    has("#define M_TOKENS " +
        std::to_string(k.c.image / k.c.patch * (k.c.image / k.c.patch) + (k.c.local < k.c.depth)));
    EXPECT_EQ(text.find("m_cls_token") == std::string::npos, k.c.local == k.c.depth);
  }
}

TEST(Export, RefusesWhatDoesNotFitOrIsNotAModelWithOneLineAndNoOutput) {
  scratch dir;
  const fs::path digits = golden("digits/convit_digits/model.safetensors");
  const fs::path out = dir / "model.h";
  const auto refused = [&](std::vector<std::string> args,
                           std::initializer_list<std::string> parts) {
    args.insert(args.begin(), "export");
    args.push_back("-o");
    args.push_back(out.string());
    const run_result r = run_gpsa(args);
    EXPECT_TRUE(r.exited && r.code == 1) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const std::string& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  };
  // the digits model: 560332 bytes of flash (parameters 553752, folded 6192, views 388), a
  // forward of 52032 + 1064 bytes of RAM
  refused(
      {"--weights", digits.string(), "--name", "d", "--flash", "512K"},
      {"needs 560332 bytes of flash", "parameters 553752", "folded state 6192", "--flash 524288"});
  refused({"--weights", digits.string(), "--name", "d", "--ram", "48K"},
          {"needs 53096 bytes of RAM", "low-memory scratch 52032", "--ram 49152"});
  refused({"--weights", digits.string(), "--name", "d", "--flash", "1G"}, {"--flash '1G'"});
  refused({"--weights", digits.string(), "--name", "9lives"}, {"--name '9lives'", "C identifier"});
  refused({"--weights", digits.string(), "--name", "gpsa_model"}, {"gpsa_model", "clashes"});
  refused({"--weights", digits.string(), "--name", "GPSA"}, {"clashes", "<gpsa/gpsa.h>"});
  // not a ConViT: a single GPSA layer's checkpoint
  refused({"--weights", golden("s4_h4_c32_sharp/weights.safetensors").string(), "--name", "l"},
          {"patch_embed.proj.weight", "ConViT"});
  // a configuration the C API does not take
  const fs::path deep = dir / "deep.safetensors";
  spit(deep, tiny_safetensors::serialise(random_model(
                 {8, 4, 1, 8, 2, GPSA_CONVIT_MAX_BLOCKS + 1, 1, 8, 2, 1e-6}, false, 3)));
  refused({"--weights", deep.string(), "--name", "deep"},
          {"unsupported configuration", "depth 33", "GPSA_CONVIT_MAX_BLOCKS"});
  // and the budgets it passes: exactly the bytes it names
  const run_result ok = run_gpsa({"export", "--weights", digits.string(), "--name", "d", "--flash",
                                  "560332", "--ram", "53096", "-o", out.string()});
  EXPECT_TRUE(ok.exited && ok.code == 0) << ok;
  EXPECT_TRUE(fs::exists(out));
}

// gpsa export --int8: the digits model's int8 sizes (codes 131968, floats 33176, folded 6192,
// views 456: 171792 bytes of flash; scratch 40272 + image and logits 1064 bytes of RAM), its
// budgets, and bad calibration input: one line naming the file or flag, no output.
TEST(Export, Int8RefusesBadCalibrationAndBudgetsWithOneLineAndNoOutput) {
  scratch dir;
  const fs::path digits = golden("digits/convit_digits/model.safetensors");
  const fs::path calib = golden("digits/convit_digits/x_calib.npy");
  const fs::path out = dir / "model.h";
  const auto refused = [&](std::vector<std::string> args,
                           std::initializer_list<std::string> parts) {
    args.insert(args.begin(), {"export", "--weights", digits.string(), "--name", "q"});
    args.push_back("-o");
    args.push_back(out.string());
    const run_result r = run_gpsa(args);
    EXPECT_TRUE(r.exited && r.code == 1) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const std::string& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  };
  refused({"--int8"}, {"--int8 needs --calibration"});
  refused({"--calibration", calib.string()}, {"add --int8"});
  refused({"--int8", "--calibration", calib.string(), "--flash", "160K"},
          {"the int8 model needs 171792 bytes of flash", "int8 codes 131968", "floats 33176",
           "folded state 6192", "views 456", "--flash 163840"});
  refused({"--int8", "--calibration", calib.string(), "--ram", "32K"},
          {"the int8 forward needs 41336 bytes of RAM", "scratch 40272", "--ram 32768"});
  // calibration files: wrong shape, NaN, empty, wrong dtype
  refused({"--int8", "--calibration", golden("convit/convit_micro_4x4/x.npy").string()},
          {"x.npy (--calibration) has shape (2,3,64,64), expected (B,1,16,16)"});
  std::string bytes = slurp(calib);
  const std::size_t data = bytes.size() - 64 * 256 * 4;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&bytes[data + 4 * (256 * 5 + 16 * 3 + 7)], &nan, 4);
  spit(dir / "nan.npy", bytes);
  refused({"--int8", "--calibration", (dir / "nan.npy").string()},
          {"nan.npy (--calibration): image 5 has a NaN at (0,3,7)"});
  spit(dir / "empty.npy", gpsa_cli_test::npy_zeros({0, 1, 16, 16}));
  refused({"--int8", "--calibration", (dir / "empty.npy").string()},
          {"empty.npy (--calibration) has shape (0,1,16,16): no images"});
  spit(dir / "f2.npy", gpsa_cli_test::npy_zeros({4, 1, 16, 16}, "<f2"));
  refused({"--int8", "--calibration", (dir / "f2.npy").string()}, {"f2.npy: dtype '<f2'"});
  // the budgets it passes: exactly the bytes it names
  const run_result ok =
      run_gpsa({"export", "--weights", digits.string(), "--name", "q", "--int8", "--calibration",
                calib.string(), "--flash", "171792", "--ram", "41336", "-o", out.string()});
  EXPECT_TRUE(ok.exited && ok.code == 0) << ok;
  const std::string text = slurp(out);
  EXPECT_NE(text.find("static const int8_t q_b0_qk_weight[8192]"), std::string::npos);
  EXPECT_NE(text.find("#define Q_SCRATCH_LEN GPSA_CONVIT_INT8_SCRATCH_LEN("), std::string::npos);
}

// The digits model's data configuration on 8x8 PNGs of test digits (tests/image/fixtures/
// data_config, made from x_test.npy by make_data_config.py): `gpsa preprocess` gives the test
// set's tensor within the PNG's and the 8-bit resize's roundings (2 / 255 after (x - 0.5) / 0.5,
// plus float slack), and `gpsa classify --image` timm's top-1 of that test image.
TEST(DataConfig, DigitPngsAreClassifiedAsTheTestSetIs) {
  scratch dir;
  const fs::path digits = golden("digits/convit_digits");
  const fs::path pngs = fs::path(GPSA_IMAGE_FIXTURES) / "data_config";
  std::vector<std::size_t> xs, ls;
  const std::vector<float> x_test = read_f32(digits / "x_test.npy", &xs);
  const std::vector<float> logits = read_f32(digits / "logits.npy", &ls);
  ASSERT_EQ(xs, (std::vector<std::size_t>{360, 1, 16, 16}));
  const std::vector<std::string> config = {"--input-size", "1,16,16", "--interpolation", "bilinear",
                                           "--crop-pct",   "1",       "--mean",          "0.5",
                                           "--std",        "0.5"};
  for (std::size_t i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    const fs::path png = pngs / ("digit_" + std::to_string(i) + ".png");
    std::vector<std::string> args = {"preprocess", "--image", png.string(), "-o",
                                     (dir / "x.npy").string()};
    args.insert(args.end(), config.begin(), config.end());
    run_result r = run_gpsa(args);
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    std::vector<std::size_t> shape;
    const std::vector<float> x = read_f32(dir / "x.npy", &shape);
    ASSERT_EQ(shape, (std::vector<std::size_t>{1, 1, 16, 16}));
    double worst = 0;
    for (std::size_t k = 0; k < 256; ++k)
      worst = std::max(worst, std::abs(double(x[k]) - double(x_test[i * 256 + k])));
    EXPECT_LE(worst, 2.0 / 255 + 1e-6);
    args = {"classify", "--weights",  (digits / "model.safetensors").string(),
            "--image",  png.string(), "--topk",
            "1",        "-o",         (dir / "l.npy").string()};
    args.insert(args.end(), config.begin(), config.end());
    r = run_gpsa(args);
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    const std::vector<float> l = read_f32(dir / "l.npy", &shape);
    ASSERT_EQ(l.size(), 10u);
    const auto top = [](const float* v) { return std::max_element(v, v + 10) - v; };
    EXPECT_EQ(top(l.data()), top(logits.data() + i * 10));
  }
  // errors: one line naming the flag
  const std::string png = (pngs / "digit_0.png").string();
  const std::string model = (digits / "model.safetensors").string();
  const auto refused = [&](std::vector<std::string> args, const std::string& part) {
    const run_result r = run_gpsa(args);
    EXPECT_TRUE(r.exited && r.code == 1) << r;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  };
  refused({"classify", "--weights", model, "--image", png}, "--mean and --std");
  refused({"classify", "--weights", model, "--image", png, "--input-size", "3,16,16"},
          "the model takes 1,16,16");
  refused({"preprocess", "--image", png, "--input-size", "1,16,8", "-o", "x.npy"}, "is not square");
  refused({"preprocess", "--image", png, "--input-size", "2,16,16", "-o", "x.npy"}, "2 channels");
  refused({"preprocess", "--image", png, "--interpolation", "nearest", "-o", "x.npy"},
          "--interpolation 'nearest'");
  refused({"preprocess", "--image", png, "--crop-pct", "1.2", "-o", "x.npy"}, "--crop-pct '1.2'");
  refused({"preprocess", "--image", png, "--std", "0,1,1", "-o", "x.npy"}, "--std '0,1,1'");
  refused({"preprocess", "--image", png, "--mean", "0.5,0.5", "-o", "x.npy"},
          "2 value(s) for 3 channel(s)");
  refused({"preprocess", "--image", png, "--size", "16", "--input-size", "3,16,16", "-o", "x.npy"},
          "--size and --input-size");
  refused({"classify", "--weights", model, "--input", (digits / "x_test.npy").string(), "--mean",
           "0.5"},
          "--input x.npy is used as it is");
}

#endif

}  // namespace
