// SPDX-License-Identifier: MIT
// A deliberately small safetensors writer for the tests (independent of gpsa's reader): F32,
// F16 and BF16 tensors from float values, with the same rounding the tests use to compute
// expected values (round to nearest even).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace tiny_safetensors {

// float -> IEEE binary16, round to nearest even (subnormals and overflow to inf included).
inline std::uint16_t to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)
    return static_cast<std::uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
  // Work with the magnitude in units of the smallest half subnormal, 2^-24, rounded.
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
  int e = 0;
  std::frexp(a, &e);           // a = m * 2^e, m in [0.5, 1)
  int exp_field = e - 1 + 15;  // biased exponent of a normal half
  double q;                    // the value in units of the half's ulp at this exponent
  if (exp_field <= 0) {
    q = std::nearbyint(a * 16777216.0);  // subnormal: ulp 2^-24
    return static_cast<std::uint16_t>(
        sign | static_cast<std::uint32_t>(q));  // may carry into 0x400: normal, still right
  }
  q = std::nearbyint(std::ldexp(a, 10 - (e - 1)));  // 11-bit significand, [1024, 2048]
  if (q >= 2048.0) {
    q /= 2.0;
    ++exp_field;
  }
  if (exp_field >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  return static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(exp_field) << 10) |
                                    (static_cast<std::uint32_t>(q) - 1024u));
}

inline float from_f16(std::uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const float s = (h & 0x8000) ? -1.0f : 1.0f;
  if (e == 0) return s * std::ldexp(static_cast<float>(m), -24);
  if (e == 31) return m ? NAN : s * INFINITY;
  return s * std::ldexp(static_cast<float>(1024 + m), e - 25);
}

// float -> bfloat16, round to nearest even (finite inputs).
inline std::uint16_t to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t r = x + 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(r >> 16);
}
inline float from_bf16(std::uint16_t h) { return std::bit_cast<float>(std::uint32_t{h} << 16); }

// What a value becomes after a round trip through `dtype` ("F32", "F16", "BF16").
inline float round_trip(float v, const std::string& dtype) {
  if (dtype == "F16") return from_f16(to_f16(v));
  if (dtype == "BF16") return from_bf16(to_bf16(v));
  return v;
}

struct tensor {
  std::vector<std::size_t> shape;
  std::vector<float> values;
  std::string dtype = "F32";
};

// The bytes of a safetensors file: u64 LE header size, JSON header (keys in map order), data.
inline std::string serialise(const std::map<std::string, tensor>& ts) {
  std::string header = "{", data;
  bool first = true;
  for (const auto& [key, t] : ts) {
    const std::size_t begin = data.size();
    for (const float v : t.values) {
      if (t.dtype == "F32") {
        const auto u = std::bit_cast<std::uint32_t>(v);
        for (int i = 0; i < 4; ++i) data += static_cast<char>((u >> (8 * i)) & 0xff);
      } else {
        const std::uint16_t u = t.dtype == "F16" ? to_f16(v) : to_bf16(v);
        data += static_cast<char>(u & 0xff);
        data += static_cast<char>(u >> 8);
      }
    }
    if (!first) header += ',';
    first = false;
    header += "\"" + key + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i != 0) header += ',';
      header += std::to_string(t.shape[i]);
    }
    header += "],\"data_offsets\":[";
    header += std::to_string(begin);
    header += ',';
    header += std::to_string(data.size());
    header += "]}";
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace tiny_safetensors
