// SPDX-License-Identifier: MIT
// gpsa::convit's checkpoint schema: configuration inference on other shapes, and every kind of
// bad checkpoint (missing key, wrong shape, inconsistent heads / widths / qkv bias / block order,
// non-square patch count, unexpected key, wrapped state_dict, NaN gates) and bad input refused
// with a one-line message naming the file and the key.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "model_test_util.hpp"

namespace {

using namespace model_test;
using gpsa::checkpoint_error;

const std::string kMicro = "convit_micro_4x4";  // D 96, H 2, depth 4, L 3, M 384, no qkv bias
const std::string kBias = "convit_7x7_bias";    // D 192, H 4, depth 3, L 2, qkv bias

// Builds gpsa::convit from `m` (as file `name`); the expected failure is checked by the caller.
void build(const st_map& m, const std::string& name = "bad.safetensors") {
  const gpsa::convit c(parse(m, name));
  (void)c;
}

void erase_prefix(st_map& m, const std::string& prefix) {
  for (auto it = m.begin(); it != m.end();)
    it = it->first.rfind(prefix, 0) == 0 ? m.erase(it) : std::next(it);
}

void reshape(st_map& m, const std::string& key, std::vector<std::size_t> shape) {
  std::size_t n = 1;
  for (auto s : shape) n *= s;
  m.at(key).shape = std::move(shape);
  m.at(key).values.assign(n, 0.25f);
}

// ---- configuration inference ------------------------------------------------------------

TEST(ConvitCheckpoint, InfersEveryField) {
  // A shape unlike the golden ones: 3x3 grid of 8-pixel patches, 1 channel, 6 heads, MLP x2.
  convit_ref::config c;
  c.image = 24, c.patch = 8, c.channels = 1, c.dim = 36, c.heads = 6, c.depth = 5, c.local = 2;
  c.hidden = 72, c.classes = 7;
  const auto m = gpsa::convit(parse(random_model(c, true, 11), "synthetic.safetensors"));
  const auto& k = m.config();
  EXPECT_EQ(k.image_size, 24u);
  EXPECT_EQ(k.patch_size, 8u);
  EXPECT_EQ(k.channels, 1u);
  EXPECT_EQ(k.dim, 36u);
  EXPECT_EQ(k.heads, 6u);
  EXPECT_EQ(k.depth, 5u);
  EXPECT_EQ(k.local_up_to_layer, 2u);
  EXPECT_EQ(k.mlp_hidden, 72u);
  EXPECT_EQ(k.classes, 7u);
  EXPECT_TRUE(m.qkv_bias());
  EXPECT_EQ(k.patches(), 9u);
  EXPECT_EQ(k.tokens(), 10u);
}

// The model of that shape and of a model without MHSA blocks (local_up_to_layer == depth: timm
// never prepends the class token, features are (B, N, D) and the head reads patch 0), against
// the float64 reference.
TEST(ConvitCheckpoint, UnusualShapesMatchReference) {
  for (const std::size_t local : {2u, 5u}) {
    convit_ref::config c;
    c.image = 24, c.patch = 8, c.channels = 1, c.dim = 36, c.heads = 6, c.depth = 5;
    c.local = local, c.hidden = 72, c.classes = 7;
    const st_map w = random_model(c, local == 2, 12);
    const auto m = gpsa::convit(parse(w, "synthetic.safetensors"));
    EXPECT_EQ(m.config().local_up_to_layer, local);
    EXPECT_EQ(m.config().has_class_token(), local < 5);
    const auto x = random_images(c, 2, 13);
    std::vector<float> features;
    const auto logits = m.forward(x, 2, &features);
    EXPECT_EQ(features.size(), 2u * (local < 5 ? 10u : 9u) * 36u);
    const auto r = convit_ref::forward(c, reference_values(w), x, 2);
    EXPECT_LE(rel_error(logits, r.logits), 1e-4) << "local_up_to_layer " << local;
    EXPECT_LE(rel_error(features, r.features), 1e-4) << "local_up_to_layer " << local;
  }
}

TEST(ConvitCheckpoint, CopyAndMoveConstructionAgree) {
  const auto f = gpsa::io::read_safetensors(golden_dir() / kMicro / "model.safetensors");
  const gpsa::convit copied(f);
  EXPECT_EQ(f.tensors.at("head.weight").data.size(), 10u * 96u);  // untouched by the copy
  auto f2 = f;
  gpsa::convit moved(std::move(f2));
  gpsa::convit moved_again = std::move(moved);
  const auto x = read_f32(golden_dir() / kMicro / "x.npy");
  EXPECT_EQ(copied.forward(x, 2), moved_again.forward(x, 2));
}

// ---- bad checkpoints ----------------------------------------------------------------------

TEST(ConvitCheckpoint, MissingKey) {
  st_map m = load_golden_map(kMicro);
  m.erase("blocks.1.mlp.fc2.bias");
  expect_throw<checkpoint_error>([&] { build(m, "net.safetensors"); },
                                 {"net.safetensors: ", "missing key 'blocks.1.mlp.fc2.bias'"});
  m = load_golden_map(kMicro);
  m.erase("cls_token");
  expect_throw<checkpoint_error>([&] { build(m); }, {"missing key 'cls_token'"});
  m = load_golden_map(kMicro);
  m.erase("head.bias");
  expect_throw<checkpoint_error>([&] { build(m); }, {"missing key 'head.bias'"});
}

TEST(ConvitCheckpoint, MissingBlockInTheMiddle) {
  st_map m = load_golden_map(kMicro);
  erase_prefix(m, "blocks.1.");
  expect_throw<checkpoint_error>([&] { build(m); }, {"missing key 'blocks.1.norm1.weight'"});
}

TEST(ConvitCheckpoint, NoBlocksOrNoTensors) {
  st_map m = load_golden_map(kMicro);
  erase_prefix(m, "blocks.");
  expect_throw<checkpoint_error>([&] { build(m); }, {"missing key 'blocks.0.norm1.weight'"});
  expect_throw<checkpoint_error>([&] { build(st_map{}); },
                                 {"missing key 'patch_embed.proj.weight'", "holds no tensors"});
}

TEST(ConvitCheckpoint, WrongShapes) {
  st_map m = load_golden_map(kMicro);
  reshape(m, "blocks.1.attn.qk.weight", {192, 95});
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"blocks.1.attn.qk.weight has shape (192,95), expected (2D,D) = (192,96)",
                          "(D = 96 from patch_embed.proj.weight)"});
  m = load_golden_map(kMicro);
  reshape(m, "blocks.3.attn.qkv.weight", {96, 96});
  expect_throw<checkpoint_error>(
      [&] { build(m); },
      {"blocks.3.attn.qkv.weight has shape (96,96), expected (3D,D) = (288,96)"});
  m = load_golden_map(kMicro);
  reshape(m, "norm.bias", {95});
  expect_throw<checkpoint_error>([&] { build(m); },
                                 {"norm.bias has shape (95,), expected (D,) = (96,)"});
  m = load_golden_map(kMicro);
  reshape(m, "cls_token", {96});
  expect_throw<checkpoint_error>([&] { build(m); },
                                 {"cls_token has shape (96,), expected (1,1,D) = (1,1,96)"});
  m = load_golden_map(kMicro);
  reshape(m, "head.bias", {11});
  expect_throw<checkpoint_error>(
      [&] { build(m); },
      {"head.bias has shape (11,), expected (classes,) = (10,)", "classes = 10 from head.weight"});
  m = load_golden_map(kMicro);
  reshape(m, "patch_embed.proj.weight", {96, 3, 16, 8});
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"patch_embed.proj.weight has shape (96,3,16,8)", "square Conv2d kernel"});
  m = load_golden_map(kMicro);
  reshape(m, "pos_embed", {1, 16, 95});
  expect_throw<checkpoint_error>([&] { build(m); },
                                 {"pos_embed has shape (1,16,95), expected (1,N,D) = (1,N,96)"});
}

