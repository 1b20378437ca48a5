// Same input -> byte-identical output: every file gpsa table / forward / fold writes is
// produced twice, the second time from another working directory and with another environment
// (time zone, locale, SOURCE_DATE_EPOCH), and the bytes are compared.
#include <gtest/gtest.h>

#include "cli_runner.hpp"

namespace {

using namespace gpsa_cli_test;

// A second environment that must not change a single byte.
const run_limits kOtherEnv{fs::temp_directory_path(),
                           {"TZ=Asia/Kathmandu", "LC_ALL=C.UTF-8", "LANG=de_DE.UTF-8",
                            "SOURCE_DATE_EPOCH=1", "OMP_NUM_THREADS=1"},
                           0,
                           0};

// Runs `args` (with "@DIR/" standing for a fresh folder) twice; returns the named outputs of both
// runs after checking that they succeeded.
void expect_identical_runs(const std::vector<std::string>& args,
                           const std::vector<std::string>& outputs, const scratch& inputs) {
  scratch first, second;
  for (const scratch* dir : {&first, &second}) {
    std::vector<std::string> a;
    for (std::string s : args) {
      for (auto at = s.find("@DIR"); at != std::string::npos; at = s.find("@DIR"))
        s.replace(at, 4, dir->path.string());
      for (auto at = s.find("@IN"); at != std::string::npos; at = s.find("@IN"))
        s.replace(at, 3, inputs.path.string());
      a.push_back(s);
    }
    const run_result r = run_gpsa(a, dir == &first ? run_limits{} : kOtherEnv);
    ASSERT_TRUE(r.exited && r.code == 0) << r;
  }
  for (const auto& f : outputs) {
    ASSERT_TRUE(fs::is_regular_file(first / f)) << f;
    const std::string a = slurp(first / f), b = slurp(second / f);
    EXPECT_GT(a.size(), 0u) << f;
    EXPECT_TRUE(a == b) << f << ": the two runs differ (" << a.size() << " vs " << b.size()
                        << " bytes)";
  }
}

TEST(Determinism, Table) {
  const scratch none;
  for (const std::vector<std::string>& opts :
       std::vector<std::vector<std::string>>{{"--grid", "14"},   // baked table, npy
                                             {"--grid", "5x3"},  // runtime fill, npy
                                             {"--grid", "7", "--dtype", "f64"},  // every dtype
                                             {"--grid", "7", "--dtype", "i16"},
                                             {"--grid", "14", "--format", "c"},  // C header
                                             {"--grid", "3x5", "--format", "c", "--dtype", "i8"}}) {
    std::vector<std::string> args{"table", "-o", "@DIR/table.out"};
    args.insert(args.end(), opts.begin(), opts.end());
    SCOPED_TRACE(::testing::PrintToString(opts));
    expect_identical_runs(args, {"table.out"}, none);
  }
}

TEST(Determinism, Forward) {
  for (const std::string c : {"s14_h4_c192_convit_tiny", "s3_h9_c36_bias"}) {
    SCOPED_TRACE(c);
    const scratch in;
    copy_golden(c + "/weights.safetensors", in / "w.safetensors");
    copy_golden(c + "/x.npy", in / "x.npy");
    expect_identical_runs(
        {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/x.npy", "-o", "@DIR/y.npy",
         "--attention", "@DIR/attn.npy", "--distances", "@DIR/dist.npy"},
        {"y.npy", "attn.npy", "dist.npy"}, in);
  }
}

TEST(Determinism, Fold) {
  const scratch in;
  copy_golden("s14_h4_c192_convit_tiny/weights.safetensors", in / "w.safetensors");
  for (const std::vector<std::string>& opts :
       std::vector<std::vector<std::string>>{{"--grid", "14", "--format", "c"},
                                             {"--grid", "14", "--format", "npy"},
                                             {"--grid", "4x6", "--format", "c"},
                                             {"--grid", "4x6", "--format", "npy"}}) {
    std::vector<std::string> args{"fold", "--weights", "@IN/w.safetensors", "-o", "@DIR/fold.out"};
    args.insert(args.end(), opts.begin(), opts.end());
    SCOPED_TRACE(::testing::PrintToString(opts));
    expect_identical_runs(args, {"fold.out"}, in);
  }
}

}  // namespace
