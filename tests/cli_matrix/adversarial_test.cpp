// SPDX-License-Identifier: MIT
// The gpsa CLI against crafted inputs that used to crash it, lose an output, hang, take unbounded
// memory or time, lose the stdout report or leave files behind (docs/reliability.md). Every case
// runs the real binary (fork + exec) and checks how it ended, its one stderr line and the folders.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

// A file of `bytes` bytes that takes no disk space (a hole): big inputs for size checks.
void sparse_file(const fs::path& p, std::uint64_t bytes) {
  spit(p, "");
  fs::resize_file(p, bytes);
}

// ---- image files built byte by byte (no image library) -----------------------------------------

void put_be(std::string& b, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) b += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string png_chunk(const std::string& type, const std::string& data) {
  std::string c;
  put_be(c, data.size(), 4);
  const std::string body = type + data;
  c += body;
  put_be(c, crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())),
         4);
  return c;
}

// A PNG of w x h zero pixels, `depth` bits per sample, colour type `type`, Adam7 when
// `interlaced`: every row is filter byte 0 plus zeros, deflated as it is generated.
std::string png_of_zeros(std::uint32_t w, std::uint32_t h, int depth, int type, bool interlaced) {
  const std::uint64_t channels = type == 0 || type == 3 ? 1 : type == 4 ? 2 : type == 2 ? 3 : 4;
  struct pass {
    std::uint32_t x0, y0, dx, dy;
  };
  const std::vector<pass> passes =
      interlaced ? std::vector<pass>{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                     {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
                 : std::vector<pass>{{0, 0, 1, 1}};
  z_stream z{};
  if (deflateInit(&z, 1) != Z_OK) throw std::runtime_error("deflateInit failed");
  std::string idat;
  std::vector<unsigned char> zeros(1 << 20, 0), buf(1 << 20);
  const auto feed = [&](std::uint64_t n, int flush) {
    do {
      const std::uint64_t take = std::min<std::uint64_t>(n, zeros.size());
      z.next_in = zeros.data();
      z.avail_in = static_cast<uInt>(take);
      n -= take;
      do {
        z.next_out = buf.data();
        z.avail_out = static_cast<uInt>(buf.size());
        deflate(&z, n == 0 ? flush : Z_NO_FLUSH);
        idat.append(reinterpret_cast<const char*>(buf.data()), buf.size() - z.avail_out);
      } while (z.avail_out == 0);
    } while (n > 0);
  };
  for (const pass& p : passes) {
    const std::uint64_t pw = w > p.x0 ? (w - p.x0 + p.dx - 1) / p.dx : 0;
    const std::uint64_t ph = h > p.y0 ? (h - p.y0 + p.dy - 1) / p.dy : 0;
    if (pw == 0 || ph == 0) continue;
    feed(ph * (1 + (pw * channels * static_cast<std::uint64_t>(depth) + 7) / 8), Z_NO_FLUSH);
  }
  feed(0, Z_FINISH);
  deflateEnd(&z);
  std::string ihdr;
  put_be(ihdr, w, 4);
  put_be(ihdr, h, 4);
  ihdr += static_cast<char>(depth);
  ihdr += static_cast<char>(type);
  ihdr += std::string("\0\0", 2);
  ihdr += static_cast<char>(interlaced ? 1 : 0);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", idat) +
         png_chunk("IEND", "");
}

std::string jpeg_segment(unsigned marker, const std::string& payload) {
  std::string s{'\xff', static_cast<char>(marker)};
  put_be(s, payload.size() + 2, 2);
  return s + payload;
}

// A one-component JPEG of side x side with frame marker `sof` (0xc2 progressive, 0xc1 extended,
// 0xc3 lossless), `precision` bits and `scans` scans without entropy data (libjpeg fills each
// with zeros, a pass over the whole image per scan): the "scan bomb".
std::string jpeg_scans(unsigned sof, int precision, std::uint16_t side, int scans) {
  std::string b("\xff\xd8", 2);
  b += jpeg_segment(0xdb, std::string(1, '\0') + std::string(64, '\1'));  // quantisation table
  std::string frame(1, static_cast<char>(precision));
  put_be(frame, side, 2);
  put_be(frame, side, 2);
  frame += std::string("\x01\x01\x11\x00", 4);
  b += jpeg_segment(sof, frame);
  // DC and AC Huffman tables 0, each one code of length 1 for symbol 0.
  const std::string one_code = std::string(1, '\1') + std::string(15, '\0') + std::string(1, '\0');
  b += jpeg_segment(0xc4, std::string(1, '\x00') + one_code + std::string(1, '\x10') + one_code);
  b += jpeg_segment(0xda, std::string("\x01\x01\x00\x00\x00\x00", 6));  // DC first
  for (int i = 1; i < scans; ++i)
    b += jpeg_segment(0xda, std::string("\x01\x01\x00\x01\x3f\x00", 6));  // AC 1..63
  return b + std::string("\xff\xd9", 2);
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

// ---- a crash: the image has 3 planes, the model reads in_chans ---------------------------------

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
  expect_refused(r, {"1-channel (grey-scale) images", "in_chans = 1", "--mean and --std"});
}

// classify said only "has shape (1,3,32,32), expected (B,1,32,32)".
TEST_F(Adversarial, ClassifyImageOnAOneChannelModelNamesInChans) {
  write_model(in / "m.safetensors", mt::random_model(small_convit(1), false, 9));
  const run_result r =
      run_gpsa({"classify", "--weights", (in / "m.safetensors").string(), "--image",
                golden("images/scene_320x240.jpg").string(), "-o", (out / "l.npy").string()});
  expect_refused(r, {"1-channel (grey-scale) images", "in_chans = 1", "--mean and --std"});
  // With the model's statistics the image is read as grey-scale and classified.
  const run_result ok = run_gpsa({"classify", "--weights", (in / "m.safetensors").string(),
                                  "--image", golden("images/scene_320x240.jpg").string(), "--mean",
                                  "0.5", "--std", "0.5", "-o", (out / "l.npy").string()});
  EXPECT_TRUE(ok.exited && ok.code == 0) << ok.err;
  EXPECT_TRUE(std::filesystem::exists(out / "l.npy"));
}

// ---- a silent lost output: one new file named twice --------------------------------------------

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

// ---- a hang: depth came from the largest block index -------------------------------------------

// An all-GPSA checkpoint plus one stray key of block 2^63 - 1 used to loop ~2^63 times (depth =
// largest index + 1); blocks.100000000 took 10 s and then blamed a "missing" block.
TEST_F(Adversarial, AStrayHugeBlockIndexIsAnUnexpectedKeyAtOnce) {
  convit_ref::config c = small_convit(3);
  c.local = c.depth;  // every block GPSA
  for (const std::string index : {"9223372036854775807", "100000000"}) {
    SCOPED_TRACE(index);
    mt::st_map m = mt::random_model(c, false, 10);
    const std::string stray = "blocks." + index + ".norm1.weight";
    m[stray] = tiny_safetensors::tensor{{c.dim}, std::vector<float>(c.dim, 1.0f), "F32"};
    write_model(in / "m.safetensors", m);
    run_limits quick;
    quick.timeout_seconds = 20;
    expect_refused(run_gpsa({"classify", "--weights", (in / "m.safetensors").string(), "--image",
                             golden("images/scene_320x240.jpg").string()},
                            quick),
                   {"unexpected key '" + stray + "'", "has only 1 key"});
    expect_refused(run_gpsa({"demo", "--weights", (in / "m.safetensors").string(), "-o",
                             (out / "d.png").string()},
                            quick),
                   {"unexpected key '" + stray + "'"});
  }
}

// The next block index on a model with MHSA blocks blamed a missing blocks.2.norm1.bias.
TEST_F(Adversarial, AStrayKeyOfTheNextBlockIsUnexpectedNotAMissingBlock) {
  mt::st_map m = mt::random_model(small_convit(3), false, 11);
  m["blocks.2.norm1.weight"] = tiny_safetensors::tensor{{16}, std::vector<float>(16, 1.0f), "F32"};
  write_model(in / "m.safetensors", m);
  spit(in / "x.npy", npy_zeros({1, 3, 32, 32}));
  expect_refused(run_gpsa({"classify", "--weights", (in / "m.safetensors").string(), "--input",
                           (in / "x.npy").string()}),
                 {"unexpected key 'blocks.2.norm1.weight'", "depth 2, local_up_to_layer 1"});
  // A whole block missing between two whole blocks is still a missing key of that block.
  convit_ref::config c = small_convit(3);
  c.depth = 3;
  mt::st_map gap = mt::random_model(c, false, 12);
  for (auto it = gap.begin(); it != gap.end();)
    it = it->first.rfind("blocks.1.", 0) == 0 ? gap.erase(it) : std::next(it);
  write_model(in / "gap.safetensors", gap);
  expect_refused(run_gpsa({"classify", "--weights", (in / "gap.safetensors").string(), "--input",
                           (in / "x.npy").string()}),
                 {"missing key 'blocks.1.norm1.weight'"});
}

// A ViT/DeiT (MHSA blocks only, the class token counted in pos_embed) was "17 is not a square
// grid".
TEST_F(Adversarial, AVitCheckpointIsNotAConvit) {
  convit_ref::config c = small_convit(3);
  c.local = 0;
  mt::st_map m = mt::random_model(c, false, 13);
  m["pos_embed"] = tiny_safetensors::tensor{{1, 17, 16}, std::vector<float>(17 * 16, 0.0f), "F32"};
  write_model(in / "vit.safetensors", m);
  expect_refused(run_gpsa({"classify", "--weights", (in / "vit.safetensors").string(), "--image",
                           golden("images/scene_320x240.jpg").string()}),
                 {"not a ConViT", "ViT/DeiT with 2 block(s) of MHSA", "pos_embed (1,17,16)"});
}

// ---- unbounded memory and time from small checkpoints ------------------------------------------

// A 4 MB checkpoint with a 1024x1024 patch grid and 600 blocks used to fold 4.9 GB of positional
// state (27 s) before the input was read.
TEST_F(Adversarial, AHugePatchGridIsRefusedBeforeAnyWork) {
  convit_ref::config c;
  c.image = 1024;
  c.patch = 1;
  c.dim = 1;
  c.heads = 1;
  c.depth = c.local = 600;
  c.hidden = 1;
  c.classes = 1;
  write_model(in / "m.safetensors", mt::random_model(c, false, 14));
  run_limits small;
  small.timeout_seconds = 60;
  small.max_address_space = std::uint64_t{1} << 30;
  for (const char* cmd : {"classify", "demo"}) {
    SCOPED_TRACE(cmd);
    std::vector<std::string> args{cmd, "--weights", (in / "m.safetensors").string(), "--image",
                                  golden("images/scene_320x240.jpg").string()};
    if (std::string(cmd) == "demo") args.insert(args.end(), {"-o", (out / "d.png").string()});
    expect_refused(run_gpsa(args, small), {"N = 1048576 patches", "over the limit of 4096"});
  }
}

// N = 4096 patches and 128 GPSA blocks of 16 heads: small weights (1 MB), but about 3.4e11
// operations per image (minutes): refused from the shapes.
TEST_F(Adversarial, AForwardOverTheWorkLimitIsRefusedBeforeAnyWork) {
  convit_ref::config c;
  c.image = 64;
  c.patch = 1;
  c.dim = 16;
  c.heads = 16;
  c.depth = c.local = 128;
  c.hidden = 16;
  c.classes = 2;
  write_model(in / "m.safetensors", mt::random_model(c, false, 15));
  spit(in / "x.npy", npy_zeros({1, 3, 64, 64}));
  run_limits quick;
  quick.timeout_seconds = 30;
  expect_refused(run_gpsa({"classify", "--weights", (in / "m.safetensors").string(), "--input",
                           (in / "x.npy").string(), "-o", (out / "l.npy").string()},
                          quick),
                 {"the forward of one image would take about 3.4e+11 operations", "depth 128",
                  "N = 4096 patches", "over the limit of 2^38"});
}

// ---- whole files read before cheap checks ------------------------------------------------------

// A 3 GB file that is not a .npy used to be read whole (3.2 GB) before "not a .npy file".
TEST_F(Adversarial, ANonNpyInputIsRefusedFromItsFirstBytes) {
  sparse_file(in / "big.bin", std::uint64_t{3} << 30);
  run_limits small;
  small.max_address_space = std::uint64_t{1} << 30;
  expect_refused(run_gpsa({"forward", "--weights", golden("s2_h4_c16/weights.safetensors").string(),
                           "--input", (in / "big.bin").string(), "-o", (out / "y.npy").string()},
                          small),
                 {"big.bin: not a .npy file"});
  expect_refused(run_gpsa({"classify", "--weights",
                           golden("convit/convit_micro_4x4/model.safetensors").string(), "--input",
                           (in / "big.bin").string()},
                          small),
                 {"big.bin: not a .npy file"});
  // A .npy header whose shape does not match the file's size is refused before the data are read.
  std::string npy = npy_zeros({2, 4, 16});
  spit(in / "short.npy", npy);
  fs::resize_file(in / "short.npy", std::uint64_t{3} << 30);
  expect_refused(run_gpsa({"forward", "--weights", golden("s2_h4_c16/weights.safetensors").string(),
                           "--input", (in / "short.npy").string(), "-o", (out / "y.npy").string()},
                          small),
                 {"short.npy: data is", "(trailing bytes)"});
}

// A 1 GB file that is not an image used to be read whole before "not a PNG or JPEG".
TEST_F(Adversarial, ANonImageIsRefusedFromItsFirstBytes) {
  sparse_file(in / "big.png", std::uint64_t{1} << 30);
  run_limits small;
  small.max_address_space = std::uint64_t{512} << 20;
  expect_refused(
      run_gpsa({"preprocess", "--image", (in / "big.png").string(), "-o", (out / "x.npy").string()},
               small),
      {"big.png: not a PNG or JPEG file (it starts with bytes 00 00"});
}

// A 67108864 x 1 PNG used to be decoded whole (5.5 s, 792 MB) before its resize was refused; the
// message gave the resized size as height x width.
TEST_F(Adversarial, AnImpossibleResizeIsRefusedFromTheHeader) {
  spit(in / "wide.png", png_of_zeros(67108864, 1, 8, 2, false));
  run_limits small;
  small.max_address_space = std::uint64_t{256} << 20;
  expect_refused(run_gpsa({"preprocess", "--image", (in / "wide.png").string(), "-o",
                           (out / "x.npy").string()},
                          small),
                 {"67108864x1 would be resized to 17179869184 x 256 for size 224"});
}

// An 8192 x 8192 16-bit RGBA interlaced PNG peaked at 727 MB, over the documented worst case of
// 603 MB (docs/convit.md); 16-bit samples are now cut to their high byte while decoding.
TEST_F(Adversarial, AnInterlaced16BitPngDecodesWithinTheDocumentedMemory) {
  spit(in / "big.png", png_of_zeros(8192, 8192, 16, 6, true));
  run_limits documented;
  documented.max_address_space = 603'000'000;
  const run_result r =
      run_gpsa({"preprocess", "--image", (in / "big.png").string(), "-o", (out / "x.npy").string()},
               documented);
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_NE(r.out.find("PNG 8192x8192, 16-bit RGBA, interlaced"), std::string::npos) << r.out;
  // Zero pixels: every value is (0 - mean) / std of its channel.
  const npy_f32 x = read_npy_f32(out / "x.npy");
  ASSERT_EQ(x.shape, (std::vector<std::size_t>{1, 3, 224, 224}));
  const double mean[3] = {0.485, 0.456, 0.406}, stdev[3] = {0.229, 0.224, 0.225};
  for (std::size_t ch = 0; ch < 3; ++ch)
    EXPECT_NEAR(x.data[ch * 224 * 224 + 1000], -mean[ch] / stdev[ch], 1e-6);
}

// ---- a progressive-JPEG scan bomb --------------------------------------------------------------

// 150 scans over a 2048 x 2048 image: each is a pass over every coefficient (3000 scans at
// 8192 x 8192 took 12.9 s); more than 100 scans are refused as they are read.
TEST_F(Adversarial, AJpegWithTooManyScansIsRefused) {
  spit(in / "bomb.jpg", jpeg_scans(0xc2, 8, 2048, 150));
  expect_refused(run_gpsa({"preprocess", "--image", (in / "bomb.jpg").string(), "-o",
                           (out / "x.npy").string()}),
                 {"bomb.jpg: JPEG over gpsa's limits: more than 100 scans"});
  // 20 scans are fine.
  spit(in / "ok.jpg", jpeg_scans(0xc2, 8, 64, 20));
  const run_result r =
      run_gpsa({"preprocess", "--image", (in / "ok.jpg").string(), "-o", (out / "x.npy").string()});
  EXPECT_TRUE(r.exited && r.code == 0) << r;
}

// ---- silent loss of the stdout report ----------------------------------------------------------

// `classify ... > /dev/full` exited 0: every command's report (and --help, --version) must reach
// stdout or the command fails with one line naming stdout.
TEST_F(Adversarial, AReportThatCannotBeWrittenIsAnError) {
  const std::string model = golden("convit/convit_micro_4x4/model.safetensors").string();
  const std::string o = out.string();
  const std::vector<std::vector<std::string>> commands = {
      {"classify", "--weights", model, "--input", golden("convit/convit_micro_4x4/x.npy").string()},
      {"preprocess", "--image", golden("images/scene_320x240.jpg").string(), "-o", o + "/x.npy"},
      {"table", "--grid", "3", "-o", o + "/t.npy"},
      {"forward", "--weights", golden("s2_h4_c16/weights.safetensors").string(), "--input",
       golden("s2_h4_c16/x.npy").string(), "-o", o + "/y.npy"},
      {"fold", "--weights", golden("s2_h4_c16/weights.safetensors").string(), "--grid", "2", "-o",
       o + "/f.h"},
      {"demo", "--grid", "4", "-o", o + "/d.png"},
      {"--help"},
      {"classify", "--help"},
      {"--version"}};
  run_limits full;
  full.stdout_path = "/dev/full";
  for (const auto& args : commands) {
    SCOPED_TRACE(args[0] + (args.size() > 1 ? " " + args[1] : std::string()));
    const run_result r = run_gpsa(args, full);
    EXPECT_TRUE(r.exited && r.code == 1) << r;
    EXPECT_EQ(r.err.rfind("gpsa: stdout: write failed: No space left on device", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// On a full file system (a file-size limit here) a 1000-line top-k report was cut at 86 lines
// with exit 0.
TEST_F(Adversarial, AReportCutShortIsAnError) {
  convit_ref::config c = small_convit(3);
  c.classes = 1000;
  write_model(in / "m.safetensors", mt::random_model(c, false, 16));
  spit(in / "x.npy", npy_zeros({1, 3, 32, 32}));
  run_limits small_disk;
  small_disk.stdout_path = out / "report.txt";
  small_disk.max_file_bytes = 8192;
  const run_result r = run_gpsa({"classify", "--weights", (in / "m.safetensors").string(),
                                 "--input", (in / "x.npy").string(), "--topk", "1000"},
                                small_disk);
  EXPECT_TRUE(r.exited && r.code == 1) << r;
  EXPECT_NE(r.err.find("gpsa: stdout: write failed: File too large (after 8192 of "),
            std::string::npos)
      << r.err;
  EXPECT_EQ(fs::file_size(out / "report.txt"), 8192u);
}

// ---- leftover files ----------------------------------------------------------------------------

// Another user's world-writable file in a sticky folder (like /tmp): gpsa may write it but not
// rename over it. It used to compute everything, fail at the rename and leave an undeletable
// .NAME.old.XXXXXX behind on every attempt; now it is refused before the work.
TEST_F(Adversarial, AnotherUsersFileInAStickyFolderIsRefusedBeforeTheWork) {
  const fs::path shared = dir / "shared";
  fs::create_directory(shared);
  fs::permissions(dir.path, fs::perms(0755));
  fs::permissions(shared, fs::perms(01777));
  spit(shared / "t.npy", "theirs\n");
  ASSERT_EQ(::chown((shared / "t.npy").c_str(), 40001, 40001), 0);
  fs::permissions(shared / "t.npy", fs::perms(0666));
  run_limits other_user;
  other_user.uid = other_user.gid = 40002;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const run_result r =
        run_gpsa({"table", "--grid", "3", "-o", (shared / "t.npy").string()}, other_user);
    expect_refused(r, {"t.npy: cannot replace it", "is sticky (like /tmp)", "(uid 40001)"});
  }
  EXPECT_EQ(snapshot(shared), (std::map<std::string, std::string>{{"t.npy", "file:theirs\n"}}));
  // A new name in the same folder is fine for that user.
  const run_result ok =
      run_gpsa({"table", "--grid", "3", "-o", (shared / "mine.npy").string()}, other_user);
  EXPECT_TRUE(ok.exited && ok.code == 0) << ok;
  EXPECT_TRUE(fs::exists(shared / "mine.npy"));
}

// Output names of 244 to 255 bytes are valid, but ".NAME.tmp.XXXXXX" was longer than a file
// name may be: "cannot write: File name too long".
TEST_F(Adversarial, AnOutputNameOfUpTo255BytesIsWritten) {
  for (const std::size_t length : {244u, 250u, 255u}) {
    SCOPED_TRACE(length);
    const std::string leaf = std::string(length - 4, 'n') + ".npy";
    const run_result r = run_gpsa({"table", "--grid", "3", "-o", (out / leaf).string()});
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    EXPECT_EQ(names(snapshot(out)), std::vector<std::string>{leaf});
    fs::remove(out / leaf);
  }
}

// ---- messages ----------------------------------------------------------------------------------

// A safetensors file of raw tensors of any dtype, key -> (dtype, shape, bytes of zeros), added
// after the tensors of `header` and `data` (none: a file of these tensors only).
struct raw_tensor {
  std::string dtype;
  std::vector<std::size_t> shape;
  std::size_t bytes = 0;
};
std::string raw_safetensors(const std::map<std::string, raw_tensor>& tensors,
                            nlohmann::json header = nlohmann::json::object(),
                            std::string data = {}) {
  for (const auto& [key, t] : tensors) {
    header[key] = {{"dtype", t.dtype},
                   {"shape", t.shape},
                   {"data_offsets", {data.size(), data.size() + t.bytes}}};
    data.append(t.bytes, '\0');
  }
  return safetensors_bytes(header, data);
}

// A model file plus extra raw tensors (e.g. an integer counter).
std::string model_with(const mt::st_map& m, const std::map<std::string, raw_tensor>& extra) {
  const std::string base = tiny_safetensors::serialise(m);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(base[std::size_t(i)]);
  return raw_safetensors(extra, nlohmann::json::parse(base.substr(8, n)), base.substr(8 + n));
}

// classify and demo now say which flag an empty path belongs to (the docs promised it).
TEST_F(Adversarial, EmptyPathsNameTheirFlag) {
  const std::string w = golden("convit/convit_micro_4x4/model.safetensors").string();
  const std::string x = golden("convit/convit_micro_4x4/x.npy").string();
  expect_refused(run_gpsa({"classify", "--weights", "", "--input", x}),
                 {"gpsa: --weights: the path is empty"});
  expect_refused(run_gpsa({"classify", "--weights", w, "--image", ""}),
                 {"gpsa: --image: the path is empty"});
  expect_refused(run_gpsa({"classify", "--weights", w, "--input", x, "--labels", ""}),
                 {"gpsa: --labels: the path is empty"});
  expect_refused(run_gpsa({"classify", "--weights", w, "--input", x, "--features", ""}),
                 {"gpsa: --features: the path is empty"});
  expect_refused(run_gpsa({"demo", "--weights", "", "-o", (out / "d.png").string()}),
                 {"gpsa: --weights: the path is empty"});
  expect_refused(run_gpsa({"demo", "-o", ""}), {"gpsa: -o: the path is empty"});
  // --query '' was taken as "no --query".
  expect_refused(run_gpsa({"demo", "--query", "", "-o", (out / "d.png").string()}),
                 {"gpsa: --query '': expected a patch index or y,x"});
}

// A model of 4800 px images blamed an "output size 4800" the user never chose.
TEST_F(Adversarial, AModelImageOverTheImageLimitNamesTheModel) {
  convit_ref::config c;
  c.image = 4800;
  c.patch = 75;
  c.dim = 2;
  c.heads = 1;
  c.depth = c.local = 1;
  c.hidden = 2;
  c.classes = 2;
  write_model(in / "m.safetensors", mt::random_model(c, false, 17));
  expect_refused(run_gpsa({"classify", "--weights", (in / "m.safetensors").string(), "--image",
                           golden("images/scene_320x240.jpg").string()}),
                 {"takes 4800x4800 images", "at most 4096x4096", "--input x.npy (B,3,4800,4800)"});
}

// A refused thread printed only "Resource temporarily unavailable".
TEST_F(Adversarial, AThreadTheSystemRefusesIsNamed) {
  run_limits no_threads;
  no_threads.extra_env = {std::string("LD_PRELOAD=") + GPSA_EAGAIN_THREADS_SHIM};
  expect_refused(
      run_gpsa(
          {"forward", "--weights", golden("s2_h4_c16/weights.safetensors").string(), "--input",
           golden("s2_h4_c16/x.npy").string(), "-o", (out / "y.npy").string(), "--threads", "4"},
          no_threads),
      {"--threads '4': cannot start helper thread 1 of 3: Resource temporarily unavailable"});
  expect_refused(run_gpsa({"classify", "--weights",
                           golden("convit/convit_micro_4x4/model.safetensors").string(), "--input",
                           golden("convit/convit_micro_4x4/x.npy").string(), "--threads", "2"},
                          no_threads),
                 {"--threads '2': cannot start helper thread 1 of 1"});
}

// A file of F8 / C64 tensors only was "the file holds no tensors".
TEST_F(Adversarial, TensorsOfAnUnreadDtypeAreListed) {
  spit(in / "f8.safetensors",
       raw_safetensors({{"cls_token", {"F8_E4M3", {1, 4, 2}, 8}}, {"w", {"C64", {2}, 16}}}));
  expect_refused(run_gpsa({"fold", "--weights", (in / "f8.safetensors").string(), "--grid", "2",
                           "-o", (out / "f.h").string()}),
                 {"no GPSA layer found", "keys: cls_token (F8_E4M3), w (C64)"});
  EXPECT_EQ(run_gpsa({"fold", "--weights", (in / "f8.safetensors").string(), "--grid", "2", "-o",
                      (out / "f.h").string()})
                .err.find("holds no tensors"),
            std::string::npos);
  // A pos_embed gpsa fold would read for the grid is named with its dtype.
  spit(in / "f8pe.safetensors", raw_safetensors({{"pos_embed", {"F8_E4M3", {1, 4, 2}, 8}}}));
  expect_refused(run_gpsa({"fold", "--weights", (in / "f8pe.safetensors").string(), "-o",
                           (out / "f.h").string()}),
                 {"tensor 'pos_embed' has dtype F8_E4M3, which gpsa does not read"});
}

// UTF-16 labels were accepted and printed as \x00c\x00l...
TEST_F(Adversarial, Utf16LabelsAreRefused) {
  const std::string w = golden("convit/convit_micro_4x4/model.safetensors").string();
  const std::string x = golden("convit/convit_micro_4x4/x.npy").string();
  std::string utf16;  // "cl0\ncl1\n...", each character followed by a zero byte (UTF-16LE)
  for (int i = 0; i < 10; ++i)
    for (const char ch : {'c', 'l', static_cast<char>('0' + i), '\n'}) utf16 += {ch, '\0'};
  spit(in / "bom.txt", "\xff\xfe" + utf16);
  spit(in / "nobom.txt", utf16);
  expect_refused(
      run_gpsa({"classify", "--weights", w, "--input", x, "--labels", (in / "bom.txt").string()}),
      {"bom.txt: UTF-16 text (byte-order mark FF FE); save the labels as UTF-8"});
  expect_refused(
      run_gpsa({"classify", "--weights", w, "--input", x, "--labels", (in / "nobom.txt").string()}),
      {"nobom.txt: not a text file (a NUL byte at offset 1"});
}

// 12-bit and lossless JPEGs were "corrupt".
TEST_F(Adversarial, TwelveBitAndLosslessJpegsAreUnsupported) {
  spit(in / "twelve.jpg", jpeg_scans(0xc1, 12, 64, 1));
  spit(in / "lossless.jpg", jpeg_scans(0xc3, 8, 64, 1));
  expect_refused(run_gpsa({"preprocess", "--image", (in / "twelve.jpg").string(), "-o",
                           (out / "x.npy").string()}),
                 {"twelve.jpg: unsupported JPEG: 12-bit samples; gpsa reads 8-bit JPEGs"});
  expect_refused(run_gpsa({"preprocess", "--image", (in / "lossless.jpg").string(), "-o",
                           (out / "x.npy").string()}),
                 {"lossless.jpg: unsupported JPEG: ", "SOF type 0xc3"});
}

// A .npy descr '<f' was called "float0".
TEST_F(Adversarial, ANpyDescrWithoutSizeIsNamed) {
  spit(in / "x.npy", npy_zeros({2, 4, 16}, "<f"));
  const run_result r =
      run_gpsa({"forward", "--weights", golden("s2_h4_c16/weights.safetensors").string(), "--input",
                (in / "x.npy").string(), "-o", (out / "y.npy").string()});
  expect_refused(r, {"dtype '<f' (no item size)"});
  EXPECT_EQ(r.err.find("float0"), std::string::npos) << r.err;
}

// fold --with-weights on a NaN weight named only the C symbol, not the file and the key.
TEST_F(Adversarial, ANanWeightForTheHeaderNamesFileAndKey) {
  poked_safetensors("s2_h4_c16/weights.safetensors", in / "w.safetensors",
                    "blocks.0.attn.qk.weight", 17, NAN);
  expect_refused(
      run_gpsa({"fold", "--weights", (in / "w.safetensors").string(), "--grid", "2",
                "--with-weights", "-o", (out / "f.h").string()}),
      {"w.safetensors: tensor 'blocks.0.attn.qk.weight' has NaN at index (1,1)", "--with-weights"});
}

// fold --name gpsa_layer wrote gpsa_layer_weights[], which <gpsa/gpsa.h> declares as a type.
TEST_F(Adversarial, AFoldNameThatClashesWithGpsaHIsRefused) {
  expect_refused(run_gpsa({"fold", "--weights", golden("s2_h4_c16/weights.safetensors").string(),
                           "--grid", "2", "--name", "gpsa_layer", "-o", (out / "f.h").string()}),
                 {"--name 'gpsa_layer': the header would define 'gpsa_layer_weights'",
                  "<gpsa/gpsa.h> already declares"});
}

// NaN logits printed ranks of nan with exit 0 and no word of warning.
TEST_F(Adversarial, NanLogitsGiveAWarning) {
  poked_npy("convit/convit_micro_4x4/x.npy", in / "x.npy", 0, NAN);
  const run_result r = run_gpsa({"classify", "--weights",
                                 golden("convit/convit_micro_4x4/model.safetensors").string(),
                                 "--input", (in / "x.npy").string()});
  EXPECT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_EQ(r.err.rfind("gpsa: warning: 1 of ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("have NaN logits (first: image 0, 10 of 10 classes)"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// A counter saved beside the weights (SWA's n_averaged, int64) made classify refuse the file;
// tools/pth_to_safetensors.py says such tensors are skipped.
TEST_F(Adversarial, AnIntegerCounterBesideTheWeightsIsIgnored) {
  write_model(in / "plain.safetensors", mt::random_model(small_convit(3), false, 18));
  spit(in / "swa.safetensors",
       model_with(mt::random_model(small_convit(3), false, 18), {{"n_averaged", {"I64", {}, 8}}}));
  spit(in / "x.npy", npy_zeros({1, 3, 32, 32}));
  const run_result a =
      run_gpsa({"classify", "--weights", (in / "plain.safetensors").string(), "--input",
                (in / "x.npy").string(), "-o", (out / "a.npy").string()});
  const run_result b =
      run_gpsa({"classify", "--weights", (in / "swa.safetensors").string(), "--input",
                (in / "x.npy").string(), "-o", (out / "b.npy").string()});
  ASSERT_TRUE(a.exited && a.code == 0) << a;
  ASSERT_TRUE(b.exited && b.code == 0) << b;
  EXPECT_EQ(slurp(out / "a.npy"), slurp(out / "b.npy"));
}

}  // namespace
