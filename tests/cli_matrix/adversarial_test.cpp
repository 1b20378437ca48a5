// SPDX-License-Identifier: MIT
// The gpsa CLI against crafted inputs that used to crash it, lose an output, hang, take unbounded
// memory or time, lose the stdout report or leave files behind (docs/reliability.md). Every case
// runs the real binary (fork + exec) and checks how it ended, its one stderr line and the folders.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../model/model_test_util.hpp"
#include "cli_runner.hpp"

namespace {

using namespace gpsa_cli_test;
namespace mt = model_test;

// A small whole ConViT (4x4 patches of 8 px on 32 px images) with `channels` input planes.
convit_ref::config small_convit(std::size_t channels) {
  convit_ref::config c;
  c.image = 32;
  c.patch = 8;
  c.channels = channels;
  c.dim = 16;
  c.heads = 2;
  c.depth = 2;
  c.local = 1;
  c.hidden = 32;
  c.classes = 5;
  return c;
}

void write_model(const fs::path& to, const mt::st_map& m) {
  spit(to, tiny_safetensors::serialise(m));
}

class Adversarial : public ::testing::Test {
 public:
  scratch dir;
  fs::path in = dir / "in", out = dir / "out";
  void SetUp() override {
    fs::create_directories(in);
    fs::create_directories(out);
  }
  // A refusal: exit status 1 (no signal), one line on stderr starting "gpsa: " and holding every
  // part, nothing on stdout, nothing in out/.
  void expect_refused(const run_result& r, std::initializer_list<std::string> parts) const {
    EXPECT_TRUE(r.exited) << r;
    EXPECT_EQ(r.code, 1) << r;
    EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const std::string& p : parts)
      EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(names(snapshot(out)), std::vector<std::string>{}) << "left in out/";
  }
};

// ---- a crash: the image has 3 planes, the model reads in_chans ----------------------------------

// timm's create_model('convit_tiny', in_chans=4): the demo used to preprocess the image to 3
// planes and run the forward over 4 (a heap over-read, SIGSEGV, a zero-byte temporary left).
TEST_F(Adversarial, DemoImageOnAFourChannelModelIsRefused) {
  write_model(in / "m.safetensors", mt::random_model(small_convit(4), false, 7));
  const run_result r =
      run_gpsa({"demo", "--weights", (in / "m.safetensors").string(), "--image",
                golden("images/scene_320x240.jpg").string(), "-o", (out / "d.png").string()});
  expect_refused(r, {"4-channel images", "in_chans = 4", "3 (RGB)", "without --image"});
  // The same model without --image runs (a deterministic 4-plane input): the refusal is about
  // the image, not the model.
  const run_result ok = run_gpsa(
      {"demo", "--weights", (in / "m.safetensors").string(), "-o", (out / "d.png").string()});
  EXPECT_TRUE(ok.exited && ok.code == 0) << ok;
  EXPECT_TRUE(fs::exists(out / "d.png"));
}

// in_chans = 1: the demo used to measure the red plane only and exit 0.
TEST_F(Adversarial, DemoImageOnAOneChannelModelIsRefused) {
  write_model(in / "m.safetensors", mt::random_model(small_convit(1), false, 8));
  const run_result r =
      run_gpsa({"demo", "--weights", (in / "m.safetensors").string(), "--image",
                golden("images/gray_200x240.png").string(), "-o", (out / "d.png").string()});
  expect_refused(r, {"1-channel images", "in_chans = 1"});
}

// classify said only "has shape (1,3,32,32), expected (B,1,32,32)".
TEST_F(Adversarial, ClassifyImageOnAOneChannelModelNamesInChans) {
  write_model(in / "m.safetensors", mt::random_model(small_convit(1), false, 9));
  const run_result r =
      run_gpsa({"classify", "--weights", (in / "m.safetensors").string(), "--image",
                golden("images/scene_320x240.jpg").string(), "-o", (out / "l.npy").string()});
  expect_refused(r, {"1-channel images", "in_chans = 1", "--input x.npy (B,1,32,32)"});
}

// ---- a silent lost output: one new file named twice ---------------------------------------------

// Two outputs naming the same file that does not exist yet, spelled differently, used to be
// written one over the other (exit 0, both reported written).
TEST_F(Adversarial, TwoSpellingsOfOneNewOutputAreRefused) {
  const std::string w = golden("convit/convit_micro_4x4/model.safetensors").string();
  const std::string x = golden("convit/convit_micro_4x4/x.npy").string();
  run_limits here;
  here.cwd = out;
  expect_refused(run_gpsa({"classify", "--weights", w, "--input", x, "-o", "out.npy", "--features",
                           "./out.npy"},
                          here),
                 {"-o and --features name the same file"});

  const std::string lw = golden("s2_h4_c16/weights.safetensors").string();
  const std::string lx = golden("s2_h4_c16/x.npy").string();
  expect_refused(run_gpsa({"forward", "--weights", lw, "--input", lx, "-o", "y.npy", "--attention",
                           (out / "y.npy").string()},
                          here),
                 {"-o and --attention name the same file"});
  fs::create_directories(dir / "sub");
  expect_refused(
      run_gpsa({"forward", "--weights", lw, "--input", lx, "-o", (out / "y.npy").string(),
                "--distances", (dir / "sub" / ".." / "out" / "y.npy").string()}),
      {"-o and --distances name the same file"});
  // A symlinked folder: link/y.npy is out/y.npy.
  fs::create_directory_symlink(out, dir / "link");
  expect_refused(
      run_gpsa({"forward", "--weights", lw, "--input", lx, "-o", (out / "y.npy").string(),
                "--attention", (dir / "link" / "y.npy").string()}),
      {"-o and --attention name the same file"});
  // Different names in one folder are still two outputs.
  const run_result ok = run_gpsa(
      {"forward", "--weights", lw, "--input", lx, "-o", "y.npy", "--attention", "./a.npy"}, here);
  EXPECT_TRUE(ok.exited && ok.code == 0) << ok;
  EXPECT_TRUE(fs::exists(out / "y.npy") && fs::exists(out / "a.npy"));
}

}  // namespace
