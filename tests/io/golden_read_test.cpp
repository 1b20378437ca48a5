// SPDX-License-Identifier: MIT
// The readers on the real golden files: shapes from cases.json, values against an independent
// decode done here (header located by hand, raw little-endian floats) and against the formula.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "io_test_util.hpp"

using namespace gpsa_test;
namespace fs = std::filesystem;
using shape_t = std::vector<std::size_t>;

namespace {

const fs::path k_golden = GPSA_GOLDEN_DIR;

bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << p;
  return bytes(std::istreambuf_iterator<char>(in), {});
}

float raw_f32(const bytes& b, std::size_t at) {
  std::uint32_t u = 0;
  for (int i = 0; i < 4; ++i) u |= std::uint32_t{b.at(at + i)} << (8 * i);
  return std::bit_cast<float>(u);
}

// Independent .npy decode for float32 files: the data starts after the first '\n'
// (numpy always ends the header with one) and must be the last 4*numel bytes.
std::vector<float> raw_npy_f32(const fs::path& p, std::size_t numel) {
  const bytes b = slurp(p);
  const std::string text(b.begin(), b.end());
  EXPECT_NE(text.find("'descr': '<f4'"), std::string::npos) << p;
  const std::size_t start = text.find('\n') + 1;
  EXPECT_EQ(b.size() - start, numel * 4) << p;
  std::vector<float> out;
  for (std::size_t i = 0; i < numel && start + 4 * i + 4 <= b.size(); ++i)
    out.push_back(raw_f32(b, start + 4 * i));
  return out;
}

nlohmann::json cases() {
  std::ifstream in(k_golden / "cases.json");
  EXPECT_TRUE(in.good()) << "missing " << (k_golden / "cases.json");
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(GoldenRead, RelIndexTablesMatchTheFormula) {
  for (std::size_t s : {1, 2, 3, 4, 7, 14}) {
    const fs::path p = k_golden / ("rel_indices_s" + std::to_string(s) + ".npy");
    SCOPED_TRACE(p.string());
    const auto t = gpsa::io::read_npy(p);
    const std::size_t n = s * s;
    ASSERT_EQ(t.shape, (shape_t{n, n, 3}));
    EXPECT_EQ(t.data, raw_npy_f32(p, n * n * 3));
    for (std::size_t q = 0; q < n; ++q)
      for (std::size_t k = 0; k < n; ++k) {
        const float dx = float(k % s) - float(q % s), dy = float(k / s) - float(q / s);
        const float* v = &t.data[(q * n + k) * 3];
        ASSERT_EQ(v[0], dx);
        ASSERT_EQ(v[1], dy);
        ASSERT_EQ(v[2], dx * dx + dy * dy);
      }
  }
}

TEST(GoldenRead, EveryCaseHasTheShapesOfCasesJson) {
  const auto all = cases();
  ASSERT_GE(all.at("cases").size(), 5u);
  for (const auto& c : all.at("cases")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const fs::path dir = k_golden / name;
    const std::size_t s = c.at("grid"), h = c.at("heads"), d = c.at("dim"), b = c.at("batch");
    const std::size_t n = s * s;
    const std::string pre = c.at("prefix").get<std::string>() + ".";

    const auto w = gpsa::io::read_safetensors(dir / "weights.safetensors");
    std::map<std::string, shape_t> want = {{"qk.weight", {2 * d, d}},   {"v.weight", {d, d}},
                                           {"proj.weight", {d, d}},     {"proj.bias", {d}},
                                           {"pos_proj.weight", {h, 3}}, {"pos_proj.bias", {h}},
                                           {"gating_param", {h}}};
    if (c.at("qkv_bias").get<bool>()) {
      want["qk.bias"] = {2 * d};
      want["v.bias"] = {d};
    }
    EXPECT_EQ(w.tensors.size(), want.size());
    for (const auto& [k, shape] : want) {
      EXPECT_EQ(w.at(pre + k).shape, shape) << k;
      EXPECT_EQ(w.at(pre + k).data.size(), w.at(pre + k).numel()) << k;
    }

    const auto x = gpsa::io::read_npy(dir / "x.npy");
    const auto y = gpsa::io::read_npy(dir / "y.npy");
    const auto attn = gpsa::io::read_npy(dir / "attn.npy");
    const auto dist = gpsa::io::read_npy(dir / "dist.npy");
    EXPECT_EQ(x.shape, (shape_t{b, n, d}));
    EXPECT_EQ(y.shape, (shape_t{b, n, d}));
    EXPECT_EQ(attn.shape, (shape_t{b, h, n, n}));
    EXPECT_EQ(dist.shape, (shape_t{h}));
    EXPECT_EQ(x.data, raw_npy_f32(dir / "x.npy", b * n * d));
    EXPECT_EQ(attn.data, raw_npy_f32(dir / "attn.npy", b * h * n * n));

    // attn rows are probability distributions: a decode with the wrong offset or stride
    // would not sum to 1 row by row.
    for (std::size_t r = 0; r < b * h * n; ++r) {
      double sum = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const float v = attn.data[r * n + k];
        ASSERT_GE(v, 0.0f);
        sum += v;
      }
      ASSERT_NEAR(sum, 1.0, 1e-5) << "row " << r;
    }
  }
}

TEST(GoldenRead, SafetensorsValuesMatchAnIndependentDecode) {
  const auto all = cases();  // named: a range-for over cases().at(...) would dangle
  for (const auto& c : all.at("cases")) {
    const fs::path p = k_golden / c.at("name").get<std::string>() / "weights.safetensors";
    SCOPED_TRACE(p.string());
    const bytes b = slurp(p);
    std::uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= std::uint64_t{b.at(i)} << (8 * i);
    const auto header =
        nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(len));
    const auto f = gpsa::io::read_safetensors(p);
    std::size_t checked = 0;
    for (const auto& [key, info] : header.items()) {
      if (key == "__metadata__") continue;
      ASSERT_EQ(info.at("dtype"), "F32") << key;
      const std::size_t begin = info.at("data_offsets")[0], end = info.at("data_offsets")[1];
      const auto& t = f.at(key);
      ASSERT_EQ(t.data.size() * 4, end - begin) << key;
      for (std::size_t i = 0; i < t.data.size(); ++i)
        ASSERT_EQ(std::bit_cast<std::uint32_t>(t.data[i]),
                  std::bit_cast<std::uint32_t>(raw_f32(b, 8 + len + begin + 4 * i)))
            << key << "[" << i << "]";
      ++checked;
    }
    EXPECT_EQ(checked, f.tensors.size());
  }
}
