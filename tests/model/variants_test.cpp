// SPDX-License-Identifier: MIT
// ConViT variants timm builds but the shared golden set does not cover: use_pos_embed=False,
// global_pool='avg' (with and without a class token), an image size that is not a multiple of
// the patch. The fixtures (tests/model/fixtures/convit_variants, made by make_variants.py from the
// math in float64 NumPy and checked against torch) hold the reference logits and features; the
// checkpoints carry global_pool / img_size in their safetensors metadata where timm would need
// them. Also: what the metadata and the options may and may not say.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "model_test_util.hpp"

namespace {

using namespace model_test;

fs::path variants_dir() { return fs::path(GPSA_VARIANTS_DIR); }

nlohmann::json variant_cases() {
  std::ifstream f(variants_dir() / "cases.json");
  if (!f) throw std::runtime_error("cannot open " + (variants_dir() / "cases.json").string());
  return nlohmann::json::parse(f);
}

double rel_to_max(const std::vector<float>& got, const std::vector<float>& ref) {
  EXPECT_EQ(got.size(), ref.size());
  double err = 0, peak = 1;
  for (std::size_t i = 0; i < std::min(got.size(), ref.size()); ++i) {
    err = std::max(err, std::abs(static_cast<double>(got[i]) - ref[i]));
    peak = std::max(peak, std::abs(static_cast<double>(ref[i])));
  }
  return err / peak;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConvitVariants, MatchTheFloat64Reference) {
  const nlohmann::json j = variant_cases();
  const double tol_logits = j.at("tolerance").at("logits_rel_to_max").get<double>();
  const double tol_features = j.at("tolerance").at("features_rel_to_max").get<double>();
  ASSERT_EQ(j.at("cases").size(), 4u);
  for (const auto& c : j.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const fs::path d = variants_dir() / name;
    gpsa::convit_options o;
    if (name == "no_pos_embed") o.image_size = c.at("img_size").get<std::size_t>();  // no metadata
    const gpsa::convit m = gpsa::convit::load(d / "model.safetensors", o);
    const gpsa::convit_config& k = m.config();
    EXPECT_EQ(k.image_size, c.at("img_size").get<std::size_t>());
    EXPECT_EQ(k.grid_side(),
              c.at("img_size").get<std::size_t>() / c.at("patch").get<std::size_t>());
    EXPECT_EQ(k.use_pos_embed, c.at("use_pos_embed").get<bool>());
    EXPECT_EQ(k.pool,
              c.at("global_pool") == "avg" ? gpsa::convit_pool::avg : gpsa::convit_pool::token);
    std::vector<std::size_t> shape;
    const std::vector<float> x = read_f32(d / "x.npy", &shape);
    const std::size_t B = m.batch_of(shape, "x.npy");
    std::vector<float> features;
    const std::vector<float> logits = m.forward(x, B, &features);
    EXPECT_LE(rel_to_max(logits, read_f32(d / "logits.npy")), tol_logits);
    EXPECT_LE(rel_to_max(features, read_f32(d / "features.npy")), tol_features);
    // Without features the head reads the same pooled tokens; with 2 workers the same bits.
    gpsa::thread_pool_executor pool(2);
    gpsa::convit m2 = gpsa::convit::load(d / "model.safetensors", o);
    m2.set_executor(&pool.get());
    EXPECT_EQ(m2.forward(x, B), logits);
  }
}

TEST(ConvitVariants, WhatTheOptionsAndMetadataMaySay) {
  const fs::path no_pos = variants_dir() / "no_pos_embed" / "model.safetensors";
  const fs::path avg = variants_dir() / "avg_pool" / "model.safetensors";
  const fs::path img72 = variants_dir() / "img_72_patch_16" / "model.safetensors";
  const std::string no_pos_s = gpsa::io::display_path(no_pos), avg_s = gpsa::io::display_path(avg),
                    img72_s = gpsa::io::display_path(img72);
  gpsa::convit_options o;
  EXPECT_EQ(error_of([&] { (void)gpsa::convit::load(no_pos); }),
            no_pos_s +
                ": no pos_embed (timm's use_pos_embed=False): the image size is not in the "
                "checkpoint; give it (--image-size S, image_size=S) or store img_size in its "
                "safetensors metadata");
  o.image_size = 8;
  EXPECT_EQ(
      error_of([&] { (void)gpsa::convit::load(no_pos, o); }),
      no_pos_s + ": image size 8 is smaller than the patch (16 from patch_embed.proj.weight)");
  o.image_size = 40;  // floor(40 / 16) = 2: any grid is fine without pos_embed
  EXPECT_EQ(gpsa::convit::load(no_pos, o).config().grid_side(), 2u);

  // global_pool: metadata avg; an option that agrees is fine, one that contradicts it is not.
  EXPECT_EQ(gpsa::convit::load(avg).pool_source(), gpsa::convit_setting::metadata);
  o = {};
  o.pool = gpsa::convit_pool::avg;
  EXPECT_EQ(gpsa::convit::load(avg, o).config().pool, gpsa::convit_pool::avg);
  o.pool = gpsa::convit_pool::token;
  EXPECT_EQ(error_of([&] { (void)gpsa::convit::load(avg, o); }),
            avg_s +
                ": global_pool token (given) contradicts the checkpoint's metadata "
                "global_pool 'avg'");
  // No metadata: timm's default, said so; an option decides.
  const fs::path plain = golden_dir() / "convit_micro_4x4" / "model.safetensors";
  EXPECT_EQ(gpsa::convit::load(plain).pool_source(), gpsa::convit_setting::default_value);
  o.pool = gpsa::convit_pool::avg;
  const gpsa::convit as_avg = gpsa::convit::load(plain, o);
  EXPECT_EQ(as_avg.config().pool, gpsa::convit_pool::avg);
  EXPECT_EQ(as_avg.pool_source(), gpsa::convit_setting::option);

  // img_size: metadata 72 with pos_embed N = 16 (floor(72/16) = 4); 64 also gives 4x4 but
  // contradicts the metadata; 80 gives 5x5, not pos_embed's grid.
  EXPECT_EQ(gpsa::convit::load(img72).config().image_size, 72u);
  o = {};
  o.image_size = 64;
  EXPECT_EQ(
      error_of([&] { (void)gpsa::convit::load(img72, o); }),
      img72_s + ": image size 64 (given) contradicts the checkpoint's metadata img_size '72'");
  o.image_size = 80;
  EXPECT_EQ(error_of([&] { (void)gpsa::convit::load(plain, o); }),
            gpsa::io::display_path(plain) +
                ": image size 80 (given) makes a 5x5 grid of 16-pixel patches, but pos_embed has "
                "N = 16 patches (a 4x4 grid): give an image size from 64 to 79");
  o.image_size = 79;  // floor(79 / 16) = 4: timm's convolution drops the last 15 pixels
  EXPECT_EQ(gpsa::convit::load(plain, o).config().image_size, 79u);
}

TEST(ConvitVariants, MetadataIsRead) {
  const gpsa::io::safetensors_file f =
      gpsa::io::read_safetensors(variants_dir() / "avg_pool" / "model.safetensors");
  const std::map<std::string, std::string> want = {{"format", "pt"}, {"global_pool", "avg"}};
  EXPECT_EQ(f.metadata, want);
}

// torch.save files given as safetensors: named for what they are, with the converter to use.
TEST(ConvitVariants, PyTorchFilesAreRecognised) {
  const fs::path dir = fs::temp_directory_path() / ("gpsa_variants_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto write = [&](const char* name, std::vector<unsigned char> bytes) {
    bytes.resize(64, 0x11);
    std::ofstream(dir / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return dir / name;
  };
  // The first bytes of PyTorch >= 1.6's zip format and of the legacy pickle (protocol 2).
  const fs::path zip = write("model.pth", {'P', 'K', 3, 4, 0, 0, 8, 8});
  const fs::path pickle = write("old.pt", {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46});
  for (const auto& [file, kind] : {std::pair{zip, "zip archive"}, std::pair{pickle, "pickle"}}) {
    const fs::path path = file;  // Clang 14 cannot capture a structured binding in a lambda
    const std::string shown = gpsa::io::display_path(path);
    EXPECT_EQ(error_of([&] { (void)gpsa::convit::load(path); }),
              shown + ": a PyTorch checkpoint (torch.save " + kind +
                  ", .pth/.pt), not safetensors: convert it with tools/pth_to_safetensors.py " +
                  shown + " OUT.safetensors");
  }
  fs::remove_all(dir);
}

}  // namespace
