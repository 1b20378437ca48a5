// SPDX-License-Identifier: MIT
// Private to gpsa::codegen: what the whole-model headers (model_header.cpp, the float model;
// model_int8_header.cpp, the int8 one) write alike.
#pragma once

#include <cstddef>
#include <string>

namespace gpsa::codegen {

// Appends `static const float name[n] unused = {...};`, eight values a line, each literal
// reading back to the same float. std::invalid_argument for a NaN or Inf value (naming it).
void emit_float_array(std::string& o, const std::string& name, const std::string& unused,
                      const float* v, std::size_t n);

}  // namespace gpsa::codegen
