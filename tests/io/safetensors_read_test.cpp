// SPDX-License-Identifier: MIT
// safetensors reader: dtype conversion against hand-computed values and the bad-input matrix.
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io_test_util.hpp"

using namespace gpsa_test;
using gpsa::io::parse_safetensors;

namespace {

const std::string k_name = "w.safetensors";

gpsa::io::safetensors_file parse(const bytes& b) { return parse_safetensors(b, k_name); }

std::string st_error(const bytes& b, std::initializer_list<std::string> parts) {
  return expect_io_error([&] { parse(b); }, k_name, parts);
}

// One tensor of `dtype` holding `data`, shape given as JSON text.
bytes one_tensor(std::string_view dtype, std::string_view shape, const bytes& data) {
  const std::string header = "{\"t\":{\"dtype\":\"" + std::string(dtype) +
                             "\",\"shape\":" + std::string(shape) + ",\"data_offsets\":[0," +
                             std::to_string(data.size()) + "]}}";
  return make_safetensors(header, data);
}

constexpr float inf = std::numeric_limits<float>::infinity();

// A valid two-tensor file used by several cases: a (2,2) F32 and a (3,) F16.
bytes two_tensors() {
  bytes data = le_bytes<float>({1, 2, 3, 4});
  const bytes h = le_bytes<std::uint16_t>({0x3C00, 0x4000, 0xC200});  // 1, 2, -3
  data.insert(data.end(), h.begin(), h.end());
  return make_safetensors(
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"b.bias\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]}}  ",
      data);
}

}  // namespace

// ---- accepted -------------------------------------------------------------------------------

TEST(SafetensorsRead, TwoTensorsAndMetadataIgnored) {
  const auto f = parse(two_tensors());
  EXPECT_EQ(f.tensors.size(), 2u);
  EXPECT_FALSE(f.contains("__metadata__"));
  EXPECT_EQ(f.at("a.weight").shape, (std::vector<std::size_t>{2, 2}));
  EXPECT_EQ(f.at("a.weight").data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(f.at("b.bias").shape, std::vector<std::size_t>{3});
  EXPECT_EQ(f.at("b.bias").data, (std::vector<float>{1, 2, -3}));
  EXPECT_EQ(f.path, k_name);
}

TEST(SafetensorsRead, F16ExactIncludingSubnormalsInfNan) {
  // bits -> value by hand: sign, 5-bit exponent (bias 15), 10-bit mantissa.
  const std::vector<std::uint16_t> bits = {0x0000, 0x8000, 0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0400,
                                           0x03FF, 0x0001, 0x8001, 0x0200, 0x7C00, 0xFC00};
  const std::vector<float> want = {0.0f,
                                   -0.0f,
                                   1.0f,
                                   -2.0f,
                                   0.333251953125f,           // (1 + 341/1024) * 2^-2
                                   65504.0f,                  // largest half
                                   std::ldexp(1.0f, -14),     // smallest normal
                                   std::ldexp(1023.0f, -24),  // largest subnormal
                                   std::ldexp(1.0f, -24),     // smallest subnormal
                                   -std::ldexp(1.0f, -24),
                                   std::ldexp(1.0f, -15),  // subnormal 0x200 = 512 * 2^-24
                                   inf,
                                   -inf};
  bytes data;
  for (auto b : bits) append_le(data, b);
  const auto f = parse(one_tensor("F16", "[" + std::to_string(bits.size()) + "]", data));
  const auto& t = f.at("t").data;
  ASSERT_EQ(t.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(t[i], want[i]) << "half bits 0x" << std::hex << bits[i];
    EXPECT_EQ(std::signbit(t[i]), std::signbit(want[i])) << "half bits 0x" << std::hex << bits[i];
  }
  const auto n = parse(one_tensor("F16", "[2]", le_bytes<std::uint16_t>({0x7E00, 0xFC01})));
  EXPECT_TRUE(std::isnan(n.at("t").data[0]));
  EXPECT_TRUE(std::isnan(n.at("t").data[1]));  // signalling-NaN pattern stays a NaN, not inf
}

TEST(SafetensorsRead, AllF16ValuesRoundTripThroughDouble) {
  // Independent formula for every finite half: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals
  // (-1)^s * 2^-14 * m/1024. Checks all 63488 finite patterns, not just hand-picked ones.
  bytes data;
  for (std::uint32_t b = 0; b < 0x10000; ++b) append_le(data, static_cast<std::uint16_t>(b));
  const auto f = parse(one_tensor("F16", "[65536]", data));
  const auto& t = f.at("t").data;
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const int s = b >> 15, e = (b >> 10) & 31, m = b & 1023;
    if (e == 31) {
      EXPECT_TRUE(m ? std::isnan(t[b]) : std::isinf(t[b])) << b;
      continue;
    }
    const double mag = e ? std::ldexp(1.0 + m / 1024.0, e - 15) : std::ldexp(m / 1024.0, -14);
    ASSERT_EQ(static_cast<double>(t[b]), s ? -mag : mag) << "half bits " << b;
  }
}

