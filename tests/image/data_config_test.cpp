// SPDX-License-Identifier: MIT
// timm data configurations other than ConViT's ImageNet one (gpsa::timm_data_config): grey-scale
// (PIL's convert("L")), the bilinear filter, other crop_pct, per-channel mean and std -- each
// against PIL's bytes (fixtures/data_config, made by make_data_config.py with Pillow 9.4): the
// uint8 crop must be PIL's exactly, so the tensor equals ToTensor / Normalize of PIL's crop bit
// for bit. And the digits model's configuration on 8x8 PNGs of test digits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpsa/core/preprocess.hpp"
#include "gpsa/image.hpp"
#include "image_test_util.hpp"

namespace {

using namespace image_test;

const fs::path kDataConfig = fs::path(GPSA_IMAGE_FIXTURES) / "data_config";

// (crop / 255 - mean) / std per channel, planar, in float as torch computes it.
std::vector<float> normalised(const std::vector<std::uint8_t>& crop, std::size_t ch,
                              const gpsa::timm_data_config& c) {
  const std::size_t n = crop.size() / ch;
  std::vector<float> out(crop.size());
  for (std::size_t q = 0; q < ch; ++q)
    for (std::size_t i = 0; i < n; ++i)
      out[q * n + i] = (static_cast<float>(crop[ch * i + q]) / 255.0f - c.mean[q]) / c.std[q];
  return out;
}

TEST(DataConfig, GreyBilinearAndCropPctAreExactlyPils) {
  const nlohmann::json cases = json_of(kDataConfig / "cases.json");
  ASSERT_GE(cases["rgb"].size(), 4u);
  for (const auto& k : cases["rgb"]) {
    const std::string name = k["crop"];
    SCOPED_TRACE(name);
    gpsa::timm_data_config c;
    c.channels = k["mode"] == "L" ? 1 : 3;
    c.size = k["size"];
    c.crop_pct = k["crop_pct"];
    c.interpolation =
        k["interpolation"] == "bilinear" ? gpsa::resample::bilinear : gpsa::resample::bicubic;
    c.mean[0] = 0.25f;  // anything: the formula is applied to PIL's crop below
    c.std[0] = 0.75f;
    const auto img = gpsa::image::read(fs::path(GPSA_IMAGE_FIXTURES) / std::string(k["image"]));
    const auto t = gpsa::image::preprocess(img, c, name);
    const std::size_t S = c.size, C = c.channels;
    ASSERT_EQ(t.shape, (std::vector<std::size_t>{1, C, S, S}));
    const std::vector<std::size_t> shape =
        C == 1 ? std::vector<std::size_t>{S, S} : std::vector<std::size_t>{S, S, 3};
    const auto pil = load_u8(kDataConfig / name, shape);
    const auto want = normalised(pil, C, c);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < want.size(); ++i) differ += t.data[i] != want[i];
    EXPECT_EQ(differ, 0u) << "of " << want.size();
  }
}

TEST(DataConfig, GreyscaleIsPillowsL24) {
  // L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 on a few hand-picked pixels
  const std::vector<std::uint8_t> rgb = {255, 255, 255, 0, 0, 0,   255, 0,   0,
                                         0,   255, 0,   0, 0, 255, 10,  200, 30};
  std::vector<std::uint8_t> grey(6);
  ASSERT_EQ(gpsa::rgb8_to_l8(6, rgb, grey), gpsa::status::ok);
  const std::vector<std::uint8_t> want = {
      255, 0, 76, 150, 29, (10 * 19595 + 200 * 38470 + 30 * 7471 + 32768) >> 16};
  EXPECT_EQ(grey, want);
  EXPECT_EQ(gpsa::rgb8_to_l8(7, rgb, grey), gpsa::status::buffer_too_small);
}

TEST(DataConfig, InvalidConfigurationsAreRefused) {
  gpsa::timm_data_config c;
  EXPECT_EQ(gpsa::validate(c), gpsa::status::ok);
  gpsa::timm_eval_plan p;
  for (auto bad :
       {+[](gpsa::timm_data_config& x) { x.channels = 2; },
        +[](gpsa::timm_data_config& x) { x.crop_pct = 1.5; },
        +[](gpsa::timm_data_config& x) { x.crop_pct = 0.0; },
        +[](gpsa::timm_data_config& x) { x.std[1] = 0.0f; },
        +[](gpsa::timm_data_config& x) { x.size = 0; },
        +[](gpsa::timm_data_config& x) { x.interpolation = static_cast<gpsa::resample>(9); }}) {
    gpsa::timm_data_config x;
    bad(x);
    EXPECT_EQ(gpsa::validate(x), gpsa::status::invalid_argument);
    EXPECT_EQ(gpsa::plan_timm_eval({10, 10}, x, p), gpsa::status::invalid_argument);
  }
  // a grey-scale configuration reads only mean[0] / std[0]
  c.channels = 1;
  c.std[1] = 0.0f;
  EXPECT_EQ(gpsa::validate(c), gpsa::status::ok);
}

TEST(DataConfig, DigitPngsGiveThePilCropOfTheDigitsConfiguration) {
  const nlohmann::json cases = json_of(kDataConfig / "cases.json");
  ASSERT_GE(cases["digits"].size(), 8u);
  gpsa::timm_data_config c;  // the digits model's: (1, 16, 16), bilinear, crop 1, 0.5 / 0.5
  c.channels = 1;
  c.size = 16;
  c.interpolation = gpsa::resample::bilinear;
  c.crop_pct = 1.0;
  c.mean[0] = 0.5f;
  c.std[0] = 0.5f;
  for (const auto& k : cases["digits"]) {
    const std::string png = k["png"];
    SCOPED_TRACE(png);
    const auto t = gpsa::image::preprocess(gpsa::image::read(kDataConfig / png), c, png);
    ASSERT_EQ(t.shape, (std::vector<std::size_t>{1, 1, 16, 16}));
    const auto want = normalised(load_u8(kDataConfig / std::string(k["crop"]), {16, 16}), 1, c);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < want.size(); ++i) differ += t.data[i] != want[i];
    EXPECT_EQ(differ, 0u);
  }
}

}  // namespace
