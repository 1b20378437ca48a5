// SPDX-License-Identifier: MIT
// gpsa::codegen::convit_int8_header: a quantised ConViT as one C99 header for firmware -- its
// configuration, int8 weight codes, scales, float parameters, calibrated activation amax and
// folded positional state as const data, and the gpsa_convit_int8_weights descriptor of gpsa.h
// pointing at them (nothing runs at start-up).
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen_detail.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/version.hpp"

namespace gpsa::codegen {
namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

// One quantised linear layer of the header: its name and shape.
struct linear_item {
  std::string name;
  const convit_int8_linear* l;
  std::size_t out, in;
};

// The float arrays beside the linear layers: name, data, count.
struct float_item {
  std::string name;
  const float* data;
  std::size_t count;
};

std::vector<linear_item> linears(const convit_int8_weights& w) {
  const convit_config& c = w.config;
  const std::size_t D = c.dim, M = c.mlp_hidden;
  std::vector<linear_item> v = {{"patch", &w.patch, D, c.channels * c.patch_size * c.patch_size}};
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_int8_block& b = w.blocks[i];
    const std::string p = std::string("b").append(std::to_string(i)).append("_");
    if (c.is_gpsa_block(i)) {
      v.push_back({p + "qk", &b.qk, 2 * D, D});
      v.push_back({p + "v", &b.v, D, D});
    } else {
      v.push_back({p + "qkv", &b.qkv, 3 * D, D});
    }
    v.push_back({p + "proj", &b.proj, D, D});
    v.push_back({p + "fc1", &b.fc1, M, D});
    v.push_back({p + "fc2", &b.fc2, D, M});
  }
  v.push_back({"head", &w.head, c.classes, D});
  return v;
}

std::vector<float_item> floats(const convit_int8_weights& w) {
  const convit_config& c = w.config;
  const std::size_t D = c.dim;
  std::vector<float_item> v = {{"pos_embed", w.pos_embed, c.patches() * D}};
  if (c.has_class_token()) v.push_back({"cls_token", w.cls_token, D});
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_int8_block& b = w.blocks[i];
    const std::string p = std::string("b").append(std::to_string(i)).append("_");
    v.push_back({p + "norm1_weight", b.norm1_weight, D});
    v.push_back({p + "norm1_bias", b.norm1_bias, D});
    v.push_back({p + "norm2_weight", b.norm2_weight, D});
    v.push_back({p + "norm2_bias", b.norm2_bias, D});
  }
  v.push_back({"norm_weight", w.norm_weight, D});
  v.push_back({"norm_bias", w.norm_bias, D});
  return v;
}

void emit_codes(std::string& o, const std::string& name, const std::string& unused,
                const std::int8_t* v, std::size_t n) {
  o += "static const int8_t " + name + "[" + std::to_string(n) + "] " + unused + " = {";
  for (std::size_t i = 0; i < n; ++i) {
    if (v[i] < -127) bad(name + "[" + std::to_string(i) + "] is -128, not an int8 code");
    o += i % 16 == 0 ? "\n  " : " ";
    o += std::to_string(static_cast<int>(v[i]));
    if (i + 1 < n) o += ',';
  }
  o += "\n};\n";
}

}  // namespace

convit_int8_header_sizes convit_int8_header_size(const convit_int8_weights& w) {
  if (validate(w) != status::ok) bad("convit_int8_header: incomplete or invalid model");
  convit_int8_header_sizes s;
  std::size_t nf = 0;
  for (const linear_item& l : linears(w)) {
    s.code_bytes += l.out * l.in;
    nf += l.out + (l.l->bias != nullptr ? l.out : 0);
  }
  for (const float_item& f : floats(w)) nf += f.count;
  nf += w.activation_amax.size();
  s.float_bytes = nf * sizeof(float);
  s.folded_bytes = w.folded.size() * sizeof(float);
  // the block views (4 pointers + 6 linear layers of 3 pointers each) and the descriptor (10
  // words of config, 3 + 2 + 2 + 2 + 3 + 4 words), on a 32-bit target
  s.view_bytes = (w.config.depth * 22 + 26) * 4;
  std::size_t scratch = 0;
  if (convit_int8_scratch_size(w.config, scratch) != status::ok)
    bad("convit_int8_header: size overflow");
  s.scratch_bytes = scratch * sizeof(float);
  return s;
}

