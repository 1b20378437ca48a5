// SPDX-License-Identifier: MIT
// `gpsa forward` as a user runs it: every golden case through the binary, error exits with one
// line on stderr, and never an output file left behind after an error.
#include <gtest/gtest.h>

#include "forward_test_util.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/npy.hpp"

namespace {

using namespace gpsa_test;

const fs::path kCli = GPSA_CLI_PATH;

struct result {
  int rc = 0;
  std::string err;
};

result run(const temp_dir& t, const std::string& args) {
  result r;
  r.rc = run_command(quote(kCli) + " forward " + args, r.err,
                     t.path.parent_path() / (t.path.filename().string() + ".err"));
  return r;
}

fs::path case_file(const std::string& c, const std::string& f) { return golden_dir() / c / f; }

// A failed run: exit status 1, exactly one line "gpsa: ..." containing every part, and the
// output folder as empty as before.
void expect_failure(const temp_dir& t, const std::string& args,
                    std::initializer_list<std::string> parts,
                    const std::vector<std::string>& files_before = {}) {
  const result r = run(t, args);
  EXPECT_EQ(r.rc, 1) << args << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
  for (const auto& p : parts)
    EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
  EXPECT_EQ(t.files(), files_before) << "output left behind by: " << args;
}

std::string golden_args(const std::string& c) {
  return "--weights " + quote(case_file(c, "weights.safetensors")) + " --input " +
         quote(case_file(c, "x.npy"));
}

class GoldenCli : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenCli, OutputsMatchPyTorch) {
  const golden_case c = find_case(GetParam());
  tolerances tol;
  load_cases(&tol);
  temp_dir t;
  const result r =
      run(t, golden_args(c.name) + " --prefix " + c.prefix + " -o " + quote(t / "y.npy") +
                 " --attention " + quote(t / "attn.npy") + " --distances " + quote(t / "dist.npy"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto y = gpsa::io::read_npy(t / "y.npy"), attn = gpsa::io::read_npy(t / "attn.npy"),
             dist = gpsa::io::read_npy(t / "dist.npy");
  const auto ry = gpsa::io::read_npy(case_file(c.name, "y.npy")),
             ra = gpsa::io::read_npy(case_file(c.name, "attn.npy")),
             rd = gpsa::io::read_npy(case_file(c.name, "dist.npy"));
  EXPECT_EQ(y.shape, ry.shape);
  EXPECT_EQ(attn.shape, ra.shape);
  EXPECT_EQ(dist.shape, rd.shape);
  const double ey = max_abs_diff(y.data, ry.data), ea = max_abs_diff(attn.data, ra.data),
               ed = max_abs_diff(dist.data, rd.data), ymax = max_abs(ry.data);
  EXPECT_LE(ey, tol.y_rel_to_max * ymax);
  EXPECT_LE(ea, tol.attn_abs);
  EXPECT_LE(ed, tol.dist_abs);
  std::printf(
      "[golden] %-26s cli    y max abs err %.2e (%.2e of max|y| %.3g)  attn %.2e  dist %.2e\n",
      c.name.c_str(), ey, ey / ymax, ymax, ea, ed);

  // Only y asked for: only y written, by the fused path (no attn formed, no renormalisation),
  // so within the golden tolerance of PyTorch and within 1e-5 * max|y| of the y above.
  temp_dir t2;
  ASSERT_EQ(run(t2, golden_args(c.name) + " -o " + quote(t2 / "y.npy")).rc, 0);
  EXPECT_EQ(t2.files(), std::vector<std::string>{"y.npy"});
  const auto y_only = gpsa::io::read_npy(t2 / "y.npy");
  EXPECT_EQ(y_only.shape, ry.shape);
  EXPECT_LE(max_abs_diff(y_only.data, ry.data), tol.y_rel_to_max * ymax);
  EXPECT_LE(max_abs_diff(y_only.data, y.data), 1e-5 * ymax);
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenCli, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

// (N, D) input: y is (N, D), attn (H, N, N); values equal the batched run's first item.
TEST(Cli, UnbatchedInput) {
  const std::string c = "s2_h4_c16";
  temp_dir t;
  const auto x = gpsa::io::read_npy(case_file(c, "x.npy"));  // (2, 4, 16)
  const std::vector<float> x0(x.data.begin(), x.data.begin() + 4 * 16);
  write_npy_f32(t / "x0.npy", {4, 16}, x0);
  const result r = run(t, "--weights " + quote(case_file(c, "weights.safetensors")) + " --input " +
                              quote(t / "x0.npy") + " -o " + quote(t / "y.npy") + " --attention " +
                              quote(t / "a.npy"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto y = gpsa::io::read_npy(t / "y.npy"), a = gpsa::io::read_npy(t / "a.npy");
  EXPECT_EQ(y.shape, (std::vector<std::size_t>{4, 16}));
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{4, 4, 4}));
  const auto ry = gpsa::io::read_npy(case_file(c, "y.npy"));
  const std::vector<float> ry0(ry.data.begin(), ry.data.begin() + 4 * 16);
  EXPECT_LE(max_abs_diff(y.data, ry0), 1e-4 * max_abs(ry0));
}

// --grid RxC for a non-square N, and the same answer as the API with that grid.
TEST(Cli, RectangularGrid) {
  const std::string c = "s2_h4_c16";  // D = 16
  temp_dir t;
  std::vector<float> x(2 * 8 * 16);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((i * 37) % 11) / 11.0f - 0.5f;
  write_npy_f32(t / "x.npy", {2, 8, 16}, x);
  const std::string base =
      "--weights " + quote(case_file(c, "weights.safetensors")) + " --input " + quote(t / "x.npy");
  expect_failure(t, base + " -o " + quote(t / "y.npy"),
                 {"x.npy", "N = 8", "not a perfect square", "--grid"}, {"x.npy"});
  expect_failure(t, base + " -o " + quote(t / "y.npy") + " --grid 3x3",
                 {"x.npy", "N = 8", "--grid 3x3 has 9"}, {"x.npy"});
  ASSERT_EQ(run(t, base + " -o " + quote(t / "y.npy") + " --grid 2x4").rc, 0);
  const gpsa::layer l =
      gpsa::layer::load(case_file(c, "weights.safetensors"), "blocks.0.attn", gpsa::grid{2, 4});
  EXPECT_EQ(gpsa::io::read_npy(t / "y.npy").data, l.forward(x, 2));
}

TEST(Cli, WeightErrors) {
  temp_dir t;
  const std::string out = " -o " + quote(t / "y.npy") + " --attention " + quote(t / "a.npy");
  const std::string x = " --input " + quote(case_file("s2_h4_c16", "x.npy"));
  expect_failure(t, "--weights " + quote(t / "missing.safetensors") + x + out,
                 {"missing.safetensors"});
  expect_failure(t,
                 "--weights " + quote(case_file("s2_h4_c16", "weights.safetensors")) +
                     " --prefix blocks.3.attn" + x + out,
                 {"weights.safetensors", "missing key 'blocks.3.attn.pos_proj.weight'",
                  "GPSA prefixes in the file: blocks.0.attn"});

  temp_dir wt;
  auto ts = load_as_st(case_file("s2_h4_c16", "weights.safetensors"));
  ts["blocks.0.attn.pos_proj.weight"] = f32_tensor({4, 2}, std::vector<float>(8, 0.0f));
  write_safetensors(wt / "bad_shape.safetensors", ts);
  expect_failure(t, "--weights " + quote(wt / "bad_shape.safetensors") + x + out,
                 {"bad_shape.safetensors", "pos_proj.weight has shape (4,2), expected (H,3)"});

  ts = load_as_st(case_file("s2_h4_c16", "weights.safetensors"));
  st_tensor i64;
  i64.dtype = "I64";
  i64.shape = {4};
  i64.bytes.assign(32, '\0');
  ts["blocks.0.attn.gating_param"] = i64;
  write_safetensors(wt / "bad_dtype.safetensors", ts);
  expect_failure(t, "--weights " + quote(wt / "bad_dtype.safetensors") + x + out,
                 {"bad_dtype.safetensors", "I64"});

  std::ofstream(wt / "garbage.safetensors") << "this is not a safetensors file";
  expect_failure(t, "--weights " + quote(wt / "garbage.safetensors") + x + out,
                 {"garbage.safetensors"});
}

TEST(Cli, InputErrors) {
  temp_dir t;
  const std::string w = "--weights " + quote(case_file("s2_h4_c16", "weights.safetensors"));
  const std::string out = " -o " + quote(t / "y.npy") + " --distances " + quote(t / "d.npy");
  expect_failure(t, w + " --input " + quote(t / "nope.npy") + out, {"nope.npy"});

  temp_dir in;
  write_npy_f32(in / "wrong_d.npy", {1, 4, 15}, std::vector<float>(60, 0.0f));
  expect_failure(t, w + " --input " + quote(in / "wrong_d.npy") + out,
                 {"wrong_d.npy", "shape (1,4,15)", "expected (B,N,16) or (N,16)"});
  write_npy_f32(in / "rank4.npy", {1, 1, 4, 16}, std::vector<float>(64, 0.0f));
  expect_failure(t, w + " --input " + quote(in / "rank4.npy") + out, {"rank4.npy", "(1,1,4,16)"});
  write_npy_f32(in / "empty.npy", {0, 4, 16}, {});
  expect_failure(t, w + " --input " + quote(in / "empty.npy") + out, {"empty.npy", "no patches"});
  // int32 data: the reader says how to convert
  std::string npy = slurp(case_file("s2_h4_c16", "x.npy"));
  const auto pos = npy.find("<f4");
  ASSERT_NE(pos, std::string::npos);
  npy.replace(pos, 3, "<i4");
  std::ofstream(in / "int.npy", std::ios::binary) << npy;
  expect_failure(t, w + " --input " + quote(in / "int.npy") + out, {"int.npy", "i4"});
  expect_failure(t, w + " --input " + quote(case_file("s2_h4_c16", "x.npy")) + out + " --grid 2y2",
                 {"--grid '2y2'"});
}

TEST(Cli, OutputErrorsLeaveNoFiles) {
  const std::string c = golden_args("s2_h4_c16");
  temp_dir t;
  // the attention file cannot be written (its folder is missing): y, written first, is removed
  expect_failure(t, c + " -o " + quote(t / "y.npy") + " --attention " + quote(t / "no/such/a.npy"),
                 {"a.npy"});
  expect_failure(t,
                 c + " -o " + quote(t / "y.npy") + " --distances " + quote(t / "no/d.npy") +
                     " --attention " + quote(t / "a.npy"),
                 {"d.npy"});
  // the output is a folder
  fs::create_directory(t / "dir.npy");
  expect_failure(t, c + " -o " + quote(t / "dir.npy"), {"dir.npy"}, {"dir.npy"});
  fs::remove(t / "dir.npy");
  // two outputs naming the same file
  expect_failure(t, c + " -o " + quote(t / "y.npy") + " --attention " + quote(t / "y.npy"),
                 {"same file", "y.npy"});
  // missing required option: CLI11's own error (exit 2), still one line, nothing written
  const result r = run(t, "--weights " + quote(case_file("s2_h4_c16", "weights.safetensors")) +
                              " -o " + quote(t / "y.npy"));
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("--input"), std::string::npos) << r.err;
  EXPECT_EQ(t.files(), std::vector<std::string>{});
}

}  // namespace
