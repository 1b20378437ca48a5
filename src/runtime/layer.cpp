// gpsa::layer: weight ownership, checkpoint loading with shape checks, cached positional branch.
#include "gpsa/layer.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "gpsa/io.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"

namespace gpsa {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw layer_error(where.empty() ? what : where + ": " + what);
}

void check_status(status s, const std::string& what) {
  if (s != status::ok) throw layer_error(what + ": " + status_message(s));
}

// Prefixes P of every "<P>.pos_proj.weight" key: the GPSA layers a checkpoint holds.
std::vector<std::string> gpsa_prefixes(const io::safetensors_file& f) {
  static constexpr std::string_view suffix = ".pos_proj.weight";
  std::vector<std::string> out;
  auto consider = [&](const std::string& key) {
    if (key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(key.substr(0, key.size() - suffix.size()));
  };
  for (const auto& [key, t] : f.tensors) consider(key);
  for (const auto& [key, dtype] : f.unsupported) consider(key);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string join_key(std::string_view prefix, std::string_view suffix) {
  std::string k(prefix);
  if (!k.empty()) k += '.';
  k += suffix;
  return k;
}

// Loads one checkpoint prefix into layer_params with shape checks.
class loader {
 public:
  loader(const io::safetensors_file& f, std::string_view prefix)
      : f_(f), prefix_(prefix), file_(f.path.string()) {}

  bool has(std::string_view suffix) const {
    const std::string k = join_key(prefix_, suffix);
    return f_.contains(k) || f_.unsupported.count(k) != 0;
  }

  const io::tensor& get(std::string_view suffix) const {
    const std::string k = join_key(prefix_, suffix);
    if (!has(suffix)) missing(k);
    return f_.at(k);  // throws io_error naming the dtype when it cannot be converted
  }

  // Checks `suffix` has exactly `want`; `pattern` is the symbolic shape shown in the error.
  std::vector<float> take(std::string_view suffix, const std::vector<std::size_t>& want,
                          const std::string& pattern) const {
    const io::tensor& t = get(suffix);
    if (t.shape != want) {
      std::string msg = join_key(prefix_, suffix) + " has shape " + io::shape_text(t.shape) +
                        ", expected " + pattern;
      if (pattern != io::shape_text(want)) msg += " = " + io::shape_text(want);
      fail(file_, msg);
    }
    return t.data;
  }

  layer_params load() const {
    layer_params p;
    const io::tensor& pw = get("pos_proj.weight");
    if (pw.shape.size() != 2 || pw.shape[1] != 3 || pw.shape[0] == 0)
      fail(file_, join_key(prefix_, "pos_proj.weight") + " has shape " + io::shape_text(pw.shape) +
                      ", expected (H,3)");
    const std::size_t H = pw.shape[0];
    const io::tensor& qw = get("qk.weight");
    if (qw.shape.size() != 2 || qw.shape[1] == 0 || qw.shape[0] != 2 * qw.shape[1])
      fail(file_, join_key(prefix_, "qk.weight") + " has shape " + io::shape_text(qw.shape) +
                      ", expected (2D,D)");
    const std::size_t D = qw.shape[1];
    if (D % H != 0)
      fail(file_, "width D = " + std::to_string(D) + " (from " + join_key(prefix_, "qk.weight") +
                      ") is not divisible by H = " + std::to_string(H) + " heads (from " +
                      join_key(prefix_, "pos_proj.weight") + ")");
    p.heads = H;
    p.dim = D;
    p.pos_proj_weight = pw.data;
    p.qk_weight = qw.data;
    p.pos_proj_bias = take("pos_proj.bias", {H}, "(H,)");
    p.gating_param = take("gating_param", {H}, "(H,)");
    p.v_weight = take("v.weight", {D, D}, "(D,D)");
    p.proj_weight = take("proj.weight", {D, D}, "(D,D)");
    p.proj_bias = take("proj.bias", {D}, "(D,)");
    if (has("qk.bias")) p.qk_bias = take("qk.bias", {2 * D}, "(2D,)");
    if (has("v.bias")) p.v_bias = take("v.bias", {D}, "(D,)");
    return p;
  }

 private:
  const io::safetensors_file& f_;
  std::string prefix_;
  std::string file_;

  [[noreturn]] void missing(const std::string& key) const {
    std::string msg =
        "missing key '" + key + "'; expected " + (prefix_.empty() ? "" : prefix_ + ".") + "{";
    bool first = true;
    for (auto k : layer::required_keys) {
      if (!first) msg += ", ";
      msg += k;
      first = false;
    }
    msg += "} and optionally {qk.bias, v.bias}; ";
    const auto prefixes = gpsa_prefixes(f_);
    if (prefixes.empty()) {
      msg += "the file has no GPSA layer (no key ends in .pos_proj.weight)";
    } else {
      msg += "GPSA prefixes in the file: ";
      for (std::size_t i = 0; i < prefixes.size(); ++i) {
        if (i != 0) msg += ", ";
        msg += prefixes[i].empty() ? "\"\" (keys without prefix)" : prefixes[i];
      }
    }
    fail(file_, msg);
  }
};

void check_size(const std::vector<float>& v, std::size_t want, const char* name,
                const char* pattern) {
  if (v.size() != want)
    fail("", std::string(name) + " has " + std::to_string(v.size()) + " values, expected " +
                 pattern + " = " + std::to_string(want));
}

void validate_params(const layer_params& p) {
  if (p.heads == 0) fail("", "heads is 0, expected H >= 1");
  if (p.dim == 0) fail("", "dim is 0, expected D >= 1");
  if (p.dim % p.heads != 0)
    fail("", "width D = " + std::to_string(p.dim) +
                 " is not divisible by H = " + std::to_string(p.heads) + " heads");
  const std::size_t D = p.dim, H = p.heads;
  check_size(p.qk_weight, 2 * D * D, "qk_weight", "2D*D");
  if (!p.qk_bias.empty()) check_size(p.qk_bias, 2 * D, "qk_bias", "2D");
  check_size(p.v_weight, D * D, "v_weight", "D*D");
  if (!p.v_bias.empty()) check_size(p.v_bias, D, "v_bias", "D");
  check_size(p.proj_weight, D * D, "proj_weight", "D*D");
  check_size(p.proj_bias, D, "proj_bias", "D");
  check_size(p.pos_proj_weight, 3 * H, "pos_proj_weight", "H*3");
  check_size(p.pos_proj_bias, H, "pos_proj_bias", "H");
  check_size(p.gating_param, H, "gating_param", "H");
}

layer_params copy_params(const gpsa_weights& w) {
  if (validate(w) != status::ok)
    fail("", "gpsa_weights: heads = " + std::to_string(w.heads) +
                 ", dim = " + std::to_string(w.dim) +
                 " (need H >= 1, D divisible by H) or a required pointer is null");
  const std::size_t D = w.dim, H = w.heads;
  auto copy = [](const float* p, std::size_t n) {
    return p != nullptr ? std::vector<float>(p, p + n) : std::vector<float>();
  };
  layer_params p;
  p.heads = H;
  p.dim = D;
  p.qk_weight = copy(w.qk_weight, 2 * D * D);
  p.qk_bias = copy(w.qk_bias, 2 * D);
  p.v_weight = copy(w.v_weight, D * D);
  p.v_bias = copy(w.v_bias, D);
  p.proj_weight = copy(w.proj_weight, D * D);
  p.proj_bias = w.proj_bias != nullptr ? copy(w.proj_bias, D) : std::vector<float>(D, 0.0f);
  p.pos_proj_weight = copy(w.pos_proj_weight, 3 * H);
  p.pos_proj_bias =
      w.pos_proj_bias != nullptr ? copy(w.pos_proj_bias, H) : std::vector<float>(H, 0.0f);
  p.gating_param = copy(w.gating_param, H);
  return p;
}

std::string grid_str(grid g) { return std::to_string(g.rows) + "x" + std::to_string(g.cols); }

// The registry's baked float table for g, or an empty view when g is not baked.
rel_view<float> baked_table(grid g) { return baked_rel_indices<float>(g); }

}  // namespace

const char* to_string(table_source s) noexcept {
  switch (s) {
    case table_source::none:
      return "none";
    case table_source::baked:
      return "baked";
    case table_source::runtime_fill:
      return "runtime fill";
    case table_source::folded:
      return "folded (separable factors, no table)";
  }
  return "unknown";
}

std::vector<float> positional_attention(grid g, std::size_t heads,
                                        std::span<const float> pos_proj_weight,
                                        std::span<const float> pos_proj_bias, table_source* used) {
  std::size_t count = 0, table_count = 0;
  check_status(pos_logits_count(g, heads, count), "positional branch of grid " + grid_str(g));
  check_status(rel_indices_count(g, table_count), "relative table of grid " + grid_str(g));
  if (pos_proj_weight.size() != 3 * heads)
    fail("", "pos_proj.weight has " + std::to_string(pos_proj_weight.size()) +
                 " values, expected H*3 = " + std::to_string(3 * heads));
  if (!pos_proj_bias.empty() && pos_proj_bias.size() != heads)
    fail("", "pos_proj.bias has " + std::to_string(pos_proj_bias.size()) +
                 " values, expected H = " + std::to_string(heads));
  const float* bias = pos_proj_bias.empty() ? nullptr : pos_proj_bias.data();
  std::vector<float> out(count);
  rel_view<float> table = baked_table(g);
  std::vector<float> filled;
  table_source src = table_source::baked;
  if (table.values == nullptr) {
    filled.resize(table_count);
    check_status(fill_rel_indices(g, std::span<float>(filled)),
                 "relative table of grid " + grid_str(g));
    table = rel_view<float>{filled.data(), g};
    src = table_source::runtime_fill;
  }
  check_status(pos_attention_from_table(table, heads, pos_proj_weight.data(), bias, out),
               "positional branch of grid " + grid_str(g));
  if (used != nullptr) *used = src;
  return out;
}

layer::layer(const io::safetensors_file& file, std::string_view prefix, std::optional<gpsa::grid> g)
    : p_(loader(file, prefix).load()) {
  if (g) set_grid(*g);
}

layer layer::load(const std::filesystem::path& weights, std::string_view prefix,
                  std::optional<gpsa::grid> g) {
  return layer(io::read_safetensors(weights), prefix, g);
}

layer::layer(layer_params params, std::optional<gpsa::grid> g) : p_(std::move(params)) {
  validate_params(p_);
  if (g) set_grid(*g);
}

layer::layer(const gpsa_weights& w, std::optional<gpsa::grid> g) : p_(copy_params(w)) {
  if (g) set_grid(*g);
}

gpsa_weights layer::weights() const noexcept {
  auto ptr = [](const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); };
  gpsa_weights w;
  w.heads = p_.heads;
  w.dim = p_.dim;
  w.qk_weight = p_.qk_weight.data();
  w.qk_bias = ptr(p_.qk_bias);
  w.v_weight = p_.v_weight.data();
  w.v_bias = ptr(p_.v_bias);
  w.proj_weight = p_.proj_weight.data();
  w.proj_bias = ptr(p_.proj_bias);
  w.pos_proj_weight = p_.pos_proj_weight.data();
  w.pos_proj_bias = ptr(p_.pos_proj_bias);
  w.gating_param = p_.gating_param.data();
  return w;
}

