// Finding, folding and exporting the GPSA layers of a checkpoint (gpsa fold, gpsa demo).
#include "fold_export.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "commands.hpp"
#include "gpsa/io.hpp"
#include "gpsa/version.hpp"

namespace gpsa::cli {
namespace {

constexpr std::string_view weight_suffix = "pos_proj.weight";

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// Text safe inside a C block comment: printable ASCII only and no "*/".
std::string comment_safe(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '*' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "*_";
      ++i;
    } else {
      out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
  }
  return out;
}

// Appends `values` (a flat d0 x d1 x n block) as nested C initialiser rows of n values.
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

}  // namespace

bool natural_less(std::string_view a, std::string_view b) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && digit(a[i2])) ++i2;
      while (j2 < b.size() && digit(b[j2])) ++j2;
      // Compare the runs by value: strip leading zeros, then longer is larger, then lexically.
      std::string_view ra = a.substr(i, i2 - i), rb = b.substr(j, j2 - j);
      while (ra.size() > 1 && ra[0] == '0') ra.remove_prefix(1);
      while (rb.size() > 1 && rb[0] == '0') rb.remove_prefix(1);
      if (ra.size() != rb.size()) return ra.size() < rb.size();
      if (ra != rb) return ra < rb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;  // equal up to leading zeros: any strict order
}

std::vector<std::string> gpsa_layer_prefixes(const io::safetensors_file& f) {
  std::vector<std::string> out;
  const auto consider = [&](const std::string& key) {
    if (key == weight_suffix) {
      out.emplace_back();
    } else if (key.size() > weight_suffix.size() + 1 &&
               key.compare(key.size() - weight_suffix.size(), weight_suffix.size(),
                           weight_suffix) == 0 &&
               key[key.size() - weight_suffix.size() - 1] == '.') {
      out.push_back(key.substr(0, key.size() - weight_suffix.size() - 1));
    }
  };
  for (const auto& kv : f.tensors) consider(kv.first);
  for (const auto& kv : f.unsupported) consider(kv.first);  // at() then names the bad dtype
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return natural_less(a, b); });
  return out;
}