TEST(ConvitCheckpoint, NonSquarePatchCount) {
  st_map m = load_golden_map(kMicro);
  reshape(m, "pos_embed", {1, 15, 96});
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"pos_embed has shape (1,15,96)", "N = 15 patches is not a square grid"});
}

TEST(ConvitCheckpoint, InconsistentHeads) {
  st_map m = load_golden_map(kMicro);
  reshape(m, "blocks.2.attn.pos_proj.weight", {3, 3});
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"blocks.2.attn.pos_proj.weight has shape (3,3), expected (H,3) = (2,3)",
                          "H = 2 from blocks.0.attn.pos_proj.weight"});
  m = load_golden_map(kMicro);
  reshape(m, "blocks.1.attn.gating_param", {4});
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"blocks.1.attn.gating_param has shape (4,), expected (H,) = (2,)"});
  // H that does not divide D.
  m = load_golden_map(kMicro);
  reshape(m, "blocks.0.attn.pos_proj.weight", {5, 3});
  expect_throw<checkpoint_error>([&] { build(m); }, {"width D = 96", "not divisible by H = 5",
                                                     "blocks.0.attn.pos_proj.weight"});
}

TEST(ConvitCheckpoint, InconsistentMlpWidthOrDepthKeys) {
  st_map m = load_golden_map(kMicro);
  reshape(m, "blocks.2.mlp.fc1.weight", {380, 96});
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"blocks.2.mlp.fc1.weight has shape (380,96), expected (M,D) = (384,96)",
                          "M = 384 from blocks.0.mlp.fc1.weight"});
  m = load_golden_map(kMicro);
  reshape(m, "blocks.3.mlp.fc2.weight", {96, 380});
  expect_throw<checkpoint_error>([&] { build(m); }, {"expected (D,M) = (96,384)"});
}