TEST(SafetensorsRead, BF16Exact) {
  // bf16 is the top half of a float32: value = float with bits << 16.
  const std::vector<std::uint16_t> bits = {0x3F80, 0xC0A0, 0x4049, 0x0001,
                                           0x7F7F, 0x7F80, 0xFF80, 0x8000};
  const std::vector<float> want = {
      1.0f, -5.0f, 3.140625f, std::ldexp(1.0f, -133), std::ldexp(255.0f, 120), inf, -inf, -0.0f};
  bytes data;
  for (auto b : bits) append_le(data, b);
  const auto f = parse(one_tensor("BF16", "[8]", data));
  const auto& t = f.at("t").data;
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(t[i], want[i]) << i;
    EXPECT_EQ(std::signbit(t[i]), std::signbit(want[i])) << i;
  }
  EXPECT_TRUE(std::isnan(
      parse(one_tensor("BF16", "[1]", le_bytes<std::uint16_t>({0x7FC0}))).at("t").data[0]));
}

TEST(SafetensorsRead, F64ConvertedToNearestFloat) {
  const auto f = parse(one_tensor("F64", "[2,3]",
                                  le_bytes<double>({0.1, 65504.0, 1e300, -1e300, 1e-50,
                                                    std::numeric_limits<double>::quiet_NaN()})));
  const auto& t = f.at("t");
  EXPECT_EQ(t.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(t.data[0], 0.1f);
  EXPECT_EQ(t.data[1], 65504.0f);
  EXPECT_EQ(t.data[2], inf);
  EXPECT_EQ(t.data[3], -inf);
  EXPECT_EQ(t.data[4], 0.0f);
  EXPECT_TRUE(std::isnan(t.data[5]));
}

TEST(SafetensorsRead, ScalarsAndEmptyTensors) {
  bytes data = le_bytes<float>({42});
  const auto f =
      parse(make_safetensors("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                             "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                             "\"e2\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[0,0]}}",
                             data));
  EXPECT_TRUE(f.at("s").shape.empty());
  EXPECT_EQ(f.at("s").data, std::vector<float>{42});
  EXPECT_EQ(f.at("e").numel(), 0u);
  EXPECT_EQ(f.at("e2").shape, (std::vector<std::size_t>{3, 0}));
}

TEST(SafetensorsRead, UnsupportedDtypeOnlyFailsWhenUsed) {
  // A checkpoint may carry an int64 counter next to the float weights: the file still loads,
  // and asking for that tensor names its dtype.
  bytes data = le_bytes<float>({1, 2});
  append_le(data, std::int64_t{7});
  const auto f =
      parse(make_safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"steps\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}",
                             data));
  EXPECT_EQ(f.at("w").data, (std::vector<float>{1, 2}));
  EXPECT_FALSE(f.contains("steps"));
  expect_io_error([&] { f.at("steps"); }, k_name, {"'steps'", "dtype I64", "F32, F16, BF16, F64"});
  for (const char* dt :
       {"U8", "I8", "BOOL", "I16", "U16", "I32", "U32", "U64", "F8_E4M3", "F8_E5M2"}) {
    const auto g = parse(one_tensor(dt, "[0]", {}));
    expect_io_error([&] { g.at("t"); }, k_name, {"'t'", std::string("dtype ") + dt});
  }
}

