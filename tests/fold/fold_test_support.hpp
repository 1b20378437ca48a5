// SPDX-License-Identifier: MIT
// Helpers for the fold tests: an independent float64 reference of the dense positional attention,
// a tiny safetensors writer (so tests can build multi-layer checkpoints), deterministic weights.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace fold_test {

// softmax_q(P[h]) for one head, straight from docs/DESIGN.md §3 in double: the full N x N
// logits (not the separable form), dense row softmax with the row max subtracted.
inline std::vector<double> dense_position_f64(std::size_t R, std::size_t C, const float* w3,
                                              double bias) {
  const std::size_t N = R * C;
  std::vector<double> out(N * N);
  for (std::size_t p = 0; p < N; ++p) {
    const double yp = static_cast<double>(p / C), xp = static_cast<double>(p % C);
    double m = -INFINITY;
    for (std::size_t q = 0; q < N; ++q) {
      const double dx = static_cast<double>(q % C) - xp, dy = static_cast<double>(q / C) - yp;
      const double l =
          double{w3[0]} * dx + double{w3[1]} * dy + double{w3[2]} * (dx * dx + dy * dy) + bias;
      out[p * N + q] = l;
      if (l > m) m = l;
    }
    double s = 0;
    for (std::size_t q = 0; q < N; ++q) s += out[p * N + q] = std::exp(out[p * N + q] - m);
    for (std::size_t q = 0; q < N; ++q) out[p * N + q] /= s;
  }
  return out;
}

inline double sigmoid_f64(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Distance in units in the last place between two finite floats of the same sign.
inline std::int64_t ulp_distance(float a, float b) {
  const auto ia = static_cast<std::int64_t>(std::bit_cast<std::int32_t>(a));
  const auto ib = static_cast<std::int64_t>(std::bit_cast<std::int32_t>(b));
  return ia > ib ? ia - ib : ib - ia;
}
inline std::int64_t ulp_distance(double a, double b) {
  const std::int64_t ia = std::bit_cast<std::int64_t>(a), ib = std::bit_cast<std::int64_t>(b);
  return ia > ib ? ia - ib : ib - ia;
}

// One named float32 tensor for write_safetensors.
struct named_tensor {
  std::string key;
  std::vector<std::size_t> shape;
  std::vector<float> data;
};

// A safetensors file as the format defines it: u64 little-endian header length, JSON header
// {key: {dtype, shape, data_offsets}}, then the raw little-endian data. Written independently
// of gpsa's reader.
inline std::string safetensors_bytes(const std::vector<named_tensor>& ts) {
  std::string header = "{";
  std::string data;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    std::string shape = "[";
    for (std::size_t k = 0; k < t.shape.size(); ++k) {  // appends: GCC 12 -Wrestrict false alarm
      if (k) shape += ',';
      shape += std::to_string(t.shape[k]);
    }
    shape += "]";
    const std::size_t begin = data.size();
    for (const float v : t.data) {
      const auto u = std::bit_cast<std::uint32_t>(v);
      for (int b = 0; b < 4; ++b) data += static_cast<char>((u >> (8 * b)) & 0xff);
    }
    if (i) header += ',';
    header.append("\"").append(t.key).append("\":{\"dtype\":\"F32\",\"shape\":").append(shape);
    header.append(",\"data_offsets\":[").append(std::to_string(begin)).append(",");
    header.append(std::to_string(data.size())).append("]}");
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::string out;
  const std::uint64_t n = header.size();
  for (int b = 0; b < 8; ++b) out += static_cast<char>((n >> (8 * b)) & 0xff);
  return out + header + data;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Weights of one GPSA layer's positional branch.
struct pos_weights {
  std::size_t heads = 0;
  std::vector<float> w, b, gating;
};

// Random weights in the ranges trained ConViTs show, plus a few sharp heads (W2 down to -40).
inline pos_weights random_weights(std::size_t heads, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> lin(-3.0f, 3.0f), quad(-4.0f, 0.5f), sharp(-40.0f, -10.0f),
      gate(-6.0f, 6.0f), bias(-2.0f, 2.0f);
  pos_weights p;
  p.heads = heads;
  for (std::size_t h = 0; h < heads; ++h) {
    p.w.push_back(lin(rng));
    p.w.push_back(lin(rng));
    p.w.push_back(h % 3 == 2 ? sharp(rng) : quad(rng));
    p.b.push_back(bias(rng));
    p.gating.push_back(gate(rng));
  }
  return p;
}

}  // namespace fold_test
