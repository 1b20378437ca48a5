// SPDX-License-Identifier: MIT
// Looking inside the whole-model forward (gpsa/core/convit.hpp): the probe hook sees every GPSA
// block's attention input and leaves the outputs bit for bit unchanged; the nonlocality of each
// block's full attention agrees with the float64 reference's (tests/model/convit_reference.hpp),
// the positional one with a float64 softmax of the positional logits written here.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gpsa/core/convit.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "model_test_util.hpp"

namespace {

using namespace model_test;
using gpsa::status;

struct model_case {
  std::string name;
  convit_ref::config cfg;
  st_map weights;
  std::vector<float> images;
  std::size_t batch;
};

std::vector<model_case> cases() {
  std::vector<model_case> out;
  for (const golden_case& g : load_cases()) {
    model_case m{g.name, g.cfg, load_golden_map(g.name), {}, g.batch};
    m.images = read_f32(golden_dir() / g.name / "x.npy");
    out.push_back(std::move(m));
  }
  // A random model with every block GPSA (no class token) and 9 heads on a 5 x 5 grid.
  convit_ref::config c;
  c.image = 80, c.patch = 16, c.dim = 72, c.heads = 9, c.depth = 2, c.local = 2, c.hidden = 144,
  c.classes = 7;
  out.push_back({"random_all_gpsa", c, random_model(c, true, 11), random_images(c, 3, 12), 3});
  return out;
}

// Records what the hook saw.
struct seen {
  std::vector<std::size_t> blocks;
  std::vector<std::vector<float>> inputs;
  std::size_t stop_at = ~std::size_t{0};
  static status hook(void* ctx, std::size_t block, std::size_t batch,
                     std::span<const float> normed) noexcept {
    auto& s = *static_cast<seen*>(ctx);
    s.blocks.push_back(block);
    s.inputs.emplace_back(normed.begin(), normed.end());
    (void)batch;
    return block == s.stop_at ? status::invalid_argument : status::ok;
  }
};

TEST(ConvitProbe, HookSeesEveryGpsaBlockAndChangesNothing) {
  for (const model_case& m : cases()) {
    SCOPED_TRACE(m.name);
    const gpsa::convit model(parse(m.weights, m.name));
    const gpsa::convit_config& c = model.config();
    std::size_t floats = 0;
    ASSERT_EQ(gpsa::convit_scratch_size(c, m.batch, 1, floats), status::ok);
    std::vector<float> scratch(floats), logits(m.batch * c.classes),
        features(m.batch * c.tokens() * c.dim), logits2(logits.size()), features2(features.size());
    ASSERT_EQ(gpsa::convit_forward(model.weights(), m.batch, m.images, logits, features, scratch),
              status::ok);
    seen s;
    ASSERT_EQ(gpsa::convit_forward_probed(model.weights(), {&s, &seen::hook}, m.batch, m.images,
                                          logits2, features2, scratch),
              status::ok);
    EXPECT_EQ(logits, logits2);
    EXPECT_EQ(features, features2);
    ASSERT_EQ(s.blocks.size(), c.local_up_to_layer);
    for (std::size_t i = 0; i < s.blocks.size(); ++i) {
      EXPECT_EQ(s.blocks[i], i);
      EXPECT_EQ(s.inputs[i].size(), m.batch * c.patches() * c.dim);
    }
    // What the hook sees is norm1's output: y = xhat * w + b with xhat of mean 0 and variance
    // 1 in every row, so (y - b) / w recovers xhat.
    for (std::size_t i = 0; i < s.inputs.size(); ++i) {
      const std::string k = "blocks." + std::to_string(i) + ".norm1.";
      const auto& w1 = m.weights.at(k + "weight").values;
      const auto& b1 = m.weights.at(k + "bias").values;
      for (std::size_t r = 0; r < m.batch * c.patches(); r += 5) {
        double mean = 0, var = 0;
        for (std::size_t j = 0; j < c.dim; ++j)
          mean += (s.inputs[i][r * c.dim + j] - b1[j]) / w1[j];
        mean /= double(c.dim);
        for (std::size_t j = 0; j < c.dim; ++j) {
          const double xh = (s.inputs[i][r * c.dim + j] - b1[j]) / w1[j] - mean;
          var += xh * xh;
        }
        EXPECT_NEAR(mean, 0.0, 1e-4) << "block " << i << " row " << r;
        EXPECT_NEAR(var / double(c.dim), 1.0, 1e-3) << "block " << i << " row " << r;
      }
    }

    // A hook error stops the forward and is returned.
    seen stop;
    stop.stop_at = 0;
    EXPECT_EQ(gpsa::convit_forward_probed(model.weights(), {&stop, &seen::hook}, m.batch, m.images,
                                          logits2, {}, scratch),
              status::invalid_argument);
    EXPECT_EQ(stop.blocks.size(), 1u);
    // No hook function: the plain forward.
    EXPECT_EQ(
        gpsa::convit_forward_probed(model.weights(), {}, m.batch, m.images, logits2, {}, scratch),
        status::ok);
    EXPECT_EQ(logits, logits2);
  }
}

TEST(ConvitProbe, NonlocalityMatchesFloat64Reference) {
  for (const model_case& m : cases()) {
    SCOPED_TRACE(m.name);
    const gpsa::convit model(parse(m.weights, m.name));
    const gpsa::convit_config& c = model.config();
    const std::size_t L = c.local_up_to_layer, H = c.heads, G = c.grid_side();
    std::vector<double> ref_full;
    (void)convit_ref::forward(m.cfg, reference_values(m.weights), m.images, m.batch, &ref_full);
    std::size_t floats = 0;
    ASSERT_EQ(gpsa::convit_nonlocality_scratch_size(c, m.batch, 1, floats), status::ok);
    std::vector<float> scratch(floats), full(L * H, -1.0f), pos(L * H, -1.0f);
    ASSERT_EQ(gpsa::convit_nonlocality(model.weights(), m.batch, m.images, full, scratch),
              status::ok);
    ASSERT_EQ(gpsa::convit_positional_nonlocality(model.weights(), pos), status::ok);
    double worst_full = 0, worst_pos = 0;
    for (std::size_t b = 0; b < L; ++b) {
      const std::string k = "blocks." + std::to_string(b) + ".attn.pos_proj.";
      const std::vector<double> want = positional_distances(m.weights.at(k + "weight").values,
                                                            m.weights.at(k + "bias").values, H, G);
      for (std::size_t h = 0; h < H; ++h) {
        worst_pos = std::max(worst_pos, std::abs(pos[b * H + h] - want[h]));
        worst_full = std::max(worst_full, std::abs(full[b * H + h] - ref_full[b * H + h]));
      }
    }
    std::printf("[ probe    ] %s: nonlocality max |d - float64|: full %.2g, positional %.2g\n",
                m.name.c_str(), worst_full, worst_pos);
    EXPECT_LE(worst_full, 1e-5);
    EXPECT_LE(worst_pos, 1e-5);

    // Bit-identical with an executor of 2 or 3 workers.
    for (const std::size_t n : {2u, 3u}) {
      gpsa::thread_pool_executor pool(n);
      std::size_t f2 = 0;
      ASSERT_EQ(gpsa::convit_nonlocality_scratch_size(c, m.batch, n, f2), status::ok);
      std::vector<float> s2(f2), full2(L * H);
      ASSERT_EQ(
          gpsa::convit_nonlocality(model.weights(), m.batch, m.images, full2, s2, &pool.get()),
          status::ok);
      EXPECT_EQ(full, full2) << n << " workers";
    }
  }
}

TEST(ConvitProbe, StatusCodes) {
  const model_case m = cases().front();
  const gpsa::convit model(parse(m.weights, m.name));
  const gpsa::convit_config& c = model.config();
  const std::size_t L = c.local_up_to_layer, H = c.heads;
  std::size_t floats = 0, forward_floats = 0;
  ASSERT_EQ(gpsa::convit_nonlocality_scratch_size(c, m.batch, 1, floats), status::ok);
  ASSERT_EQ(gpsa::convit_scratch_size(c, m.batch, 1, forward_floats), status::ok);
  // forward + logits + one block's attention + the layer kernel's scratch
  EXPECT_GT(floats, forward_floats + m.batch * c.classes + m.batch * H * c.patches() * c.patches());
  EXPECT_EQ(gpsa::convit_nonlocality_scratch_size(c, m.batch, 0, floats), status::invalid_argument);
  gpsa::convit_config bad = c;
  bad.heads = 0;
  EXPECT_EQ(gpsa::convit_nonlocality_scratch_size(bad, 1, 1, floats), status::invalid_argument);
  EXPECT_EQ(gpsa::convit_nonlocality_scratch_size(c, ~std::size_t{0} / 2, 1, floats),
            status::size_overflow);

  ASSERT_EQ(gpsa::convit_nonlocality_scratch_size(c, m.batch, 1, floats), status::ok);
  std::vector<float> scratch(floats), dist(L * H);
  const auto run = [&](std::span<float> d, std::span<float> s, std::size_t B,
                       std::span<const float> x) {
    return gpsa::convit_nonlocality(model.weights(), B, x, d, s);
  };
  EXPECT_EQ(run(std::span(dist).first(L * H - 1), scratch, m.batch, m.images),
            status::buffer_too_small);
  EXPECT_EQ(run(dist, std::span(scratch).first(floats - 1), m.batch, m.images),
            status::buffer_too_small);
  EXPECT_EQ(run(dist, scratch, m.batch, {}), status::shape_mismatch);
  std::vector<float> untouched(L * H, 5.0f);
  EXPECT_EQ(run(untouched, {}, 0, {}), status::ok);  // batch 0: no work
  EXPECT_EQ(untouched, std::vector<float>(L * H, 5.0f));
  EXPECT_EQ(gpsa::convit_positional_nonlocality(model.weights(), std::span(dist).first(L * H - 1)),
            status::buffer_too_small);
  // A GPSA block without its folded view.
  std::vector<gpsa::convit_block_weights> blocks(model.weights().blocks.begin(),
                                                 model.weights().blocks.end());
  blocks[1].folded = {};
  gpsa::convit_weights unfolded = model.weights();
  unfolded.blocks = blocks;
  EXPECT_EQ(gpsa::convit_positional_nonlocality(unfolded, dist), status::invalid_argument);
  EXPECT_EQ(run(dist, scratch, m.batch, m.images), status::ok);
  EXPECT_EQ(gpsa::convit_nonlocality(unfolded, m.batch, m.images, dist, scratch),
            status::invalid_argument);
  const gpsa::executor broken{nullptr, nullptr, 2};
  EXPECT_EQ(gpsa::convit_nonlocality(model.weights(), m.batch, m.images, dist, scratch, &broken),
            status::invalid_argument);
}

}  // namespace
