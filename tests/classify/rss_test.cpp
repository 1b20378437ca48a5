// SPDX-License-Identifier: MIT
// Peak memory of `gpsa classify` on ConViT-Ti- and ConViT-S-shaped checkpoints (224 x 224, depth
// 12, 1000 classes, random weights written by the test): at most the weights plus 8 MB (Ti) and
// plus 12 MB (S), as docs/convit.md states. gpsa holds the weights once (packed) and releases
// each tensor it read as soon as it is packed.
//
// The child's peak RSS comes from wait4(). A forked child starts with its parent's resident pages
// counted, so the checkpoint is streamed to its file tensor by tensor (this process never holds
// more than one tensor) and the parent's own RSS at the fork is printed: the measure can only
// overstate gpsa's peak by it.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

struct shape {
  std::size_t dim, heads;
};

// One tensor of the checkpoint: key, shape, and the half-width of its uniform random values.
struct tensor_spec {
  std::string key;
  std::vector<std::size_t> shape;
  double scale;
  std::size_t count() const {
    std::size_t n = 1;
    for (const std::size_t d : shape) n *= d;
    return n;
  }
};

// timm's ConViT keys for 224 x 224 images, patch 16, depth 12 (10 GPSA + 2 MHSA), MLP 4D, 1000
// classes, in file order.
std::vector<tensor_spec> convit_tensors(const shape& s) {
  const std::size_t D = s.dim, H = s.heads, M = 4 * D, N = 196, K = 3 * 16 * 16, C = 1000;
  const auto lin = [](std::size_t in) { return std::sqrt(3.0 / static_cast<double>(in)); };
  std::vector<tensor_spec> t{{"patch_embed.proj.weight", {D, 3, 16, 16}, lin(K)},
                             {"patch_embed.proj.bias", {D}, 0.1},
                             {"pos_embed", {1, N, D}, 0.5},
                             {"cls_token", {1, 1, D}, 0.5}};
  for (std::size_t i = 0; i < 12; ++i) {
    const std::string k = "blocks." + std::to_string(i) + ".";
    t.push_back({k + "norm1.weight", {D}, 0.2});
    t.push_back({k + "norm1.bias", {D}, 0.1});
    if (i < 10) {
      t.push_back({k + "attn.qk.weight", {2 * D, D}, lin(D)});
      t.push_back({k + "attn.v.weight", {D, D}, lin(D)});
      t.push_back({k + "attn.pos_proj.weight", {H, 3}, 1.0});
      t.push_back({k + "attn.pos_proj.bias", {H}, 0.5});
      t.push_back({k + "attn.gating_param", {H}, 2.0});
    } else {
      t.push_back({k + "attn.qkv.weight", {3 * D, D}, lin(D)});
    }
    t.push_back({k + "attn.proj.weight", {D, D}, lin(D)});
    t.push_back({k + "attn.proj.bias", {D}, 0.1});
    t.push_back({k + "norm2.weight", {D}, 0.2});
    t.push_back({k + "norm2.bias", {D}, 0.1});
    t.push_back({k + "mlp.fc1.weight", {M, D}, lin(D)});
    t.push_back({k + "mlp.fc1.bias", {M}, 0.1});
    t.push_back({k + "mlp.fc2.weight", {D, M}, lin(M)});
    t.push_back({k + "mlp.fc2.bias", {D}, 0.1});
  }
  t.push_back({"norm.weight", {D}, 0.2});
  t.push_back({"norm.bias", {D}, 0.1});
  t.push_back({"head.weight", {C, D}, lin(D)});
  t.push_back({"head.bias", {C}, 0.1});
  return t;
}

// Writes the checkpoint: the header, then each tensor's float32 values generated and written one
// tensor at a time. Returns the weights' bytes.
std::size_t write_checkpoint(const fs::path& path, const std::vector<tensor_spec>& ts) {
  std::string header = "{";
  std::size_t offset = 0;
  for (const tensor_spec& t : ts) {
    if (header.size() > 1) header += ',';
    header += "\"" + t.key + "\":{\"dtype\":\"F32\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i != 0) header += ',';
      header += std::to_string(t.shape[i]);
    }
    const std::size_t bytes = t.count() * sizeof(float);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream f(path, std::ios::binary);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header;
  std::mt19937 gen(7);
  for (const tensor_spec& t : ts) {
    std::uniform_real_distribution<float> d(static_cast<float>(-t.scale),
                                            static_cast<float>(t.scale));
    std::vector<float> v(t.count());
    for (float& x : v) x = d(gen);
    if (t.key.find("norm") != std::string::npos && t.key.ends_with("weight"))
      for (float& x : v) x += 1.0f;  // LayerNorm weights around 1
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  }
  EXPECT_TRUE(f.good()) << path;
  return offset;
}

// One 224 x 224 image as x.npy (1, 3, 224, 224).
void write_image(const fs::path& path) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }";
  h += std::string(63 - (10 + h.size()) % 64, ' ') + "\n";
  std::ofstream f(path, std::ios::binary);
  f << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(h.size()) << '\0' << h;
  std::mt19937 gen(8);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  std::vector<float> img(3 * 224 * 224);
  for (float& x : img) x = d(gen);
  f.write(reinterpret_cast<const char*>(img.data()),
          static_cast<std::streamsize>(img.size() * sizeof(float)));
}

// Peak RSS (MB) of `gpsa classify` on the checkpoint, and the weights' size (MB).
std::pair<double, double> classify_peak(const shape& s, const char* name,
                                        std::size_t expected_parameters) {
  const fs::path dir = fs::temp_directory_path() / ("gpsa_classify_rss_" + std::string(name) + "_" +
                                                    std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path ck = dir / "model.safetensors", x = dir / "x.npy";
  const std::size_t weight_bytes = write_checkpoint(ck, convit_tensors(s));
  EXPECT_EQ(weight_bytes, expected_parameters * 4u);
  write_image(x);
  const long parent_kb = status_kb("VmRSS:");

  const std::string exe = GPSA_CLI_PATH, cks = ck.string(), xs = x.string();
  const char* argv[] = {exe.c_str(), "classify", "--weights", cks.c_str(),
                        "--input",   xs.c_str(), nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(126);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  rusage ru{};
  const bool waited = pid > 0 && ::wait4(pid, &status, 0, &ru) == pid;
  fs::remove_all(dir);
  EXPECT_TRUE(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const double peak_mb = static_cast<double>(ru.ru_maxrss) * 1024.0 / 1e6;  // KiB on Linux
  const double weights_mb = static_cast<double>(weight_bytes) / 1e6;
  std::printf(
      "[ rss      ] gpsa classify, %s (%.1f MB of float32 weights): peak RSS %.1f MB "
      "= weights + %.1f MB (this test's own RSS at the fork: %.1f MB)\n",
      name, weights_mb, peak_mb, peak_mb - weights_mb, static_cast<double>(parent_kb) / 1024.0);
  return {peak_mb, weights_mb};
}

TEST(ClassifyMemory, PeakRssOfConvitTiIsWeightsPlus8MBAtMost) {
  const auto [peak, weights] = classify_peak({192, 4}, "ConViT-Ti", 5710512);  // timm's count
  EXPECT_LE(peak, weights + 8.0);
}

TEST(ClassifyMemory, PeakRssOfConvitSIsWeightsPlus12MBAtMost) {
  const auto [peak, weights] = classify_peak({432, 9}, "ConViT-S", 27777322);  // timm's count
  EXPECT_LE(peak, weights + 12.0);
}

}  // namespace