table_source layer::make_branch(gpsa::grid g, std::vector<float>& fx, std::vector<float>& gy,
                                std::vector<float>& lam, std::vector<float>& dense) const {
  fold_counts n{};
  check_status(fold_size(g, p_.heads, n), "positional branch of grid " + grid_str(g));
  fx.resize(n.fx);
  gy.resize(n.gy);
  lam.resize(n.lambda);
  const status s = fold_positional(g, p_.heads, p_.pos_proj_weight, p_.pos_proj_bias,
                                   p_.gating_param, fx, gy, lam);
  if (s == status::ok) return table_source::folded;
  if (s != status::invalid_argument) check_status(s, "positional branch of grid " + grid_str(g));
  // NaN/Inf in pos_proj or gating_param: the fold refuses them; the dense branch lets them flow
  // into the attention as PyTorch does.
  fx.clear();
  gy.clear();
  lam.clear();
  table_source src = table_source::none;
  dense = positional_attention(g, p_.heads, p_.pos_proj_weight, p_.pos_proj_bias, &src);
  return src;
}

void layer::set_grid(gpsa::grid g) {
  if (g.empty()) fail("", "grid " + grid_str(g) + " has no patches");
  std::vector<float> fx, gy, lam, dense;
  const table_source src = make_branch(g, fx, gy, lam, dense);
  fx_ = std::move(fx);
  gy_ = std::move(gy);
  lambda_ = std::move(lam);
  position_ = std::move(dense);
  grid_ = g;
  source_ = src;
}

