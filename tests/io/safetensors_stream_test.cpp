// SPDX-License-Identifier: MIT
// read_safetensors reads a checkpoint piece by piece (the header, then each tensor in file order,
// F16 / BF16 / F64 through a bounded chunk) instead of whole: the values, against formulas
// written here, for tensors spanning several chunks and listed out of file order, and the same
// result as parse_safetensors on the whole bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "io_test_util.hpp"

namespace {

using namespace gpsa_test;
namespace fs = std::filesystem;

struct spec {
  const char* key;
  const char* dtype;
  std::size_t count, elem;
};

TEST(SafetensorsStream, PieceByPieceReadMatchesFormulasAcrossChunks) {
  // Data section order h, b, s, e, d, f; the header lists them in another order. F16/BF16 hold
  // more than 2^20 bytes (the reader's chunk), so they are converted in several pieces.
  const std::size_t nh = 3 * 700001, nb = 1100000, nd = 300000, nf = 35;
  const spec order[] = {{"h", "F16", nh, 2}, {"b", "BF16", nb, 2}, {"s", "I64", 2, 8},
                        {"e", "F16", 0, 2},  {"d", "F64", nd, 8},  {"f", "F32", nf, 4}};
  bytes data;
  std::vector<std::string> entry(6);
  for (std::size_t t = 0; t < 6; ++t) {
    const spec& s = order[t];
    const std::size_t begin = data.size();
    for (std::size_t i = 0; i < s.count; ++i) {
      switch (t) {
        case 0:  // F16 1 + k/1024
          append_le(data, static_cast<std::uint16_t>(0x3C00 + i % 1024));
          break;
        case 1:  // BF16 2 + k/64
          append_le(data, static_cast<std::uint16_t>(0x4000 + i % 128));
          break;
        case 2:
          append_le(data, static_cast<std::uint64_t>(i + 7));
          break;
        case 4:
          append_le(data, static_cast<double>(i) * 0.25 - 1000.0);
          break;
        case 5:
          append_le(data, static_cast<float>(i) * 1.5f);
          break;
        default:
          break;
      }
    }
    // (ostringstream: GCC 12 warns falsely (-Wrestrict) on long chains of string +.)
    std::ostringstream e;
    e << '"' << s.key << "\":{\"dtype\":\"" << s.dtype << "\",\"shape\":";
    if (t == 0)
      e << "[3,700001]";
    else if (t == 5)
      e << "[5,7]";
    else
      e << '[' << s.count << ']';
    e << ",\"data_offsets\":[" << begin << ',' << data.size() << "]}";
    entry[t] = e.str();
  }
  std::ostringstream hs;
  hs << '{' << entry[5] << ',' << entry[4] << ",\"__metadata__\":{\"a\":\"b\"}," << entry[2] << ','
     << entry[0] << ',' << entry[3] << ',' << entry[1] << '}';
  const std::string header = hs.str();
  const bytes file = make_safetensors(header, data);
  const fs::path path =
      fs::temp_directory_path() / ("gpsa_st_stream_" + std::to_string(::getpid()) + ".safetensors");
  {
    std::ofstream o(path, std::ios::binary);
    o.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  const gpsa::io::safetensors_file f = gpsa::io::read_safetensors(path);
  fs::remove(path);

  EXPECT_EQ(f.path, path);
  ASSERT_EQ(f.tensors.size(), 5u);
  ASSERT_EQ(f.unsupported.size(), 1u);
  EXPECT_EQ(f.unsupported.at("s"), "I64");
  const auto& h = f.at("h");
  EXPECT_EQ(h.shape, (std::vector<std::size_t>{3, 700001}));
  ASSERT_EQ(h.data.size(), nh);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < nh; ++i)
    bad += h.data[i] != 1.0f + static_cast<float>(i % 1024) / 1024;
  EXPECT_EQ(bad, 0u) << "F16 values differ";
  const auto& b = f.at("b");
  ASSERT_EQ(b.data.size(), nb);
  bad = 0;
  for (std::size_t i = 0; i < nb; ++i) bad += b.data[i] != 2.0f + static_cast<float>(i % 128) / 64;
  EXPECT_EQ(bad, 0u) << "BF16 values differ";
  const auto& d = f.at("d");
  ASSERT_EQ(d.data.size(), nd);
  bad = 0;
  for (std::size_t i = 0; i < nd; ++i)
    bad += d.data[i] != static_cast<float>(static_cast<double>(i) * 0.25 - 1000.0);
  EXPECT_EQ(bad, 0u) << "F64 values differ";
  const auto& fl = f.at("f");
  EXPECT_EQ(fl.shape, (std::vector<std::size_t>{5, 7}));
  for (std::size_t i = 0; i < nf; ++i) EXPECT_EQ(fl.data[i], static_cast<float>(i) * 1.5f) << i;
  EXPECT_TRUE(f.at("e").data.empty());

  // The in-memory parser sees the same tensors.
  const gpsa::io::safetensors_file m = gpsa::io::parse_safetensors(file, "mem.safetensors");
  ASSERT_EQ(m.tensors.size(), f.tensors.size());
  for (const auto& [k, t] : m.tensors) {
    EXPECT_EQ(t.shape, f.at(k).shape) << k;
    EXPECT_EQ(t.data, f.at(k).data) << k;
  }
}

TEST(SafetensorsStream, FileShorterThanItsHeaderSaysNamesTheFile) {
  // The header promises 16 bytes of data; the file holds 8 (cut after writing).
  const std::string header = "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
  bytes file = make_safetensors(header, le_bytes<float>({1, 2, 3, 4}));
  file.resize(file.size() - 8);
  const fs::path path =
      fs::temp_directory_path() / ("gpsa_st_short_" + std::to_string(::getpid()) + ".safetensors");
  {
    std::ofstream o(path, std::ios::binary);
    o.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  expect_io_error([&] { (void)gpsa::io::read_safetensors(path); }, path.string(), {"'t'"});
  // A header length past the end of the file.
  bytes cut(file.begin(), file.begin() + 20);
  {
    std::ofstream o(path, std::ios::binary);
    o.write(reinterpret_cast<const char*>(cut.data()), static_cast<std::streamsize>(cut.size()));
  }
  expect_io_error([&] { (void)gpsa::io::read_safetensors(path); }, path.string(), {"header"});
  fs::remove(path);
}

}  // namespace
