// SPDX-License-Identifier: MIT
// `gpsa classify` end to end, through the real binary (fork + exec): the golden PyTorch models
// (logits and features within the golden tolerance), the printed top-K table (checked against a
// float64 softmax of the reference logits), labels, --image against the float64 reference on
// the golden preprocessed image, --threads (same bytes for any N; no thread without it), and
// every bad input: one line on stderr, no output file, inputs untouched, old outputs kept.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <functional>

#include "../cli_matrix/cli_runner.hpp"
#include "../image/image_test_util.hpp"
#include "../model/model_test_util.hpp"
#include "gpsa/runtime/npy.hpp"

namespace {

using namespace gpsa_cli_test;
namespace mt = model_test;

std::string golden_model(const std::string& name) {
  return (mt::golden_dir() / name / "model.safetensors").string();
}
std::string golden_x(const std::string& name) {
  return (mt::golden_dir() / name / "x.npy").string();
}

// One printed row of the top-K table.
struct top_row {
  std::size_t image = 0, rank = 0, cls = 0;
  double logit = 0, prob = 0;
  std::string label;
};

// The rows under the "image  rank  class ..." header of classify's report.
std::vector<top_row> parse_table(const std::string& out) {
  std::vector<top_row> rows;
  std::istringstream in(out);
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("image  rank  class", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    top_row r;
    int used = 0;
    if (std::sscanf(line.c_str(), "%zu %zu %zu %lf %lf%n", &r.image, &r.rank, &r.cls, &r.logit,
                    &r.prob, &used) != 5)
      break;
    if (static_cast<std::size_t>(used) + 2 <= line.size()) r.label = line.substr(used + 2);
    rows.push_back(r);
  }
  return rows;
}

// Softmax in double of each row of (B, K) logits.
std::vector<double> softmax_rows(const std::vector<float>& logits, std::size_t K) {
  std::vector<double> p(logits.size());
  for (std::size_t b = 0; b * K < logits.size(); ++b) {
    double m = -INFINITY, s = 0;
    for (std::size_t j = 0; j < K; ++j) m = std::max(m, double(logits[b * K + j]));
    for (std::size_t j = 0; j < K; ++j) s += p[b * K + j] = std::exp(logits[b * K + j] - m);
    for (std::size_t j = 0; j < K; ++j) p[b * K + j] /= s;
  }
  return p;
}

class Classify : public ::testing::Test {
 public:
  scratch dir;
  fs::path in = dir / "in", out = dir / "out";
  void SetUp() override {
    fs::create_directories(in);
    fs::create_directories(out);
  }
};

// ---- golden models --------------------------------------------------------------------------

TEST_F(Classify, GoldenModelsLogitsFeaturesAndTopK) {
  mt::tolerance tol;
  const auto cases = mt::load_cases(&tol);
  ASSERT_EQ(cases.size(), 2u);
  for (const mt::golden_case& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path lo = out / (c.name + ".logits.npy"), fe = out / (c.name + ".features.npy");
    const run_result r =
        run_gpsa({"classify", "--weights", golden_model(c.name), "--input", golden_x(c.name), "-o",
                  lo.string(), "--features", fe.string(), "--topk", "3"});
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    EXPECT_TRUE(r.err.empty()) << r.err;
    std::vector<std::size_t> ref_lshape, ref_fshape;
    const std::vector<float> ref_l =
        mt::read_f32(mt::golden_dir() / c.name / "logits.npy", &ref_lshape);
    const std::vector<float> ref_f =
        mt::read_f32(mt::golden_dir() / c.name / "features.npy", &ref_fshape);
    const npy_f32 got_l = read_npy_f32(lo), got_f = read_npy_f32(fe);
    EXPECT_EQ(got_l.shape, ref_lshape);
    EXPECT_EQ(got_f.shape, ref_fshape);
    const double el = mt::rel_error(got_l.data, ref_l), ef = mt::rel_error(got_f.data, ref_f);
    std::printf("[ classify ] %s: logits %.2g, features %.2g (max |d| / max(1, max |ref|))\n",
                c.name.c_str(), el, ef);
    EXPECT_LE(el, tol.logits);
    EXPECT_LE(ef, tol.features);

    // The table: 3 rows per image, ranks 1..3, the reference's top classes (its logits are far
    // enough apart here), logits as written, probabilities = float64 softmax of the reference.
    const std::size_t K = c.cfg.classes;
    const std::vector<double> p = softmax_rows(ref_l, K);
    const std::vector<top_row> rows = parse_table(r.out);
    ASSERT_EQ(rows.size(), 3 * c.batch) << r.out;
    for (std::size_t b = 0; b < c.batch; ++b) {
      std::vector<std::size_t> order(K);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
        return ref_l[b * K + x] > ref_l[b * K + y];
      });
      for (std::size_t k = 0; k < 3; ++k) {
        const top_row& row = rows[b * 3 + k];
        EXPECT_EQ(row.image, b);
        EXPECT_EQ(row.rank, k + 1);
        EXPECT_EQ(row.cls, order[k]);
        EXPECT_NEAR(row.logit, ref_l[b * K + order[k]], 1e-4);
        EXPECT_NEAR(row.prob, p[b * K + order[k]], 2e-6);
        EXPECT_TRUE(row.label.empty());
      }
    }
    EXPECT_NE(r.out.find("top 3 of " + std::to_string(K) + " classes"), std::string::npos);
    EXPECT_NE(r.out.find("wrote " + lo.string() + ": logits (" + std::to_string(c.batch) + "," +
                         std::to_string(K) + ") float32"),
              std::string::npos)
        << r.out;
  }
}

