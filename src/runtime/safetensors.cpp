// SPDX-License-Identifier: MIT
// safetensors reader: bounds-checked header, F32/F16/BF16/F64 tensors converted to float32.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <unordered_set>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "io_detail.hpp"

namespace gpsa::io {
namespace {

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

struct entry {
  std::string key;
  const dtype_info* dtype = nullptr;
  std::vector<std::size_t> shape;
  std::uint64_t begin = 0, end = 0;
};

// The header, parsed in one pass by nlohmann's SAX interface straight into `entries` (no JSON
// tree: memory is the entries plus the lexer's current token). The schema is checked on the
// fly, so a hostile header stops at its first wrong event: a 65th dimension, a tensor over the
// limit, an object where a number belongs. Every handler returns false to stop on a problem,
// kept in `error`.
class header_reader {
 public:
  header_reader(const std::string& name, const read_limits& limits, std::uint64_t data_size)
      : name_(name), limits_(limits), data_size_(data_size) {}

  std::vector<entry> entries;
  std::map<std::string, std::string> metadata;
  std::string error;
  bool complete() const { return at_ == where::done; }

  // ---- nlohmann SAX interface ----
  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(std::int64_t) { return scalar("a negative number"); }
  bool number_float(double, const std::string&) { return scalar("a fractional number"); }
  bool binary(nlohmann::json::binary_t&) { return scalar("binary data"); }
  bool number_unsigned(std::uint64_t v) {
    if (at_ == where::shape) {
      if (cur_.shape.size() >= limits_.rank)
        return fail(tensor_name() + " has more than " + std::to_string(limits_.rank) +
                    " dimensions");
      cur_.shape.push_back(v);
      return true;
    }
    if (at_ == where::offsets) {
      if (offsets_seen_ >= 2) return fail(tensor_name() + k_offsets_shape);
      (offsets_seen_++ == 0 ? cur_.begin : cur_.end) = v;
      return true;
    }
    return scalar("a number");
  }
  bool string(std::string& v) {
    if (at_ == where::field && field_ == "dtype") {
      cur_.dtype = find_dtype(v);
      if (!cur_.dtype) return fail(tensor_name() + " has unknown dtype '" + detail::shown(v) + "'");
      have_dtype_ = true;
      at_ = where::tensor;
      return true;
    }
    if (at_ == where::meta_value) {
      metadata[keys_last_] = v;
      at_ = where::metadata;
      return true;
    }
    return scalar("a string");
  }
  bool start_object(std::size_t) {
    switch (at_) {
      case where::top:
        at_ = where::root;
        return true;
      case where::root_value:
        if (is_metadata_) {
          at_ = where::metadata;
          keys_.clear();
          return true;
        }
        cur_ = entry{};
        cur_.key = std::move(key_);
        have_dtype_ = have_shape_ = have_offsets_ = false;
        at_ = where::tensor;
        return true;
      default:
        return scalar("a JSON object");
    }
  }
  bool key(std::string& k) {
    switch (at_) {
      case where::root:
        return root_key(k);
      case where::tensor:
        return tensor_key(k);
      case where::metadata:
        if (keys_.size() >= limits_.metadata_entries)
          return fail("malformed header: __metadata__ has more than " +
                      std::to_string(limits_.metadata_entries) + " entries");
        if (!keys_.insert(k).second) return duplicate(k);
        keys_last_ = k;
        at_ = where::meta_value;
        return true;
      default:
        return fail("malformed header: unexpected key '" + detail::shown(k) + "'");
    }
  }
  bool end_object() {
    switch (at_) {
      case where::tensor:
        at_ = where::root;
        return finish_tensor();
      case where::metadata:
        at_ = where::root;
        keys_.clear();
        return true;
      default:  // where::root: the empty set of fields cannot end anywhere else
        at_ = where::done;
        return true;
    }
  }
  bool start_array(std::size_t) {
    if (at_ == where::field && field_ == "shape") {
      at_ = where::shape;
      return true;
    }
    if (at_ == where::field && field_ == "data_offsets") {
      at_ = where::offsets;
      offsets_seen_ = 0;
      return true;
    }
    return scalar("an array");
  }
  bool end_array() {
    if (at_ == where::offsets && offsets_seen_ != 2) return fail(tensor_name() + k_offsets_shape);
    at_ = where::tensor;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) {
    // parse_error, but also out_of_range for a number like 1e400 (found by fuzzing).
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos) msg.erase(0, p + 2);
    return fail("malformed JSON header: " + detail::shown(msg));
  }

