// safetensors reader: bounds-checked header, F32/F16/BF16/F64 tensors converted to float32.
#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>

#include "gpsa/io.hpp"
#include "io_detail.hpp"

namespace gpsa::io {
namespace {

using json = nlohmann::json;

// Refused before any allocation: real headers are a few hundred bytes per tensor.
constexpr std::uint64_t k_max_header = 100u * 1000u * 1000u;
// A safetensors header is 3 levels deep ({key: {shape: [..]}}); 64 is generous and keeps a
// hostile "[[[[..." from building a deep tree.
constexpr int k_max_depth = 64;

enum class kind { f32, f16, bf16, f64, unsupported };

struct dtype_info {
  std::string_view name;
  std::size_t size;  // bytes per element; 0 for sub-byte types (size not checked)
  kind k;
};

// Every dtype of the safetensors spec; only the first four are converted.
constexpr dtype_info k_dtypes[] = {
    {"F32", 4, kind::f32},
    {"F16", 2, kind::f16},
    {"BF16", 2, kind::bf16},
    {"F64", 8, kind::f64},
    {"BOOL", 1, kind::unsupported},
    {"U8", 1, kind::unsupported},
    {"I8", 1, kind::unsupported},
    {"F8_E5M2", 1, kind::unsupported},
    {"F8_E4M3", 1, kind::unsupported},
    {"F8_E8M0", 1, kind::unsupported},
    {"I16", 2, kind::unsupported},
    {"U16", 2, kind::unsupported},
    {"I32", 4, kind::unsupported},
    {"U32", 4, kind::unsupported},
    {"I64", 8, kind::unsupported},
    {"U64", 8, kind::unsupported},
    {"C64", 8, kind::unsupported},
    {"F4", 0, kind::unsupported},
    {"F6_E2M3", 0, kind::unsupported},
    {"F6_E3M2", 0, kind::unsupported},
};

const dtype_info* find_dtype(std::string_view s) {
  for (const auto& d : k_dtypes)
    if (d.name == s) return &d;
  return nullptr;
}

// IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN payloads).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal 0.mant * 2^-14: normalise into float's (much wider) exponent range.
    std::uint32_t e = 127 - 14;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_float(std::uint16_t h) { return std::bit_cast<float>(std::uint32_t{h} << 16); }

template <class U>
U load_le(const std::uint8_t* p) {
  U u = 0;
  for (std::size_t b = 0; b < sizeof(U); ++b) u |= static_cast<U>(U{p[b]} << (8 * b));
  return u;
}

struct too_deep {};

// nlohmann keeps the last of duplicate keys silently; a checkpoint with two values for one
// key is corrupt or crafted, so the parse callback records the first duplicate it sees.
class duplicate_finder {
 public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        if (depth >= k_max_depth) throw too_deep{};
        keys_.emplace_back();
        break;
      case json::parse_event_t::array_start:
        if (depth >= k_max_depth) throw too_deep{};
        break;
      case json::parse_event_t::object_end:
        if (!keys_.empty()) keys_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys_.empty() && !keys_.back().insert(parsed.get<std::string>()).second &&
            duplicate_.empty())
          duplicate_ =
              parsed.get<std::string>().empty() ? std::string("\"\"") : parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  std::vector<std::set<std::string>> keys_;
  std::string duplicate_;
};

struct entry {
  std::string key;
  const dtype_info* dtype;
  std::vector<std::size_t> shape;
  std::uint64_t begin, end;
};

}  // namespace

const tensor& safetensors_file::at(const std::string& key) const {
  if (auto it = tensors.find(key); it != tensors.end()) return it->second;
  const std::string shown = path.string();
  if (auto it = unsupported.find(key); it != unsupported.end())
    throw io_error(shown + ": tensor '" + detail::printable(key) + "' has dtype " + it->second +
                   ", which gpsa does not read (supported: F32, F16, BF16, F64); convert it, "
                   "e.g. t.float() before saving");
  throw io_error(shown + ": missing key '" + detail::printable(key) + "'");
}

