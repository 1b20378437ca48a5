// SPDX-License-Identifier: MIT
// gpsa::codegen::folded_header and folded_dense_npy: folded layers (and their weights) for
// firmware as a C99 header, and the dense positional attention they stand for as a .npy.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen_detail.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/version.hpp"

namespace gpsa::codegen {
namespace {

// What every layer of one header shares.
struct header_shape {
  std::size_t layers = 0, heads = 0, rows = 0, cols = 0, dim = 0;
  bool qkv_bias = false;
};

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

void require_finite(std::span<const float> v, const std::string& what) {
  for (const float x : v)
    if (!std::isfinite(x)) bad(what + " holds NaN or Inf, which C99 cannot spell as a literal");
}

header_shape check_layers(std::span<const checkpoint_fold> layers, const header_options& o,
                          std::span<const layer_params> weights) {
  if (layers.empty()) bad("folded_header: no layers to write");
  if (!is_c_identifier(o.symbol)) bad("'" + o.symbol + "' is not a C identifier");
  if (!weights.empty() && weights.size() != layers.size())
    bad("folded_header: " + std::to_string(weights.size()) + " weight sets for " +
        std::to_string(layers.size()) + " layers");
  const folded_state& first = layers.front().state;
  header_shape s{layers.size(), first.heads(), first.shape().rows, first.shape().cols, 0, false};
  for (const checkpoint_fold& l : layers) {
    if (l.state.empty() || l.state.heads() != s.heads || !(l.state.shape() == first.shape()))
      bad("folded_header: layer '" + l.prefix + "' has another grid or head count than '" +
          layers.front().prefix + "'");
    require_finite(l.state.fx(), l.prefix + " fx");
    require_finite(l.state.gy(), l.prefix + " gy");
    require_finite(l.state.lambda(), l.prefix + " lambda");
  }
  if (!weights.empty()) {
    s.dim = weights.front().dim;
    s.qkv_bias = !weights.front().qk_bias.empty();
    for (const layer_params& p : weights)
      if (p.dim != s.dim || p.heads != s.heads || p.qk_bias.empty() == s.qkv_bias ||
          p.v_bias.empty() == s.qkv_bias)
        bad("folded_header: every layer's weights need the same D, H and qkv bias");
  }
  return s;
}

// Appends `values` as `rows` nested C initialiser rows of n values.
void emit_rows(std::string& out, const float* values, std::size_t rows, std::size_t n,
               const char* indent) {
  for (std::size_t r = 0; r < rows; ++r) {
    out += indent;
    out += '{';
    for (std::size_t j = 0; j < n; ++j) {
      if (j != 0) out += ", ";
      out += c_float_literal(values[r * n + j]);
    }
    out += r + 1 < rows ? "},\n" : "}\n";
  }
}

// `static const float name[dims...] = {...};` for a 1-, 2- or 3-dimensional array: `blocks`
// outer blocks of `rows` rows of `n` values (blocks == 0: two dimensions; rows == 0: one).
void emit_array(std::string& out, const std::string& name, const std::string& unused,
                const float* v, std::size_t blocks, std::size_t rows, std::size_t n) {
  const auto extent = [&out](std::size_t e) {
    out += '[';
    out += std::to_string(e);
    out += ']';
  };
  out += "static const float " + name;
  if (blocks != 0) extent(blocks);
  if (rows != 0) extent(rows);
  extent(n);
  out += ' ';
  out += unused;
  out += " = ";
  if (rows == 0) {
    emit_rows(out, v, 1, n, "");
    out.back() = ';';
    out += '\n';
    return;
  }
  out += "{\n";
  if (blocks == 0) {
    emit_rows(out, v, rows, n, "  ");
  } else {
    for (std::size_t b = 0; b < blocks; ++b) {
      out += "  { /* head " + std::to_string(b) + " */\n";
      emit_rows(out, v + b * rows * n, rows, n, "    ");
      out += b + 1 < blocks ? "  },\n" : "  }\n";
    }
  }
  out += "};\n";
}

void emit_preamble(std::string& o, std::span<const checkpoint_fold> layers, const header_shape& s,
                   const header_options& opt) {
  const std::string& sym = opt.symbol;
  const std::size_t N = s.rows * s.cols, H = s.heads;
  const std::size_t per_layer = H * (s.rows * s.rows + s.cols * s.cols) + H;
  const std::string Rs = std::to_string(s.rows), Cs = std::to_string(s.cols);
  o += "/* " + sym + ".h: the positional attention of " + std::to_string(s.layers) +
       " GPSA layer(s), folded for firmware" + (s.dim != 0 ? ", with the layers' weights" : "") +
       ".\n";
  emit_provenance(o, opt.from);
  o += " * Grid:       " + Rs + " x " + Cs + " (N = " + std::to_string(N) +
       " patches, patch p = y*" + Cs + " + x)\n";
  o += " * Heads:      " + std::to_string(H) + " per layer\n * Layers (index: key prefix):\n";
  for (std::size_t l = 0; l < s.layers; ++l)
    o += " *   " + std::to_string(l) + ": " + c_comment_text(layers[l].prefix) + "\n";
  o += " *\n * For layer l, head h, query p = (yp, xp) and key q = (yq, xq):\n";
  o += " *   position[h][p][q] = " + sym + "_l<l>_gy[h][yp][yq] * " + sym + "_l<l>_fx[h][xp][xq]\n";
  o += " *     = softmax over q of W0*dx + W1*dy + W2*(dx^2+dy^2) + b (pos_proj; b cancels)\n";
  o += " *   attn[h][p][q] = (1 - lambda[h]) * content[h][p][q] + lambda[h] * position[h][p][q],\n";
  o += " *     each row then divided by its sum, lambda[h] = sigmoid(gating_param[h]).\n";
  o += " * Storage per layer: H*(R*R + C*C) + H = " + std::to_string(per_layer) + " floats (" +
       std::to_string(per_layer * 4) + " bytes); the dense positional attention would be\n";
  o += " * H*N*N = " + std::to_string(H * N * N) + " floats (" + std::to_string(H * N * N * 4) +
       " bytes).\n";
  o += " * With gpsa.h included first, " + sym + "_layers[] also gives gpsa_folded_view views" +
       (s.dim != 0 ? " and\n * " + sym + "_weights[] gpsa_layer_weights views" : std::string()) +
       " for the C API.\n */\n";
}

void emit_macros(std::string& o, const header_shape& s, const std::string& mac) {
  const std::size_t per_layer = s.heads * (s.rows * s.rows + s.cols * s.cols) + s.heads;
  o += "#ifndef " + mac + "_H_INCLUDED\n#define " + mac + "_H_INCLUDED\n\n";
  o += "#define " + mac + "_LAYERS " + std::to_string(s.layers) + "\n";
  o += "#define " + mac + "_HEADS " + std::to_string(s.heads) + "\n";
  o += "#define " + mac + "_ROWS " + std::to_string(s.rows) + "\n";
  o += "#define " + mac + "_COLS " + std::to_string(s.cols) + "\n";
  o += "#define " + mac + "_PATCHES " + std::to_string(s.rows * s.cols) + "\n";
  o += "#define " + mac + "_FLOATS_PER_LAYER " + std::to_string(per_layer) + "\n";
  if (s.dim != 0) {
    o += "#define " + mac + "_DIM " + std::to_string(s.dim) + "\n";
    o += "#define " + mac + "_QKV_BIAS " + std::string(s.qkv_bias ? "1" : "0") + "\n";
  }
  o += "\n#if defined(__GNUC__)\n#define " + mac +
       "_UNUSED __attribute__((unused))\n#else\n#define " + mac + "_UNUSED\n#endif\n";
}

// Layer l's parameters as timm names them (nn.Linear weight is (out, in)).
void emit_weights(std::string& o, const std::string& ls, const std::string& unused,
                  const layer_params& p) {
  const std::size_t D = p.dim, H = p.heads;
  const std::pair<const char*, const std::vector<float>*> all[] = {
      {"qk_weight", &p.qk_weight},
      {"qk_bias", &p.qk_bias},
      {"v_weight", &p.v_weight},
      {"v_bias", &p.v_bias},
      {"proj_weight", &p.proj_weight},
      {"proj_bias", &p.proj_bias},
      {"pos_proj_weight", &p.pos_proj_weight},
      {"pos_proj_bias", &p.pos_proj_bias},
      {"gating_param", &p.gating_param}};
  for (const auto& [name, v] : all) require_finite(*v, ls + "_" + name);
  o += "/* weights, timm layout: qk (2D, D), v and proj (D, D), pos_proj (H, 3) */\n";
  emit_array(o, ls + "_qk_weight", unused, p.qk_weight.data(), 0, 2 * D, D);
  if (!p.qk_bias.empty()) emit_array(o, ls + "_qk_bias", unused, p.qk_bias.data(), 0, 0, 2 * D);
  emit_array(o, ls + "_v_weight", unused, p.v_weight.data(), 0, D, D);
  if (!p.v_bias.empty()) emit_array(o, ls + "_v_bias", unused, p.v_bias.data(), 0, 0, D);
  emit_array(o, ls + "_proj_weight", unused, p.proj_weight.data(), 0, D, D);
  emit_array(o, ls + "_proj_bias", unused, p.proj_bias.data(), 0, 0, D);
  emit_array(o, ls + "_pos_proj_weight", unused, p.pos_proj_weight.data(), 0, H, 3);
  emit_array(o, ls + "_pos_proj_bias", unused, p.pos_proj_bias.data(), 0, 0, H);
  emit_array(o, ls + "_gating_param", unused, p.gating_param.data(), 0, 0, H);
}

// Per-layer pointer tables (firmware loops over layers) and the gpsa_folded_view views.
void emit_tables(std::string& o, const header_shape& s, const std::string& sym,
                 const std::string& mac) {
  const auto table = [&](const char* what) {
    o += "static const float* const " + sym + "_" + what + "[" + mac + "_LAYERS] " + mac +
         "_UNUSED = {";
    for (std::size_t l = 0; l < s.layers; ++l)
      o += std::string(l == 0 ? "" : ",") + "\n  (const float*)" + sym + "_l" + std::to_string(l) +
           "_" + what;
    o += "\n};\n";
  };
  o += "\n/* Layer l's factors as flat row-major arrays: fx (H, C, C), gy (H, R, R), lambda (H). "
       "*/\n";
  table("fx");
  table("gy");
  table("lambda");
  o += "\n#ifdef GPSA_GPSA_H\n";
  o +=
      "static const gpsa_folded_view " + sym + "_layers[" + mac + "_LAYERS] " + mac + "_UNUSED = {";
  for (std::size_t l = 0; l < s.layers; ++l) {
    const std::string ls = sym + "_l" + std::to_string(l);
    o += std::string(l == 0 ? "" : ",") + "\n  {" + std::to_string(s.heads) + ", " +
         std::to_string(s.rows) + ", " + std::to_string(s.cols) + ", (const float*)" + ls +
         "_fx, (const float*)" + ls + "_gy, " + ls + "_lambda}";
  }
  o += "\n};\n";
  if (s.dim != 0) {
    // The weights as the C API's layer views: gpsa_layer_forward(&SYM_weights[l],
    // &SYM_layers[l], batch, ...).
    o += "static const gpsa_layer_weights " + sym + "_weights[" + mac + "_LAYERS] " + mac +
         "_UNUSED = {";
    for (std::size_t l = 0; l < s.layers; ++l) {
      const std::string ls = sym + "_l" + std::to_string(l);
      const auto ptr = [&ls](const char* what) { return "(const float*)" + ls + "_" + what; };
      o += std::string(l == 0 ? "" : ",") + "\n  {" + std::to_string(s.heads) + ", " +
           std::to_string(s.dim) + ", " + ptr("qk_weight") + ", " +
           (s.qkv_bias ? ls + "_qk_bias" : std::string("NULL")) + ", " + ptr("v_weight") + ", " +
           (s.qkv_bias ? ls + "_v_bias" : std::string("NULL")) + ", " + ptr("proj_weight") + ", " +
           ls + "_proj_bias, NULL}";
    }
    o += "\n};\n";
  }
  o += "#endif\n\n#endif /* " + mac + "_H_INCLUDED */\n";
}

}  // namespace

std::string clash_with_gpsa_h(std::string_view symbol) {
  // What folded_header defines: macros SYMBOL_<suffix>, arrays symbol_<suffix> and, per layer,
  // symbol_l<digits>_<suffix> (emit_macros, emit_tables, emit_array and emit_weights above).
  static constexpr std::string_view macros[] = {
      "H_INCLUDED", "LAYERS",           "HEADS", "ROWS",     "COLS",
      "PATCHES",    "FLOATS_PER_LAYER", "DIM",   "QKV_BIAS", "UNUSED"};
  static constexpr std::string_view tables[] = {"fx", "gy", "lambda", "layers", "weights"};
  static constexpr std::string_view per_layer[] = {
      "fx",     "gy",          "lambda",    "qk_weight",       "qk_bias",       "v_weight",
      "v_bias", "proj_weight", "proj_bias", "pos_proj_weight", "pos_proj_bias", "gating_param"};
  const std::string sym(symbol), mac = c_macro_name(symbol);
  for (const std::string_view id : gpsa_h_identifiers) {
    const std::string name(id);
    for (const std::string_view m : macros)
      if (name == mac + "_" + std::string(m)) return name;
    for (const std::string_view t : tables)
      if (name == sym + "_" + std::string(t)) return name;
    const std::string layer = sym + "_l";
    if (name.compare(0, layer.size(), layer) != 0) continue;
    std::size_t i = layer.size();
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
    if (i == layer.size() || i >= name.size() || name[i] != '_') continue;
    for (const std::string_view l : per_layer)
      if (name.compare(i + 1, std::string::npos, l) == 0) return name;
  }
  return {};
}

std::string folded_header(std::span<const checkpoint_fold> layers, const header_options& options,
                          std::span<const layer_params> weights) {
  const header_shape s = check_layers(layers, options, weights);
  const std::string& sym = options.symbol;
  const std::string mac = c_macro_name(sym), unused = mac + "_UNUSED";
  std::string o;
  emit_preamble(o, layers, s, options);
  emit_macros(o, s, mac);
  for (std::size_t l = 0; l < s.layers; ++l) {
    const folded_view f = layers[l].state.view();
    const std::string ls = sym + "_l" + std::to_string(l);
    o += "\n/* layer " + std::to_string(l) + ": " + c_comment_text(layers[l].prefix) + " */\n";
    emit_array(o, ls + "_fx", unused, f.fx, s.heads, s.cols, s.cols);
    emit_array(o, ls + "_gy", unused, f.gy, s.heads, s.rows, s.rows);
    emit_array(o, ls + "_lambda", unused, f.lambda, 0, 0, s.heads);
    if (!weights.empty()) emit_weights(o, ls, unused, weights[l]);
  }
  emit_tables(o, s, sym, mac);
  return o;
}

std::string folded_dense_npy(std::span<const checkpoint_fold> layers, std::size_t max_bytes) {
  if (layers.empty()) throw std::invalid_argument("folded_dense_npy: no layers to write");
  const std::size_t L = layers.size(), H = layers.front().state.heads(),
                    N = layers.front().state.shape().patches();
  std::size_t nn = 0, lh = 0, total = 0;
  if (!detail::checked_mul(N, N, nn) || !detail::checked_mul(L, H, lh) ||
      !detail::checked_mul(lh, nn, total) || total > max_bytes / sizeof(float))
    throw std::length_error("the dense (L,H,N,N) = (" + std::to_string(L) + "," +
                            std::to_string(H) + "," + std::to_string(N) + "," + std::to_string(N) +
                            ") attention is too large; the folded C header is the compact form");
  std::vector<float> dense(total);
  for (std::size_t l = 0; l < L; ++l) {
    const std::vector<float> one = layers[l].state.expand();
    if (one.size() != H * nn)
      throw std::invalid_argument("folded_dense_npy: layer '" + layers[l].prefix +
                                  "' has another grid or head count");
    std::copy(one.begin(), one.end(), dense.begin() + static_cast<std::ptrdiff_t>(l * H * nn));
  }
  const std::size_t shape[] = {L, H, N, N};
  return io::npy_bytes(shape, dense);
}

}  // namespace gpsa::codegen
