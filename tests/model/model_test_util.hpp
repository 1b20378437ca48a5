// SPDX-License-Identifier: MIT
// Helpers for the whole-model tests: golden ConViT cases, random timm-keyed models, error
// measures, message checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../support/tiny_npy.hpp"
#include "../support/tiny_safetensors.hpp"
#include "convit_reference.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace model_test {

namespace fs = std::filesystem;

inline fs::path golden_dir() { return fs::path(GPSA_GOLDEN_DIR) / "convit"; }

// A float32 .npy (the golden files are '<f4'), read by the tests' own reader.
inline std::vector<float> read_f32(const fs::path& p, std::vector<std::size_t>* shape = nullptr) {
  const tiny_npy::array a = tiny_npy::load(p.string());
  if (a.descr != "<f4" || a.fortran_order)
    throw std::runtime_error(p.string() + ": not C-order <f4");
  std::size_t n = 1;
  for (auto s : a.shape) n *= s;
  if (a.data.size() != n * 4) throw std::runtime_error(p.string() + ": truncated");
  std::vector<float> v(n);
  std::memcpy(v.data(), a.data.data(), n * 4);
  if (shape != nullptr) *shape = a.shape;
  return v;
}

struct golden_case {
  std::string name;
  convit_ref::config cfg;
  std::size_t batch = 0;
  bool qkv_bias = false;
};

struct tolerance {
  double logits = 0, features = 0;
};

// cases.json of the convit folder; throws when missing (a missing fixture fails, never skips).
inline std::vector<golden_case> load_cases(tolerance* tol = nullptr) {
  std::ifstream f(golden_dir() / "cases.json");
  if (!f) throw std::runtime_error("cannot open " + (golden_dir() / "cases.json").string());
  const nlohmann::json j = nlohmann::json::parse(f);
  if (tol != nullptr) {
    tol->logits = j.at("tolerance").at("logits_rel_to_max").get<double>();
    tol->features = j.at("tolerance").at("features_rel_to_max").get<double>();
  }
  std::vector<golden_case> out;
  for (const auto& c : j.at("cases")) {
    golden_case g;
    g.name = c.at("name").get<std::string>();
    g.batch = c.at("batch").get<std::size_t>();
    g.qkv_bias = c.at("qkv_bias").get<bool>();
    auto& k = g.cfg;
    k.image = c.at("img_size").get<std::size_t>();
    k.patch = c.at("patch").get<std::size_t>();
    k.heads = c.at("heads").get<std::size_t>();
    k.dim = k.heads * c.at("head_dim").get<std::size_t>();
    k.depth = c.at("depth").get<std::size_t>();
    k.local = c.at("local_up_to_layer").get<std::size_t>();
    k.hidden =
        static_cast<std::size_t>(static_cast<double>(k.dim) * c.at("mlp_ratio").get<double>());
    k.classes = c.at("classes").get<std::size_t>();
    k.eps = c.at("layer_norm_eps").get<double>();
    out.push_back(g);
  }
  return out;
}

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
  throw std::runtime_error("case " + name + " not in convit/cases.json");
}

// max |a - b| / max(1, max |ref|): the golden measure; infinite on size mismatch or NaN.
template <class A, class R>
double rel_error(const A& a, const R& ref) {
  if (a.size() != ref.size() || a.empty()) return INFINITY;
  double m = 0, r = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(double(a[i]) - double(ref[i]));
    if (std::isnan(e)) return INFINITY;
    m = std::max(m, e);
    r = std::max(r, std::abs(double(ref[i])));
  }
  return m / std::max(1.0, r);
}

// ---- random timm-keyed models -------------------------------------------------------------

using st_map = std::map<std::string, tiny_safetensors::tensor>;

