// SPDX-License-Identifier: MIT
// Peak memory of `gpsa classify` on a ConViT-Ti-shaped checkpoint (224 x 224, depth 12, 1000
// classes, random weights written by the test): at most the weights plus 32 MB (docs/convit.md). The
// child's peak RSS comes from wait4(); a forked child starts with its parent's resident pages
// counted, so the checkpoint is built and freed before the fork and the parent's own RSS at that
// point is printed (the measure can only overstate gpsa's peak by it).
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../model/model_test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace mt = model_test;

long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

TEST(ClassifyMemory, PeakRssOfConvitTiIsWeightsPlus32MBAtMost) {
  const fs::path dir =
      fs::temp_directory_path() / ("gpsa_classify_rss_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path ck = dir / "convit_tiny.safetensors", x = dir / "x.npy";
  std::size_t weight_bytes = 0;
  {
    convit_ref::config c;
    c.image = 224, c.patch = 16, c.dim = 192, c.heads = 4, c.depth = 12, c.local = 10,
    c.hidden = 768, c.classes = 1000;
    const mt::st_map m = mt::random_model(c, false, 7);
    for (const auto& [k, t] : m) weight_bytes += t.values.size() * sizeof(float);
    std::ofstream(ck, std::ios::binary) << tiny_safetensors::serialise(m);
    const std::vector<float> img = mt::random_images(c, 1, 8);
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }";
    h += std::string(63 - (10 + h.size()) % 64, ' ') + "\n";
    std::ofstream f(x, std::ios::binary);
    f << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(h.size()) << '\0' << h;
    f.write(reinterpret_cast<const char*>(img.data()),
            static_cast<std::streamsize>(img.size() * sizeof(float)));
  }
  ASSERT_EQ(weight_bytes, 5710512u * 4u);  // ConViT-Ti's parameter count
  const long parent_kb = status_kb("VmRSS:");

  const std::string exe = GPSA_CLI_PATH, cks = ck.string(), xs = x.string();
  const char* argv[] = {exe.c_str(), "classify", "--weights", cks.c_str(),
                        "--input",   xs.c_str(), nullptr};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(126);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  rusage ru{};
  ASSERT_EQ(::wait4(pid, &status, 0, &ru), pid);
  fs::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const double peak_mb = static_cast<double>(ru.ru_maxrss) * 1024.0 / 1e6;  // KiB on Linux
  const double weights_mb = static_cast<double>(weight_bytes) / 1e6;
  std::printf(
      "[ rss      ] gpsa classify, ConViT-Ti (%.1f MB of float32 weights): peak RSS %.1f MB "
      "= weights + %.1f MB (this test's own RSS at the fork: %.1f MB)\n",
      weights_mb, peak_mb, peak_mb - weights_mb, static_cast<double>(parent_kb) / 1024.0);
  EXPECT_LE(peak_mb, weights_mb + 32.0);
}

}  // namespace
