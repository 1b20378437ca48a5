// SPDX-License-Identifier: MIT
// `gpsa bench` through the real binary: the JSON report's fields against independent facts (the
// checkpoint's parameter count summed from its safetensors header, the run's own arithmetic:
// percentiles ordered, images per second = B / mean latency), the human-readable report, threads,
// no progress line when stderr is not a terminal, and every bad option: one line naming it.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../cli_matrix/cli_runner.hpp"
#include "../model/model_test_util.hpp"

namespace {

using namespace gpsa_cli_test;
namespace mt = model_test;

std::string micro() {
  return (mt::golden_dir() / "convit_micro_4x4" / "model.safetensors").string();
}

std::string micro_x() { return (mt::golden_dir() / "convit_micro_4x4" / "x.npy").string(); }

// Parameters of a safetensors file, from its JSON header alone (element counts of every tensor).
std::uint64_t parameters_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(static_cast<unsigned char>(f.get())) << (8 * i);
  std::string header(n, '\0');
  f.read(header.data(), static_cast<std::streamsize>(n));
  const nlohmann::json h = nlohmann::json::parse(header);
  std::uint64_t total = 0;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    std::uint64_t count = 1;
    for (const auto& d : it.value().at("shape")) count *= d.get<std::uint64_t>();
    total += count;
  }
  return total;
}

TEST(Bench, JsonReportIsConsistent) {
  const run_result r = run_gpsa({"bench", "--weights", micro(), "--batch", "3", "--iterations", "7",
                                 "--warmup", "2", "--json"});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  EXPECT_EQ(r.err, "");  // no progress line: stderr is not a terminal
  const auto j = nlohmann::json::parse(r.out);
  const std::uint64_t params = parameters_of(micro());
  EXPECT_EQ(j["parameters"].get<std::uint64_t>(), params);
  EXPECT_EQ(j["weights_bytes"].get<std::uint64_t>(), 4 * params);
  EXPECT_EQ(j["batch"], 3);
  EXPECT_EQ(j["iterations"], 7);
  EXPECT_EQ(j["warmup"], 2);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["precision"], "float32");
  EXPECT_FALSE(j["simd_target"].get<std::string>().empty());
  const auto& lat = j["latency_s"];
  const double mn = lat["min"], p50 = lat["p50"], p90 = lat["p90"], p99 = lat["p99"],
               mx = lat["max"], mean = lat["mean"];
  EXPECT_GT(mn, 0.0);
  EXPECT_LE(mn, p50);
  EXPECT_LE(p50, p90);
  EXPECT_LE(p90, p99);
  EXPECT_LE(p99, mx);
  EXPECT_LE(mn, mean);
  EXPECT_LE(mean, mx);
  // images per second = B * K / (K * mean)
  EXPECT_NEAR(j["images_per_s"].get<double>(), 3.0 / mean, 1e-6 * (3.0 / mean));
  // The peak holds at least the weights; loading took some time in each part it reports.
  EXPECT_GE(j["peak_rss_bytes"].get<double>(), 4.0 * static_cast<double>(params));
  const double load = j["load_s"], read = j["read_s"], fold = j["fold_s"], pack = j["pack_s"];
  EXPECT_GT(read, 0.0);
  EXPECT_GE(fold, 0.0);
  EXPECT_GT(pack, 0.0);
  EXPECT_GE(load, read + fold + pack - 1e-9);
}

// --int8: the quantised model is timed; its weights are int8 codes (one byte per linear weight)
// plus floats, so fewer bytes than the float32 checkpoint and more than a quarter of it.
TEST(Bench, Int8TimesTheQuantisedModel) {
  const run_result r = run_gpsa({"bench", "--weights", micro(), "--int8", "--calibration",
                                 micro_x(), "--iterations", "3", "--warmup", "1", "--json"});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  const auto j = nlohmann::json::parse(r.out);
  const std::uint64_t params = parameters_of(micro());
  EXPECT_EQ(j["precision"], "int8");
  EXPECT_EQ(j["parameters"].get<std::uint64_t>(), params);
  EXPECT_LT(j["weights_bytes"].get<std::uint64_t>(), 4 * params);
  EXPECT_GT(j["weights_bytes"].get<std::uint64_t>(), params);
  EXPECT_GT(j["quantise_s"].get<double>(), 0.0);
  EXPECT_LE(j["latency_s"]["p50"].get<double>(), j["latency_s"]["p99"].get<double>());
  const run_result h = run_gpsa({"bench", "--weights", micro(), "--int8", "--calibration",
                                 micro_x(), "--iterations", "2", "--warmup", "0"});
  ASSERT_TRUE(h.exited && h.code == 0) << h;
  for (const char* part :
       {"int8, SIMD target ", ", quantise ", "int8: calibrated on ", "int8 codes and their floats"})
    EXPECT_NE(h.out.find(part), std::string::npos) << part << " in\n" << h.out;
}

TEST(Bench, HumanReportAndThreads) {
  const run_result r = run_gpsa(
      {"bench", "--weights", micro(), "--iterations", "3", "--warmup", "0", "--threads", "2"});
  ASSERT_TRUE(r.exited && r.code == 0) << r;
  for (const char* part : {"ConViT 64x64", "float32, SIMD target ", "2 threads, batch 1", "load ",
                           "(read ", "fold ", "pack ",
                           "latency per batch of 1 over 3 "
                           "iterations (0 warm-up): p50 ",
                           "images/s", "peak RSS "})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " in\n" << r.out;
}

TEST(Bench, BadOptionsNameTheFlag) {
  const auto fails = [](std::vector<std::string> args, const std::string& part) {
    args.insert(args.begin(), "bench");
    const run_result r = run_gpsa(args);
    EXPECT_TRUE(r.exited && r.code != 0) << r;
    EXPECT_NE(r.err.find(part), std::string::npos) << r;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r;
    EXPECT_EQ(r.out, "");
  };
  fails({"--weights", micro(), "--batch", "0"}, "--batch '0'");
  fails({"--weights", micro(), "--batch", "4097"}, "--batch '4097'");
  fails({"--weights", micro(), "--iterations", "x"}, "--iterations 'x'");
  fails({"--weights", micro(), "--iterations", "0"}, "--iterations '0'");
  fails({"--weights", micro(), "--warmup", "-1"}, "--warmup '-1'");
  fails({"--weights", micro(), "--threads", "0"}, "--threads '0'");
  fails({"--weights", micro(), "--int8"}, "--int8 needs --calibration x.npy");
  fails({"--weights", micro(), "--calibration", micro_x()}, "add --int8");
  fails({"--weights", micro(), "--int8", "--calibration", micro_x(), "--threads", "2"},
        "--threads: the int8 forward runs on this thread");
  fails({"--weights", micro(), "--int8", "--calibration", ""}, "--calibration: the path is empty");
  fails({"--weights", ""}, "--weights: the path is empty");
  fails({"--weights", "/nonexistent/model.safetensors"}, "/nonexistent/model.safetensors");
}

}  // namespace