safetensors_file parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name) {
  const std::size_t size = bytes.size();
  const auto fail = [&](const std::string& what) -> void { throw io_error(name + ": " + what); };
  if (size < 8)
    fail("truncated safetensors file: " + std::to_string(size) +
         " bytes, the header length alone needs 8");
  const std::uint64_t header_len = load_le<std::uint64_t>(bytes.data());
  if (header_len > k_max_header)
    fail("header length " + std::to_string(header_len) +
         " bytes is over the 100 MB limit (corrupt, or not a safetensors file)");
  if (header_len > size - 8)
    fail("truncated safetensors file: header length is " + std::to_string(header_len) +
         " bytes but only " + std::to_string(size - 8) + " follow");
  if (header_len == 0) fail("malformed header: empty (expected a JSON object)");

  const char* hb = reinterpret_cast<const char*>(bytes.data()) + 8;
  json root;
  duplicate_finder dups;
  try {
    root = json::parse(hb, hb + header_len, std::ref(dups), /*allow_exceptions=*/true);
  } catch (const json::exception& e) {
    // parse_error, but also out_of_range for a number like 1e400 (found by fuzzing).
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos) msg.erase(0, p + 2);
    fail("malformed JSON header: " + detail::printable(msg, 200));
  } catch (const too_deep&) {
    fail("malformed header: JSON nested deeper than " + std::to_string(k_max_depth) + " levels");
  }
  if (!dups.duplicate().empty())
    fail("malformed header: key '" + detail::printable(dups.duplicate()) + "' appears twice");
  if (!root.is_object()) fail("malformed header: expected a JSON object of tensors");

  const std::uint64_t data_size = size - 8 - header_len;
  const std::uint8_t* data = bytes.data() + 8 + header_len;
  std::vector<entry> entries;
  entries.reserve(root.size());
  for (const auto& [key, info] : root.items()) {
    if (key == "__metadata__") continue;  // free-form string map; gpsa has no use for it
    const std::string k = "tensor '" + detail::printable(key) + "'";
    if (!info.is_object()) fail("malformed header: " + k + " is not a JSON object");
    const auto dt = info.find("dtype");
    const auto sh = info.find("shape");
    const auto off = info.find("data_offsets");
    if (dt == info.end() || !dt->is_string()) fail(k + " has no \"dtype\" string");
    if (sh == info.end() || !sh->is_array()) fail(k + " has no \"shape\" array");
    if (off == info.end() || !off->is_array()) fail(k + " has no \"data_offsets\" array");
    const auto& dname = dt->get_ref<const std::string&>();
    const dtype_info* d = find_dtype(dname);
    if (!d) fail(k + " has unknown dtype '" + detail::printable(dname) + "'");
    entry e{key, d, {}, 0, 0};
    for (const auto& s : *sh) {
      if (!s.is_number_unsigned())
        fail(k + " has a shape entry that is not a non-negative integer");
      e.shape.push_back(s.get<std::uint64_t>());
    }
    if (off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      fail(k + ": \"data_offsets\" must be two non-negative integers [begin, end]");
    e.begin = (*off)[0].get<std::uint64_t>();
    e.end = (*off)[1].get<std::uint64_t>();
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
    if (e.begin > e.end) fail(k + " has data_offsets " + range + " with begin after end");
    if (e.end > data_size)
      fail(k + " has data_offsets " + range + " beyond the data section (" +
           std::to_string(data_size) + " bytes): file truncated or corrupt");
    std::size_t numel = 0;
    if (!detail::checked_numel(e.shape, numel) ||
        (d->size && numel > std::numeric_limits<std::size_t>::max() / d->size))
      fail(k + " has shape " + detail::shape_text(e.shape) + ", too large");
    if (d->size && numel * d->size != e.end - e.begin)
      fail(k + " has shape " + detail::shape_text(e.shape) + " of " + std::string(d->name) + " = " +
           std::to_string(numel * d->size) + " bytes, but data_offsets " + range + " span " +
           std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }

  // No two tensors may share bytes (empty tensors occupy none).
  std::vector<const entry*> by_offset;
  for (const auto& e : entries)
    if (e.begin < e.end) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const entry* a, const entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const entry& a = *by_offset[i - 1];
    const entry& b = *by_offset[i];
    if (b.begin < a.end)
      fail("tensors '" + detail::printable(a.key) + "' [" + std::to_string(a.begin) + ", " +
           std::to_string(a.end) + ") and '" + detail::printable(b.key) + "' [" +
           std::to_string(b.begin) + ", " + std::to_string(b.end) + ") overlap");
  }

  safetensors_file f;
  f.path = name;
  for (auto& e : entries) {
    if (e.dtype->k == kind::unsupported) {
      f.unsupported.emplace(e.key, std::string(e.dtype->name));
      continue;
    }
    tensor t;
    t.shape = std::move(e.shape);
    const std::size_t n = (e.end - e.begin) / e.dtype->size;
    detail::resize_or_throw(t.data, n, name, "tensor '" + detail::printable(e.key) + "'");
    const std::uint8_t* p = data + e.begin;
    switch (e.dtype->k) {
      case kind::f32:
        if constexpr (std::endian::native == std::endian::little) {
          if (n) std::memcpy(t.data.data(), p, n * 4);
        } else {
          for (std::size_t i = 0; i < n; ++i)
            t.data[i] = std::bit_cast<float>(load_le<std::uint32_t>(p + 4 * i));
        }
        break;
      case kind::f16:
        for (std::size_t i = 0; i < n; ++i)
          t.data[i] = half_to_float(load_le<std::uint16_t>(p + 2 * i));
        break;
      case kind::bf16:
        for (std::size_t i = 0; i < n; ++i)
          t.data[i] = bf16_to_float(load_le<std::uint16_t>(p + 2 * i));
        break;
      case kind::f64:
        for (std::size_t i = 0; i < n; ++i)
          t.data[i] = detail::narrow(std::bit_cast<double>(load_le<std::uint64_t>(p + 8 * i)));
        break;
      case kind::unsupported:
        break;
    }
    f.tensors.emplace(std::move(e.key), std::move(t));
  }
  return f;
}

safetensors_file read_safetensors(const std::filesystem::path& path) {
  const auto bytes = detail::read_file_bytes(path);
  auto f = parse_safetensors(bytes, path.string());
  f.path = path;
  return f;
}

}  // namespace gpsa::io