// ---- rejected: every case names the file and the problem ----------------------------------

TEST(SafetensorsReadErrors, MissingKey) {
  const auto f = parse(two_tensors());
  const std::string msg = expect_io_error([&] { f.at("blocks.0.attn.qk.weight"); }, k_name,
                                          {"missing key 'blocks.0.attn.qk.weight'"});
  EXPECT_EQ(msg, k_name + ": missing key 'blocks.0.attn.qk.weight'");
}

TEST(SafetensorsReadErrors, TruncatedAtEveryByte) {
  // Prefixes cut in the length prefix, in the JSON header and in the data section.
  const bytes full = two_tensors();
  ASSERT_NO_THROW(parse(full));
  std::uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= std::uint64_t{full[i]} << (8 * i);
  for (std::size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    const bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < 8)
      st_error(prefix, {"truncated", "needs 8"});
    else if (n < 8 + header_len)
      st_error(prefix, {"truncated", "header length is " + std::to_string(header_len)});
    else if (n < 8 + header_len + 16)
      st_error(prefix, {"'a.weight'", "beyond the data section", "truncated"});
    else
      st_error(prefix, {"'b.bias'", "beyond the data section", "truncated"});
  }
}

TEST(SafetensorsReadErrors, HeaderLengthAbsurdOrBeyondFile) {
  bytes b = two_tensors();
  for (std::uint64_t len :
       {std::uint64_t{100'000'001}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(len >> (8 * i));
    st_error(b, {"header length " + std::to_string(len), "100 MB"});
  }
  const std::uint64_t beyond = b.size();  // under the limit but more than the file holds
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(beyond >> (8 * i));
  st_error(b, {"truncated", "header length is " + std::to_string(beyond)});
  st_error(make_safetensors("", {}), {"empty"});
}

TEST(SafetensorsReadErrors, MalformedJson) {
  for (const char* h :
       {"{", "not json", "{\"t\":}", "{\"t\":{\"dtype\":\"F32\"", "{} trailing",
        "{\"__metadata__\":{\"a\":\"b\",}}", "\xff\xfe{}", "{\"t\":{\"dtype\":\"F\xff\"}}"})
    st_error(make_safetensors(h, {}), {"malformed JSON header"});
  // Numbers beyond double's range make nlohmann throw out_of_range, not parse_error (a fuzzer
  // find): still a one-line io_error.
  st_error(
      make_safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e400,4]}}", {}),
      {"malformed JSON header", "number overflow"});
  for (const char* h : {"[]", "42", "\"x\"", "null"})
    st_error(make_safetensors(h, {}), {"malformed header", "JSON object"});
  // Deep nesting stops at the first level the schema does not have: no deep tree is built.
  st_error(make_safetensors(std::string(100000, '[') + std::string(100000, ']'), {}),
           {"malformed header", "JSON object of tensors"});
  st_error(make_safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":" + std::string(100000, '[') +
                                std::string(100000, ']') + "}}",
                            {}),
           {"'t'", "shape entry that is not a non-negative integer"});
  st_error(make_safetensors("{\"t\":5}", {}), {"'t'", "not a JSON object"});
}

TEST(SafetensorsReadErrors, BadTensorEntries) {
  const bytes four(4, 0);
  const struct {
    std::string entry;
    std::string says;
  } cases[] = {
      {"{\"shape\":[1],\"data_offsets\":[0,4]}", "no \"dtype\""},
      {"{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}", "no \"dtype\""},
      {"{\"dtype\":\"F32\",\"data_offsets\":[0,4]}", "no \"shape\""},
      {"{\"dtype\":\"F32\",\"shape\":[1]}", "no \"data_offsets\""},
      {"{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}", "non-negative integer"},
      {"{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}", "non-negative integer"},
      {"{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}", "non-negative integer"},
      {"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}", "two non-negative integers"},
      {"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}", "two non-negative integers"},
      {"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,4]}", "two non-negative integers"},
      {"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}", "begin after end"},
      {"{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}", "unknown dtype 'F33'"},
      {"{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}", "unknown dtype 'f32'"},
  };
  for (const auto& c : cases)
    st_error(make_safetensors("{\"t\":" + c.entry + "}", four), {"'t'", c.says});
}

