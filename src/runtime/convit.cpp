// SPDX-License-Identifier: MIT
// gpsa::convit: owned weights from a timm checkpoint, views for the core forward, folded state.
#include "gpsa/runtime/convit.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "convit_checkpoint.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/safetensors.hpp"

namespace gpsa {

struct convit::state {
  std::filesystem::path source;
  bool qkv_bias = false;
  convit_setting pool_source = convit_setting::default_value;
  convit_setting image_size_source = convit_setting::default_value;
  std::size_t params = 0;
  // One array per tensor that is not a linear weight (norms, biases, embeddings, positional
  // parameters); the views point into them. The linear weights live only in `packed`.
  std::vector<std::vector<float>> storage;
  std::vector<convit_block_weights> blocks;
  convit_weights weights{};
  std::vector<float> folded;  // convit_fold's buffer: each GPSA block's `folded` view points here
  std::unique_ptr<float[]> packed;  // convit_packed_size floats (+ 16 to align the start)
  const executor* ex = nullptr;
  load_times times;
};

namespace {

std::string status_text(status s) { return status_message(s); }

std::string shape_str(std::span<const std::size_t> shape) { return io::shape_text(shape); }

}  // namespace

// Builds the state from a checkpoint; `take` moves each tensor out of `file` instead of copying.
// The linear weights are packed one at a time from the file's tensors, each tensor released (when
// taken) as soon as it is packed: the model holds its weights once, and loading peaks at about
// the weights plus one tensor.
std::unique_ptr<convit::state> convit::build(const io::safetensors_file& file,
                                             io::safetensors_file* take,
                                             const convit_options& options) {
  const detail::convit_checkpoint ck = detail::inspect_convit_checkpoint(file, options);
  auto s = std::make_unique<convit::state>();
  s->source = file.path;
  s->qkv_bias = ck.qkv_bias;
  s->pool_source = ck.pool_source;
  s->image_size_source = ck.image_size_source;
  s->blocks.resize(ck.config.depth);
  s->storage.reserve(ck.slots.size());
  s->weights.config = ck.config;
  std::vector<const detail::convit_slot*> linears;  // packed below
  const auto set_view = [&](const detail::convit_slot& slot, const float* p) {
    if (slot.block == detail::convit_slot::no_block)
      s->weights.*slot.spec->model_field = p;
    else
      s->blocks[slot.block].*slot.spec->block_field = p;
  };
  for (const detail::convit_slot& slot : ck.slots) {
    const std::vector<float>& data = file.tensors.at(slot.key).data;
    s->params += data.size();
    if (slot.spec->linear) {
      linears.push_back(&slot);
      set_view(slot, data.data());  // read from the file until packed
      continue;
    }
    if (take != nullptr)
      s->storage.push_back(std::move(take->tensors.at(slot.key).data));
    else
      s->storage.push_back(data);
    set_view(slot, s->storage.back().data());
  }
  s->weights.blocks = s->blocks;
  const std::string file_name = file.path.string();
  if (const status st = validate(s->weights); st != status::ok)
    throw checkpoint_error(file_name + ": inconsistent ConViT configuration: " + status_text(st));
  std::size_t nf = 0;
  if (const status st = convit_folded_size(ck.config, nf); st != status::ok)
    throw checkpoint_error(file_name + ": folded positional state: " + status_text(st));
  s->folded.resize(nf);
  // The fold refuses NaN / Inf positional weights or gates (the positional softmax would be NaN):
  // name the key and the index first.
  const std::size_t H = ck.config.heads;
  for (std::size_t i = 0; i < ck.config.local_up_to_layer; ++i) {
    const checkpoint_view attn(file, "blocks." + std::to_string(i) + ".attn");
    const convit_block_weights& b = s->blocks[i];
    require_finite(attn, "pos_proj.weight", {b.pos_proj_weight, 3 * H}, nonfinite_cannot_fold);
    require_finite(attn, "gating_param", {b.gating_param, H}, nonfinite_cannot_fold);
  }
  using clock = std::chrono::steady_clock;
  const auto seconds = [](clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  const clock::time_point fold_start = clock::now();
  if (const status st = convit_fold(ck.config, s->blocks, s->folded); st != status::ok)
    throw checkpoint_error(file_name + ": folding the positional branch: " + status_text(st));
  const clock::time_point pack_start = clock::now();
  s->times.fold = seconds(fold_start, pack_start);
  // Every linear weight packed once into the GEMM's panel layout (the forward then never packs;
  // same bits either way), its start on a 64-byte boundary. The buffer is not initialised: its
  // pages become resident only as the weights are packed into them.
  std::size_t np = 0;
  if (const status st = convit_packed_size(ck.config, np); st != status::ok)
    throw checkpoint_error(file_name + ": packed weights: " + status_text(st));
  s->packed = std::make_unique_for_overwrite<float[]>(np + 16);
  std::size_t skip = 0;
  while (reinterpret_cast<std::uintptr_t>(s->packed.get() + skip) % 64 != 0) ++skip;
  const std::span<float> packed(s->packed.get() + skip, np);
  for (const detail::convit_slot* l : linears) {
    const detail::convit_slot& slot = *l;
    const std::size_t block = slot.block == detail::convit_slot::no_block ? 0 : slot.block;
    if (const status st = convit_pack_linear(ck.config, slot.spec->which, block,
                                             file.tensors.at(slot.key).data.data(), packed);
        st != status::ok)
      throw checkpoint_error(file_name + ": packing " + slot.key + ": " + status_text(st));
    if (options.keep_plain_weights) {
      if (take != nullptr)
        s->storage.push_back(std::move(take->tensors.at(slot.key).data));
      else
        s->storage.push_back(file.tensors.at(slot.key).data);
      set_view(slot, s->storage.back().data());  // storage was reserved: no reallocation
      continue;
    }
    set_view(slot, nullptr);
    if (take != nullptr) std::vector<float>().swap(take->tensors.at(slot.key).data);
  }
  s->weights.packed = packed.data();
  s->times.pack = seconds(pack_start, clock::now());
#if defined(__GLIBC__)
  // Small tensors and the reader's buffers were freed inside the heap, where glibc keeps their
  // pages: give them back, so that what stays resident is the weights once.
  malloc_trim(0);
#endif
  return s;
}

std::optional<convit_pool> convit_pool_from(std::string_view name) noexcept {
  if (name == "token") return convit_pool::token;
  if (name == "avg") return convit_pool::avg;
  return std::nullopt;
}

const char* convit_pool_name(convit_pool pool) noexcept {
  return pool == convit_pool::avg ? "avg" : "token";
}

convit convit::load(const std::filesystem::path& weights, const convit_options& options) {
  const auto start = std::chrono::steady_clock::now();
  io::safetensors_file file = io::read_safetensors(weights);
  const std::chrono::duration<double> read = std::chrono::steady_clock::now() - start;
  convit m(std::move(file), options);
  m.s_->times.read = read.count();
  return m;
}

convit::convit(io::safetensors_file&& file, const convit_options& options)
    : s_(build(file, &file, options)) {}
convit::convit(const io::safetensors_file& file, const convit_options& options)
    : s_(build(file, nullptr, options)) {}
convit::convit(convit&&) noexcept = default;
convit& convit::operator=(convit&&) noexcept = default;
convit::~convit() = default;

const convit_config& convit::config() const noexcept { return s_->weights.config; }
bool convit::qkv_bias() const noexcept { return s_->qkv_bias; }
convit_setting convit::pool_source() const noexcept { return s_->pool_source; }
convit_setting convit::image_size_source() const noexcept { return s_->image_size_source; }
std::size_t convit::parameter_count() const noexcept { return s_->params; }
const convit_weights& convit::weights() const noexcept { return s_->weights; }
std::span<const float> convit::folded_state() const noexcept { return s_->folded; }
const executor* convit::get_executor() const noexcept { return s_->ex; }
const convit::load_times& convit::loading() const noexcept { return s_->times; }

void convit::set_executor(const executor* ex) {
  if (validate(ex) != status::ok)
    throw model_error("gpsa::convit::set_executor: executor with " + std::to_string(ex->workers) +
                      " workers" + (ex->parallel_for == nullptr ? " and no parallel_for" : ""));
  s_->ex = ex;
}

std::size_t convit::batch_of(std::span<const std::size_t> shape, std::string_view what) const {
  const convit_config& c = config();
  const std::size_t S = c.image_size;
  const std::string file = s_->source.string();
  const std::string size_from =
      s_->image_size_source == convit_setting::option     ? "the image size given for " + file
      : s_->image_size_source == convit_setting::metadata ? "img_size in the metadata of " + file
                                                          : "from pos_embed and "
                                                            "patch_embed.proj.weight of " +
                                                                file;
  if (shape.size() != 4 || shape[1] != c.channels || shape[2] != S || shape[3] != S)
    throw model_error(std::string(what) + " has shape " + shape_str(shape) + ", expected (B," +
                      std::to_string(c.channels) + "," + std::to_string(S) + "," +
                      std::to_string(S) + "): this model takes " + std::to_string(S) + "x" +
                      std::to_string(S) + " images (" + std::to_string(c.grid_side()) + "x" +
                      std::to_string(c.grid_side()) + " patches of " +
                      std::to_string(c.patch_size) + " pixels, " + size_from + ")");
  return shape[0];
}

void convit::forward(std::span<const float> images, std::size_t batch, std::span<float> logits,
                     std::span<float> features) const {
  const convit_config& c = config();
  const std::size_t per_image = c.channels * c.image_size * c.image_size;
  if (images.size() != batch * per_image)
    throw model_error("gpsa::convit::forward: images has " + std::to_string(images.size()) +
                      " values, expected B*" + std::to_string(c.channels) + "*" +
                      std::to_string(c.image_size) + "*" + std::to_string(c.image_size) + " = " +
                      std::to_string(batch * per_image) + " for B = " + std::to_string(batch) +
                      " (this model takes " + std::to_string(c.image_size) + "x" +
                      std::to_string(c.image_size) + " images)");
  if (logits.size() != batch * c.classes)
    throw model_error("gpsa::convit::forward: logits has " + std::to_string(logits.size()) +
                      " values, expected B*classes = " + std::to_string(batch * c.classes));
  if (!features.empty() && features.size() != batch * c.tokens() * c.dim)
    throw model_error("gpsa::convit::forward: features has " + std::to_string(features.size()) +
                      " values, expected B*T*D = " + std::to_string(batch * c.tokens() * c.dim));
  std::size_t floats = 0;
  if (const status st = convit_scratch_size(c, batch, workers_of(s_->ex), floats); st != status::ok)
    throw model_error("gpsa::convit::forward: scratch for B = " + std::to_string(batch) + ": " +
                      status_text(st));
  const auto scratch = std::make_unique_for_overwrite<float[]>(floats);
  if (const status st = convit_forward(s_->weights, batch, images, logits, features,
                                       {scratch.get(), floats}, s_->ex);
      st != status::ok)
    throw model_error("gpsa::convit::forward: " + status_text(st));
}

std::vector<float> convit::forward(std::span<const float> images, std::size_t batch,
                                   std::vector<float>* features) const {
  const convit_config& c = config();
  std::vector<float> logits(batch * c.classes);
  if (features != nullptr) features->assign(batch * c.tokens() * c.dim, 0.0f);
  forward(images, batch, logits,
          features != nullptr ? std::span<float>(*features) : std::span<float>());
  return logits;
}

}  // namespace gpsa
