// SPDX-License-Identifier: MIT
// gpsa::codegen::convit_header: a whole ConViT as one C99 header for firmware -- its
// configuration, every parameter and the folded positional state as const data, and the
// gpsa_convit_weights descriptor of gpsa.h pointing at them (nothing runs at start-up).
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen_detail.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/version.hpp"

namespace gpsa::codegen {
namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

// One parameter array: its C name suffix, where the view points and how many floats it holds.
struct param {
  std::string name;
  const float* data;
  std::size_t count;
};

// The parameters of block i that the block's kind uses, in gpsa_convit_block_weights' order
// (the checkpoint schema's).
std::vector<param> block_params(const convit_config& c, const convit_block_weights& b,
                                std::size_t i) {
  const shape_symbols s = convit_shape_symbols(c);
  const block_kind other = c.is_gpsa_block(i) ? block_kind::mhsa : block_kind::gpsa;
  std::vector<param> p;
  for (const tensor_spec& t : convit_block_tensors())
    if (t.kind != other)
      p.push_back({std::string(t.member), b.*t.block_field, tensor_floats(t, s)});
  return p;
}

// The model's own parameters (the class token only when the model has one).
std::vector<param> model_params(const convit_weights& w) {
  const shape_symbols s = convit_shape_symbols(w.config);
  std::vector<param> p;
  for (const tensor_spec& t : convit_model_tensors())
    if (t.model_field != &convit_weights::cls_token || w.config.has_class_token())
      p.push_back({std::string(t.member), w.*t.model_field, tensor_floats(t, s)});
  return p;
}

std::string pointer_or_null(const std::string& sym, const param& p) {
  return p.data != nullptr ? sym + "_" + p.name : std::string("NULL");
}

}  // namespace

void emit_config_macros(std::string& o, const std::string& mac, const convit_config& c) {
  const std::pair<const char*, std::size_t> macros[] = {
      {"IMAGE_SIZE", c.image_size},
      {"PATCH_SIZE", c.patch_size},
      {"CHANNELS", c.channels},
      {"DIM", c.dim},
      {"HEADS", c.heads},
      {"DEPTH", c.depth},
      {"LOCAL_UP_TO_LAYER", c.local_up_to_layer},
      {"MLP_HIDDEN", c.mlp_hidden},
      {"CLASSES", c.classes},
      {"PATCHES", c.patches()},
      {"TOKENS", c.tokens()},
  };
  for (const auto& [name, v] : macros)
    o += "#define " + mac + "_" + name + " " + std::to_string(v) + "\n";
}

void emit_float_array(std::string& o, const std::string& name, const std::string& unused,
                      const float* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      bad(name + "[" + std::to_string(i) + "] is NaN or Inf, which C99 cannot spell as a literal");
  o += "static const float " + name + "[" + std::to_string(n) + "] " + unused + " = {";
  for (std::size_t i = 0; i < n; ++i) {
    o += i % 8 == 0 ? "\n  " : " ";
    o += c_float_literal(v[i]);
    if (i + 1 < n) o += ',';
  }
  o += "\n};\n";
}

convit_header_sizes convit_header_size(const convit_weights& w) {
  const convit_config& c = w.config;
  if (validate(w) != status::ok) bad("convit_header: incomplete or invalid model");
  std::size_t floats = 0;
  for (const param& p : model_params(w))
    if (p.data != nullptr) floats += p.count;
  for (std::size_t i = 0; i < c.depth; ++i)
    for (const param& p : block_params(c, w.blocks[i], i))
      if (p.data != nullptr) floats += p.count;
  convit_header_sizes s;
  s.weight_bytes = floats * sizeof(float);
  std::size_t folded = 0;
  if (convit_folded_size(c, folded) != status::ok) bad("convit_header: size overflow");
  s.folded_bytes = folded * sizeof(float);
  // the block views (19 pointers each) and the descriptor (10 words of config, 11 words), on a
  // 32-bit target
  s.view_bytes = (c.depth * 19 + 21) * 4;
  std::size_t scratch = 0;
  if (convit_scratch_size(c, convit_plan::low_memory, 1, 1, scratch) != status::ok)
    bad("convit_header: size overflow");
  s.scratch_bytes = scratch * sizeof(float);
  return s;
}

