// SPDX-License-Identifier: MIT
// `gpsa preprocess` run as a user runs it (fork + exec): the golden cases end to end, and the
// bad-input matrix: each case must exit 1 (2 for usage errors) with exactly one line
// "gpsa: ..." naming the file or value, print nothing on stdout, leave the inputs untouched and
// leave no output or temporary file behind.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <functional>

#include "../cli_matrix/cli_runner.hpp"
#include "image_test_util.hpp"

namespace {

using namespace gpsa_cli_test;
using image_test::kGoldenImages;

TEST(PreprocessCli, GoldenCasesEndToEnd) {
  const auto meta = image_test::json_of(kGoldenImages / "cases.json");
  const double max_tol = meta.at("tolerance").at("max_abs").get<double>();
  scratch s;
  for (const auto& c : meta.at("cases")) {
    const std::string image = c.at("image").get<std::string>();
    if (image == "scene_320x240.png") continue;  // erratum: see golden_test.cpp
    const std::size_t S = c.at("size").get<std::size_t>();
    SCOPED_TRACE(image + " S=" + std::to_string(S));
    const fs::path out = s / ("x" + std::to_string(S) + ".npy");
    const run_result r = run_gpsa({"preprocess", "--image", (kGoldenImages / image).string(),
                                   "--size", std::to_string(S), "-o", out.string()});
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find("(1,3," + std::to_string(S) + "," + std::to_string(S) + ")"),
              std::string::npos)
        << r.out;
    const npy_f32 x = read_npy_f32(out);
    std::vector<std::size_t> shape;
    const auto ref = image_test::load_f32(kGoldenImages / c.at("tensor").get<std::string>(), shape);
    ASSERT_EQ(x.shape, shape);
    double m = 0;
    for (std::size_t i = 0; i < ref.size(); ++i)
      m = std::max(m, double(std::fabs(x.data[i] - ref[i])));
    EXPECT_LE(m, max_tol);
  }
}

TEST(PreprocessCli, DefaultSizeIs224AndTheOutputReplacesAnOldFile) {
  scratch s;
  const fs::path out = s / "x.npy";
  spit(out, "old");
  const run_result r = run_gpsa(
      {"preprocess", "--image", (kGoldenImages / "gray_200x240.png").string(), "-o", out.string()});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_EQ(read_npy_f32(out).shape, (std::vector<std::size_t>{1, 3, 224, 224}));
  EXPECT_NE(
      r.out.find("PNG 200x240, 8-bit grey): bicubic resize to 256x307, crop 224x224 at (16,42)"),
      std::string::npos)
      << r.out;
}

TEST(PreprocessCli, AJpegNamedPngIsReadAsJpeg) {
  scratch s;
  copy_golden("images/scene_320x240.jpg", s / "photo.png");
  const run_result r = run_gpsa({"preprocess", "--image", (s / "photo.png").string(), "--size",
                                 "64", "-o", (s / "x.npy").string()});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_NE(r.out.find("(JPEG 320x240, colour)"), std::string::npos) << r.out;
  const run_result named_jpg =
      run_gpsa({"preprocess", "--image", golden("images/scene_320x240.jpg").string(), "--size",
                "64", "-o", (s / "y.npy").string()});
  ASSERT_TRUE(named_jpg.exited && named_jpg.code == 0) << named_jpg;
  EXPECT_EQ(slurp(s / "x.npy"), slurp(s / "y.npy"));
}

// ---- the bad-input matrix ----

using prepare_fn = std::function<void(const fs::path& in, const fs::path& out)>;