 private:
  // Where the next event belongs.
  enum class where {
    top,         // before the root object
    root,        // in the root object, expecting a key
    root_value,  // after a root key
    tensor,      // in a tensor's object, expecting a key
    field,       // after "dtype" / "shape" / "data_offsets"
    shape,       // in the shape array
    offsets,     // in the data_offsets array
    metadata,    // in __metadata__, expecting a key
    meta_value,  // after a __metadata__ key
    done,
  };
  static constexpr const char* k_offsets_shape =
      ": \"data_offsets\" must be two non-negative integers [begin, end]";

  bool fail(std::string what) {
    if (error.empty()) error = name_ + ": " + std::move(what);
    return false;
  }
  bool duplicate(const std::string& k) {
    return fail("malformed header: key '" + (k.empty() ? std::string("\"\"") : detail::shown(k)) +
                "' appears twice");
  }
  std::string tensor_name() const { return "tensor '" + detail::shown(cur_.key) + "'"; }

  // A value that is not what the schema has at this place: say what was expected.
  bool scalar(const char* found) {
    switch (at_) {
      case where::top:
      case where::done:
        return fail("malformed header: expected a JSON object of tensors");
      case where::root_value:
        if (is_metadata_)
          return fail("malformed header: __metadata__ must be an object of strings, found " +
                      std::string(found));
        return fail("malformed header: tensor '" + detail::shown(key_) + "' is not a JSON object");
      case where::field:
        if (field_ == "dtype") return fail(tensor_name() + " has no \"dtype\" string");
        if (field_ == "shape") return fail(tensor_name() + " has no \"shape\" array");
        return fail(tensor_name() + " has no \"data_offsets\" array");
      case where::shape:
        return fail(tensor_name() + " has a shape entry that is not a non-negative integer");
      case where::offsets:
        return fail(tensor_name() + k_offsets_shape);
      case where::meta_value:
        return fail("malformed header: __metadata__ value of '" + detail::shown(keys_last_) +
                    "' is " + found + ", expected a string");
      default:
        return fail("malformed header: unexpected " + std::string(found));
    }
  }

  bool root_key(std::string& k) {
    if (!root_keys_.insert(k).second) return duplicate(k);
    is_metadata_ = k == "__metadata__";
    if (!is_metadata_ && entries.size() >= limits_.tensors)
      return fail("header has more than " + std::to_string(limits_.tensors) +
                  " tensors (the limit; corrupt or not a checkpoint)");
    key_ = k;
    at_ = where::root_value;
    return true;
  }

  bool tensor_key(const std::string& k) {
    bool* seen = k == "dtype"          ? &have_dtype_
                 : k == "shape"        ? &have_shape_
                 : k == "data_offsets" ? &have_offsets_
                                       : nullptr;
    if (!seen)
      return fail(tensor_name() + " has an unexpected field '" + detail::shown(k) +
                  "' (expected dtype, shape, data_offsets)");
    if (*seen) return duplicate(k);
    *seen = true;
    field_ = k;
    at_ = where::field;
    return true;
  }

