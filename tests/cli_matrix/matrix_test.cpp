// SPDX-License-Identifier: MIT
// The bad-input matrix of the gpsa CLI (docs/reliability.md): every case runs the real binary and
// must end with a normal non-zero exit (no signal), exactly one line "gpsa: ..." on stderr naming
// the file / key / value and the problem, nothing on stdout, the input files unchanged and no
// output or temporary file (.NAME.tmp.XXXXXX) left anywhere.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <limits>

#include "cli_runner.hpp"

namespace {

using namespace gpsa_cli_test;

using prepare_fn = std::function<void(const fs::path& in, const fs::path& out)>;

struct bad_case {
  std::string name;
  std::vector<std::string> args;    // "@IN/" and "@OUT/" stand for the case's two folders
  std::vector<std::string> expect;  // each must be in the stderr line; "a|b" accepts either
  prepare_fn prepare;
  run_limits limits;
  int code = 1;  // 1: gpsa's own errors; 2: CLI11 usage errors

  bad_case(std::string n, std::vector<std::string> a, std::vector<std::string> e, prepare_fn p = {},
           run_limits l = {}, int c = 1)
      : name(std::move(n)),
        args(std::move(a)),
        expect(std::move(e)),
        prepare(std::move(p)),
        limits(std::move(l)),
        code(c) {}
};

void PrintTo(const bad_case& c, std::ostream* os) { *os << c.name; }

std::string substitute(std::string a, const fs::path& in, const fs::path& out) {
  for (const auto& [key, dir] : {std::pair<std::string, fs::path>{"@IN", in}, {"@OUT", out}})
    for (std::size_t at = a.find(key); at != std::string::npos; at = a.find(key))
      a.replace(at, key.size(), dir.string());
  return a;
}

bool contains_any(const std::string& text, const std::string& alternatives) {
  std::stringstream s(alternatives);
  std::string alt;
  while (std::getline(s, alt, '|'))
    if (text.find(alt) != std::string::npos) return true;
  return false;
}

// Temporary files the atomic writer would leave beside `path` if it failed to clean up.
std::vector<std::string> temp_leftovers(const fs::path& path) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::is_directory(dir, ec)) return out;
  const std::string prefix = "." + path.filename().string() + ".tmp.";
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  return out;
}

class BadInput : public ::testing::TestWithParam<bad_case> {};

TEST_P(BadInput, FailsWithOneLineAndLeavesNoFile) {
  const bad_case& c = GetParam();
  scratch s;
  const fs::path in = s / "in", out = s / "out";
  fs::create_directory(in);
  fs::create_directory(out);
  if (c.prepare) c.prepare(in, out);
  const auto in_before = snapshot(in), out_before = snapshot(out);

  std::vector<std::string> args;
  std::string shown = "gpsa";
  for (const auto& a : c.args) {
    args.push_back(substitute(a, in, out));
    shown += " '" + a + "'";
  }
  const run_result r = run_gpsa(args, c.limits);
  SCOPED_TRACE(shown);

  ASSERT_TRUE(r.exited) << "killed by signal " << r.signal << "; stderr: " << r.err;
  std::printf("[matrix] exit %d: %s", r.code, r.err.c_str());  // the line a user sees
  EXPECT_EQ(r.code, c.code) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not exactly one line: " << r;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r;
  EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r;
  // One line means no control character either (a key or path with "\n" or ESC is escaped).
  for (std::size_t i = 0; i + 1 < r.err.size(); ++i) {
    const auto ch = static_cast<unsigned char>(r.err[i]);
    EXPECT_FALSE(ch < 0x20 || ch == 0x7f) << "raw control character " << int(ch) << " at " << i;
  }
  for (const auto& e : c.expect) {
    EXPECT_TRUE(contains_any(r.err, e)) << "'" << e << "' not in " << r;
  }
  EXPECT_EQ(r.out, "") << "stdout after a failure";

  EXPECT_EQ(names(snapshot(in)), names(in_before)) << "files appeared or vanished among inputs";
  EXPECT_TRUE(snapshot(in) == in_before) << "an input file was changed";
  EXPECT_EQ(names(snapshot(out)), names(out_before)) << "output or temporary file left behind";
  EXPECT_TRUE(snapshot(out) == out_before) << "a file in the output folder was changed";
  // Outputs outside the case's folders (/proc/...): no temporary beside them either.
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "-o" || args[i] == "--attention" || args[i] == "--distances") {
      EXPECT_EQ(temp_leftovers(args[i + 1]), std::vector<std::string>{});
    }
}

std::string case_name(const ::testing::TestParamInfo<bad_case>& info) { return info.param.name; }

// ---- fixtures ----

constexpr const char* kCase = "s2_h4_c16";  // B = 2, N = 4 (2x2), D = 16, H = 4
const std::string kW = std::string(kCase) + "/weights.safetensors";
const std::string kX = std::string(kCase) + "/x.npy";
const std::string kBigCase = "s14_h4_c192_convit_tiny";  // N = 196: outputs of 150-615 KB

void golden_inputs(const fs::path& in) {
  copy_golden(kW, in / "w.safetensors");
  copy_golden(kX, in / "x.npy");
}

