// SPDX-License-Identifier: MIT
// Helpers for the layer / forward tests: golden cases from cases.json, temp folders, a small
// safetensors writer (independent of gpsa's reader) and a process runner for the CLI.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

#include "../support/test_util.hpp"

namespace gpsa_test {

namespace fs = std::filesystem;

inline fs::path golden_dir() { return fs::path(GPSA_GOLDEN_DIR); }

// A fresh, empty folder under the system temp dir, removed by the destructor.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
      path = fs::temp_directory_path() / ("gpsa_fwd_test_" + std::to_string(rd()));
      if (fs::create_directory(path)) return;
    }
    throw std::runtime_error("cannot create a temp folder");
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& leaf) const { return path / leaf; }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

// One tensor to write: dtype name, shape and raw little-endian bytes.
struct st_tensor {
  std::string dtype = "F32";
  std::vector<std::size_t> shape;
  std::string bytes;
};

inline st_tensor f32_tensor(std::vector<std::size_t> shape, const std::vector<float>& v) {
  st_tensor t;
  t.shape = std::move(shape);
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return t;
}

// Writes a safetensors file: u64 LE header size, JSON header, data section.
inline void write_safetensors(const fs::path& path, const std::map<std::string, st_tensor>& ts) {
  std::string header = "{";
  std::string data;
  bool first = true;
  for (const auto& [key, t] : ts) {
    if (!first) header += ',';
    first = false;
    header += "\"" + key + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i != 0) header += ',';  // append, not "," + str: GCC 12 -Wrestrict false positive
      header += std::to_string(t.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header + data;
  std::ofstream f(path, std::ios::binary);
  f << out;
}

// The tensors of a golden weights file, as st_tensors to modify and write back.
inline std::map<std::string, st_tensor> load_as_st(const fs::path& weights) {
  const gpsa::io::safetensors_file f = gpsa::io::read_safetensors(weights);
  std::map<std::string, st_tensor> out;
  for (const auto& [k, t] : f.tensors) out[k] = f32_tensor(t.shape, t.data);
  return out;
}

// Writes a float32 .npy (format 1.0), independent of gpsa's writer.
inline void write_npy_f32(const fs::path& path, const std::vector<std::size_t>& shape,
                          const std::vector<float>& v) {
  std::string tuple = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) tuple += ", ";
    tuple += std::to_string(shape[i]);
  }
  tuple += shape.size() == 1 ? ",)" : ")";
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }";
  std::string header = dict;
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  std::ofstream f(path, std::ios::binary);
  f << out;
}

struct golden_case {
  std::string name, prefix;
  std::size_t grid = 0, heads = 0, dim = 0, batch = 0;
  bool qkv_bias = false;
};

struct tolerances {
  double attn_abs = 0, y_rel_to_max = 0, dist_abs = 0;
};

// cases.json: every golden case and the tolerances. Throws when the file is missing or broken,
// so a missing fixture fails the test instead of skipping it.
inline std::vector<golden_case> load_cases(tolerances* tol = nullptr) {
  std::ifstream f(golden_dir() / "cases.json");
  if (!f) throw std::runtime_error("cannot open " + (golden_dir() / "cases.json").string());
  const nlohmann::json j = nlohmann::json::parse(f);
  if (tol != nullptr) {
    tol->attn_abs = j.at("tolerance").at("attn_abs").get<double>();
    tol->y_rel_to_max = j.at("tolerance").at("y_rel_to_max").get<double>();
    tol->dist_abs = j.at("tolerance").at("dist_abs").get<double>();
  }
  std::vector<golden_case> out;
  for (const auto& c : j.at("cases")) {
    golden_case g;
    g.name = c.at("name").get<std::string>();
    g.prefix = c.at("prefix").get<std::string>();
    g.grid = c.at("grid").get<std::size_t>();
    g.heads = c.at("heads").get<std::size_t>();
    g.dim = c.at("dim").get<std::size_t>();
    g.batch = c.at("batch").get<std::size_t>();
    g.qkv_bias = c.at("qkv_bias").get<bool>();
    out.push_back(g);
  }
  return out;
}

// Case names for INSTANTIATE_TEST_SUITE_P; an unreadable cases.json yields one case named
// "cases_json_unreadable" whose test then fails on load_cases().
inline std::vector<std::string> case_names() {
  try {
    std::vector<std::string> names;
    for (const auto& c : load_cases()) names.push_back(c.name);
    if (!names.empty()) return names;
  } catch (...) {
  }
  return {"cases_json_unreadable"};
}

inline golden_case find_case(const std::string& name) {
  for (const auto& c : load_cases())
    if (c.name == name) return c;
  throw std::runtime_error("case " + name + " not in cases.json");
}

// Runs a shell command; returns the exit status, with stderr captured into `err`.
inline int run_command(const std::string& cmd, std::string& err, const fs::path& err_file) {
  const int rc = std::system((cmd + " 2> '" + err_file.string() + "' > /dev/null").c_str());
  err = slurp(err_file);
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace gpsa_test