TEST(ConvitCheckpoint, InconsistentQkvBias) {
  st_map m = load_golden_map(kBias);
  m.erase("blocks.1.attn.v.bias");
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"missing key 'blocks.1.attn.v.bias'", "blocks.0.attn.qk.bias is present",
                          "qkv_bias must be the same in every block"});
  m = load_golden_map(kBias);
  m.erase("blocks.2.attn.qkv.bias");
  expect_throw<checkpoint_error>([&] { build(m); }, {"missing key 'blocks.2.attn.qkv.bias'"});
  m = load_golden_map(kMicro);
  m["blocks.1.attn.qk.bias"] =
      tiny_safetensors::tensor{{192}, std::vector<float>(192, 0.0f), "F32"};
  expect_throw<checkpoint_error>([&] { build(m); }, {"unexpected key 'blocks.1.attn.qk.bias'",
                                                     "blocks.0.attn.qk.bias is absent"});
}

TEST(ConvitCheckpoint, GpsaBlockAfterMhsa) {
  // Block 1 becomes MHSA, so local_up_to_layer = 1 and block 2 (still GPSA) is out of order.
  st_map m = load_golden_map(kMicro);
  erase_prefix(m, "blocks.1.attn.");
  m["blocks.1.attn.qkv.weight"] = m.at("blocks.3.attn.qkv.weight");
  m["blocks.1.attn.proj.weight"] = m.at("blocks.3.attn.proj.weight");
  m["blocks.1.attn.proj.bias"] = m.at("blocks.3.attn.proj.bias");
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"unexpected key 'blocks.2.attn.", "GPSA block after the first MHSA block",
                          "blocks.1.attn.qkv.weight"});
  // MHSA from the start: no GPSA block to take the head count from.
  m = load_golden_map(kMicro);
  m["blocks.0.attn.qkv.weight"] = m.at("blocks.3.attn.qkv.weight");
  expect_throw<checkpoint_error>([&] { build(m); },
                                 {"blocks.0 is an MHSA block", "at least one GPSA block"});
  // A GPSA block that also has an MHSA key.
  m = load_golden_map(kMicro);
  m["blocks.2.attn.qkv.weight"] = m.at("blocks.3.attn.qkv.weight");
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"unexpected key 'blocks.2.attn.", "has both GPSA keys and an MHSA key"});
}

TEST(ConvitCheckpoint, UnexpectedKeys) {
  st_map m = load_golden_map(kMicro);
  m["head_dist.weight"] = m.at("head.weight");
  expect_throw<checkpoint_error>(
      [&] { build(m); }, {"unexpected key 'head_dist.weight'", "not part of a timm ConViT"});
  m = load_golden_map(kMicro);
  m["blocks.1.attn.rel_indices"] = tiny_safetensors::tensor{{1}, {0.0f}, "F32"};
  expect_throw<checkpoint_error>([&] { build(m); }, {"unexpected key 'blocks.1.attn.rel_indices'"});
  m = load_golden_map(kMicro);
  m["blocks.01.norm1.weight"] = m.at("blocks.1.norm1.weight");
  expect_throw<checkpoint_error>([&] { build(m); }, {"unexpected key 'blocks.01.norm1.weight'"});
}

TEST(ConvitCheckpoint, WrappedStateDictSaysWhichPrefix) {
  const st_map g = load_golden_map(kMicro);
  st_map m;
  for (const auto& [k, t] : g) m["module." + k] = t;
  expect_throw<checkpoint_error>(
      [&] { build(m); },
      {"missing key 'patch_embed.proj.weight'", "the file has 'module.patch_embed.proj.weight'",
       "strip the prefix 'module.'"});
}

