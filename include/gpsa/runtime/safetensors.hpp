// SPDX-License-Identifier: MIT
// The safetensors reader (timm checkpoints): every tensor converted to float32, the header checked
// against the limits of gpsa/runtime/io.hpp. Part of gpsa::runtime (gpsa::io).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "gpsa/runtime/io.hpp"

namespace gpsa::io {

// A safetensors file, every tensor converted to float32 (F32, F16, BF16, F64 accepted).
struct safetensors_file {
  std::filesystem::path path;
  std::map<std::string, tensor> tensors;
  // Tensors of a valid dtype gpsa cannot convert (I64, U8, F8_E4M3, ...): key -> dtype name.
  // They do not make the whole file unreadable; at() on one of them throws naming the dtype.
  std::map<std::string, std::string> unsupported;
  // The header's __metadata__ strings (timm writes {"format": "pt"}; gpsa reads global_pool and
  // img_size, see gpsa::convit).
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& key) const { return tensors.count(key) != 0; }
  // Throws io_error "FILE: missing key 'K'" when absent, or "FILE: tensor 'K' has dtype I64,
  // which gpsa does not read ..." when it has an unsupported dtype.
  const tensor& at(const std::string& key) const;
};

// Reads and validates the whole file: header length (<= max_header_bytes and within the file),
// JSON parsed in one linear pass (no duplicate keys at any level, at most max_tensors tensors,
// ranks up to max_rank, __metadata__ a map of at most max_metadata_entries strings), each
// tensor's dtype, shape and data_offsets (inside the data section, matching shape x dtype size,
// no overlaps). Throws io_error "FILE: problem" otherwise. Memory beyond the file is a small
// multiple of the header size plus the float32 tensors. parse_safetensors does the same on bytes
// in memory; `name` stands for the file in messages.
safetensors_file read_safetensors(const std::filesystem::path& path,
                                  const read_limits& limits = {});
safetensors_file parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name,
                                   const read_limits& limits = {});

}  // namespace gpsa::io
