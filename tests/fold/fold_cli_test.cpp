// SPDX-License-Identifier: MIT
// `gpsa fold` end to end: layer discovery and order, the dense .npy against float64, the C99
// header compiled by the C compiler with -Werror and checked by a C program, provenance, and
// every error path (one line, non-zero exit, no output left). Also the export helpers.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fold_test_support.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "gpsa/version.hpp"

#include "../support/test_util.hpp"

namespace {

using gpsa_test::slurp;

namespace fs = std::filesystem;
using fold_test::named_tensor;

struct run_result {
  int status = -1;
  std::string out, err;
};

std::string quote(const std::string& s) { return "'" + s + "'"; }

class FoldCli : public ::testing::Test {
 public:
  fs::path dir;

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() /
          ("gpsa_fold_cli_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir);
  }

  run_result run(const std::string& args) const {  // a shell command, output captured
    const fs::path o = dir / "stdout.txt", e = dir / "stderr.txt";
    const std::string cmd = args + " >" + quote(o.string()) + " 2>" + quote(e.string());
    const int rc = std::system(cmd.c_str());
    run_result r;
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = slurp(o);
    r.err = slurp(e);
    return r;
  }
  run_result gpsa(const std::string& args) const { return run(quote(GPSA_CLI) + " " + args); }
};

// A checkpoint shaped like timm's ConViT: GPSA layers blocks.0..N with distinct weights, stored
// in an order where lexical sorting would be wrong, plus unrelated keys.
struct layer_spec {
  std::string prefix;
  fold_test::pos_weights w;
};

std::vector<layer_spec> make_layers(std::size_t heads, const std::vector<int>& indices) {
  std::vector<layer_spec> out;
  for (const int i : indices)
    out.push_back({"blocks." + std::to_string(i) + ".attn",
                   fold_test::random_weights(heads, 1000 + static_cast<std::uint64_t>(i))});
  return out;
}

std::string checkpoint(const std::vector<layer_spec>& layers) {
  std::vector<named_tensor> ts;
  ts.push_back({"patch_embed.proj.bias", {2}, {0.5f, -0.5f}});
  for (const auto& l : layers) {
    const std::size_t H = l.w.heads;
    ts.push_back({l.prefix + ".pos_proj.weight", {H, 3}, l.w.w});
    ts.push_back({l.prefix + ".gating_param", {H}, l.w.gating});
    ts.push_back({l.prefix + ".pos_proj.bias", {H}, l.w.b});
  }
  ts.push_back({"blocks.11.attn.qkv.weight", {3, 1}, {1, 2, 3}});  // an MHSA block: not GPSA
  return fold_test::safetensors_bytes(ts);
}

TEST_F(FoldCli, NpyHasEveryLayerInIndexOrderAndMatchesFloat64) {
  const std::vector<layer_spec> layers = make_layers(3, {10, 2, 0, 1});  // written out of order
  const fs::path ck = dir / "model.safetensors", out = dir / "pos.npy";
  fold_test::write_bytes(ck.string(), checkpoint(layers));
  const run_result r = gpsa("fold --weights " + quote(ck.string()) +
                            " --grid 3x5 --format npy -o " + quote(out.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const gpsa::io::tensor t = gpsa::io::read_npy(out);
  const std::size_t N = 15;
  ASSERT_EQ(t.shape, (std::vector<std::size_t>{4, 3, N, N}));
  const int order[] = {0, 1, 2, 10};
  for (std::size_t l = 0; l < 4; ++l) {
    const layer_spec* spec = nullptr;
    for (const auto& s : layers)
      if (s.prefix == "blocks." + std::to_string(order[l]) + ".attn") spec = &s;
    ASSERT_NE(spec, nullptr);
    for (std::size_t h = 0; h < 3; ++h) {
      const std::vector<double> ref =
          fold_test::dense_position_f64(3, 5, &spec->w.w[3 * h], spec->w.b[h]);
      for (std::size_t i = 0; i < N * N; ++i)
        ASSERT_LE(std::fabs(t.data[(l * 3 + h) * N * N + i] - ref[i]), 2.5e-7 * ref[i] + 1e-44)
            << "layer " << l << " head " << h;
    }
  }
  EXPECT_NE(r.out.find("4 GPSA layer(s) (blocks.0.attn .. blocks.10.attn)"), std::string::npos)
      << r.out;
}

TEST_F(FoldCli, HeaderCompilesAsC99AndAgreesWithNpyAndFloat64) {
  const std::vector<layer_spec> layers = make_layers(4, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const std::string bytes = checkpoint(layers);
  const fs::path ck = dir / "convit_like.safetensors", hdr = dir / "gpsa_fold.h",
                 npy = dir / "pos.npy";
  fold_test::write_bytes(ck.string(), bytes);
  run_result r =
      gpsa("fold --weights " + quote(ck.string()) + " --grid 7x6 -o " + quote(hdr.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  r = gpsa("fold --weights " + quote(ck.string()) + " --grid 7x6 --format npy -o " +
           quote(npy.string()));
  ASSERT_EQ(r.status, 0) << r.err;

  // provenance: file name (no folders), its SHA-256, grid and the layer prefixes in order
  const std::string text = slurp(hdr);
  EXPECT_NE(text.find("Checkpoint: convit_like.safetensors\n"), std::string::npos);
  EXPECT_EQ(text.find(dir.string()), std::string::npos) << "machine path in the header";
  EXPECT_NE(text.find("SHA-256:    " +
                      gpsa::codegen::sha256_hex(std::span(
                          reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()))),
            std::string::npos);
  EXPECT_NE(text.find("Grid:       7 x 6 (N = 42"), std::string::npos);
  EXPECT_LT(text.find("*   2: blocks.2.attn"), text.find("*   10: blocks.10.attn"));
  EXPECT_NE(text.find("#define GPSA_FOLD_LAYERS 13"), std::string::npos);

  // the weights, for the C program's own float64 recomputation
  std::string w = "static const float test_w[13][4][3] = {",
              b = "static const float test_b[13][4] = {",
              g = "static const float test_g[13][4] = {";
  for (const auto& l : layers) {
    w += "{";
    b += "{";
    g += "{";
    for (std::size_t h = 0; h < 4; ++h) {
      w += '{';
      for (std::size_t k = 0; k < 3; ++k)
        w.append(gpsa::codegen::c_float_literal(l.w.w[3 * h + k])).append(k < 2 ? "," : "},");
      b += gpsa::codegen::c_float_literal(l.w.b[h]) + ",";
      g += gpsa::codegen::c_float_literal(l.w.gating[h]) + ",";
    }
    w += "},";
    b += "},";
    g += "},";
  }
  fold_test::write_bytes((dir / "fold_weights.h").string(), w + "};\n" + b + "};\n" + g + "};\n");
  // a second translation unit that includes the header but uses nothing: no unused warnings,
  // and two TUs with the static arrays link together
  fold_test::write_bytes(
      (dir / "other.c").string(),
      "#include \"gpsa_fold.h\"\nint other(void);\nint other(void) { return GPSA_FOLD_HEADS; }\n");
  const std::string cc = quote(GPSA_C_COMPILER) + " -std=c99 -Wall -Wextra -Werror -pedantic -I" +
                         quote(dir.string()) + " -I" + quote(GPSA_INCLUDE_DIR);
  const fs::path exe = dir / "c_consumer";
  r = run(cc + " -O1 " + quote(GPSA_C_CONSUMER) + " " + quote((dir / "other.c").string()) + " -o " +
          quote(exe.string()) + " -lm");
  ASSERT_EQ(r.status, 0) << "the generated header does not build as C99:\n" << r.err;
  r = run(quote(exe.string()) + " " + quote(npy.string()));
  EXPECT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("header == npy == float64 reference"), std::string::npos);

  // and it compiles on its own (as a C file)
  r = run(cc + " -x c -fsyntax-only " + quote(hdr.string()));
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(FoldCli, GoldenCheckpointHeaderSizeIsTheFoldedState) {
  const fs::path ck = fs::path(GPSA_GOLDEN_DIR) / "s14_h4_c192_convit_tiny" / "weights.safetensors";
  const fs::path hdr = dir / "tiny.h";
  const run_result r = gpsa("fold --weights " + quote(ck.string()) +
                            " --grid 14 --name convit_tiny -o " + quote(hdr.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = slurp(hdr);
  EXPECT_NE(text.find("static const float convit_tiny_l0_fx[4][14][14]"), std::string::npos);
  EXPECT_NE(text.find("static const float convit_tiny_l0_gy[4][14][14]"), std::string::npos);
  EXPECT_NE(text.find("static const float convit_tiny_l0_lambda[4]"), std::string::npos);
  EXPECT_NE(text.find("#define CONVIT_TINY_FLOATS_PER_LAYER 1572"),
            std::string::npos);  // 4*(196+196)+4
  EXPECT_NE(text.find("0: blocks.0.attn"), std::string::npos);
}

// A whole ConViT's pos_embed fixes the grid: no --grid needed, the same one accepted, another
// refused naming both; a layer checkpoint (no pos_embed) still needs --grid.
TEST_F(FoldCli, GridFromPosEmbed) {
  const fs::path ck =
      fs::path(GPSA_GOLDEN_DIR) / "convit" / "convit_micro_4x4" / "model.safetensors";
  const fs::path a = dir / "a.npy", b = dir / "b.npy", bad = dir / "bad.npy";
  run_result r =
      gpsa("fold --weights " + quote(ck.string()) + " --format npy -o " + quote(a.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("3 GPSA layer(s) (blocks.0.attn .. blocks.2.attn), H = 2, grid 4x4"),
            std::string::npos)
      << r.out;
  r = gpsa("fold --weights " + quote(ck.string()) + " --grid 4 --format npy -o " +
           quote(b.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(slurp(a), slurp(b));
  r = gpsa("fold --weights " + quote(ck.string()) + " --grid 4x5 -o " + quote(bad.string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "gpsa: " + ck.string() +
                       ": grid 4x5 contradicts pos_embed (1,16,96), whose N = 16 patches make the "
                       "grid 4x4\n");
  EXPECT_FALSE(fs::exists(bad));
  const fs::path layer = fs::path(GPSA_GOLDEN_DIR) / "s3_h9_c36_bias" / "weights.safetensors";
  r = gpsa("fold --weights " + quote(layer.string()) + " -o " + quote(bad.string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "gpsa: " + layer.string() +
                       ": no pos_embed to take the patch grid from (not a whole ConViT); give the "
                       "grid\n");
  EXPECT_FALSE(fs::exists(bad));
}

// gpsa -V and gpsa help COMMAND; CLI11's parse errors in gpsa's words, naming the command.
TEST_F(FoldCli, HelpVersionAndUsageMessages) {
  run_result r = gpsa("-V");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "gpsa " GPSA_VERSION_STRING "\n");
  r = gpsa("help fold");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("--grid S|RxC"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--weights FILE"), std::string::npos) << r.out;
  EXPECT_EQ(r.out, gpsa("fold --help").out);
  r = gpsa("help classify");
  EXPECT_NE(r.out.find("--topk INT"), std::string::npos) << r.out;
  r = gpsa("help nothing");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("gpsa: help: unknown command 'nothing' (commands: ", 0), 0u) << r.err;
  r = gpsa("help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("gpsa help COMMAND"), std::string::npos) << r.out;
  const std::pair<const char*, const char*> usage[] = {
      {"fold --grid 4 -o x.h", "gpsa: fold: --weights is required (see gpsa help fold)\n"},
      {"fold --weights", "gpsa: fold: --weights needs a value (see gpsa help fold)\n"},
      {"fold --weights a --grid 4 -o x.h --bogus",
       "gpsa: fold: unknown option '--bogus' (see gpsa help fold)\n"},
      {"fold --weights a --grid 4 -o x.h extra",
       "gpsa: fold: unexpected argument 'extra' (see gpsa help fold)\n"},
      {"fold --weights a --weights b --grid 4 -o x.h",
       "gpsa: fold: --weights was given 2 times; it takes one value (see gpsa help fold)\n"},
      {"classify --weights a --input x --image y",
       "gpsa: classify: --input and --image cannot be used together (see gpsa help classify)\n"},
      {"",
       "gpsa: no command given (commands: table, forward, fold, export, demo, preprocess, "
       "classify, bench; see gpsa --help)\n"}};
  for (const auto& [args, want] : usage) {
    r = gpsa(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_EQ(r.err, want) << args;
  }
}

// One version source: `gpsa --version` and the headers it writes print CMake's project(VERSION).
TEST_F(FoldCli, VersionIsTheProjectVersion) {
  const run_result r = gpsa("--version");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "gpsa " GPSA_VERSION_STRING "\n");
  EXPECT_STREQ(GPSA_VERSION_STRING, GPSA_EXPECTED_VERSION);
}

// --with-weights: the header also holds every parameter of every layer, bit for bit (printed
// back by a C99 program with %.9g, which round-trips a float), and builds with -Werror.
TEST_F(FoldCli, WithWeightsHeaderHoldsEveryParameter) {
  const fs::path ck = fs::path(GPSA_GOLDEN_DIR) / "s3_h9_c36_bias" / "weights.safetensors";
  const fs::path hdr = dir / "w.h", src = dir / "print.c", exe = dir / "print";
  run_result r = gpsa("fold --weights " + quote(ck.string()) +
                      " --grid 3 --name lw --with-weights -o " + quote(hdr.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("with weights"), std::string::npos) << r.out;
  const std::string text = slurp(hdr);
  EXPECT_NE(text.find("#define LW_DIM 36"), std::string::npos);
  EXPECT_NE(text.find("#define LW_QKV_BIAS 1"), std::string::npos);
  EXPECT_NE(text.find("static const float lw_l0_qk_weight[72][36]"), std::string::npos);
  const gpsa::layer_params p =
      gpsa::read_gpsa_layer(gpsa::io::read_safetensors(ck), "blocks.0.attn");
  const std::pair<const char*, const std::vector<float>*> arrays[] = {
      {"qk_weight", &p.qk_weight},
      {"qk_bias", &p.qk_bias},
      {"v_weight", &p.v_weight},
      {"v_bias", &p.v_bias},
      {"proj_weight", &p.proj_weight},
      {"proj_bias", &p.proj_bias},
      {"pos_proj_weight", &p.pos_proj_weight},
      {"pos_proj_bias", &p.pos_proj_bias},
      {"gating_param", &p.gating_param}};
  std::string c =
      "#include \"gpsa/gpsa.h\"\n#include \"w.h\"\n#include <stdio.h>\n"
      "static void dump(const float* v, unsigned long n) {\n"
      "  unsigned long i;\n  for (i = 0; i < n; ++i) printf(\"%.9g\\n\", (double)v[i]);\n}\n"
      "int main(void) {\n";
  for (const auto& [name, v] : arrays)
    c += "  dump((const float*)lw_l0_" + std::string(name) + ", " + std::to_string(v->size()) +
         "ul);\n";
  c += "  return lw_layers[0].heads == 9 ? 0 : 1;\n}\n";
  fold_test::write_bytes(src.string(), c);
  const std::string cc = quote(GPSA_C_COMPILER) + " -std=c99 -Wall -Wextra -Wpedantic -Werror -I" +
                         quote(dir.string()) + " -I" + quote(GPSA_INCLUDE_DIR);
  r = run(cc + " " + quote(src.string()) + " -o " + quote(exe.string()));
  ASSERT_EQ(r.status, 0) << "the generated header does not build as C99:\n" << r.err;
  r = run(quote(exe.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  for (const auto& [name, v] : arrays)
    for (std::size_t i = 0; i < v->size(); ++i) {
      ASSERT_TRUE(std::getline(lines, line)) << name;
      ASSERT_EQ(std::strtof(line.c_str(), nullptr), (*v)[i]) << name << "[" << i << "]";
    }
  EXPECT_FALSE(std::getline(lines, line));
  // a checkpoint with only the positional tensors cannot give weights
  const fs::path pos_only = dir / "pos.safetensors";
  fold_test::write_bytes(pos_only.string(), checkpoint(make_layers(2, {0})));
  r = gpsa("fold --weights " + quote(pos_only.string()) + " --grid 3 --with-weights -o " +
           quote((dir / "x.h").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing key 'blocks.0.attn.qk.weight'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.h"));
}

// One bad invocation: non-zero exit, a single "gpsa: ..." line containing `needle`, and the
// output path untouched (absent, or its old contents kept).
void expect_clean_failure(const FoldCli& t, const run_result& r, const fs::path& out,
                          const std::string& needle, const std::string& old = "") {
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  if (old.empty())
    EXPECT_FALSE(fs::exists(out)) << out;
  else
    EXPECT_EQ(slurp(out), old);
  for (const auto& e : fs::directory_iterator(t.dir))  // no temporary files left behind
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(FoldCli, ErrorsNameTheProblemAndLeaveNoOutput) {
  const fs::path out = dir / "out.h";
  const auto fold = [&](const std::string& ck, const std::string& extra) {
    return gpsa("fold --weights " + quote(ck) + " " + extra + " -o " + quote(out.string()));
  };
  const auto write_ck = [&](const std::string& name, const std::vector<named_tensor>& ts) {
    const fs::path p = dir / name;
    fold_test::write_bytes(p.string(), fold_test::safetensors_bytes(ts));
    return p.string();
  };
  const std::vector<float> w6 = {1, 0, -1, 0, 1, -1};
  const std::string good =
      write_ck("good.safetensors", {{"blocks.0.attn.pos_proj.weight", {2, 3}, w6},
                                    {"blocks.0.attn.pos_proj.bias", {2}, {0, 0}},
                                    {"blocks.0.attn.gating_param", {2}, {1, 1}}});

  expect_clean_failure(*this, fold((dir / "missing.safetensors").string(), "--grid 4"), out,
                       "missing.safetensors");
  expect_clean_failure(*this, fold(good, "--grid 0"), out, "--grid '0'");
  expect_clean_failure(*this, fold(good, "--grid abc"), out, "--grid 'abc'");
  expect_clean_failure(*this, fold(good, "--grid 3x"), out, "--grid '3x'");
  expect_clean_failure(*this, fold(good, "--grid 4 --format h5"), out, "--format 'h5'");
  expect_clean_failure(*this, fold(good, "--grid 4 --name 9lives"), out, "--name '9lives'");
  expect_clean_failure(*this,
                       fold(write_ck("none.safetensors", {{"head.weight", {1}, {1}}}), "--grid 4"),
                       out, "no GPSA layer found");
  expect_clean_failure(
      *this,
      fold(write_ck("nogate.safetensors", {{"blocks.3.attn.pos_proj.weight", {2, 3}, w6},
                                           {"blocks.3.attn.pos_proj.bias", {2}, {0, 0}}}),
           "--grid 4"),
      out, "blocks.3.attn.gating_param");
  expect_clean_failure(
      *this,
      fold(write_ck("shape.safetensors", {{"blocks.0.attn.pos_proj.weight", {3, 2}, w6},
                                          {"blocks.0.attn.pos_proj.bias", {3}, {0, 0, 0}},
                                          {"blocks.0.attn.gating_param", {3}, {1, 1, 1}}}),
           "--grid 4"),
      out, "blocks.0.attn.pos_proj.weight has shape (3,2), expected (H,3)");
  expect_clean_failure(
      *this,
      fold(write_ck("gshape.safetensors", {{"blocks.0.attn.pos_proj.weight", {2, 3}, w6},
                                           {"blocks.0.attn.pos_proj.bias", {2}, {0, 0}},
                                           {"blocks.0.attn.gating_param", {3}, {1, 1, 1}}}),
           "--grid 4"),
      out, "blocks.0.attn.gating_param has shape (3,), expected (H,) = (2,)");
  std::vector<float> wnan = w6;
  wnan[4] = NAN;
  expect_clean_failure(
      *this,
      fold(write_ck("nan.safetensors", {{"blocks.0.attn.pos_proj.weight", {2, 3}, wnan},
                                        {"blocks.0.attn.pos_proj.bias", {2}, {0, 0}},
                                        {"blocks.0.attn.gating_param", {2}, {1, 1}}}),
           "--grid 4"),
      out,
      "tensor 'blocks.0.attn.pos_proj.weight' has NaN at index (1,1); a non-finite weight cannot "
      "be folded");
  expect_clean_failure(
      *this,
      fold(write_ck("mixed.safetensors", {{"blocks.0.attn.pos_proj.weight", {2, 3}, w6},
                                          {"blocks.0.attn.pos_proj.bias", {2}, {0, 0}},
                                          {"blocks.0.attn.gating_param", {2}, {1, 1}},
                                          {"blocks.1.attn.pos_proj.weight", {1, 3}, {0, 0, -1}},
                                          {"blocks.1.attn.pos_proj.bias", {1}, {0}},
                                          {"blocks.1.attn.gating_param", {1}, {1}}}),
           "--grid 4"),
      out, "same head count");
  fold_test::write_bytes((dir / "trunc.safetensors").string(),
                         checkpoint(make_layers(2, {0})).substr(0, 40));
  expect_clean_failure(*this, fold((dir / "trunc.safetensors").string(), "--grid 4"), out,
                       "trunc.safetensors");
  // a folder that does not exist
  const run_result r = gpsa("fold --weights " + quote(good) + " --grid 4 -o " +
                            quote((dir / "no/such/x.h").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  // an existing output survives a failed run unchanged
  fold_test::write_bytes(out.string(), "keep me");
  expect_clean_failure(*this, fold(good, "--grid 0"), out, "--grid", "keep me");
  // and a good run replaces it
  EXPECT_EQ(fold(good, "--grid 4").status, 0);
  EXPECT_NE(slurp(out).find("GPSA_FOLD_H_INCLUDED"), std::string::npos);
}

// ---- gpsa::natural_less and gpsa::codegen's text helpers ----------------------------------

TEST(FoldExport, NaturalOrderComparesLayerIndicesByValue) {
  using gpsa::natural_less;
  EXPECT_TRUE(natural_less("blocks.2.attn", "blocks.10.attn"));
  EXPECT_FALSE(natural_less("blocks.10.attn", "blocks.2.attn"));
  EXPECT_TRUE(natural_less("blocks.9.attn", "blocks.9.attn2"));
  EXPECT_TRUE(natural_less("a.attn", "blocks.0.attn"));
  EXPECT_TRUE(natural_less("blocks.02.x", "blocks.3.x"));
  EXPECT_FALSE(natural_less("blocks.3.attn", "blocks.3.attn"));
  EXPECT_TRUE(natural_less("stage1.blocks.20", "stage2.blocks.1"));
}

TEST(FoldExport, FloatLiteralsRoundTripAndAreValidC) {
  for (const float v : {0.0f, 1.0f, 0.5f, 0.1f, 1.0f / 3, 3.0517578e-05f, 1e-40f, 1.4e-45f,
                        3.4028235e38f, 0.731058598f, 196.0f}) {
    const std::string s = gpsa::codegen::c_float_literal(v);
    EXPECT_EQ(s.back(), 'f');
    EXPECT_NE(s.find_first_of(".e"), std::string::npos) << s;  // never "1f"
    EXPECT_EQ(std::strtof(s.c_str(), nullptr), v) << s;
  }
  EXPECT_EQ(gpsa::codegen::c_float_literal(1.0f), "1.0f");
  EXPECT_EQ(gpsa::codegen::c_float_literal(0.25f), "0.25f");
}

TEST(FoldExport, CTextHelpers) {
  using namespace gpsa::codegen;
  EXPECT_THROW(c_float_literal(std::numeric_limits<float>::quiet_NaN()), std::invalid_argument);
  EXPECT_THROW(c_float_literal(std::numeric_limits<float>::infinity()), std::invalid_argument);
  EXPECT_TRUE(is_c_identifier("gpsa_fold2"));
  EXPECT_TRUE(is_c_identifier("_x"));
  for (const char* bad : {"", "2x", "a-b", "a b", "\xc3\xa9"})
    EXPECT_FALSE(is_c_identifier(bad)) << bad;
  EXPECT_EQ(c_macro_name("convit_Tiny9"), "CONVIT_TINY9");
  EXPECT_EQ(c_comment_text("a*/b\n\x01"
                           "c"),
            "a*_b??c");
}

}  // namespace

// codegen::gpsa_h_identifiers must list every gpsa_/GPSA_ identifier of <gpsa/gpsa.h> (read
// here), so clash_with_gpsa_h (gpsa fold --name) cannot miss one added later.
TEST(FoldNames, GpsaHIdentifierListIsComplete) {
  std::ifstream f(std::filesystem::path(GPSA_INCLUDE_DIR) / "gpsa" / "gpsa.h");
  ASSERT_TRUE(f) << "cannot read gpsa.h";
  std::stringstream text;
  text << f.rdbuf();
  const std::string s = text.str();
  const auto is_word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  std::size_t found = 0;
  for (std::size_t i = 0; i + 5 <= s.size(); ++i) {
    if ((s.compare(i, 5, "gpsa_") != 0 && s.compare(i, 5, "GPSA_") != 0) ||
        (i > 0 && is_word(s[i - 1])))
      continue;
    std::size_t j = i;
    while (j < s.size() && is_word(s[j])) ++j;
    const std::string id = s.substr(i, j - i);
    EXPECT_NE(std::find(std::begin(gpsa::codegen::gpsa_h_identifiers),
                        std::end(gpsa::codegen::gpsa_h_identifiers), id),
              std::end(gpsa::codegen::gpsa_h_identifiers))
        << id << " (in gpsa.h) is missing from codegen::gpsa_h_identifiers";
    ++found;
    i = j;
  }
  EXPECT_GT(found, 20u);
  // Names the header derives from the symbol, against the list: the clash is found, the default
  // and ordinary names are free.
  EXPECT_EQ(gpsa::codegen::clash_with_gpsa_h("gpsa_layer"), "gpsa_layer_weights");
  EXPECT_EQ(gpsa::codegen::clash_with_gpsa_h("gpsa"), "");
  EXPECT_EQ(gpsa::codegen::clash_with_gpsa_h("gpsa_fold"), "");
  EXPECT_EQ(gpsa::codegen::clash_with_gpsa_h("convit_tiny"), "");
}