prepare_fn inputs() {
  return [](const fs::path& in, const fs::path&) { golden_inputs(in); };
}
prepare_fn inputs_and(std::function<void(const fs::path&, const fs::path&)> more) {
  return [more](const fs::path& in, const fs::path& out) {
    golden_inputs(in);
    more(in, out);
  };
}
prepare_fn with_dir(const std::string& rel) {
  return inputs_and([rel](const fs::path& in, const fs::path& out) {
    fs::create_directories(fs::path(substitute(rel, in, out)));
  });
}
prepare_fn with_file(const std::string& rel) {
  return inputs_and(
      [rel](const fs::path& in, const fs::path& out) { spit(substitute(rel, in, out), "x\n"); });
}
prepare_fn with_fifo(const std::string& rel) {
  return inputs_and([rel](const fs::path& in, const fs::path& out) {
    if (::mkfifo(substitute(rel, in, out).c_str(), 0644) != 0) throw std::runtime_error("mkfifo");
  });
}

// Leaves an old result in the output folder: a failed run must not change or remove it.
prepare_fn with_old_outputs(prepare_fn first, std::vector<std::string> leaves) {
  return [first, leaves](const fs::path& in, const fs::path& out) {
    if (first) first(in, out);
    for (const auto& leaf : leaves) spit(out / leaf, "old " + leaf + "\n");
  };
}
prepare_fn with_bytes(const std::string& rel, std::string bytes) {
  return inputs_and([rel, bytes](const fs::path& in, const fs::path& out) {
    spit(substitute(rel, in, out), bytes);
  });
}
// A GPSA layer's three positional tensors (all fold needs) with H heads under `prefix`.
std::string positional_checkpoint(const std::string& prefix, std::size_t heads) {
  return safetensors_of({{prefix + ".pos_proj.weight", {{heads, 3}, {}}},
                         {prefix + ".pos_proj.bias", {{heads}, {}}},
                         {prefix + ".gating_param", {{heads}, {}}}});
}
run_limits timeout(int seconds) {
  run_limits l;
  l.timeout_seconds = seconds;
  return l;
}
run_limits address_space(rlim_t bytes) {
  run_limits l;
  l.max_address_space = bytes;
  return l;
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---- gpsa forward ----

std::vector<std::string> fwd(const std::string& w, const std::string& x,
                             const std::vector<std::string>& extra = {}) {
  return cat({"forward", "--weights", w, "--input", x, "-o", "@OUT/y.npy", "--attention",
              "@OUT/attn.npy", "--distances", "@OUT/dist.npy"},
             extra);
}
std::vector<std::string> fwd_std(const std::vector<std::string>& extra = {}) {
  return fwd("@IN/w.safetensors", "@IN/x.npy", extra);
}
std::vector<std::string> fwd_out(const std::vector<std::string>& outs) {
  return cat({"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/x.npy"}, outs);
}

std::vector<bad_case> forward_cases() {
  std::vector<bad_case> v;
  const auto add = [&v](bad_case c) { v.push_back(std::move(c)); };
  const auto w_fixture = [](std::function<void(const fs::path&)> make) {
    return inputs_and(
        [make](const fs::path& in, const fs::path&) { make(in / "bad.safetensors"); });
  };
  const auto x_fixture = [](std::function<void(const fs::path&)> make) {
    return inputs_and([make](const fs::path& in, const fs::path&) { make(in / "bad.npy"); });
  };
  const auto bad_w = fwd("@IN/bad.safetensors", "@IN/x.npy");
  const auto bad_x = fwd("@IN/w.safetensors", "@IN/bad.npy");

  // missing / not a file
  add({"MissingWeights",
       fwd("@IN/nope.safetensors", "@IN/x.npy"),
       {"nope.safetensors", "No such file"},
       inputs()});
  add({"MissingInput",
       fwd("@IN/w.safetensors", "@IN/nope.npy"),
       {"nope.npy", "No such file"},
       inputs()});
  add({"WeightsIsAFolder",
       bad_w,
       {"bad.safetensors", "is a folder"},
       with_dir("@IN/bad.safetensors")});
  add({"InputIsAFolder", bad_x, {"bad.npy", "is a folder"}, with_dir("@IN/bad.npy")});
  add({"WeightsIsANpy",
       fwd("@IN/x.npy", "@IN/x.npy"),
       {"x.npy", "header length|safetensors"},
       inputs()});
  add({"InputIsASafetensors",
       fwd("@IN/w.safetensors", "@IN/w.safetensors"),
       {"w.safetensors", "not a .npy"},
       inputs()});

  // truncated safetensors: in the length prefix, in the JSON header, in the data section
  add({"WeightsTruncatedInLengthPrefix",
       bad_w,
       {"bad.safetensors", "truncated"},
       w_fixture([](const fs::path& p) { truncated_golden(kW, p, 5); })});
  add({"WeightsTruncatedInHeader",
       bad_w,
       {"bad.safetensors", "truncated"},
       w_fixture([](const fs::path& p) { truncated_golden(kW, p, 100); })});
  add({"WeightsTruncatedInData",
       bad_w,
       {"bad.safetensors", "truncated"},
       w_fixture([](const fs::path& p) { truncated_golden(kW, p, -7); })});
  add({"WeightsEmptyFile",
       bad_w,
       {"bad.safetensors", "truncated|empty"},
       w_fixture([](const fs::path& p) { spit(p, ""); })});
  // truncated .npy: in the magic, in the header, in the data
  add({"InputTruncatedInMagic",
       bad_x,
       {"bad.npy", "magic|truncated"},
       x_fixture([](const fs::path& p) { truncated_golden(kX, p, 4); })});
  add({"InputTruncatedInHeader", bad_x, {"bad.npy", "truncated"}, x_fixture([](const fs::path& p) {
         truncated_golden(kX, p, 60);
       })});
  add({"InputTruncatedInData", bad_x, {"bad.npy", "truncated"}, x_fixture([](const fs::path& p) {
         truncated_golden(kX, p, -5);
       })});
  // .npy dtype and layout
  add({"InputInt32", bad_x, {"bad.npy", "<i4", "not supported"}, x_fixture([](const fs::path& p) {
         patched_golden(kX, p, "'<f4'", "'<i4'");
       })});
  add({"InputFloat16", bad_x, {"bad.npy", "<f2", "not supported"}, x_fixture([](const fs::path& p) {
         patched_golden(kX, p, "'<f4'", "'<f2'");
       })});
  add({"InputBigEndian", bad_x, {"bad.npy", ">f4", "big-endian"}, x_fixture([](const fs::path& p) {
         patched_golden(kX, p, "'<f4'", "'>f4'");
       })});
  add({"InputFortranOrder", bad_x, {"bad.npy", "Fortran"}, x_fixture([](const fs::path& p) {
         patched_golden(kX, p, "'fortran_order': False", "'fortran_order': True ");
       })});
  // shapes and grids
  add({"InputWidthIsNotD",
       bad_x,
       {"bad.npy", "(2,16,4)", "expected (B,N,16)"},
       x_fixture([](const fs::path& p) { patched_golden(kX, p, "(2, 4, 16)", "(2, 16, 4)"); })});
  add({"NonSquareNWithoutGrid",
       bad_x,
       {"bad.npy", "N = 8", "not a perfect square", "--grid"},
       x_fixture([](const fs::path& p) { patched_golden(kX, p, "(2, 4, 16)", "(1, 8, 16)"); })});
  add({"GridDoesNotMatchN", fwd_std({"--grid", "3x3"}), {"x.npy", "N = 4", "3x3", "9"}, inputs()});
  add({"GridDoesNotMatchNRect", fwd_std({"--grid", "1x2"}), {"x.npy", "N = 4", "1x2"}, inputs()});
  add({"GridRowsTimesColsOverflow",
       fwd_std({"--grid", "4294967296x4294967296"}),
       {"4294967296x4294967296", "overflow|too large|out of range"},
       inputs()});
  add({"GridSquareOverflow",
       fwd_std({"--grid", "4294967296"}),
       {"4294967296", "overflow|too large|out of range"},
       inputs()});
  add({"GridHugeNumber",
       fwd_std({"--grid", "99999999999999999999999"}),
       {"99999999999999999999999"},
       inputs()});
  for (const auto& [name, g] :
       std::vector<std::pair<std::string, std::string>>{{"GridZero", "0"},
                                                        {"GridZeroRows", "0x2"},
                                                        {"GridAbc", "abc"},
                                                        {"GridTrailingX", "3x"},
                                                        {"GridNegative", "-1"},
                                                        {"GridThreeDims", "2x2x1"}})
    add({name, fwd_std({"--grid", g}), {"--grid '" + g + "'"}, inputs()});
  // keys
  add({"WrongPrefix",
       fwd_std({"--prefix", "blocks.1.attn"}),
       {"w.safetensors", "missing key 'blocks.1.attn.pos_proj.weight'", "blocks.0.attn"},
       inputs()});
  add({"MissingKey",
       bad_w,
       {"bad.safetensors", "missing key 'blocks.0.attn.gating_param'"},
       w_fixture([](const fs::path& p) {
         patched_golden(kW, p, "\"blocks.0.attn.gating_param\"", "\"blocks.0.attn.gating_paraX\"");
       })});
  // outputs that cannot be written
  add({"OutputInMissingFolder",
       fwd_out({"-o", "@OUT/missing/y.npy"}),
       {"missing/y.npy", "does not exist"},
       inputs()});
  add({"OutputParentIsARegularFile",
       fwd_out({"-o", "@OUT/file/y.npy"}),
       {"file/y.npy", "not a folder"},
       with_file("@OUT/file")});
  add({"OutputIsAFolder",
       fwd_out({"-o", "@OUT/y.npy"}),
       {"y.npy", "is a folder"},
       with_dir("@OUT/y.npy")});
  add({"OutputIsAFifo",
       fwd_out({"-o", "@OUT/y.npy"}),
       {"y.npy", "not a regular file"},
       with_fifo("@OUT/y.npy")});
  // procfs refuses to create files even for root: a folder where the write itself fails
  add({"OutputInProcfs",
       fwd_out({"-o", "/proc/gpsa_cli_matrix_y.npy"}),
       {"/proc/gpsa_cli_matrix_y.npy", "cannot write"},
       inputs()});
  // y is written first; when the attention file then fails, y is removed again
  add({"SecondOutputInMissingFolder",
       fwd_out({"-o", "@OUT/y.npy", "--attention", "@OUT/no/attn.npy"}),
       {"no/attn.npy", "does not exist"},
       inputs()});
  add({"SecondOutputInProcfs",
       fwd_out({"-o", "@OUT/y.npy", "--attention", "/proc/gpsa_a.npy"}),
       {"/proc/gpsa_a.npy", "cannot write"},
       inputs()});
  {
    bad_case c{"DiskFullOnAttention",
               {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/x.npy", "-o",
                "@OUT/y.npy", "--attention", "@OUT/attn.npy"},
               {"attn.npy", "write failed", "too large"},
               [](const fs::path& in, const fs::path&) {
                 copy_golden(kBigCase + "/weights.safetensors", in / "w.safetensors");
                 copy_golden(kBigCase + "/x.npy", in / "x.npy");
               }};
    c.limits.max_file_bytes = 300 * 1024;  // y (150 KB) fits, attn (615 KB) does not
    add(c);
  }
  add({"TwoOutputsSameFile",
       fwd_out({"-o", "@OUT/y.npy", "--attention", "@OUT/./y.npy"}),
       {"same file", "y.npy"},
       inputs()});
  // an output naming an input: refused before anything is written, the input untouched
  add({"OutputIsTheInput", fwd_out({"-o", "@IN/x.npy"}), {"-o", "x.npy", "input"}, inputs()});
  add({"OutputIsTheWeights",
       fwd_out({"-o", "@IN/w.safetensors"}),
       {"-o", "w.safetensors", "input"},
       inputs()});
  add({"AttentionIsTheInputOtherSpelling",
       fwd_out({"-o", "@OUT/y.npy", "--attention", "@IN/../in/./x.npy"}),
       {"--attention", "x.npy", "input"},
       inputs()});
  add({"DistancesIsASymlinkToTheInput",
       fwd_out({"-o", "@OUT/y.npy", "--distances", "@OUT/link.npy"}),
       {"--distances", "link.npy", "input"},
       inputs_and([](const fs::path& in, const fs::path& out) {
         fs::create_symlink(in / "x.npy", out / "link.npy");
       })});
  add({"OutputIsAHardLinkToTheWeights",
       fwd_out({"-o", "@OUT/w.safetensors"}),
       {"w.safetensors", "input"},
       inputs_and([](const fs::path& in, const fs::path& out) {
         fs::create_hard_link(in / "w.safetensors", out / "w.safetensors");
       })});
  // --strict: NaN / Inf refused, naming the key or file and the first bad index
  add({"StrictNaNInWeights",
       fwd_std({"--strict"}),
       {"w.safetensors", "'blocks.0.attn.qk.weight'", "NaN", "index (2,5)", "--strict"},
       inputs_and([](const fs::path& in, const fs::path&) {
         poked_safetensors(kW, in / "w.safetensors", "blocks.0.attn.qk.weight", 2 * 16 + 5, kNaN);
       })});
  add({"StrictInfInWeights",
       fwd_std({"--strict"}),
       {"w.safetensors", "'blocks.0.attn.pos_proj.bias'", "+Inf", "index (2)"},
       inputs_and([](const fs::path& in, const fs::path&) {
         poked_safetensors(kW, in / "w.safetensors", "blocks.0.attn.pos_proj.bias", 2, kInf);
       })});
  add({"StrictNaNInInput",
       fwd_std({"--strict"}),
       {"x.npy", "NaN", "index (1,0,6)"},
       inputs_and([](const fs::path& in, const fs::path&) {
         poked_npy(kX, in / "x.npy", 64 + 6, kNaN);
       })});
  add({"StrictMinusInfInInput",
       fwd_std({"--strict"}),
       {"x.npy", "-Inf", "index (0,3,15)"},
       inputs_and([](const fs::path& in, const fs::path&) {
         poked_npy(kX, in / "x.npy", 3 * 16 + 15, -kInf);
       })});
  // finite but huge input: the result overflows float32
  add({"StrictOverflowingResult",
       fwd_std({"--strict"}),
       {"y.npy", "overflow", "--strict"},
       inputs_and([](const fs::path& in, const fs::path&) {
         poked_npy(kX, in / "x.npy", std::string::npos, 3.0e38f);
       })});
  // FIFOs and devices as inputs: refused at once, never a hang (the timeout fails the test)
  add({"WeightsIsAFifo",
       fwd("@IN/fifo", "@IN/x.npy"),
       {"fifo", "not a regular file"},
       with_fifo("@IN/fifo"),
       timeout(30)});
  add({"InputIsAFifo",
       fwd("@IN/w.safetensors", "@IN/fifo"),
       {"fifo", "not a regular file"},
       with_fifo("@IN/fifo"),
       timeout(30)});
  add({"WeightsIsDevZero",
       fwd("/dev/zero", "@IN/x.npy"),
       {"/dev/zero", "not a regular file"},
       inputs(),
       timeout(30)});
  add({"InputIsDevZero",
       fwd("@IN/w.safetensors", "/dev/zero"),
       {"/dev/zero", "not a regular file"},
       inputs(),
       timeout(30)});
  // empty values name their flag
  add({"WeightsEmptyPath", fwd("", "@IN/x.npy"), {"--weights", "empty"}, inputs()});
  add({"InputEmptyPath", fwd("@IN/w.safetensors", ""), {"--input", "empty"}, inputs()});
  add({"OutputEmptyPath", fwd_out({"-o", ""}), {"-o", "empty"}, inputs()});
  add({"AttentionEmptyPath",
       fwd_out({"-o", "@OUT/y.npy", "--attention", ""}),
       {"--attention", "empty"},
       inputs()});
  add({"DistancesEmptyPath",
       fwd_out({"-o", "@OUT/y.npy", "--distances", ""}),
       {"--distances", "empty"},
       inputs()});
  add({"GridEmpty", fwd_std({"--grid", ""}), {"--grid ''"}, inputs()});
  for (const auto& [name, t] : std::vector<std::pair<std::string, std::string>>{
           {"ThreadsZero", "0"}, {"ThreadsAbc", "abc"}, {"ThreadsTooMany", "100000"}})
    add({name, fwd_std({"--threads", t}), {"--threads '" + t + "'"}, inputs()});
  // a failed run keeps the old results exactly as they were (all outputs or none replaced)
  add({"KeepsOldOutputsWhenAttentionFolderMissing",
       fwd_out({"-o", "@OUT/y.npy", "--attention", "@OUT/missing/attn.npy"}),
       {"missing/attn.npy", "does not exist"},
       with_old_outputs(inputs(), {"y.npy"})});
  add({"KeepsOldOutputsWhenAttentionInProcfs",
       fwd_out({"-o", "@OUT/y.npy", "--attention", "/proc/gpsa_a.npy"}),
       {"/proc/gpsa_a.npy", "cannot write"},
       with_old_outputs(inputs(), {"y.npy"})});
  {
    bad_case c{"KeepsOldOutputsOnDiskFullOnAttention",
               {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/x.npy", "-o",
                "@OUT/y.npy", "--attention", "@OUT/attn.npy", "--distances", "@OUT/dist.npy"},
               {"attn.npy", "write failed", "too large"},
               with_old_outputs(
                   [](const fs::path& in, const fs::path&) {
                     copy_golden(kBigCase + "/weights.safetensors", in / "w.safetensors");
                     copy_golden(kBigCase + "/x.npy", in / "x.npy");
                   },
                   {"y.npy", "attn.npy", "dist.npy"})};
    c.limits.max_file_bytes = 300 * 1024;  // y (150 KB) fits, attn (615 KB) does not
    add(c);
  }
  add({"KeepsOldOutputsWhenStrictRefuses",
       fwd_std({"--strict"}),
       {"x.npy", "NaN"},
       with_old_outputs(inputs_and([](const fs::path& in, const fs::path&) {
                          poked_npy(kX, in / "x.npy", 5, kNaN);
                        }),
                        {"y.npy", "attn.npy", "dist.npy"})});
  // sizes refused up front, naming the flag and the bytes (the address-space limit makes an
  // attempt to allocate them fail fast instead of swapping)
  const auto big_input = with_bytes("@IN/big.npy", npy_zeros({1, 16384, 16}));  // 1 MB
  add({"GridTooLargeForMemory",
       {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/big.npy", "-o", "@OUT/y.npy",
        "--grid", "1x16384"},
       {"--grid '1x16384'", "needs", "bytes", "limit"},
       big_input,
       address_space(std::size_t{2} << 30)});
  add({"AttentionTooLargeForMemory",
       {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/big.npy", "-o", "@OUT/y.npy",
        "--attention", "@OUT/attn.npy"},
       {"--attention", "(1,4,16384,16384)", "bytes", "limit"},
       big_input,
       address_space(std::size_t{2} << 30)});
  add({"DistancesTooLargeForMemory",
       {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/big.npy", "-o", "@OUT/y.npy",
        "--distances", "@OUT/dist.npy"},
       {"--distances", "(1,4,16384,16384)", "bytes", "limit"},
       big_input,
       address_space(std::size_t{2} << 30)});
  // within the limits but more than the machine gives: named, never "std::bad_alloc". Not under
  // ASan: its allocator reports the failed allocation itself (on stderr, or as a fatal error),
  // so what gpsa prints cannot be checked there.
  if (!GPSA_CLI_ASAN)
    add({"OutOfMemoryNamesTheCommand",
         {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/big.npy", "-o", "@OUT/y.npy",
          "--attention", "@OUT/attn.npy"},
         {"forward", "out of memory"},
         with_bytes("@IN/big.npy", npy_zeros({1, 4096, 16})),  // attn (1,4,4096,4096): 256 MiB
         address_space(std::size_t{160} << 20)});
  // messages are one line: control characters in keys, dtypes, paths and values escaped
  add({"ControlCharsInPrefixesAreEscaped",
       fwd("@IN/bad.safetensors", "@IN/x.npy"),
       {"GPSA prefixes in the file", "ev\\x0ail\\x1b[31m"},
       with_bytes("@IN/bad.safetensors", positional_checkpoint("ev\nil\x1b[31m", 4))});
  add({"ControlCharsInNpyDescrAreEscaped",
       fwd("@IN/w.safetensors", "@IN/bad.npy"),
       {"bad.npy", "<f4\\x1b[2J"},
       with_bytes("@IN/bad.npy", npy_zeros({2, 4, 16}, "<f4\x1b[2J"))});
  add({"NewlineInOutputPathIsEscaped",
       fwd_out({"-o", "@OUT/a\nb/y.npy"}),
       {"a\\x0ab/y.npy", "does not exist"},
       inputs()});
  add({"EscapeInGridIsEscaped", fwd_std({"--grid", "3\x1b[2J"}), {"--grid '3\\x1b[2J'"}, inputs()});
  // usage errors (CLI11): exit 2, one line
  add({"MissingRequiredOption",
       {"forward", "--weights", "@IN/w.safetensors", "-o", "@OUT/y.npy"},
       {"--input"},
       inputs(),
       {},
       2});
  add({"UnknownOption", fwd_std({"--frobnicate"}), {"--frobnicate"}, inputs(), {}, 2});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Forward, BadInput, ::testing::ValuesIn(forward_cases()), case_name);

// ---- gpsa table (reads no file: the input cases do not apply) ----

std::vector<std::string> tbl(const std::string& grid, const std::vector<std::string>& extra = {},
                             const std::string& out = "@OUT/t.npy") {
  return cat({"table", "--grid", grid, "-o", out}, extra);
}

std::vector<bad_case> table_cases() {
  std::vector<bad_case> v;
  const auto add = [&v](bad_case c) { v.push_back(std::move(c)); };
  const std::string overflow = "overflow|too large|out of range";
  // N*N*3 overflows size_t: R*C itself, N*N, or only the final *3
  add({"GridRowsTimesColsOverflow",
       tbl("4294967296x4294967296"),
       {"4294967296x4294967296", overflow}});
  add({"GridNNOverflow", tbl("65536"), {"'65536'", overflow}});
  add({"GridNNOverflowRect", tbl("4294967295x4294967297"), {"4294967295x4294967297", overflow}});
  add({"GridNN3Overflow", tbl("3037000500"), {"'3037000500'", overflow}});  // N*N fits, *3 not
  add({"GridHugeNumber", tbl("99999999999999999999999"), {"99999999999999999999999", overflow}});
  add({"GridAboveSizeCap", tbl("98"), {"'98'", "at most"}});
  for (const auto& [name, g] :
       std::vector<std::pair<std::string, std::string>>{{"GridZero", "0"},
                                                        {"GridZeroRows", "0x3"},
                                                        {"GridAbc", "abc"},
                                                        {"GridTrailingX", "3x"},
                                                        {"GridLeadingX", "x3"},
                                                        {"GridNegative", "-1"},
                                                        {"GridPlusSign", "+3"},
                                                        {"GridSpace", " 3"},
                                                        {"GridExponent", "1e3"},
                                                        {"GridThreeDims", "3x3x3"}})
    add({name, tbl(g), {"--grid '" + g + "'"}});
  add({"BadFormat", tbl("3", {"--format", "h"}), {"--format 'h'"}});
  add({"BadDtype", tbl("3", {"--dtype", "f16"}), {"--dtype 'f16'"}});
  add({"DtypeTooNarrow", tbl("14", {"--dtype", "i8"}), {"--dtype 'i8'", "14x14"}});
  add({"OutputInMissingFolder",
       tbl("3", {}, "@OUT/missing/t.npy"),
       {"missing/t.npy", "does not exist"}});
  add({"OutputParentIsARegularFile",
       tbl("3", {}, "@OUT/file/t.h"),
       {"file/t.h", "not a folder"},
       [](const fs::path&, const fs::path& out) { spit(out / "file", "x\n"); }});
  add({"OutputIsAFolder",
       tbl("3"),
       {"t.npy", "is a folder"},
       [](const fs::path&, const fs::path& out) { fs::create_directory(out / "t.npy"); }});
  add({"OutputIsAFifo",
       tbl("3"),
       {"t.npy", "not a regular file"},
       [](const fs::path&, const fs::path& out) {
         if (::mkfifo((out / "t.npy").c_str(), 0644) != 0) throw std::runtime_error("mkfifo");
       }});
  add({"OutputInProcfs",
       tbl("3", {}, "/proc/gpsa_cli_matrix_t.npy"),
       {"/proc/gpsa_cli_matrix_t.npy", "cannot write"}});
  for (const auto& fmt : {"npy", "c"}) {
    bad_case c{std::string("DiskFull_") + fmt,
               tbl("14", {"--format", fmt}),
               {"t.npy", "write failed", "too large"}};
    c.limits.max_file_bytes = 64 * 1024;  // the S = 14 table is 461 KB (npy), more as C
    add(c);
  }
  add({"OutputEmptyPath", tbl("3", {}, ""), {"-o", "empty"}});
  add({"EscapeInGridIsEscaped", tbl("3\x1b[2J"), {"--grid '3\\x1b[2J'"}});
  add({"NewlineInOutputPathIsEscaped",
       tbl("3", {}, "@OUT/a\nb/t.npy"),
       {"a\\x0ab/t.npy", "does not exist"}});
  for (const auto& fmt : {"npy", "c"}) {
    bad_case c{std::string("KeepsOldOutputOnDiskFull_") + fmt,
               tbl("14", {"--format", fmt}),
               {"t.npy", "write failed", "too large"},
               with_old_outputs({}, {"t.npy"})};
    c.limits.max_file_bytes = 64 * 1024;
    add(c);
  }
  add({"MissingGrid", {"table", "-o", "@OUT/t.npy"}, {"--grid"}, {}, {}, 2});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Table, BadInput, ::testing::ValuesIn(table_cases()), case_name);

// ---- gpsa fold (reads a checkpoint; no .npy input and no N to match) ----

std::vector<std::string> fold(const std::string& w, const std::vector<std::string>& extra = {},
                              const std::string& grid = "2", const std::string& out = "@OUT/f.h") {
  return cat({"fold", "--weights", w, "--grid", grid, "-o", out}, extra);
}

std::vector<bad_case> fold_cases() {
  std::vector<bad_case> v;
  const auto add = [&v](bad_case c) { v.push_back(std::move(c)); };
  const auto w_fixture = [](std::function<void(const fs::path&)> make) {
    return inputs_and(
        [make](const fs::path& in, const fs::path&) { make(in / "bad.safetensors"); });
  };
  const auto bad_w = fold("@IN/bad.safetensors");
  const std::string overflow = "overflow|too large|out of range";

  add({"MissingWeights",
       fold("@IN/nope.safetensors"),
       {"nope.safetensors", "No such file"},  // the OS reason
       inputs()});
  add({"WeightsIsAFifo",
       fold("@IN/fifo"),
       {"fifo", "not a regular file"},
       with_fifo("@IN/fifo"),
       timeout(30)});
  {
    // read through the limited reader: refused at once (it used to grow to ~1 GB, then bad_alloc)
    bad_case c{
        "WeightsIsDevZero", fold("/dev/zero"), {"/dev/zero", "not a regular file"}, inputs()};
    c.limits.timeout_seconds = 30;
    c.limits.max_address_space = std::size_t{512} << 20;
    add(c);
  }
  add({"WeightsEmptyPath", fold(""), {"--weights", "empty"}, inputs()});
  add({"OutputEmptyPath", fold("@IN/w.safetensors", {}, "2", ""), {"-o", "empty"}, inputs()});
  add({"GridEmpty", fold("@IN/w.safetensors", {}, ""), {"--grid ''"}, inputs()});
  // one head fits (256 MiB of factors), all 64 heads together do not (16 GiB)
  add({"HeadsTimesGridTooLarge",
       fold("@IN/bad.safetensors", {}, "1x8192"),
       {"--grid '1x8192'", "H = 64", "bytes", "limit"},
       with_bytes("@IN/bad.safetensors", positional_checkpoint("blocks.0.attn", 64)),
       address_space(std::size_t{2} << 30)});
  // the dense (L,H,N,N) output of 4 heads at N = 16384 is 4 GiB plus its header: one file's limit
  add({"DenseOutputTooLarge",
       fold("@IN/w.safetensors", {"--format", "npy"}, "128", "@OUT/f.npy"),
       {"-o '", "f.npy", "H = 4", "(1,4,16384,16384)", "limit for one output file", "--format c"},
       inputs(),
       address_space(std::size_t{2} << 30)});
  add({"ControlCharsInKeysAreEscaped",
       bad_w,
       {"no GPSA layer", "evil\\x0a\\x1b[31mkey"},
       with_bytes("@IN/bad.safetensors", safetensors_of({{"evil\n\x1b[31mkey", {{1}, {}}}}))});
  add({"ControlCharsInMissingKeyAreEscaped",
       bad_w,
       {"missing key 'ev\\x0ail.pos_proj.bias'"},
       with_bytes("@IN/bad.safetensors",
                  safetensors_of({{"ev\nil.pos_proj.weight", {{4, 3}, {}}}}))});
  {
    bad_case c{"KeepsOldOutputOnDiskFull",
               fold("@IN/w.safetensors", {"--format", "npy"}, "14", "@OUT/f.npy"),
               {"f.npy", "write failed", "too large"},
               with_old_outputs(inputs(), {"f.npy"})};
    c.limits.max_file_bytes = 64 * 1024;
    add(c);
  }
  add({"WeightsIsAFolder",
       bad_w,
       {"bad.safetensors", "is a folder|Is a directory"},
       with_dir("@IN/bad.safetensors")});
  add({"WeightsIsANpy", fold("@IN/x.npy"), {"x.npy", "header length|safetensors"}, inputs()});
  add({"WeightsTruncatedInLengthPrefix",
       bad_w,
       {"bad.safetensors", "truncated"},
       w_fixture([](const fs::path& p) { truncated_golden(kW, p, 5); })});
  add({"WeightsTruncatedInHeader",
       bad_w,
       {"bad.safetensors", "truncated"},
       w_fixture([](const fs::path& p) { truncated_golden(kW, p, 100); })});
  add({"WeightsTruncatedInData",
       bad_w,
       {"bad.safetensors", "truncated"},
       w_fixture([](const fs::path& p) { truncated_golden(kW, p, -7); })});
  add({"MissingKey",
       bad_w,
       {"bad.safetensors", "'blocks.0.attn.pos_proj.bias'"},
       w_fixture([](const fs::path& p) {
         patched_golden(kW, p, "\"blocks.0.attn.pos_proj.bias\"",
                        "\"blocks.0.attn.pos_proj.biaX\"");
       })});
  add({"NoGpsaLayer", bad_w, {"bad.safetensors", "no GPSA layer"}, w_fixture([](const fs::path& p) {
         patched_golden(kW, p, "\"blocks.0.attn.pos_proj.weight\"",
                        "\"blocks.0.attn.pos_proj.weighX\"");
       })});
  add({"NaNInWeights",
       bad_w,
       {"bad.safetensors", "blocks.0.attn.gating_param", "NaN"},
       w_fixture([](const fs::path& p) {
         poked_safetensors(kW, p, "blocks.0.attn.gating_param", 1, kNaN);
       })});
  add({"InfInWeights",
       bad_w,
       {"bad.safetensors", "blocks.0.attn.pos_proj.weight", "infinite|Inf"},
       w_fixture([](const fs::path& p) {
         poked_safetensors(kW, p, "blocks.0.attn.pos_proj.weight", 5, -kInf);
       })});
  add({"GridRowsTimesColsOverflow",
       fold("@IN/w.safetensors", {}, "4294967296x4294967296"),
       {"4294967296x4294967296", overflow},
       inputs()});
  add({"GridNNOverflow", fold("@IN/w.safetensors", {}, "65536"), {"'65536'", overflow}, inputs()});
  for (const auto& [name, g] : std::vector<std::pair<std::string, std::string>>{
           {"GridZero", "0"}, {"GridAbc", "abc"}, {"GridTrailingX", "3x"}, {"GridNegative", "-1"}})
    add({name, fold("@IN/w.safetensors", {}, g), {"--grid '" + g + "'"}, inputs()});
  {
    // Fx alone would be H*C*C = 4 * 2.5e9 floats (40 GB): refused, not a bad_alloc or an
    // out-of-memory kill. The address-space limit keeps a failing gpsa from hurting the machine.
    bad_case c{"GridFoldTooLarge", fold("@IN/w.safetensors", {}, "50000"), {"50000"}, inputs()};
    c.limits.max_address_space = std::size_t{2} << 30;
    add(c);
  }
  add({"BadFormat", fold("@IN/w.safetensors", {"--format", "h"}), {"--format 'h'"}, inputs()});
  add({"OutputInMissingFolder",
       fold("@IN/w.safetensors", {}, "2", "@OUT/missing/f.h"),
       {"missing/f.h", "does not exist"},
       inputs()});
  add({"OutputParentIsARegularFile",
       fold("@IN/w.safetensors", {}, "2", "@OUT/file/f.h"),
       {"file/f.h", "not a folder"},
       with_file("@OUT/file")});
  add({"OutputIsAFolder", fold("@IN/w.safetensors"), {"f.h", "is a folder"}, with_dir("@OUT/f.h")});
  add({"OutputIsAFifo",
       fold("@IN/w.safetensors"),
       {"f.h", "not a regular file"},
       with_fifo("@OUT/f.h")});
  add({"OutputInProcfs",
       fold("@IN/w.safetensors", {}, "2", "/proc/gpsa_cli_matrix_f.h"),
       {"/proc/gpsa_cli_matrix_f.h", "cannot write"},
       inputs()});
  {
    bad_case c{"DiskFull",
               fold("@IN/w.safetensors", {"--format", "npy"}, "14", "@OUT/f.npy"),
               {"f.npy", "write failed", "too large"},
               inputs()};
    c.limits.max_file_bytes = 64 * 1024;  // (1,4,196,196) float32 is 615 KB
    add(c);
  }
  add({"OutputIsTheWeights",
       fold("@IN/w.safetensors", {}, "2", "@IN/w.safetensors"),
       {"w.safetensors", "input"},
       inputs()});
  add({"OutputIsTheWeightsNpy",
       fold("@IN/w.safetensors", {"--format", "npy"}, "2", "@IN/../in/w.safetensors"),
       {"w.safetensors", "input"},
       inputs()});
  add({"WithWeightsNeedsC",
       fold("@IN/w.safetensors", {"--with-weights", "--format", "npy"}),
       {"--with-weights needs --format c"},
       inputs()});
  // not fold itself, but the same contract: an unknown command is named in the one-line error
  add({"UnknownCommand", {"bogus", "--grid", "3"}, {"unknown command 'bogus'"}, inputs(), {}, 2});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Fold, BadInput, ::testing::ValuesIn(fold_cases()), case_name);

}  // namespace