TEST_F(Classify, TopKDefaultAndClampAndNoOutputFiles) {
  const std::string m = golden_model("convit_micro_4x4"), x = golden_x("convit_micro_4x4");
  run_limits in_out;
  in_out.cwd = out;
  run_result r = run_gpsa({"classify", "--weights", m, "--input", x}, in_out);
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_EQ(parse_table(r.out).size(), 2u * 5u);  // default top 5, B = 2
  EXPECT_TRUE(snapshot(out).empty()) << "no -o: nothing written";
  r = run_gpsa({"classify", "--weights", m, "--input", x, "--topk", "1000"});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  const std::vector<top_row> rows = parse_table(r.out);
  ASSERT_EQ(rows.size(), 2u * 10u);  // all 10 classes
  for (std::size_t b = 0; b < 2; ++b) {
    double sum = 0;
    for (std::size_t k = 0; k < 10; ++k) {
      sum += rows[b * 10 + k].prob;
      if (k > 0) {
        EXPECT_GE(rows[b * 10 + k - 1].logit, rows[b * 10 + k].logit);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

// --int8: the digits model calibrated on x_calib.npy; the written logits are the NumPy
// reference's (tools/int8_reference.py model: tests/golden/int8/digits_model.safetensors) bit
// for bit, and the report names the calibration.
TEST_F(Classify, Int8DigitsLogitsEqualTheReference) {
  const fs::path d = fs::path(GPSA_GOLDEN_DIR) / "digits" / "convit_digits";
  const fs::path lo = out / "int8.npy";
  const run_result r = run_gpsa({"classify", "--weights", (d / "model.safetensors").string(),
                                 "--input", (d / "x_test.npy").string(), "--int8", "--calibration",
                                 (d / "x_calib.npy").string(), "--topk", "1", "-o", lo.string()});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_NE(r.out.find("int8: calibrated on 64 images of"), std::string::npos) << r.out;
  EXPECT_EQ(parse_table(r.out).size(), 360u);
  const npy_f32 got = read_npy_f32(lo);
  const auto ref =
      gpsa::io::read_safetensors(fs::path(GPSA_GOLDEN_DIR) / "int8" / "digits_model.safetensors");
  const std::vector<float>& want = ref.at("logits").data;
  EXPECT_EQ(got.shape, (std::vector<std::size_t>{360, 10}));
  ASSERT_EQ(got.data.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data.data(), want.data(), want.size() * sizeof(float)), 0);
}

TEST_F(Classify, LabelsArePrintedAndMustMatchTheClasses) {
  const std::string m = golden_model("convit_micro_4x4"), x = golden_x("convit_micro_4x4");
  // CRLF line ends, a byte-order mark, a final newline, UTF-8 and an empty label are fine.
  std::string text = "\xEF\xBB\xBF";
  for (int i = 0; i < 10; ++i)
    text += (i == 3 ? std::string() : "class " + std::to_string(i) + " \xC3\xA9t\xC3\xA9") + "\r\n";
  spit(in / "labels.txt", text);
  const run_result r = run_gpsa({"classify", "--weights", m, "--input", x, "--topk", "10",
                                 "--labels", (in / "labels.txt").string()});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  const std::vector<top_row> rows = parse_table(r.out);
  ASSERT_EQ(rows.size(), 20u);
  for (const top_row& row : rows)
    EXPECT_EQ(row.label, row.cls == 3 ? std::string()
                                      : "class " + std::to_string(row.cls) + " \xC3\xA9t\xC3\xA9");
  // A label with a control character is printed escaped, on its one line.
  text.clear();
  for (int i = 0; i < 10; ++i) text += (i == 0 ? std::string("evil\x1b[31m") : "c") + "\n";
  spit(in / "evil.txt", text);
  const run_result e = run_gpsa({"classify", "--weights", m, "--input", x, "--topk", "10",
                                 "--labels", (in / "evil.txt").string()});
  ASSERT_TRUE(e.exited && e.code == 0) << e;
  EXPECT_EQ(e.out.find('\x1b'), std::string::npos);
  EXPECT_NE(e.out.find("evil\\x1b[31m"), std::string::npos) << e.out;
}

// ---- --image ----------------------------------------------------------------------------------

TEST_F(Classify, ImageEndToEndMatchesFloat64ReferenceOnGoldenPreprocessedImage) {
  // The 64 x 64 golden model on a golden image, preprocessed by gpsa; the reference runs the
  // float64 model on PIL's preprocessed tensor of the same image (tests/golden/images).
  const mt::golden_case c = mt::find_case("convit_micro_4x4");
  mt::tolerance tol;
  (void)mt::load_cases(&tol);
  const mt::st_map weights = mt::load_golden_map(c.name);
  for (const char* img : {"gray_200x240.png", "scene_320x240.jpg"}) {
    SCOPED_TRACE(img);
    const std::string image = (fs::path(GPSA_GOLDEN_DIR) / "images" / img).string();
    const fs::path lo = out / "l.npy", fe = out / "f.npy";
    const run_result r = run_gpsa({"classify", "--weights", golden_model(c.name), "--image", image,
                                   "-o", lo.string(), "--features", fe.string()});
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    EXPECT_NE(r.out.find("crop 64x64"), std::string::npos) << r.out;
    const std::string stem = std::string(img).substr(0, std::string(img).find('.'));
    const std::vector<float> x =
        mt::read_f32(fs::path(GPSA_GOLDEN_DIR) / "images" / (stem + "_64.npy"));
    const convit_ref::result ref = convit_ref::forward(c.cfg, mt::reference_values(weights), x, 1);
    const double el = mt::rel_error(read_npy_f32(lo).data, ref.logits);
    const double ef = mt::rel_error(read_npy_f32(fe).data, ref.features);
    std::printf("[ classify ] --image %s on %s: logits %.2g, features %.2g vs float64\n", img,
                c.name.c_str(), el, ef);
    EXPECT_LE(el, tol.logits);
    EXPECT_LE(ef, tol.features);
    EXPECT_EQ(read_npy_f32(lo).shape, (std::vector<std::size_t>{1, 10}));
  }
}

// ---- threads ----------------------------------------------------------------------------------

TEST_F(Classify, ThreadsGiveIdenticalBytesAndNoThreadWithoutTheFlag) {
  const std::string m = golden_model("convit_7x7_bias"), x = golden_x("convit_7x7_bias");
  std::vector<std::string> logits, features;
  for (const char* n : {"", "1", "2", "3"}) {
    SCOPED_TRACE(n);
    std::vector<std::string> args{"classify",
                                  "--weights",
                                  m,
                                  "--input",
                                  x,
                                  "-o",
                                  (out / "l.npy").string(),
                                  "--features",
                                  (out / "f.npy").string()};
    if (*n != 0) args.insert(args.end(), {"--threads", n});
    const run_result r = run_gpsa(args);
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    logits.push_back(slurp(out / "l.npy"));
    features.push_back(slurp(out / "f.npy"));
  }
  for (std::size_t i = 1; i < logits.size(); ++i) {
    EXPECT_EQ(logits[i], logits[0]) << i;
    EXPECT_EQ(features[i], features[0]) << i;
  }
  // A process that cannot create threads: classify without --threads still works; with
  // --threads 2 it must start one (the shim aborts it: the positive control).
  const run_limits shim{{}, {std::string("LD_PRELOAD=") + GPSA_NO_THREADS_SHIM}, 0, 0};
  run_result r = run_gpsa({"classify", "--weights", m, "--input", x}, shim);
  EXPECT_TRUE(r.exited && r.code == 0) << r;
  r = run_gpsa({"classify", "--weights", m, "--input", x, "--threads", "2"}, shim);
  EXPECT_FALSE(r.exited && r.code == 0) << r;
}

// ---- bad input ----------------------------------------------------------------------------------

struct bad_case {
  std::string name;
  std::function<std::vector<std::string>(const fs::path& in, const fs::path& out)> setup;
  int code;                        // expected exit status (1, or 2 for usage errors)
  std::vector<std::string> parts;  // the stderr line contains each ("@IN" = the input folder)
};

// A float32 .npy (format 1.0) of `shape` holding `values`, written here (not by gpsa).
std::string npy_bytes(const std::string& shape, const std::vector<float>& values) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  h += std::string(63 - (10 + h.size()) % 64, ' ') + "\n";  // header ends 64-byte aligned
  std::string b("\x93NUMPY\x01\x00", 8);
  b += static_cast<char>(h.size() & 0xff);
  b += static_cast<char>(h.size() >> 8);
  b += h;
  b.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return b;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

// The golden 64 x 64 model with one key dropped / one tensor's shape changed, written by the
// tests' own safetensors writer.
void write_model(const fs::path& to, const std::function<void(mt::st_map&)>& edit) {
  mt::st_map m = mt::load_golden_map("convit_micro_4x4");
  edit(m);
  spit(to, tiny_safetensors::serialise(m));
}

std::vector<bad_case> bad_cases() {
  const std::string M = "convit_micro_4x4";
  const auto cp = [](const fs::path& in) {
    copy_golden("convit/convit_micro_4x4/model.safetensors", in / "m.safetensors");
    copy_golden("convit/convit_micro_4x4/x.npy", in / "x.npy");
  };
  const auto base = [](const fs::path& in) {
    return std::vector<std::string>{"classify", "--weights", (in / "m.safetensors").string()};
  };
  const auto with = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
  };
  std::vector<bad_case> v;
  // usage
  v.push_back({"missing_weights",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return std::vector<std::string>{"classify", "--input", (in / "x.npy").string()};
               },
               2,
               {"--weights is required"}});
  v.push_back({"neither_input_nor_image",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return base(in);
               },
               2,
               {"one of --input x.npy, --image FILE|FOLDER or --image-list F is required"}});
  v.push_back({"both_input_and_image",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 copy_golden("images/gray_200x240.png", in / "g.png");
                 return with(base(in), {"--input", (in / "x.npy").string(), "--image",
                                        (in / "g.png").string()});
               },
               2,
               {"--input and --image cannot be used together"}});
  for (const std::string k : {"0", "-1", "abc", "1.5", "99999999999", "", " 3", "+3"})
    v.push_back({"bad_topk_" + std::to_string(v.size()),
                 [&, k](const fs::path& in, const fs::path&) {
                   cp(in);
                   return with(base(in), {"--input", (in / "x.npy").string(), "--topk", k});
                 },
                 1,
                 {"--topk '" + k + "': expected an integer from 1 to"}});
  for (const std::string k : {"0", "257", "two", ""})
    v.push_back({"bad_threads_" + std::to_string(v.size()),
                 [&, k](const fs::path& in, const fs::path&) {
                   cp(in);
                   return with(base(in), {"--input", (in / "x.npy").string(), "--threads", k});
                 },
                 1,
                 {"--threads '" + k + "': expected an integer from 1 to 256"}});
  // the checkpoint
  v.push_back({"missing_key",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 write_model(in / "m.safetensors",
                             [](mt::st_map& m) { m.erase("blocks.1.mlp.fc2.bias"); });
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string()});
               },
               1,
               {"@IN/m.safetensors: missing key 'blocks.1.mlp.fc2.bias'"}});
  v.push_back({"mismatched_shape",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 write_model(in / "m.safetensors", [](mt::st_map& m) {
                   auto& t = m.at("blocks.1.attn.qk.weight");
                   t.shape = {192, 95};
                   t.values.resize(192 * 95);
                 });
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string()});
               },
               1,
               {"@IN/m.safetensors: blocks.1.attn.qk.weight has shape (192,95), expected (2D,D) = "
                "(192,96)"}});
  v.push_back({"truncated_checkpoint",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 truncated_golden("convit/convit_micro_4x4/model.safetensors", in / "m.safetensors",
                                  -100);
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string()});
               },
               1,
               {"@IN/m.safetensors: tensor", "beyond the data section"}});
  v.push_back({"checkpoint_is_fifo",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 fs::remove(in / "m.safetensors");
                 ::mkfifo((in / "m.safetensors").c_str(), 0600);
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string()});
               },
               1,
               {"@IN/m.safetensors: not a regular file (FIFO)"}});
  v.push_back({"layer_checkpoint_not_a_model",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 copy_golden("s2_h4_c16/weights.safetensors", in / "m.safetensors");
                 return with(base(in), {"--input", (in / "x.npy").string()});
               },
               1,
               {"@IN/m.safetensors: missing key 'patch_embed.proj.weight'"}});
  // the input tensor
  v.push_back(
      {"wrong_image_size",
       [&](const fs::path& in, const fs::path& out) {
         cp(in);
         copy_golden("convit/convit_7x7_bias/x.npy", in / "x.npy");
         return with(base(in),
                     {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string()});
       },
       1,
       {"@IN/x.npy has shape (1,3,112,112), expected (B,3,64,64): this model takes 64x64 images"}});
  v.push_back({"input_rank_3",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 copy_golden("s2_h4_c16/x.npy", in / "x.npy");
                 return with(base(in), {"--input", (in / "x.npy").string()});
               },
               1,
               {"@IN/x.npy has shape (2,4,16), expected (B,3,64,64)"}});
  v.push_back({"input_truncated",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 truncated_golden("convit/convit_micro_4x4/x.npy", in / "x.npy", -7);
                 return with(base(in), {"--input", (in / "x.npy").string()});
               },
               1,
               {"@IN/x.npy: data is", "(file is truncated)"}});
  v.push_back({"input_empty_batch",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 spit(in / "x.npy", npy_bytes("(0, 3, 64, 64)", {}));
                 return with(base(in), {"--input", (in / "x.npy").string()});
               },
               1,
               {"@IN/x.npy has shape (0,3,64,64): no images"}});
  v.push_back({"input_missing",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return with(base(in), {"--input", (in / "nope.npy").string()});
               },
               1,
               {"@IN/nope.npy: cannot open: No such file or directory"}});
  // the image
  v.push_back({"image_truncated_png",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 truncated_golden("images/gray_200x240.png", in / "g.png", 4000);
                 return with(base(in), {"--image", (in / "g.png").string()});
               },
               1,
               {"@IN/g.png: truncated PNG"}});
  v.push_back({"image_truncated_jpeg",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 truncated_golden("images/scene_320x240.jpg", in / "s.jpg", 3000);
                 return with(base(in), {"--image", (in / "s.jpg").string()});
               },
               1,
               {"@IN/s.jpg: truncated JPEG"}});
  v.push_back({"image_corrupt",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 spit(in / "x.png", "not an image\n");
                 return with(base(in), {"--image", (in / "x.png").string()});
               },
               1,
               {"@IN/x.png: not a PNG or JPEG file"}});
  v.push_back({"image_huge",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 image_test::write_bytes(
                     in / "big.png",
                     image_test::png_declaring(
                         image_test::bytes_of(golden("images/scene_320x240.png")), 100000, 100000));
                 return with(base(in), {"--image", (in / "big.png").string()});
               },
               1,
               {"@IN/big.png: PNG declares 100000x100000"}});
  v.push_back({"image_fifo",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 ::mkfifo((in / "pipe.png").c_str(), 0600);
                 return with(base(in), {"--image", (in / "pipe.png").string()});
               },
               1,
               {"@IN/pipe.png: not a regular file"}});
  // labels
  v.push_back({"labels_count",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 spit(in / "labels.txt", "a\nb\nc\n");
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "--labels",
                              (in / "labels.txt").string(), "-o", (out / "l.npy").string()});
               },
               1,
               {"@IN/labels.txt: 3 labels (one per line), but @IN/m.safetensors has 10 classes"}});
  v.push_back({"labels_missing",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return with(base(in), {"--input", (in / "x.npy").string(), "--labels",
                                        (in / "none.txt").string()});
               },
               1,
               {"@IN/none.txt: cannot open: No such file or directory"}});
  // --int8 --calibration
  const auto int8 = [](const fs::path& in, std::initializer_list<std::string> more) {
    std::vector<std::string> a{"classify", "--weights", (in / "m.safetensors").string(), "--input",
                               (in / "x.npy").string()};
    a.insert(a.end(), more);
    return a;
  };
  v.push_back({"int8_without_calibration",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return int8(in, {"--int8"});
               },
               1,
               {"--int8 needs --calibration x.npy"}});
  v.push_back({"calibration_without_int8",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return int8(in, {"--calibration", (in / "x.npy").string()});
               },
               1,
               {"--calibration '@IN/x.npy' sets the int8 model's scales: add --int8"}});
  v.push_back({"int8_features",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 return int8(in, {"--int8", "--calibration", (in / "x.npy").string(), "--features",
                                  (out / "f.npy").string()});
               },
               1,
               {"--features: the int8 forward gives logits only"}});
  v.push_back({"int8_global_pool_avg",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 return int8(in, {"--int8", "--calibration", (in / "x.npy").string(),
                                  "--global-pool", "avg", "-o", (out / "l.npy").string()});
               },
               1,
               {"@IN/m.safetensors: global_pool avg is not supported by --int8"}});
  v.push_back({"calibration_wrong_shape",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 copy_golden("convit/convit_7x7_bias/x.npy", in / "c.npy");
                 return int8(in, {"--int8", "--calibration", (in / "c.npy").string(), "-o",
                                  (out / "l.npy").string()});
               },
               1,
               {"@IN/c.npy (--calibration) has shape (1,3,112,112), expected (B,3,64,64)"}});
  v.push_back({"calibration_wrong_dtype",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 spit(in / "c.npy", npy_zeros({2, 3, 64, 64}, "<i4"));
                 return int8(in, {"--int8", "--calibration", (in / "c.npy").string(), "-o",
                                  (out / "l.npy").string()});
               },
               1,
               {"@IN/c.npy: dtype '<i4'"}});
  v.push_back(
      {"calibration_nan",
       [&](const fs::path& in, const fs::path& out) {
         cp(in);
         poked_npy("convit/convit_micro_4x4/x.npy", in / "c.npy", 5000, NAN);
         return int8(in, {"--int8", "--calibration", (in / "c.npy").string(), "-o",
                          (out / "l.npy").string()});
       },
       1,
       {"@IN/c.npy (--calibration): image 0 has a NaN at (1,14,8)", "needs finite values"}});
  v.push_back({"calibration_infinite",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 poked_npy("convit/convit_micro_4x4/x.npy", in / "c.npy", 0, -INFINITY);
                 return int8(in, {"--int8", "--calibration", (in / "c.npy").string(), "-o",
                                  (out / "l.npy").string()});
               },
               1,
               {"@IN/c.npy (--calibration): image 0 has an infinite value at (0,0,0)"}});
  v.push_back({"calibration_empty",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 spit(in / "c.npy", npy_bytes("(0, 3, 64, 64)", {}));
                 return int8(in, {"--int8", "--calibration", (in / "c.npy").string(), "-o",
                                  (out / "l.npy").string()});
               },
               1,
               {"@IN/c.npy (--calibration) has shape (0,3,64,64): no images"}});
  v.push_back({"calibration_missing",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return int8(in, {"--int8", "--calibration", (in / "none.npy").string()});
               },
               1,
               {"@IN/none.npy: cannot open: No such file or directory"}});
  v.push_back({"output_is_calibration",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 copy_golden("convit/convit_micro_4x4/x.npy", in / "c.npy");
                 return int8(in, {"--int8", "--calibration", (in / "c.npy").string(), "-o",
                                  (in / "c.npy").string()});
               },
               1,
               {"is the input --calibration", "refusing to overwrite an input file"}});
  // outputs
  v.push_back({"output_is_checkpoint",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return with(base(in), {"--input", (in / "x.npy").string(), "-o",
                                        (in / "m.safetensors").string()});
               },
               1,
               {"-o '@IN/m.safetensors' is the input --weights '@IN/m.safetensors'; refusing to "
                "overwrite an input file"}});
  v.push_back({"output_is_checkpoint_via_symlink",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 fs::create_symlink(in / "m.safetensors", out / "link.npy");
                 return with(base(in), {"--input", (in / "x.npy").string(), "--features",
                                        (out / "link.npy").string()});
               },
               1,
               {"is the input --weights", "refusing to overwrite an input file"}});
  v.push_back({"output_is_input",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return with(base(in), {"--input", (in / "x.npy").string(), "-o",
                                        (in / "." / "x.npy").string()});
               },
               1,
               {"is the input --input", "refusing to overwrite an input file"}});
  v.push_back({"output_is_image",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 copy_golden("images/gray_200x240.png", in / "g.png");
                 return with(base(in), {"--image", (in / "g.png").string(), "--features",
                                        (in / "g.png").string()});
               },
               1,
               {"is the input --image", "refusing to overwrite an input file"}});
  v.push_back({"output_is_labels",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 spit(in / "labels.txt", std::string(10, '\n'));
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "--labels",
                              (in / "labels.txt").string(), "-o", (in / "labels.txt").string()});
               },
               1,
               {"is the input --labels"}});
  v.push_back({"outputs_same_file",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "a.npy").string(),
                              "--features", (out / "a.npy").string()});
               },
               1,
               {"-o and --features name the same file"}});
  v.push_back({"second_output_folder_missing_keeps_old_first",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 spit(out / "l.npy", "old logits");
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string(),
                              "--features", (out / "no" / "f.npy").string()});
               },
               1,
               {"output folder", "does not exist"}});
  v.push_back({"failure_after_staging_keeps_old_outputs",
               [&](const fs::path& in, const fs::path& out) {
                 cp(in);
                 spit(out / "l.npy", "old logits");
                 copy_golden("convit/convit_7x7_bias/x.npy", in / "x.npy");  // wrong size
                 return with(base(in),
                             {"--input", (in / "x.npy").string(), "-o", (out / "l.npy").string()});
               },
               1,
               {"expected (B,3,64,64)"}});
  v.push_back({"output_empty_path",
               [&](const fs::path& in, const fs::path&) {
                 cp(in);
                 return with(base(in), {"--input", (in / "x.npy").string(), "-o", ""});
               },
               1,
               {"-o: the path is empty (no output file name given)"}});
  return v;
}

class ClassifyBad : public ::testing::TestWithParam<bad_case> {};

TEST_P(ClassifyBad, FailsWithOneLineAndLeavesEverythingAsItWas) {
  const bad_case& c = GetParam();
  scratch dir;
  const fs::path in = dir / "in", out = dir / "out";
  fs::create_directories(in);
  fs::create_directories(out);
  const std::vector<std::string> args = c.setup(in, out);
  const auto in_before = snapshot(in), out_before = snapshot(out);
  const run_result r = run_gpsa(args);
  ASSERT_TRUE(r.exited) << r;
  EXPECT_EQ(r.code, c.code) << r;
  EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const std::string& p : c.parts)
    EXPECT_NE(r.err.find(replace_all(p, "@IN", in.string())), std::string::npos)
        << "'" << p << "' not in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(snapshot(in), in_before);
  EXPECT_EQ(snapshot(out), out_before);
  std::printf("[ message  ] %s: %s", c.name.c_str(),
              replace_all(replace_all(r.err, in.string(), "in"), out.string(), "out").c_str());
}

INSTANTIATE_TEST_SUITE_P(Cases, ClassifyBad, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<bad_case>& i) { return i.param.name; });

}  // namespace