folded_view layer::folded() const noexcept {
  if (source_ != table_source::folded || !grid_) return {};
  return {*grid_, p_.heads, fx_.data(), gy_.data(), lambda_.data()};
}

std::vector<float> layer::position() const {
  if (!grid_) return {};
  if (source_ != table_source::folded) return position_;
  const folded_view f = folded();
  const std::size_t nn = grid_->patches() * grid_->patches();
  std::vector<float> out(p_.heads * nn);
  for (std::size_t h = 0; h < p_.heads; ++h)
    check_status(positional_expand(f, h, std::span<float>(out).subspan(h * nn, nn)), "position");
  return out;
}

pos_branch layer::branch_for(gpsa::grid g, std::vector<float> (&local)[4]) const {
  if (grid_) {
    if (source_ == table_source::folded) return {g, p_.heads, nullptr, fx_.data(), gy_.data()};
    return {g, p_.heads, position_.data(), nullptr, nullptr};
  }
  const table_source src = make_branch(g, local[0], local[1], local[2], local[3]);
  if (src == table_source::folded) return {g, p_.heads, nullptr, local[0].data(), local[1].data()};
  return {g, p_.heads, local[3].data(), nullptr, nullptr};
}

gpsa::grid layer::grid_for(std::size_t patches) const {
  if (grid_) {
    if (grid_->patches() != patches)
      fail("", "input has N = " + std::to_string(patches) + " patches but the grid " +
                   grid_str(*grid_) + " has " + std::to_string(grid_->patches()));
    return *grid_;
  }
  gpsa::grid g{};
  const status s = square_grid_from_patches(patches, g);
  if (s == status::empty_grid) fail("", "input has N = 0 patches");
  if (s != status::ok)
    fail("", "input has N = " + std::to_string(patches) +
                 " patches, not a perfect square; give the grid explicitly (RxC with R*C = N)");
  return g;
}

