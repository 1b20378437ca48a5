// SPDX-License-Identifier: MIT
// `gpsa demo` end to end: it runs with no arguments, prints the report, and writes a PNG that
// libpng decodes to the expected size, with one non-uniform tile per head whose brightest cell
// sits where local_init (docs/DESIGN.md §6) centres that head. Options and errors too. On a whole
// ConViT checkpoint: the gates and positional nonlocality per GPSA block against float64 values
// computed here from the checkpoint, the gate markers where those values put them, and the
// reliability rules (output never an input, no report before the PNG is in place, NaN named).
#include <gtest/gtest.h>
#include <png.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../model/model_test_util.hpp"
#include "../support/test_util.hpp"

namespace {

using gpsa_test::slurp;

namespace fs = std::filesystem;

struct run_result {
  int status = -1;
  std::string out, err;
};

std::string quote(const std::string& s) { return "'" + s + "'"; }

struct decoded {
  std::size_t width = 0, height = 0;
  std::vector<unsigned char> rgb;  // 3 bytes per pixel
  int luma(std::size_t x, std::size_t y) const {
    const unsigned char* p = &rgb[3 * (y * width + x)];
    return 299 * p[0] + 587 * p[1] + 114 * p[2];
  }
  bool same(std::size_t x0, std::size_t y0, std::size_t x1, std::size_t y1) const {
    return std::memcmp(&rgb[3 * (y0 * width + x0)], &rgb[3 * (y1 * width + x1)], 3) == 0;
  }
};

// Decodes with libpng's simplified API after checking the 8-byte signature by hand.
decoded decode_png(const fs::path& path) {
  const std::string bytes = slurp(path);
  EXPECT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << "not a PNG signature";
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  decoded d;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size())) {
    ADD_FAILURE() << "libpng: " << img.message;
    return d;
  }
  img.format = PNG_FORMAT_RGB;
  d.width = img.width;
  d.height = img.height;
  d.rgb.resize(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, d.rgb.data(), 0, nullptr))
    ADD_FAILURE() << "libpng: " << img.message;
  return d;
}

class Demo : public ::testing::Test {
 public:
  fs::path dir;
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("gpsa_demo_" +
           std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
           std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir);
  }
  // Runs gpsa with `args` inside the test's folder.
  run_result gpsa(const std::string& args) const {
    const fs::path o = dir / "stdout.txt", e = dir / "stderr.txt";
    const std::string cmd = "cd " + quote(dir.string()) + " && " + quote(GPSA_CLI) + " " + args +
                            " >" + quote(o.string()) + " 2>" + quote(e.string());
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(o), slurp(e)};
  }
};

// The panel's geometry (cli/cmd_demo.cpp): 10 px margins, tiles of C*cell x R*cell under a
// label strip of 7*2+8 px, ceil(sqrt(H)) tiles per row, cell = 224 / max(R, C).
struct layout {
  std::size_t per_row, cell, map_w, map_h, tile_w;
  layout(std::size_t heads, std::size_t R, std::size_t C) {
    per_row = 1;
    while (per_row * per_row < heads) ++per_row;
    cell = 224 / std::max(R, C);
    map_w = C * cell;
    map_h = R * cell;
    tile_w = map_w;
  }
  std::size_t map_x(std::size_t h) const { return 10 + (h % per_row) * (tile_w + 10); }
  std::size_t map_y(std::size_t h) const { return 10 + (h / per_row) * (22 + map_h + 10) + 22; }
};

