// SPDX-License-Identifier: MIT
// `gpsa table` end to end: .npy output equals PyTorch's golden files, every dtype, C headers that
// compile as C99 (and C++) and hold the formula's values, and every bad argument failing with
// one line on stderr that names the value and leaving no file behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../support/tiny_npy.hpp"
#include "../table/formula.hpp"
#include "gpsa/registry.hpp"

extern char** environ;

#include "../support/test_util.hpp"

namespace {

using gpsa_test::slurp;

namespace fs = std::filesystem;

struct result {
  int exit_code = -1;
  std::string out, err;
};

// A fresh folder per test: `out` for the tool's outputs, `io` for captured stdout/stderr.
class CliTable : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gpsa_cli_table_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    out_ = root_ / "out";
    fs::create_directory(out_);
    fs::create_directory(root_ / "io");
  }
  void TearDown() override { fs::remove_all(root_); }

  // Runs `program args...` with stdout/stderr captured (no shell involved).
  result run_program(const std::string& program, const std::vector<std::string>& args) {
    std::vector<std::string> all{program};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string o = (root_ / "io" / "stdout").string(),
                      e = (root_ / "io" / "stderr").string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, o.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, e.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    result r;
    if (posix_spawnp(&pid, program.c_str(), &fa, nullptr, argv.data(), environ) == 0) {
      int st = 0;
      waitpid(pid, &st, 0);
      r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    posix_spawn_file_actions_destroy(&fa);
    r.out = slurp(o);
    r.err = slurp(e);
    return r;
  }
  result gpsa(const std::vector<std::string>& args) { return run_program(GPSA_CLI, args); }

  std::vector<std::string> out_files() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(out_)) v.push_back(e.path().filename().string());
    return v;
  }

  // Writes a C program that checks every element of `name` (from `header`) against the
  // formula and prints "ok <count>"; compiles it with `compiler flags...` and runs it.
  void expect_c_header_holds_formula(const std::string& header, const std::string& name,
                                     const std::string& macro, std::size_t rows, std::size_t cols) {
    const fs::path c = root_ / "io" / (name + "_check.c");
    std::ofstream(c) << "#include \"" << (out_ / header).string() << "\"\n"
                     << "#include <stdio.h>\n"
                     << "int main(void) {\n"
                     << "  long p, q, bad = 0, n = 0;\n"
                     << "  const long C = " << macro << "_COLS, N = " << macro << "_PATCHES;\n"
                     << "  if (" << macro << "_ROWS != " << rows << " || C != " << cols << " || "
                     << macro << "_CHANNELS != 3 || " << macro << "_SIZE != N * N * 3 ||\n"
                     << "      sizeof " << name << " / sizeof " << name
                     << "[0][0][0] != (size_t)(N * N * 3)) return 2;\n"
                     << "  for (p = 0; p < N; ++p)\n"
                     << "    for (q = 0; q < N; ++q) {\n"
                     << "      const long dx = q % C - p % C, dy = q / C - p / C;\n"
                     << "      bad += (long)" << name << "[p][q][0] != dx;\n"
                     << "      bad += (long)" << name << "[p][q][1] != dy;\n"
                     << "      bad += (long)" << name << "[p][q][2] != dx * dx + dy * dy;\n"
                     << "      n += 3;\n"
                     << "    }\n"
                     << "  printf(\"ok %ld values, %ld wrong\\n\", n, bad);\n"
                     << "  return bad != 0;\n"
                     << "}\n";
    const std::string exe = (root_ / "io" / (name + "_check")).string();
    const result cc = run_program(GPSA_C_COMPILER, {"-std=c99", "-Wall", "-Wextra", "-Wpedantic",
                                                    "-Werror", "-O1", c.string(), "-o", exe});
    ASSERT_EQ(cc.exit_code, 0) << cc.err;
    const result ran = run_program(exe, {});
    EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
    EXPECT_EQ(ran.out,
              "ok " + std::to_string(rows * cols * rows * cols * 3) + " values, 0 wrong\n");
  }

  fs::path root_, out_;
};

// --- npy -------------------------------------------------------------------------------------