TEST(ConvitCheckpoint, NonFiniteGateIsRefused) {
  st_map m = load_golden_map(kMicro);
  m.at("blocks.2.attn.gating_param").values[1] = NAN;
  expect_throw<checkpoint_error>([&] { build(m); },
                                 {"tensor 'blocks.2.attn.gating_param' has NaN at index (1); a "
                                  "non-finite weight cannot be folded"});
  m = load_golden_map(kMicro);
  m.at("blocks.0.attn.pos_proj.weight").values[0] = INFINITY;
  expect_throw<checkpoint_error>([&] { build(m); },
                                 {"tensor 'blocks.0.attn.pos_proj.weight' has +Inf at index "
                                  "(0,0); a non-finite weight cannot be folded"});
}

TEST(ConvitCheckpoint, FileErrorsNameThePath) {
  const fs::path dir =
      fs::temp_directory_path() / ("gpsa_model_test_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  st_map m = load_golden_map(kMicro);
  m.erase("norm.weight");
  const fs::path bad = dir / "bad model.safetensors";
  { std::ofstream(bad, std::ios::binary) << tiny_safetensors::serialise(m); }
  expect_throw<checkpoint_error>([&] { (void)gpsa::convit::load(bad); },
                                 {bad.string() + ": missing key 'norm.weight'"});
  // Not a safetensors file at all: the reader's io_error, naming the file.
  const fs::path junk = dir / "junk.safetensors";
  { std::ofstream(junk, std::ios::binary) << "not a checkpoint"; }
  expect_throw<gpsa::io::io_error>([&] { (void)gpsa::convit::load(junk); }, {junk.string()});
  expect_throw<gpsa::io::io_error>([&] { (void)gpsa::convit::load(dir / "absent.safetensors"); },
                                   {"absent.safetensors"});
  fs::remove_all(dir);
}

// ---- bad input ----------------------------------------------------------------------------

TEST(ConvitInput, WrongImageSize) {
  const auto m = gpsa::convit::load(golden_dir() / kMicro / "model.safetensors");
  const std::vector<std::size_t> small{1, 3, 32, 32}, grey{2, 1, 64, 64}, flat{3, 64, 64};
  expect_throw<gpsa::model_error>([&] { (void)m.batch_of(small, "x.npy"); },
                                  {"x.npy has shape (1,3,32,32), expected (B,3,64,64)",
                                   "64x64 images", "4x4 patches of 16 pixels"});
  expect_throw<gpsa::model_error>([&] { (void)m.batch_of(grey, "x.npy"); }, {"(2,1,64,64)"});
  expect_throw<gpsa::model_error>([&] { (void)m.batch_of(flat, "in"); },
                                  {"in has shape (3,64,64)"});
  const std::vector<std::size_t> ok{5, 3, 64, 64};
  EXPECT_EQ(m.batch_of(ok, "x.npy"), 5u);

  const std::vector<float> x32(3 * 32 * 32, 0.0f);
  expect_throw<gpsa::model_error>(
      [&] { (void)m.forward(x32, 1); },
      {"images has 3072 values", "expected B*3*64*64 = 12288 for B = 1", "64x64 images"});
  const std::vector<float> x(2 * 3 * 64 * 64, 0.0f);
  expect_throw<gpsa::model_error>([&] { (void)m.forward(x, 3); }, {"for B = 3"});
  expect_throw<gpsa::model_error>([&] { (void)m.forward(x, 0); }, {"for B = 0"});
  EXPECT_TRUE(m.forward(std::vector<float>{}, 0).empty());  // an empty batch is no work
  std::vector<float> logits(5), features(2 * 17 * 96);
  expect_throw<gpsa::model_error>([&] { m.forward(x, 2, logits, features); },
                                  {"logits has 5 values, expected B*classes = 20"});
  logits.resize(20);
  features.resize(7);
  expect_throw<gpsa::model_error>([&] { m.forward(x, 2, logits, features); },
                                  {"features has 7 values, expected B*T*D = 3264"});
}

TEST(ConvitInput, BadExecutor) {
  auto m = gpsa::convit::load(golden_dir() / kMicro / "model.safetensors");
  gpsa::executor none{};
  none.workers = 0;
  expect_throw<gpsa::model_error>([&] { m.set_executor(&none); }, {"0 workers"});
  EXPECT_EQ(m.get_executor(), nullptr);
}

}  // namespace