std::string convit_header(const convit_weights& w, std::span<const float> folded,
                          const header_options& opt) {
  const convit_config& c = w.config;
  const std::string& sym = opt.symbol;
  if (!is_c_identifier(sym)) bad("'" + sym + "' is not a C identifier");
  if (sym.rfind("gpsa_", 0) == 0 || sym.rfind("GPSA_", 0) == 0 || sym == "gpsa")
    bad("'" + sym + "' clashes with gpsa.h, whose names start with gpsa_ / GPSA_");
  if (validate(w) != status::ok) bad("convit_header: incomplete or invalid model");
  std::size_t folded_len = 0;
  if (convit_folded_size(c, folded_len) != status::ok || folded.size() != folded_len)
    bad("convit_header: the folded state has " + std::to_string(folded.size()) +
        " floats, the configuration needs " + std::to_string(folded_len));
  const bool qkv_bias =
      c.local_up_to_layer > 0 ? w.blocks[0].qk_bias != nullptr : w.blocks[0].qkv_bias != nullptr;
  const convit_header_sizes sizes = convit_header_size(w);
  const std::string mac = c_macro_name(sym);
  const std::string unused = mac + "_UNUSED";
  const auto num = [](std::size_t v) { return std::to_string(v); };

  std::string o;
  o += "/* " + sym + ".h: a whole ConViT for firmware: configuration, every parameter and the\n";
  o += " * folded positional state as const data (flash), and the gpsa_convit_weights descriptor\n";
  o += " * of gpsa.h pointing at them: nothing to run at start-up, no heap, no file system.\n";
  emit_provenance(o, opt.from);
  o += " * Model:      images " + num(c.channels) + " x " + num(c.image_size) + " x " +
       num(c.image_size) + ", patches " + num(c.patch_size) + " x " + num(c.patch_size) +
       " (grid " + num(c.grid_side()) + " x " + num(c.grid_side()) + "), D = " + num(c.dim) +
       ", H = " + num(c.heads) + ", depth " + num(c.depth) + " (" + num(c.local_up_to_layer) +
       " GPSA + " + num(c.depth - c.local_up_to_layer) + " MHSA), MLP " + num(c.mlp_hidden) + ", " +
       num(c.classes) + " classes" + (qkv_bias ? ", qkv bias" : "") + "\n";
  o += " * Flash:      parameters " + num(sizes.weight_bytes) + " B, folded positional state " +
       num(sizes.folded_bytes) + " B, views " + num(sizes.view_bytes) + " B (32-bit)\n";
  o += " * RAM:        the forward's scratch with GPSA_CONVIT_LOW_MEMORY, " + mac +
       "_SCRATCH_LEN floats = " + num(sizes.scratch_bytes) + " B\n";
  o += " *\n * Use (gpsa.h is included here; include this header in one translation unit):\n";
  o += " *   static float scratch[" + mac + "_SCRATCH_LEN];\n";
  o += " *   gpsa_convit_forward(&" + sym + "_weights, " + sym + "_folded, " + mac +
       "_FOLDED_LEN, GPSA_CONVIT_LOW_MEMORY,\n";
  o += " *                       1, image, " + mac + "_IMAGE_LEN, logits, " + mac +
       "_CLASSES, NULL, 0, scratch, " + mac + "_SCRATCH_LEN);\n */\n";
  o += "#ifndef " + mac + "_H_INCLUDED\n#define " + mac + "_H_INCLUDED\n\n";
  o += "#include <stddef.h>\n\n#include \"gpsa/gpsa.h\"\n\n";
  emit_config_macros(o, mac, c);
  const std::pair<const char*, std::size_t> macros[] = {
      {"QKV_BIAS", qkv_bias ? 1u : 0u},
      {"IMAGE_LEN", c.channels * c.image_size * c.image_size},
      {"FOLDED_LEN", folded_len},
      {"WEIGHT_BYTES", sizes.weight_bytes}};
  for (const auto& [name, v] : macros) o += "#define " + mac + "_" + name + " " + num(v) + "\n";
  o += "#define " + mac + "_EPS " + c_float_literal(c.eps) + "\n";
  o += "/* the forward's scratch (GPSA_CONVIT_LOW_MEMORY), in floats */\n";
  o += "#define " + mac + "_SCRATCH_LEN GPSA_CONVIT_SCRATCH_LEN(" + mac + "_IMAGE_SIZE, " + mac +
       "_PATCH_SIZE, " + mac + "_CHANNELS, " + mac + "_DIM, " + mac + "_HEADS, " + mac +
       "_DEPTH, " + mac + "_LOCAL_UP_TO_LAYER, " + mac + "_MLP_HIDDEN)\n";
  o += "\n#if defined(__GNUC__)\n#define " + unused + " __attribute__((unused))\n#else\n#define " +
       unused + "\n#endif\n\n";

  o += "/* parameters, timm's names and layouts: nn.Linear (out, in), conv (D, C, p, p) */\n";
  const std::vector<param> top = model_params(w);
  for (const param& p : top)
    if (p.data != nullptr) emit_float_array(o, sym + "_" + p.name, unused, p.data, p.count);
  std::vector<std::vector<param>> blocks;
  for (std::size_t i = 0; i < c.depth; ++i) {
    const std::string prefix = std::string("b").append(num(i)).append("_");
    blocks.push_back(block_params(c, w.blocks[i], i));
    o += "/* blocks." + num(i) + (c.is_gpsa_block(i) ? " (GPSA) */\n" : " (MHSA) */\n");
    for (param& p : blocks.back()) {
      p.name = prefix + p.name;
      if (p.data != nullptr) emit_float_array(o, sym + "_" + p.name, unused, p.data, p.count);
    }
  }
  o += "/* the folded positional state (gpsa_convit_fold): per GPSA block fx (H, C, C), gy (H, R, "
       "R), lambda (H) */\n";
  emit_float_array(o, sym + "_folded", unused, folded.data(), folded.size());

  // The views: gpsa_convit_block_weights in its member order, NULL for what a block lacks.
  const std::span<const tensor_spec> members = convit_block_tensors();
  o += "\nstatic const gpsa_convit_block_weights " + sym + "_blocks[" + mac + "_DEPTH] " + unused +
       " = {\n";
  for (std::size_t i = 0; i < c.depth; ++i) {
    o += "  {";
    const std::string prefix = std::string("b").append(num(i)).append("_");
    for (std::size_t m = 0; m < members.size(); ++m) {
      std::string v = "NULL";
      for (const param& p : blocks[i])
        if (p.name == prefix + std::string(members[m].member)) v = pointer_or_null(sym, p);
      o += (m == 0 ? "" : ", ") + v;
    }
    o += i + 1 < c.depth ? "},\n" : "}\n";
  }
  o += "};\n";
  const auto top_ptr = [&](const char* name) {
    for (const param& p : top)
      if (p.name == name) return pointer_or_null(sym, p);
    return std::string("NULL");
  };
  o += "static const gpsa_convit_weights " + sym + "_weights " + unused + " = {\n";
  o += "  {" + mac + "_IMAGE_SIZE, " + mac + "_PATCH_SIZE, " + mac + "_CHANNELS, " + mac +
       "_DIM, " + mac + "_HEADS, " + mac + "_DEPTH, " + mac + "_LOCAL_UP_TO_LAYER, " + mac +
       "_MLP_HIDDEN, " + mac + "_CLASSES, " + mac + "_EPS},\n";
  o += "  " + top_ptr("patch_weight") + ", " + top_ptr("patch_bias") + ", " + top_ptr("pos_embed") +
       ", " + top_ptr("cls_token") + ",\n";
  o += "  " + sym + "_blocks, " + mac + "_DEPTH,\n";
  o += "  " + top_ptr("norm_weight") + ", " + top_ptr("norm_bias") + ", " + top_ptr("head_weight") +
       ", " + top_ptr("head_bias") + ",\n  NULL};\n";
  o += "\n#endif /* " + mac + "_H_INCLUDED */\n";
  return o;
}

}  // namespace gpsa::codegen