TEST_F(CliTable, NpyIsPyTorchsTableForEveryGoldenGrid) {
  for (const std::size_t s : {1u, 2u, 3u, 4u, 7u, 14u}) {
    const std::string file = (out_ / ("t" + std::to_string(s) + ".npy")).string();
    const result r = gpsa({"table", "--grid", std::to_string(s), "-o", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    // stdout says where it went and whether the registry had the table baked
    EXPECT_NE(r.out.find(file), std::string::npos) << r.out;
    const bool baked = gpsa::is_baked<float>({s, s});
    EXPECT_NE(r.out.find(baked ? "baked table" : "runtime table"), std::string::npos) << r.out;

    const tiny_npy::array got = tiny_npy::load(file);
    const tiny_npy::array want = tiny_npy::load(std::string(GPSA_GOLDEN_DIR) + "/rel_indices_s" +
                                                std::to_string(s) + ".npy");
    EXPECT_EQ(got.descr, want.descr);
    EXPECT_EQ(got.shape, want.shape);
    EXPECT_FALSE(got.fortran_order);
    EXPECT_EQ(got.data, want.data) << "S = " << s;  // values, bit for bit
    EXPECT_EQ(slurp(file),
              slurp(std::string(GPSA_GOLDEN_DIR) + "/rel_indices_s" + std::to_string(s) + ".npy"))
        << "whole file, header included, as numpy.save writes it";
  }
}

template <class T>
void expect_npy_formula(const tiny_npy::array& a, std::size_t rows, std::size_t cols) {
  const std::size_t n = rows * cols;
  ASSERT_EQ(a.shape, (std::vector<std::size_t>{n, n, 3}));
  ASSERT_EQ(a.data.size(), n * n * 3 * sizeof(T));
  for (std::size_t p = 0, i = 0; p < n; ++p)
    for (std::size_t q = 0; q < n; ++q)
      for (std::size_t c = 0; c < 3; ++c, ++i) {
        T v;
        std::memcpy(&v, a.data.data() + i * sizeof(T), sizeof(T));
        ASSERT_EQ(static_cast<std::int64_t>(v), table_test::expected(rows, cols, p, q, c))
            << rows << "x" << cols << " (" << p << ", " << q << ", " << c << ")";
      }
}

TEST_F(CliTable, NpyEveryDtypeAndRectangularGrids) {
  struct row {
    const char* dtype;
    const char* descr;
  };
  for (const row d : {row{"f32", "<f4"}, row{"f64", "<f8"}, row{"i8", "|i1"}, row{"i16", "<i2"},
                      row{"i32", "<i4"}}) {
    const std::string file = (out_ / (std::string(d.dtype) + ".npy")).string();
    const result r =
        gpsa({"table", "--grid", "3x5", "--dtype", d.dtype, "--format", "npy", "-o", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const tiny_npy::array a = tiny_npy::load(file);
    EXPECT_EQ(a.descr, d.descr);
    EXPECT_EQ(a.data_offset % 64, 0u);
    const std::string dt = d.dtype;
    if (dt == "f32") expect_npy_formula<float>(a, 3, 5);
    if (dt == "f64") expect_npy_formula<double>(a, 3, 5);
    if (dt == "i8") expect_npy_formula<std::int8_t>(a, 3, 5);
    if (dt == "i16") expect_npy_formula<std::int16_t>(a, 3, 5);
    if (dt == "i32") expect_npy_formula<std::int32_t>(a, 3, 5);
  }
  // 8x32: N = 256 = 16^2, the grid PyTorch would silently treat as 16x16; and 'X' spelling
  for (const std::string grid : {"8x32", "32X8"}) {
    const std::string file = (out_ / (grid + ".npy")).string();
    ASSERT_EQ(gpsa({"table", "--grid", grid, "-o", file}).exit_code, 0);
    const bool wide = grid == "8x32";
    expect_npy_formula<float>(tiny_npy::load(file), wide ? 8 : 32, wide ? 32 : 8);
  }
}

// --- C header ------------------------------------------------------------------------------

TEST_F(CliTable, CHeaderCompilesAsC99AndHoldsTheFormula) {
  struct row {
    const char* grid;
    const char* dtype;
    std::size_t rows, cols;
    const char* name;
  };
  for (const row h : {row{"14", "f32", 14, 14, "gpsa_rel_indices_14x14"},
                      row{"1", "f32", 1, 1, "gpsa_rel_indices_1x1"},
                      row{"8", "i8", 8, 8, "gpsa_rel_indices_8x8_i8"},
                      row{"14", "i16", 14, 14, "gpsa_rel_indices_14x14_i16"},
                      row{"3x5", "i32", 3, 5, "gpsa_rel_indices_3x5_i32"},
                      row{"7x2", "f64", 7, 2, "gpsa_rel_indices_7x2_f64"}}) {
    const std::string header = std::string(h.name) + ".h";
    const result r = gpsa({"table", "--grid", h.grid, "--dtype", h.dtype, "--format", "c", "-o",
                           (out_ / header).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string text = slurp(out_ / header);
    std::string macro = h.name;
    for (char& ch : macro) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_NE(text.find("#ifndef " + macro + "_H\n#define " + macro + "_H\n"), std::string::npos);
    EXPECT_NE(text.find("#include <stdint.h>"), std::string::npos);
    EXPECT_NE(text.find("static const "), std::string::npos);
    EXPECT_NE(text.find("c = 2: dx * dx + dy * dy"), std::string::npos);  // provenance: formula
    EXPECT_NE(text.find(std::string("gpsa table --grid ") + h.grid + " --dtype " + h.dtype +
                        " --format c -o " + header),
              std::string::npos);  // provenance: the command, with the file name only
    expect_c_header_holds_formula(header, h.name, macro, h.rows, h.cols);
  }
}

TEST_F(CliTable, CHeadersCombineAndCompileAsCxx) {
  // Two dtypes of the same grid in one TU (distinct names and guards), included twice, unused
  // (a static const in a header must not warn), in C99 and in C++20.
  ASSERT_EQ(
      gpsa({"table", "--grid", "7", "--format", "c", "-o", (out_ / "a.h").string()}).exit_code, 0);
  ASSERT_EQ(gpsa({"table", "--grid", "7", "--dtype", "i16", "--format", "c", "-o",
                  (out_ / "b.h").string()})
                .exit_code,
            0);
  const fs::path c = root_ / "io" / "both.c";
  std::ofstream(c) << "#include \"" << (out_ / "a.h").string() << "\"\n#include \""
                   << (out_ / "a.h").string() << "\"\n#include \"" << (out_ / "b.h").string()
                   << "\"\nint two_tables_included(void);\n"
                   << "int two_tables_included(void) { return GPSA_REL_INDICES_7X7_SIZE + "
                      "GPSA_REL_INDICES_7X7_I16_SIZE; }\n";
  const result cc =
      run_program(GPSA_C_COMPILER, {"-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c",
                                    c.string(), "-o", (root_ / "io" / "both.o").string()});
  EXPECT_EQ(cc.exit_code, 0) << cc.err;
  const fs::path cpp = root_ / "io" / "use.cpp";
  std::ofstream(cpp) << "#include \"" << (out_ / "a.h").string() << "\"\n"
                     << "const float* table() { return &gpsa_rel_indices_7x7[0][0][0]; }\n";
  const result cxx =
      run_program(GPSA_CXX_COMPILER, {"-std=c++20", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                                      "-c", cpp.string(), "-o", (root_ / "io" / "use.o").string()});
  EXPECT_EQ(cxx.exit_code, 0) << cxx.err;
}

TEST_F(CliTable, LargestUsualGridIsWrittenWhole) {
  // S = 32: 3,145,728 values as text (the generator must stay fast; timing is the benchmark's job)
  const result r =
      gpsa({"table", "--grid", "32", "--format", "c", "-o", (out_ / "t32.h").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = slurp(out_ / "t32.h");
  EXPECT_NE(text.find("static const float gpsa_rel_indices_32x32[1024][1024][3] = {"),
            std::string::npos);
  EXPECT_NE(text.find("  { /* p = 1023: y 31, x 31 */\n    {-31, -31, 1922}, {-30, -31, 1861},"),
            std::string::npos);
  const std::string tail = "  },\n};\n\n#endif /* GPSA_REL_INDICES_32X32_H */\n";
  ASSERT_GT(text.size(), tail.size());
  EXPECT_EQ(text.substr(text.size() - tail.size()), tail);
}

// --- bad arguments: exit non-zero, one line naming the value, no file left -----------------

struct bad_case {
  std::vector<std::string> args;  // after "table"; "@" stands for the output folder
  std::string named;              // must appear in the message
};

TEST_F(CliTable, BadArgumentsFailCleanly) {
  const std::vector<bad_case> cases = {
      {{"--grid", "0", "-o", "@/t.npy"}, "'0'"},
      {{"--grid", "0x5", "-o", "@/t.npy"}, "'0x5'"},
      {{"--grid", "14x0", "-o", "@/t.npy"}, "'14x0'"},
      {{"--grid", "abc", "-o", "@/t.npy"}, "'abc'"},
      {{"--grid", "14x", "-o", "@/t.npy"}, "'14x'"},
      {{"--grid", "x14", "-o", "@/t.npy"}, "'x14'"},
      {{"--grid", "1.5", "-o", "@/t.npy"}, "'1.5'"},
      {{"--grid", " 14", "-o", "@/t.npy"}, "' 14'"},
      {{"--grid=-3", "-o", "@/t.npy"}, "'-3'"},
      {{"--grid", "3x4x5", "-o", "@/t.npy"}, "'3x4x5'"},
      {{"--grid", "99999999999999999999999", "-o", "@/t.npy"}, "'99999999999999999999999'"},
      {{"--grid", "100000x100000", "-o", "@/t.npy"}, "'100000x100000'"},  // N*N*3 overflows
      {{"--grid", "98", "-o", "@/t.npy"}, "'98'"},                        // beyond the size cap
      {{"--grid", "9", "--dtype", "i8", "-o", "@/t.npy"}, "'i8'"},        // 128 > INT8_MAX
      {{"--grid", "1x13", "--dtype", "i8", "--format", "c", "-o", "@/t.h"}, "'i8'"},
      {{"--grid", "4", "--dtype", "f16", "-o", "@/t.npy"}, "'f16'"},
      {{"--grid", "4", "--dtype", "F32", "-o", "@/t.npy"}, "'F32'"},
      {{"--grid", "4", "--format", "txt", "-o", "@/t.npy"}, "'txt'"},
      {{"--grid", "4", "-o", "@/missing/t.npy"}, "missing/t.npy"},    // folder does not exist
      {{"--grid", "4", "-o", "@/file.txt/t.npy"}, "file.txt/t.npy"},  // parent is a file
      {{"--grid", "4", "-o", "@/sub"}, "sub"},                        // output is a folder
      {{"--grid", "4", "-o", ""}, "output"},
      {{"-o", "@/t.npy"}, "--grid"},
      {{"--grid", "4"}, "--output"},
      {{"--grid", "4", "--bogus", "-o", "@/t.npy"}, "--bogus"},
  };
  std::ofstream(out_ / "file.txt") << "not a folder";
  fs::create_directory(out_ / "sub");
  std::ofstream(out_ / "t.npy") << "previous content";  // must survive every failure untouched
  std::ofstream(out_ / "t.h") << "previous header";
  const std::vector<std::string> before = out_files();
  for (const bad_case& bc : cases) {
    std::vector<std::string> args{"table"};
    for (std::string a : bc.args) {
      if (const auto at = a.find('@'); at != std::string::npos) a.replace(at, 1, out_.string());
      args.push_back(a);
    }
    const result r = gpsa(args);
    std::string shown;
    for (const auto& a : bc.args) shown += a + " ";
    SCOPED_TRACE("gpsa table " + shown);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(bc.named), std::string::npos) << r.err;
    EXPECT_EQ(out_files(), before) << "a file was left behind";
    EXPECT_EQ(slurp(out_ / "t.npy"), "previous content");
    EXPECT_EQ(slurp(out_ / "t.h"), "previous header");
    EXPECT_TRUE(fs::is_empty(out_ / "sub"));
  }
}

TEST_F(CliTable, SuccessReplacesAnExistingFileAtomically) {
  std::ofstream(out_ / "t.npy") << "previous content";
  ASSERT_EQ(gpsa({"table", "--grid", "2", "-o", (out_ / "t.npy").string()}).exit_code, 0);
  EXPECT_EQ(tiny_npy::load((out_ / "t.npy").string()).shape, (std::vector<std::size_t>{4, 4, 3}));
  EXPECT_EQ(out_files(), std::vector<std::string>{"t.npy"});  // no temporary left over
}

}  // namespace