std::string layer_key(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

folded_layer_data fold_checkpoint_layer(const io::safetensors_file& f, const std::string& prefix,
                                        gpsa::grid g) {
  const std::string file = f.path.filename().string();
  const std::string kw = layer_key(prefix, "pos_proj.weight");
  const std::string kb = layer_key(prefix, "pos_proj.bias");
  const std::string kg = layer_key(prefix, "gating_param");
  for (const std::string& k : {kw, kb, kg})
    if (!f.contains(k) && f.unsupported.count(k) == 0)
      throw cli_error(f.path.string() + ": GPSA layer '" + prefix + "' has no key '" + k +
                      "' (a GPSA layer needs " + kw + ", " + kb + " and " + kg + ")");
  const io::tensor& w = f.at(kw);
  const io::tensor& b = f.at(kb);
  const io::tensor& gp = f.at(kg);
  if (w.shape.size() != 2 || w.shape[1] != 3 || w.shape[0] == 0)
    throw cli_error(f.path.string() + ": " + kw + " has shape " + io::shape_text(w.shape) +
                    ", expected (H,3)");
  const std::size_t H = w.shape[0];
  const std::vector<std::size_t> h_shape{H};
  const std::string want = io::shape_text(h_shape);
  if (b.shape != h_shape)
    throw cli_error(f.path.string() + ": " + kb + " has shape " + io::shape_text(b.shape) +
                    ", expected " + want + " (H = " + std::to_string(H) + " from " + kw + ")");
  if (gp.shape != h_shape)
    throw cli_error(f.path.string() + ": " + kg + " has shape " + io::shape_text(gp.shape) +
                    ", expected " + want + " (H = " + std::to_string(H) + " from " + kw + ")");
  const auto check_finite = [&](const io::tensor& t, const std::string& key) {
    for (std::size_t i = 0; i < t.data.size(); ++i)
      if (!std::isfinite(t.data[i]))
        throw cli_error(f.path.string() + ": " + key + " element " + std::to_string(i) + " is " +
                        (std::isnan(t.data[i]) ? "NaN" : "infinite") +
                        "; a non-finite weight cannot be folded");
  };
  check_finite(w, kw);
  check_finite(b, kb);
  check_finite(gp, kg);

  folded_layer_data d;
  d.prefix = prefix;
  d.heads = H;
  d.shape = g;
  d.pos_weight = w.data;
  d.pos_bias = b.data;
  d.gating = gp.data;
  fold_counts n{};
  if (const status s = fold_size(g, H, n); s != status::ok)
    throw cli_error("--grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) + ": " +
                    status_message(s));
  d.fx.resize(n.fx);
  d.gy.resize(n.gy);
  d.lambda.resize(n.lambda);
  const status s = fold_positional(g, H, d.pos_weight, d.pos_bias, d.gating, d.fx, d.gy, d.lambda);
  if (s != status::ok) throw cli_error(f.path.string() + ": " + prefix + ": " + status_message(s));
  return d;
}

std::vector<folded_layer_data> fold_checkpoint(const io::safetensors_file& f, gpsa::grid g) {
  const std::vector<std::string> prefixes = gpsa_layer_prefixes(f);
  if (prefixes.empty()) {
    std::string keys;
    std::size_t shown = 0;
    for (const auto& kv : f.tensors) {
      if (shown == 6) {
        keys += ", ...";
        break;
      }
      keys += (shown++ == 0 ? "" : ", ") + kv.first;
    }
    throw cli_error(
        f.path.string() + ": no GPSA layer found (no key ends in '.pos_proj.weight'" +
        (keys.empty() ? std::string("; the file holds no tensors)") : "; keys: " + keys + ")"));
  }
  std::vector<folded_layer_data> layers;
  for (const std::string& p : prefixes) {
    layers.push_back(fold_checkpoint_layer(f, p, g));
    if (layers.back().heads != layers.front().heads)
      throw cli_error(f.path.string() + ": " + layer_key(p, "pos_proj.weight") + " has " +
                      std::to_string(layers.back().heads) + " heads but " +
                      layer_key(layers.front().prefix, "pos_proj.weight") + " has " +
                      std::to_string(layers.front().heads) +
                      "; gpsa fold needs the same head count in every layer");
  }
  return layers;
}

bool is_c_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string c_float_literal(float v) {
  char buf[48];
  for (int prec = 1; prec <= 9; ++prec) {  // 9 significant digits always round-trip a float
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  std::string s(buf);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // "1" is an int, "1f" invalid
  return s + 'f';
}

std::string fold_c_header(const std::vector<folded_layer_data>& layers, gpsa::grid g,
                          const header_provenance& info) {
  if (layers.empty()) throw cli_error("no layers to write");
  if (!is_c_identifier(info.symbol))
    throw cli_error("--name '" + info.symbol + "': not a C identifier");
  const std::string sym = info.symbol, mac = upper(info.symbol);
  const std::size_t L = layers.size(), H = layers.front().heads, R = g.rows, C = g.cols;
  const std::size_t N = R * C;
  const std::size_t per_layer = H * (R * R + C * C) + H;
  const std::string Rs = std::to_string(R), Cs = std::to_string(C), Hs = std::to_string(H);

  std::string o;
  o += "/* " + sym + ".h: the positional attention of " + std::to_string(L) +
       " GPSA layer(s), folded for firmware.\n";
  o += " * Generated by gpsa " GPSA_VERSION_STRING " (`gpsa fold --format c`); do not edit.\n *\n";
  o += " * Checkpoint: " + comment_safe(info.checkpoint_name) + "\n";
  o += " * SHA-256:    " + info.checkpoint_sha256 + "\n";
  o += " * Grid:       " + Rs + " x " + Cs + " (N = " + std::to_string(N) +
       " patches, patch p = y*" + Cs + " + x)\n";
  o += " * Heads:      " + Hs + " per layer\n";
  o += " * Layers (index: key prefix):\n";
  for (std::size_t l = 0; l < L; ++l)
    o += " *   " + std::to_string(l) + ": " + comment_safe(layers[l].prefix) + "\n";
  o += " *\n * For layer l, head h, query p = (yp, xp) and key q = (yq, xq):\n";
  o += " *   position[h][p][q] = " + sym + "_l<l>_gy[h][yp][yq] * " + sym + "_l<l>_fx[h][xp][xq]\n";
  o += " *     = softmax over q of W0*dx + W1*dy + W2*(dx^2+dy^2) + b (pos_proj; b cancels)\n";
  o += " *   attn[h][p][q] = (1 - lambda[h]) * content[h][p][q] + lambda[h] * position[h][p][q],\n";
  o += " *     each row then divided by its sum, lambda[h] = sigmoid(gating_param[h]).\n";
  o += " * Storage per layer: H*(R*R + C*C) + H = " + std::to_string(per_layer) + " floats (" +
       std::to_string(per_layer * 4) + " bytes); the dense positional attention would be\n";
  o += " * H*N*N = " + std::to_string(H * N * N) + " floats (" + std::to_string(H * N * N * 4) +
       " bytes).\n";
  o += " * With gpsa.h included first, " + sym +
       "_layers[] also gives gpsa_folded views for the C API.\n */\n";
  o += "#ifndef " + mac + "_H_INCLUDED\n#define " + mac + "_H_INCLUDED\n\n";
  o += "#define " + mac + "_LAYERS " + std::to_string(L) + "\n";
  o += "#define " + mac + "_HEADS " + Hs + "\n";
  o += "#define " + mac + "_ROWS " + Rs + "\n";
  o += "#define " + mac + "_COLS " + Cs + "\n";
  o += "#define " + mac + "_PATCHES " + std::to_string(N) + "\n";
  o += "#define " + mac + "_FLOATS_PER_LAYER " + std::to_string(per_layer) + "\n\n";
  o += "#if defined(__GNUC__)\n#define " + mac +
       "_UNUSED __attribute__((unused))\n#else\n#define " + mac + "_UNUSED\n#endif\n";
  for (std::size_t l = 0; l < L; ++l) {
    const folded_layer_data& d = layers[l];
    const std::string ls = sym + "_l" + std::to_string(l);
    o += "\n/* layer " + std::to_string(l) + ": " + comment_safe(d.prefix) + " */\n";
    o += "static const float " + ls + "_fx[" + Hs + "][" + Cs + "][" + Cs + "] " + mac +
         "_UNUSED = {\n";
    for (std::size_t h = 0; h < H; ++h) {
      o += "  { /* head " + std::to_string(h) + " */\n";
      emit_rows(o, d.fx.data() + h * C * C, C, C, "    ");
      o += h + 1 < H ? "  },\n" : "  }\n";
    }
    o += "};\n";
    o += "static const float " + ls + "_gy[" + Hs + "][" + Rs + "][" + Rs + "] " + mac +
         "_UNUSED = {\n";
    for (std::size_t h = 0; h < H; ++h) {
      o += "  { /* head " + std::to_string(h) + " */\n";
      emit_rows(o, d.gy.data() + h * R * R, R, R, "    ");
      o += h + 1 < H ? "  },\n" : "  }\n";
    }
    o += "};\n";
    o += "static const float " + ls + "_lambda[" + Hs + "] " + mac + "_UNUSED = ";
    emit_rows(o, d.lambda.data(), 1, H, "");
    o.back() = ';';
    o += '\n';
  }
  // Per-layer pointer tables, so firmware can loop over layers.
  const auto table = [&](const char* what) {
    o += "static const float* const " + sym + "_" + what + "[" + mac + "_LAYERS] " + mac +
         "_UNUSED = {";
    for (std::size_t l = 0; l < L; ++l)
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
  o += "static const gpsa_folded " + sym + "_layers[" + mac + "_LAYERS] " + mac + "_UNUSED = {";
  for (std::size_t l = 0; l < L; ++l) {
    const std::string ls = sym + "_l" + std::to_string(l);
    o += std::string(l == 0 ? "" : ",") + "\n  {" + Hs + ", " + Rs + ", " + Cs +
         ", (const float*)" + ls + "_fx, (const float*)" + ls + "_gy, " + ls + "_lambda}";
  }
  o += "\n};\n#endif\n\n#endif /* " + mac + "_H_INCLUDED */\n";
  return o;
}

std::string fold_dense_npy(const std::vector<folded_layer_data>& layers, gpsa::grid g,
                           std::size_t max_bytes) {
  if (layers.empty()) throw cli_error("no layers to write");
  const std::size_t L = layers.size(), H = layers.front().heads, N = g.patches();
  std::size_t nn = 0, lh = 0, total = 0;
  if (detail::mul_overflows(N, N, nn) || detail::mul_overflows(L, H, lh) ||
      detail::mul_overflows(lh, nn, total) || total > max_bytes / sizeof(float))
    throw cli_error(
        "--format npy: the dense (L,H,N,N) = (" + std::to_string(L) + "," + std::to_string(H) +
        "," + std::to_string(N) + "," + std::to_string(N) +
        ") attention is too large; the folded C header (--format c) is the compact form");
  std::vector<float> dense(total);
  for (std::size_t l = 0; l < L; ++l)
    for (std::size_t h = 0; h < H; ++h) {
      const status s = positional_expand(layers[l].view(), h,
                                         std::span<float>(dense).subspan((l * H + h) * nn, nn));
      if (s != status::ok) throw cli_error(layers[l].prefix + ": " + status_message(s));
    }
  const std::size_t shape[] = {L, H, N, N};
  return io::npy_bytes(shape, dense);
}

}  // namespace gpsa::cli