  // Every field present, offsets inside the data section and matching shape x dtype size.
  bool finish_tensor() {
    const std::string k = tensor_name();
    if (!have_dtype_) return fail(k + " has no \"dtype\" string");
    if (!have_shape_) return fail(k + " has no \"shape\" array");
    if (!have_offsets_) return fail(k + " has no \"data_offsets\" array");
    const std::string range =
        "[" + std::to_string(cur_.begin) + ", " + std::to_string(cur_.end) + ")";
    if (cur_.begin > cur_.end)
      return fail(k + " has data_offsets " + range + " with begin after end");
    if (cur_.end > data_size_)
      return fail(k + " has data_offsets " + range + " beyond the data section (" +
                  std::to_string(data_size_) + " bytes): file truncated or corrupt");
    const std::size_t size = cur_.dtype->size;
    std::size_t numel = 0;
    if (!detail::checked_numel(cur_.shape, size, numel))
      return fail(k + " has shape " + detail::shape_text(cur_.shape) + ", too large");
    if (size && numel * size != cur_.end - cur_.begin)
      return fail(k + " has shape " + detail::shape_text(cur_.shape) + " of " +
                  std::string(cur_.dtype->name) + " = " + std::to_string(numel * size) +
                  " bytes, but data_offsets " + range + " span " +
                  std::to_string(cur_.end - cur_.begin));
    entries.push_back(std::move(cur_));
    return true;
  }

  const std::string& name_;
  const read_limits& limits_;
  std::uint64_t data_size_;
  where at_ = where::top;
  std::unordered_set<std::string> root_keys_;  // tensor names and __metadata__
  std::unordered_set<std::string> keys_;       // keys of __metadata__
  std::string keys_last_;
  std::string key_;    // the root key whose value comes next
  std::string field_;  // the tensor field whose value comes next
  bool is_metadata_ = false;
  entry cur_;
  bool have_dtype_ = false, have_shape_ = false, have_offsets_ = false;
  std::size_t offsets_seen_ = 0;
};

// The 8-byte header length, checked against the limit and the file. `prefix` holds the file's
// first min(8, size) bytes.
std::uint64_t header_length(std::span<const std::uint8_t> prefix, std::uint64_t size,
                            const std::string& name, const read_limits& limits) {
  if (size < 8 || prefix.size() < 8)
    throw io_error(name + ": truncated safetensors file: " + std::to_string(size) +
                   " bytes, the header length alone needs 8");
  const std::uint64_t header_len = load_le<std::uint64_t>(prefix.data());
  if (header_len > limits.header_bytes || header_len > size - 8) {
    // What people have instead: PyTorch's torch.save files (a zip archive, or a pickle before
    // PyTorch 1.6), whose first bytes make no plausible header length.
    const bool zip = prefix[0] == 'P' && prefix[1] == 'K' && prefix[2] == 3 && prefix[3] == 4;
    const bool pickle = prefix[0] == 0x80 && prefix[1] >= 2 && prefix[1] <= 5;
    if (zip || pickle)
      throw io_error(name + ": a PyTorch checkpoint (torch.save " +
                     (zip ? std::string("zip archive") : std::string("pickle")) +
                     ", .pth/.pt), not safetensors: convert it with tools/pth_to_safetensors.py " +
                     name + " OUT.safetensors");
  }
  if (header_len > limits.header_bytes)
    throw io_error(name + ": header length " + std::to_string(header_len) + " bytes is over the " +
                   (limits.header_bytes == max_header_bytes ? std::string("100 MB")
                                                            : bytes_text(limits.header_bytes)) +
                   " limit (corrupt, or not a safetensors file)");
  if (header_len > size - 8)
    throw io_error(name + ": truncated safetensors file: header length is " +
                   std::to_string(header_len) + " bytes but only " + std::to_string(size - 8) +
                   " follow");
  if (header_len == 0) throw io_error(name + ": malformed header: empty (expected a JSON object)");
  return header_len;
}

// The JSON header parsed and checked against a data section of `data_size` bytes: the tensors'
// entries, overlaps refused; the __metadata__ strings into `metadata`.
std::vector<entry> parse_header(std::span<const std::uint8_t> json, std::uint64_t data_size,
                                const std::string& name, const read_limits& limits,
                                std::map<std::string, std::string>& metadata) {
  const char* hb = reinterpret_cast<const char*>(json.data());
  header_reader reader(name, limits, data_size);
  const bool ok = nlohmann::json::sax_parse(hb, hb + json.size(), &reader);
  if (!reader.error.empty()) throw io_error(reader.error);
  if (!ok || !reader.complete())
    throw io_error(name + ": malformed header: expected a JSON object of tensors");
  metadata = std::move(reader.metadata);
  return std::move(reader.entries);
}

// No two tensors may share bytes (empty tensors occupy none).
void check_overlaps(const std::vector<entry>& entries, const std::string& name) {
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
      throw io_error(name + ": tensors '" + detail::shown(a.key) + "' [" + std::to_string(a.begin) +
                     ", " + std::to_string(a.end) + ") and '" + detail::shown(b.key) + "' [" +
                     std::to_string(b.begin) + ", " + std::to_string(b.end) + ") overlap");
  }
}