// A ConViT with random but well-scaled weights (activations stay O(1), attention and gates are
// far from uniform), every tensor stored as `dtype`.
inline st_map random_model(const convit_ref::config& c, bool qkv_bias, unsigned seed,
                           const std::string& dtype = "F32") {
  std::mt19937 gen(seed);
  const auto uni = [&](std::size_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(d(gen));
    return v;
  };
  const auto lin = [&](std::size_t out, std::size_t in) {
    const double a = std::sqrt(3.0 / static_cast<double>(in));
    return uni(out * in, -a, a);
  };
  const std::size_t D = c.dim, H = c.heads, M = c.hidden, G = c.image / c.patch, N = G * G;
  const std::size_t K = c.channels * c.patch * c.patch;
  st_map m;
  const auto put = [&](const std::string& k, std::vector<std::size_t> shape, std::vector<float> v) {
    m[k] = tiny_safetensors::tensor{std::move(shape), std::move(v), dtype};
  };
  put("patch_embed.proj.weight", {D, c.channels, c.patch, c.patch}, lin(D, K));
  put("patch_embed.proj.bias", {D}, uni(D, -0.1, 0.1));
  put("pos_embed", {1, N, D}, uni(N * D, -0.5, 0.5));
  put("cls_token", {1, 1, D}, uni(D, -0.5, 0.5));
  for (std::size_t i = 0; i < c.depth; ++i) {
    const std::string k = "blocks." + std::to_string(i) + ".";
    put(k + "norm1.weight", {D}, uni(D, 0.8, 1.2));
    put(k + "norm1.bias", {D}, uni(D, -0.1, 0.1));
    if (i < c.local) {
      put(k + "attn.qk.weight", {2 * D, D}, lin(2 * D, D));
      put(k + "attn.v.weight", {D, D}, lin(D, D));
      if (qkv_bias) {
        put(k + "attn.qk.bias", {2 * D}, uni(2 * D, -0.2, 0.2));
        put(k + "attn.v.bias", {D}, uni(D, -0.2, 0.2));
      }
      // Around ConViT's local_init: head h attends near its own offset, with random strength.
      std::vector<float> pw(H * 3);
      const auto ks = static_cast<std::size_t>(std::sqrt(static_cast<double>(H)));
      const double ctr = (static_cast<double>(ks) - 1) / 2;
      auto noise = uni(H * 3, -0.3, 0.3);
      auto strength = uni(H, 0.5, 2.0);
      for (std::size_t h = 0; h < H; ++h) {
        const double h1 = static_cast<double>(h % std::max<std::size_t>(ks, 1));
        const double h2 = static_cast<double>(h / std::max<std::size_t>(ks, 1));
        pw[h * 3] = static_cast<float>(strength[h] * 2 * (h2 - ctr) + noise[h * 3]);
        pw[h * 3 + 1] = static_cast<float>(strength[h] * 2 * (h1 - ctr) + noise[h * 3 + 1]);
        pw[h * 3 + 2] = static_cast<float>(-strength[h] + noise[h * 3 + 2]);
      }
      put(k + "attn.pos_proj.weight", {H, 3}, pw);
      put(k + "attn.pos_proj.bias", {H}, uni(H, -0.5, 0.5));
      put(k + "attn.gating_param", {H}, uni(H, -2.0, 2.0));
    } else {
      put(k + "attn.qkv.weight", {3 * D, D}, lin(3 * D, D));
      if (qkv_bias) put(k + "attn.qkv.bias", {3 * D}, uni(3 * D, -0.2, 0.2));
    }
    put(k + "attn.proj.weight", {D, D}, lin(D, D));
    put(k + "attn.proj.bias", {D}, uni(D, -0.1, 0.1));
    put(k + "norm2.weight", {D}, uni(D, 0.8, 1.2));
    put(k + "norm2.bias", {D}, uni(D, -0.1, 0.1));
    put(k + "mlp.fc1.weight", {M, D}, lin(M, D));
    put(k + "mlp.fc1.bias", {M}, uni(M, -0.1, 0.1));
    put(k + "mlp.fc2.weight", {D, M}, lin(D, M));
    put(k + "mlp.fc2.bias", {D}, uni(D, -0.1, 0.1));
  }
  put("norm.weight", {D}, uni(D, 0.8, 1.2));
  put("norm.bias", {D}, uni(D, -0.1, 0.1));
  put("head.weight", {c.classes, D}, lin(c.classes, D));
  put("head.bias", {c.classes}, uni(c.classes, -0.1, 0.1));
  return m;
}

inline std::vector<float> random_images(const convit_ref::config& c, std::size_t batch,
                                        unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  std::vector<float> v(batch * c.channels * c.image * c.image);
  for (auto& x : v) x = d(gen);
  return v;
}

// The values the reference sees: each tensor after the round trip through its dtype.
inline convit_ref::tensors reference_values(const st_map& m) {
  convit_ref::tensors t;
  for (const auto& [k, v] : m) {
    auto& out = t[k];
    out.reserve(v.values.size());
    for (const float x : v.values) out.push_back(tiny_safetensors::round_trip(x, v.dtype));
  }
  return t;
}

// The checkpoint as gpsa reads it: serialised, then parsed by gpsa's reader.
inline gpsa::io::safetensors_file parse(const st_map& m, const std::string& name) {
  const std::string bytes = tiny_safetensors::serialise(m);
  return gpsa::io::parse_safetensors(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                    bytes.size()),
      name);
}

// A golden checkpoint as an editable map (F32).
inline st_map load_golden_map(const std::string& name) {
  const auto f = gpsa::io::read_safetensors(golden_dir() / name / "model.safetensors");
  st_map m;
  for (const auto& [k, t] : f.tensors) m[k] = tiny_safetensors::tensor{t.shape, t.data, "F32"};
  return m;
}

// Expects `f` to throw E with a one-line message containing every part; returns the message.
template <class E, class F>
std::string expect_throw(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

// The float64 nonlocality of softmax(P_h) on a G x G grid from pos_proj (weight (H, 3), bias (H)):
// (1/N) sum_p sum_q sqrt(dx^2 + dy^2) softmax_q(P[h, p, q]) (timm's get_attention_map distance).
inline std::vector<double> positional_distances(const std::vector<float>& w,
                                                const std::vector<float>& b, std::size_t H,
                                                std::size_t G) {
  const std::size_t N = G * G;
  std::vector<double> out(H, 0.0), row(N);
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t p = 0; p < N; ++p) {
      double peak = -INFINITY, sum = 0;
      for (std::size_t q = 0; q < N; ++q) {
        const double dx = double(q % G) - double(p % G), dy = double(q / G) - double(p / G);
        row[q] = w[h * 3] * dx + w[h * 3 + 1] * dy + w[h * 3 + 2] * (dx * dx + dy * dy) + b[h];
        peak = std::max(peak, row[q]);
      }
      for (std::size_t q = 0; q < N; ++q) sum += row[q] = std::exp(row[q] - peak);
      for (std::size_t q = 0; q < N; ++q) {
        const double dx = double(q % G) - double(p % G), dy = double(q / G) - double(p / G);
        out[h] += std::sqrt(dx * dx + dy * dy) * row[q] / sum / double(N);
      }
    }
  return out;
}

}  // namespace model_test
