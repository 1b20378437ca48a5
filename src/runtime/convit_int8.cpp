// SPDX-License-Identifier: MIT
// gpsa::convit_int8: quantised weights, calibrated activation scales and the float parameters
// of a gpsa::convit, owned; the forward is the core's.
#include "gpsa/runtime/convit_int8.hpp"

#include "gpsa/core/int8.hpp"

#include <string>
#include <utility>

namespace gpsa {

namespace {

// Offsets of one quantised linear layer in the owner's arrays (npos: no bias).
struct linear_at {
  std::size_t code = 0, scale = 0, bias = npos;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

struct block_at {
  std::size_t norm1_weight = 0, norm1_bias = 0, norm2_weight = 0, norm2_bias = 0;
  linear_at qk, v, qkv, proj, fc1, fc2;
};

std::string text(status s) { return status_message(s); }

}  // namespace

std::string convit_int8::point_name(std::size_t p, const convit_config& c) {
  if (p == 0) return "image";
  if (p == 4 * c.depth + 1) return "norm";
  static const char* const names[] = {"norm1", "attn", "norm2", "gelu"};
  return "blocks." + std::to_string((p - 1) / 4) + "." + names[(p - 1) % 4];
}

convit_int8 convit_int8::quantize(const convit& m, std::span<const float> images,
                                  std::size_t batch) {
  const convit_weights& w = m.weights();
  const convit_config& c = w.config;
  // The int8 forward is timm's default ConViT (token pool, pos_embed added), as the C API's.
  if (c.pool != convit_pool::token || !c.use_pos_embed)
    throw model_error(
        std::string("int8: ") +
        (c.pool != convit_pool::token ? "global_pool avg" : "no pos_embed (use_pos_embed=False)") +
        " is not supported by the int8 forward (it runs timm's default ConViT: "
        "token pool with pos_embed)");
  if (w.patch_weight == nullptr || w.head_weight == nullptr)
    throw model_error(
        "int8: quantising needs the checkpoint's plain weights: load the model with "
        "convit_options::keep_plain_weights = true");
  const std::size_t D = c.dim, M = c.mlp_hidden, K = c.channels * c.patch_size * c.patch_size;
  convit_int8 q;
  std::vector<std::int8_t>& codes = q.codes_;
  std::vector<float>& floats = q.floats_;

  auto copy = [&](const float* p, std::size_t n) {
    const std::size_t at = floats.size();
    floats.insert(floats.end(), p, p + n);
    return at;
  };
  auto linear = [&](const char* name, const float* weight, const float* bias, std::size_t out,
                    std::size_t in) {
    linear_at l;
    l.code = codes.size();
    l.scale = floats.size();
    codes.resize(codes.size() + out * in);
    floats.resize(floats.size() + out);
    if (const status s =
            int8_quantize_weights(out, in, {weight, out * in}, {codes.data() + l.code, out * in},
                                  {floats.data() + l.scale, out});
        s != status::ok)
      throw model_error(std::string("quantising ") + name + ": " + text(s));
    if (bias != nullptr) l.bias = copy(bias, out);
    return l;
  };

  const linear_at patch = linear("patch_embed.proj", w.patch_weight, w.patch_bias, D, K);
  const std::size_t pos = copy(w.pos_embed, c.patches() * D);
  const std::size_t cls = c.has_class_token() ? copy(w.cls_token, D) : 0;
  std::vector<block_at> blocks(c.depth);
  for (std::size_t i = 0; i < c.depth; ++i) {
    const convit_block_weights& b = w.blocks[i];
    block_at& a = blocks[i];
    const std::string pre = "blocks." + std::to_string(i) + ".";
    a.norm1_weight = copy(b.norm1_weight, D);
    a.norm1_bias = copy(b.norm1_bias, D);
    if (c.is_gpsa_block(i)) {
      a.qk = linear((pre + "attn.qk").c_str(), b.qk_weight, b.qk_bias, 2 * D, D);
      a.v = linear((pre + "attn.v").c_str(), b.v_weight, b.v_bias, D, D);
    } else {
      a.qkv = linear((pre + "attn.qkv").c_str(), b.qkv_weight, b.qkv_bias, 3 * D, D);
    }
    a.proj = linear((pre + "attn.proj").c_str(), b.proj_weight, b.proj_bias, D, D);
    a.norm2_weight = copy(b.norm2_weight, D);
    a.norm2_bias = copy(b.norm2_bias, D);
    a.fc1 = linear((pre + "mlp.fc1").c_str(), b.fc1_weight, b.fc1_bias, M, D);
    a.fc2 = linear((pre + "mlp.fc2").c_str(), b.fc2_weight, b.fc2_bias, D, M);
  }
  const std::size_t norm_w = copy(w.norm_weight, D), norm_b = copy(w.norm_bias, D);
  const linear_at head = linear("head", w.head_weight, w.head_bias, c.classes, D);
  // The folded state in convit_fold's flat order (per GPSA block: fx, gy, lambda).
  const std::size_t fold = floats.size();
  floats.insert(floats.end(), m.folded_state().begin(), m.folded_state().end());
  const std::size_t folded_len = floats.size() - fold;
  const std::size_t points = convit_int8_points(c);
  const std::size_t amax = floats.size();
  floats.resize(floats.size() + points);

  // Views, now that the arrays no longer grow.
  auto lin = [&](const linear_at& l) {
    return convit_int8_linear{codes.data() + l.code, floats.data() + l.scale,
                              l.bias == linear_at::npos ? nullptr : floats.data() + l.bias};
  };
  const float* f = floats.data();
  q.blocks_.resize(c.depth);
  for (std::size_t i = 0; i < c.depth; ++i) {
    const block_at& a = blocks[i];
    convit_int8_block& b = q.blocks_[i];
    b.norm1_weight = f + a.norm1_weight;
    b.norm1_bias = f + a.norm1_bias;
    if (c.is_gpsa_block(i)) {
      b.qk = lin(a.qk);
      b.v = lin(a.v);
    } else {
      b.qkv = lin(a.qkv);
    }
    b.proj = lin(a.proj);
    b.norm2_weight = f + a.norm2_weight;
    b.norm2_bias = f + a.norm2_bias;
    b.fc1 = lin(a.fc1);
    b.fc2 = lin(a.fc2);
  }
  convit_int8_weights& v = q.weights_;
  v.config = c;
  v.patch = lin(patch);
  v.pos_embed = f + pos;
  v.cls_token = c.has_class_token() ? f + cls : nullptr;
  v.blocks = q.blocks_;
  v.norm_weight = f + norm_w;
  v.norm_bias = f + norm_b;
  v.head = lin(head);
  v.folded = {f + fold, folded_len};
  v.activation_amax = {f + amax, points};

  const std::size_t image = c.channels * c.image_size * c.image_size;
  if (batch == 0)
    throw model_error("calibration: no images (at least one is needed to set the scales)");
  if (images.size() / image != batch || images.size() % image != 0)
    throw model_error("calibration: " + std::to_string(images.size()) + " floats are not " +
                      std::to_string(batch) + " images of " + std::to_string(image));
  std::size_t need = 0;
  if (const status s = convit_int8_calibration_scratch_size(c, batch, need); s != status::ok)
    throw model_error("calibration of " + std::to_string(batch) + " images: " + text(s));
  std::vector<float> scratch(need);
  const std::span<float> out(floats.data() + amax, points);
  if (const status s = convit_int8_calibrate(v, batch, images.data(), out, scratch);
      s != status::ok) {
    std::size_t p = 0;
    while (p + 1 < points && out[p] == out[p] && out[p] <= 3.4028235e38f) ++p;
    throw model_error("calibration: quantisation point " + point_name(p, c) + ": " + text(s) +
                      " (its largest magnitude is " + std::to_string(out[p]) +
                      "; a NaN or infinite value in the images or the weights' products)");
  }
  return q;
}

std::vector<float> convit_int8::forward(std::span<const float> images, std::size_t batch) const {
  const convit_config& c = config();
  const std::size_t image = c.channels * c.image_size * c.image_size;
  if (images.size() != batch * image)
    throw model_error("int8 forward: " + std::to_string(images.size()) + " floats are not " +
                      std::to_string(batch) + " images of " + std::to_string(image));
  std::size_t need = 0;
  if (const status s = convit_int8_scratch_size(c, need); s != status::ok)
    throw model_error("int8 forward: " + text(s));
  std::vector<float> scratch(need), logits(batch * c.classes);
  if (const status s = convit_int8_forward(weights_, batch, images.data(), logits.data(), scratch);
      s != status::ok)
    throw model_error("int8 forward: " + text(s));
  return logits;
}

}  // namespace gpsa