// n elements of kind k (little-endian bytes at p) converted to float32 at out.
void decode(kind k, const std::uint8_t* p, std::size_t n, float* out) {
  switch (k) {
    case kind::f32:
      if constexpr (std::endian::native == std::endian::little) {
        if (n) std::memcpy(out, p, n * 4);
      } else {
        for (std::size_t i = 0; i < n; ++i)
          out[i] = std::bit_cast<float>(load_le<std::uint32_t>(p + 4 * i));
      }
      break;
    case kind::f16:
      for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(load_le<std::uint16_t>(p + 2 * i));
      break;
    case kind::bf16:
      for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load_le<std::uint16_t>(p + 2 * i));
      break;
    case kind::f64:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = detail::narrow(std::bit_cast<double>(load_le<std::uint64_t>(p + 8 * i)));
      break;
    case kind::unsupported:
      break;
  }
}

// An empty float32 tensor of e's shape and element count (io_error instead of bad_alloc).
tensor allocate(entry& e, const std::string& name) {
  tensor t;
  t.shape = std::move(e.shape);
  detail::resize_or_throw(t.data, (e.end - e.begin) / e.dtype->size, name,
                          "tensor '" + detail::shown(e.key) + "'");
  return t;
}

// Bytes read from the file per step when a tensor needs converting (F16, BF16, F64): the
// reader's memory beyond the tensors themselves stays this small.
constexpr std::size_t k_chunk_bytes = std::size_t{1} << 20;

// The tensor of `e` read from the file at `data_begin + e.begin`: float32 (on a little-endian
// machine) straight into the tensor, other dtypes through one bounded chunk.
tensor read_tensor(const detail::input_file& in, std::uint64_t data_begin, entry& e,
                   std::vector<std::uint8_t>& chunk, const std::string& name) {
  tensor t = allocate(e, name);
  const std::size_t esize = e.dtype->size, n = t.data.size();
  const auto fail_short = [&](std::uint64_t at) {
    throw io_error(name + ": truncated safetensors file: tensor '" + detail::shown(e.key) +
                   "' ends at byte " + std::to_string(data_begin + e.end) +
                   " but the file ends at byte " + std::to_string(at) +
                   " (it shrank while being read)");
  };
  const std::uint64_t begin = data_begin + e.begin;
  if (e.dtype->k == kind::f32 && std::endian::native == std::endian::little) {
    const std::size_t bytes = n * 4;
    if (const std::size_t got = in.read_at(begin, t.data.data(), bytes); got != bytes)
      fail_short(begin + got);
    return t;
  }
  const std::size_t per_chunk = k_chunk_bytes / esize;
  if (chunk.size() < std::min(n, per_chunk) * esize) chunk.resize(std::min(n, per_chunk) * esize);
  for (std::size_t i = 0; i < n; i += per_chunk) {
    const std::size_t m = std::min(per_chunk, n - i), bytes = m * esize;
    const std::uint64_t at = begin + std::uint64_t{i} * esize;
    if (const std::size_t got = in.read_at(at, chunk.data(), bytes); got != bytes)
      fail_short(at + got);
    decode(e.dtype->k, chunk.data(), m, t.data.data() + i);
  }
  return t;
}

}  // namespace