TEST(SafetensorsReadErrors, OffsetsOutOfRangeMismatchedOrOverlapping) {
  const bytes data(16, 0);
  auto file = [&](const std::string& entries) {
    return make_safetensors("{" + entries + "}", data);
  };
  st_error(file("\"t\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}"),
           {"'t'", "[0, 20)", "beyond the data section (16 bytes)"});
  st_error(file("\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,"
                "18446744073709551615]}"),
           {"'t'", "beyond the data section"});
  st_error(file("\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}"),
           {"'t'", "(3,)", "12 bytes", "[0, 8)", "span 8"});
  st_error(file("\"t\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}"),
           {"'t'", "(2,2)", "F16", "8 bytes"});
  st_error(file("\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,4]}"),
           {"'t'", "I64", "8 bytes"});  // sizes are checked for unsupported dtypes too
  // Element count overflow: 2^32 * 2^32 must be caught, not wrapped to 0.
  st_error(
      file("\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}"),
      {"'t'", "too large"});
  st_error(file("\"t\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}"),
           {"'t'", "too large"});
  st_error(file("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}"),
           {"'a' [0, 8)", "'b' [4, 12)", "overlap"});
  st_error(file("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"),
           {"overlap"});
  st_error(file("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"),
           {"overlap"});
}

TEST(SafetensorsReadErrors, DuplicateKeys) {
  const bytes data(8, 0);
  st_error(make_safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                            data),
           {"key 't' appears twice"});
  st_error(make_safetensors("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],"
                            "\"data_offsets\":[0,4]}}",
                            data),
           {"key 'dtype' appears twice"});
}