std::string convit_int8_header(const convit_int8_weights& w, const header_options& opt) {
  const convit_config& c = w.config;
  const std::string& sym = opt.symbol;
  if (!is_c_identifier(sym)) bad("'" + sym + "' is not a C identifier");
  if (sym.rfind("gpsa_", 0) == 0 || sym.rfind("GPSA_", 0) == 0 || sym == "gpsa")
    bad("'" + sym + "' clashes with gpsa.h, whose names start with gpsa_ / GPSA_");
  const convit_int8_header_sizes sizes = convit_int8_header_size(w);  // validates
  const std::string mac = c_macro_name(sym);
  const std::string unused = mac + "_UNUSED";
  const auto num = [](std::size_t v) { return std::to_string(v); };
  const std::vector<linear_item> lins = linears(w);
  const std::vector<float_item> flts = floats(w);

  std::string o;
  o += "/* " + sym + ".h: a ConViT quantised to int8 for firmware (docs/int8.md): configuration,\n";
  o +=
      " * int8 weight codes with per-channel scales, float parameters, the calibrated activation\n";
  o += " * amax and the folded positional state as const data (flash), and the\n";
  o += " * gpsa_convit_int8_weights descriptor of gpsa.h pointing at them: nothing to run at\n";
  o += " * start-up, no heap, no file system.\n";
  emit_provenance(o, opt.from);
  o += " * Model:      images " + num(c.channels) + " x " + num(c.image_size) + " x " +
       num(c.image_size) + ", patches " + num(c.patch_size) + " x " + num(c.patch_size) +
       ", D = " + num(c.dim) + ", H = " + num(c.heads) + ", depth " + num(c.depth) + " (" +
       num(c.local_up_to_layer) + " GPSA + " + num(c.depth - c.local_up_to_layer) + " MHSA), MLP " +
       num(c.mlp_hidden) + ", " + num(c.classes) + " classes\n";
  o += " * Flash:      int8 codes " + num(sizes.code_bytes) + " B, floats " +
       num(sizes.float_bytes) + " B, folded positional state " + num(sizes.folded_bytes) +
       " B, views " + num(sizes.view_bytes) + " B (32-bit)\n";
  o += " * RAM:        the forward's scratch, " + mac +
       "_SCRATCH_LEN floats = " + num(sizes.scratch_bytes) + " B (any batch)\n";
  o += " *\n * Use (gpsa.h is included here; include this header in one translation unit):\n";
  o += " *   static float scratch[" + mac + "_SCRATCH_LEN];\n";
  o += " *   gpsa_convit_int8_forward(&" + sym + "_weights, 1, image, " + mac +
       "_IMAGE_LEN, logits, " + mac + "_CLASSES,\n";
  o += " *                            scratch, " + mac + "_SCRATCH_LEN);\n */\n";
  o += "#ifndef " + mac + "_H_INCLUDED\n#define " + mac + "_H_INCLUDED\n\n";
  o += "#include <stddef.h>\n#include <stdint.h>\n\n#include \"gpsa/gpsa.h\"\n\n";
  emit_config_macros(o, mac, c);
  const std::pair<const char*, std::size_t> macros[] = {
      {"IMAGE_LEN", c.channels * c.image_size * c.image_size},
      {"POINTS", w.activation_amax.size()},
      {"FOLDED_LEN", w.folded.size()},
      {"CODE_BYTES", sizes.code_bytes},
      {"FLOAT_BYTES", sizes.float_bytes}};
  for (const auto& [name, v] : macros) o += "#define " + mac + "_" + name + " " + num(v) + "\n";
  o += "#define " + mac + "_EPS " + c_float_literal(c.eps) + "\n";
  o += "/* the forward's scratch, in floats */\n";
  o += "#define " + mac + "_SCRATCH_LEN GPSA_CONVIT_INT8_SCRATCH_LEN(" + mac + "_IMAGE_SIZE, " +
       mac + "_PATCH_SIZE, " + mac + "_CHANNELS, " + mac + "_DIM, " + mac + "_HEADS, " + mac +
       "_DEPTH, " + mac + "_LOCAL_UP_TO_LAYER, " + mac + "_MLP_HIDDEN, " + mac + "_CLASSES)\n";
  o += "\n#if defined(__GNUC__)\n#define " + unused + " __attribute__((unused))\n#else\n#define " +
       unused + "\n#endif\n\n";

  o += "/* linear layers: int8 codes (out, in) (the patch embedding's rows are its (C, p, p)\n"
       " * kernels), one scale per output row, the float bias */\n";
  for (const linear_item& l : lins) {
    emit_codes(o, sym + "_" + l.name + "_weight", unused, l.l->weight, l.out * l.in);
    emit_float_array(o, sym + "_" + l.name + "_scale", unused, l.l->scale, l.out);
    if (l.l->bias != nullptr)
      emit_float_array(o, sym + "_" + l.name + "_bias", unused, l.l->bias, l.out);
  }
  o += "/* float parameters, timm's names */\n";
  for (const float_item& f : flts) emit_float_array(o, sym + "_" + f.name, unused, f.data, f.count);
  o += "/* the calibrated largest magnitude of each quantisation point, in forward order: the\n"
       " * image patches; per block the norm1, attention, norm2 and GELU outputs; the final norm "
       "*/\n";
  emit_float_array(o, sym + "_amax", unused, w.activation_amax.data(), w.activation_amax.size());
  o += "/* the folded positional state (gpsa_convit_fold): per GPSA block fx (H, C, C), gy (H, R, "
       "R), lambda (H) */\n";
  if (!w.folded.empty())
    emit_float_array(o, sym + "_folded", unused, w.folded.data(), w.folded.size());

  const auto lin = [&](const std::string& name) {
    for (const linear_item& l : lins)
      if (l.name == name)
        return "{" + sym + "_" + name + "_weight, " + sym + "_" + name + "_scale, " +
               (l.l->bias != nullptr ? sym + "_" + name + "_bias" : std::string("NULL")) + "}";
    return std::string("{NULL, NULL, NULL}");
  };
  o += "\nstatic const gpsa_convit_int8_block " + sym + "_blocks[" + mac + "_DEPTH] " + unused +
       " = {\n";
  for (std::size_t i = 0; i < c.depth; ++i) {
    const std::string p = std::string("b").append(num(i)).append("_");
    o += "  {" + sym + "_" + p + "norm1_weight, " + sym + "_" + p + "norm1_bias,\n   " +
         lin(p + "qk") + ", " + lin(p + "v") + ",\n   " + lin(p + "qkv") + ",\n   " +
         lin(p + "proj") + ",\n   " + sym + "_" + p + "norm2_weight, " + sym + "_" + p +
         "norm2_bias,\n   " + lin(p + "fc1") + ",\n   " + lin(p + "fc2") + "}";
    o += i + 1 < c.depth ? ",\n" : "\n";
  }
  o += "};\n";
  o += "static const gpsa_convit_int8_weights " + sym + "_weights " + unused + " = {\n";
  o += "  {" + mac + "_IMAGE_SIZE, " + mac + "_PATCH_SIZE, " + mac + "_CHANNELS, " + mac +
       "_DIM, " + mac + "_HEADS, " + mac + "_DEPTH, " + mac + "_LOCAL_UP_TO_LAYER, " + mac +
       "_MLP_HIDDEN, " + mac + "_CLASSES, " + mac + "_EPS},\n";
  o += "  " + lin("patch") + ",\n";
  o += "  " + sym + "_pos_embed, " + (c.has_class_token() ? sym + "_cls_token" : "NULL") + ",\n";
  o += "  " + sym + "_blocks, " + mac + "_DEPTH,\n";
  o += "  " + sym + "_norm_weight, " + sym + "_norm_bias,\n";
  o += "  " + lin("head") + ",\n";
  o += "  " + sym + "_amax, " + mac + "_POINTS,\n";
  o += "  " + (w.folded.empty() ? std::string("NULL") : sym + "_folded") + ", " + mac +
       "_FOLDED_LEN};\n";
  o += "\n#endif /* " + mac + "_H_INCLUDED */\n";
  return o;
}

}  // namespace gpsa::codegen