const tensor& safetensors_file::at(const std::string& key) const {
  if (auto it = tensors.find(key); it != tensors.end()) return it->second;
  const std::string shown = display_path(path);
  if (auto it = unsupported.find(key); it != unsupported.end())
    throw io_error(shown + ": tensor '" + detail::shown(key) + "' has dtype " + it->second +
                   ", which gpsa does not read (supported: F32, F16, BF16, F64); convert it, "
                   "e.g. t.float() before saving");
  throw io_error(shown + ": missing key '" + detail::shown(key) + "'");
}

safetensors_file parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& file,
                                   const read_limits& limits) {
  const std::string name = display_path(file);
  const std::uint64_t header_len = header_length(
      bytes.first(std::min<std::size_t>(8, bytes.size())), bytes.size(), name, limits);
  safetensors_file f;
  std::vector<entry> entries = parse_header(
      bytes.subspan(8, header_len), bytes.size() - 8 - header_len, name, limits, f.metadata);
  check_overlaps(entries, name);

  f.path = file;
  const std::uint8_t* data = bytes.data() + 8 + header_len;
  for (auto& e : entries) {
    if (e.dtype->k == kind::unsupported) {
      f.unsupported.emplace(std::move(e.key), std::string(e.dtype->name));
      continue;
    }
    const std::uint8_t* p = data + e.begin;
    tensor t = allocate(e, name);
    decode(e.dtype->k, p, t.data.size(), t.data.data());
    f.tensors.emplace(std::move(e.key), std::move(t));
  }
  return f;
}

// Reads the file piece by piece (header, then each tensor straight into its float32 storage)
// instead of whole: peak memory is the tensors plus the header, not the file plus its copy.
safetensors_file read_safetensors(const std::filesystem::path& path, const read_limits& limits) {
  const detail::input_file in = detail::open_input(path, limits.file_bytes);
  const std::string& name = in.shown();
  std::uint64_t size = in.size();
  std::uint8_t prefix[8] = {};
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(8, size));
  if (const std::size_t got = in.read_at(0, prefix, want); got < want) size = got;  // shrank
  const std::uint64_t header_len = header_length({prefix, want}, size, name, limits);
  std::vector<entry> entries;
  safetensors_file f;
  {
    std::vector<std::uint8_t> json;
    detail::resize_or_throw(json, static_cast<std::size_t>(header_len), name, "the header");
    if (const std::size_t got = in.read_at(8, json.data(), json.size()); got != json.size())
      throw io_error(name + ": truncated safetensors file: header length is " +
                     std::to_string(header_len) + " bytes but only " + std::to_string(got) +
                     " follow");
    entries = parse_header(json, size - 8 - header_len, name, limits, f.metadata);
  }
  check_overlaps(entries, name);

  f.path = path;
  // In file order, so the reads are sequential.
  std::vector<entry*> order;
  order.reserve(entries.size());
  for (auto& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const entry* a, const entry* b) { return a->begin < b->begin; });
  std::vector<std::uint8_t> chunk;
  for (entry* e : order) {
    if (e->dtype->k == kind::unsupported) {
      f.unsupported.emplace(std::move(e->key), std::string(e->dtype->name));
      continue;
    }
    tensor t = read_tensor(in, 8 + header_len, *e, chunk, name);
    f.tensors.emplace(std::move(e->key), std::move(t));
  }
  return f;
}

}  // namespace gpsa::io