struct bad_case {
  std::string name;
  std::vector<std::string> args;    // "@IN/" and "@OUT/" stand for the case's two folders
  std::vector<std::string> expect;  // each must be in the stderr line
  prepare_fn prepare;
  run_limits limits;
  int code = 1;

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

class BadInput : public ::testing::TestWithParam<bad_case> {};

TEST_P(BadInput, FailsWithOneLineAndLeavesNoFile) {
  const bad_case& c = GetParam();
  scratch s;
  const fs::path in = s / "in", out = s / "out";
  fs::create_directory(in);
  fs::create_directory(out);
  copy_golden("images/scene_320x240.png", in / "img.png");
  copy_golden("images/scene_320x240.jpg", in / "img.jpg");
  if (c.prepare) c.prepare(in, out);
  const auto in_before = snapshot(in), out_before = snapshot(out);
  std::vector<std::string> args;
  for (const auto& a : c.args) args.push_back(substitute(a, in, out));
  const run_result r = run_gpsa(args, c.limits);

  ASSERT_TRUE(r.exited) << "killed by signal " << r.signal << "; stderr: " << r.err;
  std::printf("[preprocess] exit %d: %s", r.code, r.err.c_str());
  EXPECT_EQ(r.code, c.code) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not exactly one line: " << r;
  EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r;
  EXPECT_TRUE(std::none_of(r.err.begin(), r.err.end() - 1,
                           [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }))
      << "control character in: " << r;
  for (const auto& e : c.expect) {
    const std::string want = substitute(e, in, out);
    EXPECT_NE(r.err.find(want), std::string::npos) << "'" << want << "' not in " << r;
  }
  EXPECT_EQ(r.out, "") << "stdout after a failure";
  EXPECT_TRUE(snapshot(in) == in_before) << "an input file was changed, added or removed";
  EXPECT_EQ(names(snapshot(out)), names(out_before)) << "output or temporary file left behind";
  EXPECT_TRUE(snapshot(out) == out_before);
}

std::vector<std::uint8_t> golden_bytes(const std::string& name) {
  return image_test::bytes_of(kGoldenImages / name);
}

prepare_fn write(const std::string& leaf, std::function<std::vector<std::uint8_t>()> make) {
  return [leaf, make](const fs::path& in, const fs::path&) {
    image_test::write_bytes(in / leaf, make());
  };
}

std::vector<std::uint8_t> prefix(std::vector<std::uint8_t> b, std::size_t keep) {
  b.resize(keep);
  return b;
}

std::vector<std::uint8_t> text(const std::string& t) { return {t.begin(), t.end()}; }

std::vector<std::string> run(const std::string& image,
                             std::vector<std::string> more = {"-o", "@OUT/x.npy"}) {
  std::vector<std::string> a{"preprocess", "--image", image};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

std::vector<bad_case> cases() {
  std::vector<bad_case> v;
  const auto add = [&](bad_case c) { v.push_back(std::move(c)); };
  // input files
  add({"missing_file",
       run("@IN/nope.png"),
       {"gpsa: @IN/nope.png: cannot open: No such file or directory"}});
  add({"empty_path", run(""), {"gpsa: --image: the path is empty"}});
  add({"fifo",
       run("@IN/pipe.png"),
       {"@IN/pipe.png: not a regular file"},
       [](const fs::path& in, const fs::path&) { ::mkfifo((in / "pipe.png").c_str(), 0600); }});
  add({"folder",
       run("@IN/dir.png"),
       {"@IN/dir.png: is a folder"},
       [](const fs::path& in, const fs::path&) { fs::create_directory(in / "dir.png"); }});
  add({"device", run("/dev/zero"), {"/dev/zero: not a regular file"}});
  add({"empty_file", run("@IN/e.png"), {"@IN/e.png: empty file"}, write("e.png", [] {
         return std::vector<std::uint8_t>{};
       })});
  add({"truncated_png",
       run("@IN/t.png"),
       {"@IN/t.png: truncated PNG: the file ends after"},
       write("t.png", [] {
         auto b = golden_bytes("scene_320x240.png");
         return prefix(b, b.size() / 2);
       })});
  add({"truncated_jpeg", run("@IN/t.jpg"), {"@IN/t.jpg: truncated JPEG"}, write("t.jpg", [] {
         auto b = golden_bytes("scene_320x240.jpg");
         return prefix(b, b.size() / 2);
       })});
  add({"truncated_jpeg_end_marker",
       run("@IN/t.jpg"),
       {"@IN/t.jpg: truncated JPEG"},
       write("t.jpg", [] {
         auto b = golden_bytes("scene_320x240.jpg");
         return prefix(b, b.size() - 2);
       })});
  add({"corrupt_png_header",
       run("@IN/c.png"),
       {"@IN/c.png: corrupt PNG: IHDR: CRC error"},
       write("c.png", [] {
         auto b = golden_bytes("scene_320x240.png");
         b[19] ^= 1;
         return b;
       })});
  add({"corrupt_jpeg_header", run("@IN/c.jpg"), {"@IN/c.jpg: corrupt JPEG"}, write("c.jpg", [] {
         auto b = golden_bytes("scene_320x240.jpg");
         const std::string t(b.begin(), b.end());
         const std::size_t sof = t.find("\xff\xc0");
         b[sof + 2] = 0;
         b[sof + 3] = 2;
         return b;
       })});
  // a file declaring a huge image: refused before any pixel memory, so it passes under a 1 GB
  // address-space limit (decoding 100000 x 100000 would need 30 GB, 65500 x 65500 13 GB)
  run_limits small;
  small.max_address_space = rlim_t{1} << 30;
  add({"huge_png",
       run("@IN/big.png"),
       {"@IN/big.png: PNG declares 100000x100000 = 10000000000 pixels; gpsa decodes at most "
        "67108864"},
       write("big.png",
             [] {
               return image_test::png_declaring(golden_bytes("scene_320x240.png"), 100000, 100000);
             }),
       small});
  add({"huge_jpeg",
       run("@IN/big.jpg"),
       {"@IN/big.jpg: JPEG declares 65500x65500"},
       write("big.jpg",
             [] {
               return image_test::jpeg_declaring(golden_bytes("scene_320x240.jpg"), 65500, 65500);
             }),
       small});
  // wrong content for the name
  add({"text_named_png",
       run("@IN/x.png"),
       {"@IN/x.png: not a PNG or JPEG file (it starts with bytes 6e 6f 74 20 61 6e 20 69)"},
       write("x.png", [] { return text("not an image\n"); })});
  add({"npy_named_jpg", run("@IN/x.jpg"), {"@IN/x.jpg: a NumPy .npy file"}, write("x.jpg", [] {
         return image_test::bytes_of(golden("images/gray_200x240_64.npy"));
       })});
  add({"gif",
       run("@IN/g.png"),
       {"@IN/g.png: a GIF image; gpsa reads PNG and JPEG only"},
       write("g.png", [] { return text("GIF89a\x01\x00\x01\x00\x00\x00\x00;"); })});
  add({"control_characters_in_the_name",
       run("@IN/a\nb\x1b[2J.png"),
       {"@IN/a\\x0ab\\x1b[2J.png: cannot open"}});
  // --size
  const std::vector<std::pair<std::string, std::string>> sizes = {
      {"0", "zero"},       {"4097", "over_4096"},   {"99999999999999999999", "huge"},
      {"abc", "word"},     {"-5", "negative"},      {"+5", "plus_sign"},
      {"1e3", "exponent"}, {" 5", "leading_space"}, {"5x", "trailing_letter"},
      {"", "empty"}};
  for (const auto& [value, tag] : sizes)
    add({"size_" + tag,
         run("@IN/img.png", {"--size", value, "-o", "@OUT/x.npy"}),
         {"gpsa: --size '" + value + "': expected an integer from 1 to 4096"}});
  // outputs
  add({"output_is_the_image",
       run("@IN/img.png", {"-o", "@IN/img.png"}),
       {"-o '@IN/img.png' is the input --image '@IN/img.png'; refusing to overwrite"}});
  add({"output_is_the_image_spelled_otherwise",
       run("@IN/img.png", {"-o", "@IN/../in/./img.png"}),
       {"refusing to overwrite an input file"}});
  add({"output_is_a_symlink_to_the_image",
       run("@IN/img.png", {"-o", "@IN/link.png"}),
       {"refusing to overwrite an input file"},
       [](const fs::path& in, const fs::path&) {
         fs::create_symlink(in / "img.png", in / "link.png");
       }});
  add({"output_is_a_hard_link_to_the_image",
       run("@IN/img.png", {"-o", "@IN/hard.png"}),
       {"refusing to overwrite an input file"},
       [](const fs::path& in, const fs::path&) {
         fs::create_hard_link(in / "img.png", in / "hard.png");
       }});
  add({"output_folder_missing",
       run("@IN/img.png", {"-o", "@OUT/missing/x.npy"}),
       {"@OUT/missing/x.npy: output folder '@OUT/missing' does not exist"}});
  add({"output_folder_unwritable",
       run("@IN/img.png", {"-o", "/proc/gpsa_preprocess_x.npy"}),
       {"/proc/gpsa_preprocess_x.npy: cannot write"}});
  add({"output_is_a_folder",
       run("@IN/img.png", {"-o", "@OUT/d"}),
       {"@OUT/d: is a folder"},
       [](const fs::path&, const fs::path& out) { fs::create_directory(out / "d"); }});
  add({"output_name_with_control_characters",
       run("@IN/img.png", {"-o", "@OUT/missing\n/x\x1b.npy"}),
       {"@OUT/missing\\x0a/x\\x1b.npy: output folder '@OUT/missing\\x0a' does not exist"}});
  add({"output_empty", run("@IN/img.png", {"-o", ""}), {"gpsa: -o: the path is empty"}});
  run_limits tiny_disk;
  tiny_disk.max_file_bytes = 4096;  // the (1,3,224,224) output is 602 KB
  add({"disk_full",
       run("@IN/img.jpg"),
       {"@OUT/x.npy: write failed: File too large"},
       {},
       tiny_disk});
  // usage errors (CLI11): exit 2
  add({"no_image", {"preprocess", "-o", "@OUT/x.npy"}, {"--image is required"}, {}, {}, 2});
  add({"no_output", {"preprocess", "--image", "@IN/img.png"}, {"--output is required"}, {}, {}, 2});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Preprocess, BadInput, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