TEST(SafetensorsReadErrors, KeysWithControlCharactersStayOneLine) {
  const std::string msg = st_error(
      make_safetensors("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                       bytes(4, 0)),
      {"unknown dtype 'X'", "'a\\x0ab'"});
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(SafetensorsReadErrors, FileErrorsNameThePath) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("gpsa_st_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path missing = dir / "missing.safetensors";
  expect_io_error([&] { gpsa::io::read_safetensors(missing); }, missing.string(),
                  {"cannot open", "No such file"});
  expect_io_error([&] { gpsa::io::read_safetensors(dir); }, dir.string(), {"is a folder"});
  const fs::path good = dir / "w.safetensors";
  {
    const bytes b = two_tensors();
    std::ofstream(good, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  const auto f = gpsa::io::read_safetensors(good);
  EXPECT_EQ(f.path, good);
  expect_io_error([&] { f.at("nope"); }, good.string(), {"missing key 'nope'"});
  fs::remove_all(dir);
}

// ---- limits and the schema -------------------------------------------------------------

namespace {

// `n` one-float tensors "t0", "t1", ... (F32, shape [1]).
bytes many_tensors(std::size_t n) {
  std::string h = "{";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) h += ',';
    h.append("\"t").append(std::to_string(i));
    h.append("\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[");
    h.append(std::to_string(4 * i)).append(",").append(std::to_string(4 * i + 4)).append("]}");
  }
  return make_safetensors(h + "}", bytes(4 * n, 0));
}

std::string shape_of_rank(std::size_t rank) {
  std::string s = "[";
  for (std::size_t i = 0; i < rank; ++i) s += i ? ",1" : "1";
  return s + "]";
}

}  // namespace

TEST(SafetensorsLimits, TensorCountIsCapped) {
  gpsa::io::read_limits small;
  small.tensors = 8;
  EXPECT_EQ(parse_safetensors(many_tensors(8), k_name, small).tensors.size(), 8u);
  expect_io_error([&] { parse_safetensors(many_tensors(9), k_name, small); }, k_name,
                  {"more than 8 tensors"});
  // __metadata__ is not a tensor.
  const bytes with_meta = make_safetensors(
      "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
      "\"data_offsets\":[0,4]}}",
      bytes(4, 0));
  small.tensors = 1;
  EXPECT_EQ(parse_safetensors(with_meta, k_name, small).tensors.size(), 1u);
}

TEST(SafetensorsLimits, RankUpTo64) {
  const auto t = parse(one_tensor("F32", shape_of_rank(64), bytes(4, 0)));
  EXPECT_EQ(t.at("t").shape, std::vector<std::size_t>(64, 1));
  st_error(one_tensor("F32", shape_of_rank(65), bytes(4, 0)), {"'t'", "more than 64 dimensions"});
  // A header of millions of dimensions stops at the 65th (bounded memory, checked in
  // test_io_scale).
  st_error(one_tensor("F32", shape_of_rank(1'000'000), bytes(4, 0)), {"more than 64 dimensions"});
}

TEST(SafetensorsLimits, MetadataIsAMapOfStrings) {
  const auto meta = [](const std::string& m) {
    return make_safetensors("{\"__metadata__\":" + m + "}", {});
  };
  EXPECT_TRUE(parse(meta("{}")).tensors.empty());
  EXPECT_TRUE(parse(meta("{\"format\":\"pt\",\"note\":\"\\u00e9\\n\"}")).tensors.empty());
  st_error(meta("{\"a\":1}"), {"__metadata__ value of 'a' is a number, expected a string"});
  st_error(meta("{\"a\":{}}"), {"__metadata__ value of 'a'", "JSON object"});
  st_error(meta("{\"a\":[\"x\"]}"), {"__metadata__ value of 'a'", "array"});
  st_error(meta("\"pt\""), {"__metadata__ must be an object of strings"});
  st_error(meta("{\"a\":\"x\",\"a\":\"y\"}"), {"key 'a' appears twice"});
  st_error(make_safetensors("{\"__metadata__\":{},\"__metadata__\":{}}", {}),
           {"key '__metadata__' appears twice"});
  gpsa::io::read_limits small;
  small.metadata_entries = 2;
  EXPECT_NO_THROW(parse_safetensors(meta("{\"a\":\"1\",\"b\":\"2\"}"), k_name, small));
  expect_io_error(
      [&] { parse_safetensors(meta("{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}"), k_name, small); },
      k_name, {"__metadata__ has more than 2 entries"});
}

TEST(SafetensorsLimits, TensorEntriesHaveExactlyTheThreeFields) {
  st_error(make_safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
                            "\"extra\":{\"deep\":[1,2,3]}}}",
                            bytes(4, 0)),
           {"'t'", "unexpected field 'extra'"});
  st_error(make_safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}",
                            bytes(4, 0)),
           {"'t'", "no \"shape\" array"});
}

TEST(SafetensorsLimits, HeaderAndFileSizeLimitsAreParameters) {
  gpsa::io::read_limits small;
  small.header_bytes = 16;
  expect_io_error([&] { parse_safetensors(two_tensors(), k_name, small); }, k_name,
                  {"over the 16 bytes limit"});
}

TEST(SafetensorsLimits, HostileKeysAreEscapedAndCut) {
  // ESC sequences, a newline and a bidi override in a key (JSON escapes; invalid UTF-8 is a
  // JSON error): one line, no raw control byte, and a huge key does not make a huge message.
  const std::string key = "evil\\n\\u001b[31mred\\u001b[0m\\u202e";
  const std::string msg = st_error(
      make_safetensors("{\"" + key + "\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                       bytes(4, 0)),
      {"'evil\\x0a\\x1b[31mred\\x1b[0m\\u202e'"});
  (void)msg;
  const std::string big(100000, 'k');
  const std::string m2 = st_error(
      make_safetensors("{\"" + big + "\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                       bytes(4, 0)),
      {"unknown dtype 'X'", "..."});
  EXPECT_LT(m2.size(), 400u);
}