TEST_F(Demo, NoArgumentsPrintsTheReportAndWritesAValidPng) {
  const run_result r = gpsa("demo");
  ASSERT_EQ(r.status, 0) << r.err;
  // the report
  EXPECT_NE(r.out.find("H = 9 heads, D = 432, grid 14x14 (N = 196)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("baked at compile time (registry lookup):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cached its positional branch as folded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("runtime fill (fallback):"), std::string::npos);
  for (int h = 0; h < 9; ++h)
    EXPECT_NE(r.out.find("\nh" + std::to_string(h) + " "), std::string::npos) << h;
  EXPECT_NE(r.out.find("H*(R^2+C^2)+H = 3537 floats"), std::string::npos);  // 9*(196+196)+9
  EXPECT_NE(r.out.find("H*N^2 = 345744 floats"), std::string::npos);        // 9*196*196
  EXPECT_NE(r.out.find("query patch 105 = (y 7, x 7)"), std::string::npos);
  // local_init centres head h = h1 + 3*h2 at (dx, dy) = (h2-1, h1-1): h0 peaks at (-1,-1)
  EXPECT_NE(r.out.find("h0     0.731  ( -1, -1)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("h5     0.731  ( +0, +1)"), std::string::npos) << r.out;

  // the picture, in the current folder by default
  const fs::path png = dir / "gpsa-demo.png";
  ASSERT_TRUE(fs::exists(png));
  const decoded d = decode_png(png);
  const layout L(9, 14, 14);
  EXPECT_EQ(d.width, 10 + 3 * (224 + 10u));
  EXPECT_EQ(d.height, 10 + 3 * (22 + 224 + 10u));
  ASSERT_EQ(d.rgb.size(), d.width * d.height * 3);
  const std::size_t qx = 7, qy = 7;
  for (std::size_t h = 0; h < 9; ++h) {
    SCOPED_TRACE("tile h" + std::to_string(h));
    const std::size_t ox = L.map_x(h), oy = L.map_y(h);
    // not uniform: some cell differs from the tile's first cell
    bool varies = false;
    for (std::size_t y = 0; y < L.map_h && !varies; y += L.cell / 2)
      for (std::size_t x = 0; x < L.map_w && !varies; x += L.cell / 2)
        varies = !d.same(ox, oy, ox + x, oy + y);
    EXPECT_TRUE(varies);
    // the brightest cell (sampled at cell centres) is where local_init puts the head's centre
    std::size_t bx = 0, by = 0;
    for (std::size_t y = 0; y < 14; ++y)
      for (std::size_t x = 0; x < 14; ++x)
        if (d.luma(ox + x * L.cell + L.cell / 2, oy + y * L.cell + L.cell / 2) >
            d.luma(ox + bx * L.cell + L.cell / 2, oy + by * L.cell + L.cell / 2))
          bx = x, by = y;
    EXPECT_EQ(static_cast<int>(bx) - static_cast<int>(qx), static_cast<int>(h / 3) - 1);
    EXPECT_EQ(static_cast<int>(by) - static_cast<int>(qy), static_cast<int>(h % 3) - 1);
    // the label strip above the map has text pixels ("h<digit>")
    bool label = false;
    for (std::size_t y = oy - 20; y < oy - 6 && !label; ++y)
      for (std::size_t x = ox; x < ox + 24 && !label; ++x) label = d.luma(x, y) > 200000;
    EXPECT_TRUE(label);
  }
  // the nine tiles are different pictures
  for (std::size_t h = 1; h < 9; ++h) {
    bool differs = false;
    for (std::size_t y = 0; y < L.map_h && !differs; ++y)
      for (std::size_t x = 0; x < L.map_w && !differs; ++x)
        differs = !d.same(L.map_x(0) + x, L.map_y(0) + y, L.map_x(h) + x, L.map_y(h) + y);
    EXPECT_TRUE(differs) << "tile h" << h << " equals tile h0";
  }
}

TEST_F(Demo, OptionsPickGridQueryOutputAndCheckpoint) {
  run_result r = gpsa("demo --grid 7x9 --query 0,0 -o corner.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("grid 7x9 (N = 63)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("runtime fill"), std::string::npos);
  EXPECT_NE(r.out.find("query patch 0 = (y 0, x 0)"), std::string::npos);
  decoded d = decode_png(dir / "corner.png");
  const layout L7(9, 7, 9);
  EXPECT_EQ(d.width, 10 + 3 * (L7.map_w + 10));
  EXPECT_EQ(d.height, 10 + 3 * (22 + L7.map_h + 10));
  EXPECT_FALSE(fs::exists(dir / "gpsa-demo.png"));

  r = gpsa("demo --query 20 -o q20.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("query patch 20 = (y 1, x 6)"), std::string::npos);

  // a golden checkpoint: 4 heads -> a 2x2 panel
  const std::string ck =
      (fs::path(GPSA_GOLDEN_DIR) / "s14_h4_c192_convit_tiny" / "weights.safetensors").string();
  r = gpsa("demo --weights " + quote(ck) + " -o tiny.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("H = 4 heads, D = 192"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer blocks.0.attn"), std::string::npos);
  d = decode_png(dir / "tiny.png");
  EXPECT_EQ(d.width, 10 + 2 * (224 + 10u));
  EXPECT_EQ(d.height, 10 + 2 * (22 + 224 + 10u));
}

TEST_F(Demo, BadArgumentsFailWithOneLineAndNoPicture) {
  for (const char* args :
       {"demo --query 196", "demo --query 3,14", "demo --query a", "demo --grid 0",
        "demo --grid 33x32", "demo --weights nowhere.safetensors", "demo --prefix blocks.0.attn",
        "demo -o no/such/folder/x.png"}) {
    SCOPED_TRACE(args);
    const run_result r = gpsa(args);
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "gpsa-demo.png"));
  }
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

// ---- whole ConViT checkpoints -------------------------------------------------------------

struct gate_row {
  std::size_t block, head;
  double lambda, positional, full;
};

// The report's table "block  head  lambda  nonlocality: positional     full".
std::vector<gate_row> parse_gate_table(const std::string& out) {
  std::vector<gate_row> rows;
  const std::size_t at = out.find("block  head  lambda  nonlocality: positional     full\n");
  EXPECT_NE(at, std::string::npos) << out;
  if (at == std::string::npos) return rows;
  std::istringstream in(out.substr(out.find('\n', at) + 1));
  std::string line;
  while (std::getline(in, line)) {
    gate_row r{};
    if (std::sscanf(line.c_str(), "%zu %zu %lf %lf %lf", &r.block, &r.head, &r.lambda,
                    &r.positional, &r.full) != 5)
      break;
    rows.push_back(r);
  }
  return rows;
}

void write_map(const fs::path& to, const model_test::st_map& m) {
  std::ofstream(to, std::ios::binary) << tiny_safetensors::serialise(m);
}

TEST_F(Demo, WholeCheckpointPlotsGatesAndNonlocalityPerGpsaBlock) {
  // convit_micro_4x4: 64 px images, 4 x 4 patches, H = 2, GPSA blocks 0..2, one MHSA block.
  const model_test::st_map m = model_test::load_golden_map("convit_micro_4x4");
  write_map(dir / "m.safetensors", m);
  const run_result r = gpsa("demo --weights m.safetensors --layer 1 -o w.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("whole ConViT from m.safetensors: 64x64 images, 4x4 patches of 16 px, "
                       "D = 96, H = 2, depth 4 (GPSA blocks 0..2, then 1 MHSA), 10 classes"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("input: deterministic"), std::string::npos);
  EXPECT_NE(r.out.find("GPSA block 1 (--layer): query patch 10 = (y 2, x 2)"), std::string::npos)
      << r.out;

  // Gates and positional nonlocality: float64 from the checkpoint's values (printed to 4 places).
  const std::size_t L = 3, H = 2, G = 4;
  const std::vector<gate_row> rows = parse_gate_table(r.out);
  ASSERT_EQ(rows.size(), L * H) << r.out;
  std::vector<double> lambda(L * H);
  for (std::size_t b = 0; b < L; ++b) {
    const std::string k = "blocks." + std::to_string(b) + ".attn.";
    const std::vector<double> pos = model_test::positional_distances(
        m.at(k + "pos_proj.weight").values, m.at(k + "pos_proj.bias").values, H, G);
    for (std::size_t h = 0; h < H; ++h) {
      SCOPED_TRACE("block " + std::to_string(b) + " head " + std::to_string(h));
      const gate_row& row = rows[b * H + h];
      EXPECT_EQ(row.block, b);
      EXPECT_EQ(row.head, h);
      lambda[b * H + h] = 1 / (1 + std::exp(-double{m.at(k + "gating_param").values[h]}));
      EXPECT_NEAR(row.lambda, lambda[b * H + h], 6e-5);
      EXPECT_NEAR(row.positional, pos[h], 6e-5);
      // The full attention's mean distance lies between 0 and the grid's diagonal.
      EXPECT_GT(row.full, 0.0);
      EXPECT_LT(row.full, std::sqrt(2.0) * (G - 1));
    }
  }

  // The picture: the gate plot's area starts at (70, 38) and is 400 x 220 px (cli/cmd_demo.cpp's
  // geometry); block b's marker of head h is a disc of the head's colour centred at
  // x = 70 + round((b + 0.5) * 400 / L), y = 38 + round((1 - lambda) * 219).
  const decoded d = decode_png(dir / "w.png");
  ASSERT_GT(d.width, 480u);
  ASSERT_GT(d.height, 2 * 298u);
  EXPECT_NE(r.out.find("wrote w.png: " + std::to_string(d.width) + "x" + std::to_string(d.height) +
                       " px"),
            std::string::npos)
      << r.out;
  const unsigned char colour[2][3] = {{255, 70, 70}, {70, 255, 255}};  // hues 0 and 180 degrees
  for (std::size_t b = 0; b < L; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      SCOPED_TRACE("gate marker of block " + std::to_string(b) + " head " + std::to_string(h));
      const std::size_t x = 70 + static_cast<std::size_t>(std::lround((b + 0.5) * 400.0 / L));
      const std::size_t y =
          38 + static_cast<std::size_t>(std::lround((1 - lambda[b * H + h]) * 219));
      ASSERT_GT(std::fabs(lambda[b * H] - lambda[b * H + 1]) * 219, 12.0) << "markers overlap";
      const unsigned char* p = &d.rgb[3 * (y * d.width + x)];
      EXPECT_EQ(p[0], colour[h][0]);
      EXPECT_EQ(p[1], colour[h][1]);
      EXPECT_EQ(p[2], colour[h][2]);
    }

  // On an image instead of the deterministic input: the same gates, another full column.
  const fs::path img = fs::path(GPSA_GOLDEN_DIR) / "images" / "scene_320x240.png";
  const run_result ri =
      gpsa("demo --weights m.safetensors --image " + quote(img.string()) + " -o i.png");
  ASSERT_EQ(ri.status, 0) << ri.err;
  EXPECT_NE(ri.out.find("(PNG 320x240, preprocessed like timm to 64x64)"), std::string::npos)
      << ri.out;
  const std::vector<gate_row> rows_i = parse_gate_table(ri.out);
  ASSERT_EQ(rows_i.size(), L * H);
  bool full_differs = false;
  for (std::size_t i = 0; i < L * H; ++i) {
    EXPECT_EQ(rows_i[i].lambda, rows[i].lambda);
    EXPECT_EQ(rows_i[i].positional, rows[i].positional);
    full_differs = full_differs || rows_i[i].full != rows[i].full;
  }
  EXPECT_TRUE(full_differs);
}

TEST_F(Demo, WholeCheckpointReliability) {
  model_test::st_map m = model_test::load_golden_map("convit_micro_4x4");
  write_map(dir / "m.safetensors", m);
  const std::string before = slurp(dir / "m.safetensors");
  m.at("blocks.1.attn.pos_proj.weight").values[2] = std::nanf("");
  write_map(dir / "nan.safetensors", m);
  fs::create_directory(dir / "ro");
  const struct {
    const char* args;
    const char* message;
  } cases[] = {
      {"demo --weights m.safetensors -o m.safetensors",
       "gpsa: -o 'm.safetensors' is the input --weights 'm.safetensors'; refusing to overwrite an "
       "input file\n"},
      {"demo --weights m.safetensors -o ./m.safetensors",
       "gpsa: -o './m.safetensors' is the input --weights 'm.safetensors'; refusing to overwrite "
       "an input file\n"},
      {"demo --weights m.safetensors -o no/w.png",
       "gpsa: no/w.png: output folder 'no' does not exist\n"},
      {"demo --weights m.safetensors -o ro", nullptr},
      {"demo --weights nan.safetensors -o w.png",
       "gpsa: nan.safetensors: tensor 'blocks.1.attn.pos_proj.weight' has NaN at index (0,2); a "
       "non-finite weight cannot be folded\n"},
      {"demo --weights nan.safetensors --prefix blocks.1.attn -o w.png",
       "gpsa: nan.safetensors: tensor 'blocks.1.attn.pos_proj.weight' has NaN at index (0,2); a "
       "non-finite weight cannot be folded\n"},
      {"demo --weights m.safetensors --layer 3 -o w.png",
       "gpsa: --layer '3': expected a GPSA block from 0 to 2 (m.safetensors has 3 GPSA blocks, "
       "local_up_to_layer = 3)\n"},
      {"demo --weights m.safetensors --grid 4 -o w.png", nullptr},
      {"demo --image x.png -o w.png", nullptr},
      {"demo --weights m.safetensors --image missing.png -o w.png", nullptr},
      {"demo --weights m.safetensors --image m.safetensors -o w.png", nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    const run_result r = gpsa(c.args);
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out, "");  // nothing is reported unless the picture is in place
    if (c.message != nullptr)
      EXPECT_EQ(r.err, c.message);
    else
      EXPECT_EQ(r.err.rfind("gpsa: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "w.png"));
    EXPECT_EQ(slurp(dir / "m.safetensors"), before);
  }
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

}  // namespace
