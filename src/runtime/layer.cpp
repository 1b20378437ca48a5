// SPDX-License-Identifier: MIT
// gpsa::layer: weight ownership, parameter checks, the cached fold, forward through the kernels.
#include "gpsa/runtime/layer.hpp"

#include "gpsa/core/positional.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {
namespace {

[[noreturn]] void fail(const std::string& what) { throw layer_error(what); }

void check_status(status s, const std::string& what) {
  if (s != status::ok) fail(what + ": " + status_message(s));
}

void check_size(const std::vector<float>& v, std::size_t want, const char* name,
                const char* pattern) {
  if (v.size() != want)
    fail(std::string(name) + " has " + std::to_string(v.size()) + " values, expected " + pattern +
         " = " + std::to_string(want));
}

void validate_params(const layer_params& p) {
  if (p.heads == 0) fail("heads is 0, expected H >= 1");
  if (p.dim == 0) fail("dim is 0, expected D >= 1");
  if (p.dim % p.heads != 0)
    fail("width D = " + std::to_string(p.dim) +
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

std::string grid_str(grid g) { return std::to_string(g.rows) + "x" + std::to_string(g.cols); }

}  // namespace

layer::layer(const io::safetensors_file& file, std::string_view prefix, std::optional<gpsa::grid> g)
    : p_(read_gpsa_layer(file, prefix)) {
  pack();
  if (g) set_grid(*g);
}

layer layer::load(const std::filesystem::path& weights, std::string_view prefix,
                  std::optional<gpsa::grid> g) {
  return layer(io::read_safetensors(weights), prefix, g);
}

layer::layer(layer_params params, std::optional<gpsa::grid> g) : p_(std::move(params)) {
  validate_params(p_);
  pack();
  if (g) set_grid(*g);
}

layer_weights layer::weights() const noexcept {
  auto ptr = [](const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); };
  layer_weights w;
  w.heads = p_.heads;
  w.dim = p_.dim;
  w.qk_weight = p_.qk_weight.data();
  w.qk_bias = ptr(p_.qk_bias);
  w.v_weight = p_.v_weight.data();
  w.v_bias = ptr(p_.v_bias);
  w.proj_weight = p_.proj_weight.data();
  w.proj_bias = ptr(p_.proj_bias);
  w.packed = packed_;
  return w;
}

void layer::pack() {
  std::size_t floats = 0;
  check_status(layer_packed_size(p_.dim, floats), "packed weights");
  // 16 floats of slack so the packed panels can start on a 64-byte boundary.
  std::shared_ptr<float[]> store(new float[floats + 16]);
  float* start = store.get();
  while (reinterpret_cast<std::uintptr_t>(start) % 64 != 0) ++start;
  layer_weights w = weights();
  w.packed = nullptr;
  check_status(layer_pack(w, {start, floats}), "packed weights");
  packed_store_ = std::move(store);
  packed_ = start;
}

folded_state layer::fold_for(gpsa::grid g) const {
  fold_counts n{};
  check_status(layer_folded_size(g, p_.heads, n), "positional branch of grid " + grid_str(g));
  // Refused up front (never std::bad_alloc): e.g. grid 1x1048576 needs H * 2^40 floats of Fx.
  io::byte_budget b("grid " + grid_str(g));
  b.add("folded positional branch Fx (H,C,C)", {p_.heads, g.cols, g.cols}, sizeof(float))
      .add("Gy (H,R,R)", {p_.heads, g.rows, g.rows}, sizeof(float));
  if (!b.ok()) fail(b.message());
  // propagate: NaN/Inf weights give NaN factors (or lambda), as PyTorch's softmax would.
  return folded_state(g, p_.heads, p_.pos_proj_weight, p_.pos_proj_bias, p_.gating_param,
                      nonfinite_policy::propagate);
}

void layer::set_grid(gpsa::grid g) {
  if (g.empty()) fail("grid " + grid_str(g) + " has no patches");
  fold_ = fold_for(g);
  grid_ = g;
}

gpsa::grid layer::grid_for(std::size_t patches) const {
  if (grid_) {
    if (grid_->patches() != patches)
      fail("input has N = " + std::to_string(patches) + " patches but the grid " +
           grid_str(*grid_) + " has " + std::to_string(grid_->patches()));
    return *grid_;
  }
  gpsa::grid g{};
  const status s = square_grid_from_patches(patches, g);
  if (s == status::empty_grid) fail("input has N = 0 patches");
  if (s != status::ok)
    fail("input has N = " + std::to_string(patches) +
         " patches, not a perfect square; give the grid explicitly (RxC with R*C = N)");
  return g;
}

std::size_t layer::patches_of(std::span<const float> x, std::size_t batch) const {
  if (batch == 0) fail("batch size is 0");
  std::size_t per = 0;  // B*D; unchecked, a wrap to 0 made the modulo below divide by zero
  if (!detail::checked_mul(batch, p_.dim, per))
    fail("batch size B = " + std::to_string(batch) + " times D = " + std::to_string(p_.dim) +
         " overflows size_t (expected x of shape (B,N,D) with " + std::to_string(x.size()) +
         " values)");
  if (x.size() % per != 0 || x.empty())
    fail("input has " + std::to_string(x.size()) + " values, not a multiple of B*D = " +
         std::to_string(batch) + "*" + std::to_string(p_.dim) + " (expected (B,N,D))");
  return x.size() / per;
}

std::vector<float> layer::scratch_for(gpsa::grid g, std::size_t batch, bool with_attn) const {
  std::size_t floats = 0;
  check_status(layer_scratch_size({p_.heads, p_.dim, g, batch}, workers_of(exec_), floats),
               "scratch");
  // Everything this call allocates, refused up front with the sizes (never std::bad_alloc).
  const std::size_t N = g.patches();
  io::byte_budget b("batch " + std::to_string(batch) + " on grid " + grid_str(g));
  b.add("scratch", {floats}, sizeof(float)).add("y (B,N,D)", {batch, N, p_.dim}, sizeof(float));
  if (with_attn) b.add("attn (B,H,N,N)", {batch, p_.heads, N, N}, sizeof(float));
  if (!b.ok()) fail(b.message());
  return std::vector<float>(floats);
}

std::vector<float> layer::forward(std::span<const float> x, std::size_t batch,
                                  std::vector<float>* attn, std::vector<float>* dist) const {
  const std::size_t N = patches_of(x, batch);
  const gpsa::grid g = grid_for(N);
  const folded_state local = grid_ ? folded_state() : fold_for(g);
  const folded_view pos = grid_ ? fold_.view() : local.view();
  std::vector<float> scratch = scratch_for(g, batch, attn != nullptr || dist != nullptr);
  std::vector<float> y(x.size());
  std::vector<float> attn_local;
  std::vector<float>* a = attn != nullptr ? attn : (dist != nullptr ? &attn_local : nullptr);
  if (a != nullptr) a->assign(batch * p_.heads * N * N, 0.0f);
  check_status(
      layer_forward(weights(), pos, batch, x, y,
                    a != nullptr ? std::span<float>(*a) : std::span<float>(), scratch, exec_),
      "forward");
  if (dist != nullptr) {
    dist->assign(p_.heads, 0.0f);
    check_status(nonlocality(g, p_.heads, batch, *a, *dist), "nonlocality");
  }
  return y;
}

std::vector<float> layer::attention(std::span<const float> x, std::size_t batch) const {
  const std::size_t N = patches_of(x, batch);
  const gpsa::grid g = grid_for(N);
  const folded_state local = grid_ ? folded_state() : fold_for(g);
  const folded_view pos = grid_ ? fold_.view() : local.view();
  std::vector<float> scratch = scratch_for(g, batch, true);
  std::vector<float> attn(batch * p_.heads * N * N);
  check_status(layer_attention(weights(), pos, batch, x, attn, scratch, exec_), "attention");
  return attn;
}

void layer::set_executor(const executor* ex) {
  if (validate(ex) != status::ok)
    fail("executor has workers = " + std::to_string(ex->workers) +
         (ex->parallel_for == nullptr ? " and no parallel_for" : "") +
         ", expected workers >= 1 and a parallel_for");
  exec_ = ex;
}

}  // namespace gpsa