std::size_t layer::patches_of(std::span<const float> x, std::size_t batch) const {
  if (batch == 0) fail("", "batch size is 0");
  const std::size_t per = batch * p_.dim;
  if (x.size() % per != 0 || x.empty())
    fail("", "input has " + std::to_string(x.size()) + " values, not a multiple of B*D = " +
                 std::to_string(batch) + "*" + std::to_string(p_.dim) + " (expected (B,N,D))");
  return x.size() / per;
}

std::vector<float> layer::forward(std::span<const float> x, std::size_t batch,
                                  std::vector<float>* attn, std::vector<float>* dist) const {
  const std::size_t N = patches_of(x, batch);
  const gpsa::grid g = grid_for(N);
  const gpsa_weights w = weights();
  std::vector<float> local[4];
  const pos_branch pb = branch_for(g, local);

  std::size_t scratch_floats = 0;
  const std::size_t workers = exec_ != nullptr ? exec_->workers : 1;
  check_status(forward_scratch_size(w, g, batch, true, workers, scratch_floats), "forward");
  std::vector<float> scratch(scratch_floats);
  std::vector<float> y(x.size());
  std::vector<float> attn_local;
  std::vector<float>* a = attn != nullptr ? attn : (dist != nullptr ? &attn_local : nullptr);
  if (a != nullptr) a->assign(batch * p_.heads * N * N, 0.0f);
  check_status(gpsa_forward(w, g, batch, x.data(), y.data(), a != nullptr ? a->data() : nullptr,
                            &pb, scratch, exec_),
               "forward");
  if (dist != nullptr) {
    dist->assign(p_.heads, 0.0f);
    check_status(nonlocality(g, p_.heads, batch, a->data(), *dist), "nonlocality");
  }
  return y;
}

void layer::set_executor(const executor* ex) {
  if (ex != nullptr && (ex->workers == 0 || ex->parallel_for == nullptr))
    fail("", "executor has workers = " + std::to_string(ex->workers) +
                 (ex->parallel_for == nullptr ? " and no parallel_for" : "") +
                 ", expected workers >= 1 and a parallel_for");
  exec_ = ex;
}

std::vector<float> layer::attention(std::span<const float> x, std::size_t batch) const {
  const std::size_t N = patches_of(x, batch);
  const gpsa::grid g = grid_for(N);
  const gpsa_weights w = weights();
  std::vector<float> local[4];
  const pos_branch pb = branch_for(g, local);
  std::size_t scratch_floats = 0;
  check_status(attention_scratch_size(w, g, batch, true, scratch_floats), "attention");
  std::vector<float> scratch(scratch_floats);
  std::vector<float> attn(batch * p_.heads * N * N);
  check_status(gpsa_attention(w, g, batch, x.data(), attn.data(), &pb, scratch, exec_),
               "attention");
  return attn;
}

}  // namespace gpsa
