// SPDX-License-Identifier: MIT
// The calibration file of --int8: read, checked (shape, dtype, values), then the model quantised.
#include "int8_calibration.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "gpsa/core/convit_int8.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"

namespace gpsa::cli {

void int8_options::check() const {
  const bool has_calibration = calibration_option != nullptr && calibration_option->count() > 0;
  if (has_calibration && !enabled)
    throw cli_error("--calibration '" + io::printable(calibration, 200) +
                    "' sets the int8 model's scales: add --int8 (or drop --calibration)");
  if (enabled && !has_calibration)
    throw cli_error(
        "--int8 needs --calibration x.npy: images (n,C,S,S) to set the activation "
        "scales on (e.g. a few dozen training images)");
}

void add_int8_options(CLI::App& cmd, int8_options& o, const char* verb) {
  cmd.add_flag("--int8", o.enabled,
               std::string(verb) +
                   " the model quantised to int8 (per-channel weights, calibrated activation "
                   "scales; docs/int8.md); needs --calibration");
  o.calibration_option = cmd.add_option(
      "--calibration", o.calibration,
      "with --int8: images (n,C,S,S) float32/float64 .npy the activation scales are set on");
}

void require_int8_supported(const convit& m, const std::string& weights) {
  const convit_config& c = m.config();
  // Like the C API's descriptor, the int8 model is timm's default ConViT.
  if (c.pool != convit_pool::token || !c.use_pos_embed)
    throw cli_error(
        io::display_path(weights) + ": " +
        (c.pool != convit_pool::token ? "global_pool avg" : "no pos_embed (use_pos_embed=False)") +
        " is not supported by --int8 (it runs timm's default ConViT: token pool "
        "with pos_embed)");
}

calibrated calibrated_int8(const convit& m, const std::string& path) {
  const std::string name = io::display_path(path);
  const io::tensor x = io::read_npy(path);  // io_error naming the file: format, dtype
  const convit_config& c = m.config();
  const std::size_t n = m.batch_of(x.shape, name + " (--calibration)");
  if (n == 0)
    throw cli_error(name + " (--calibration) has shape " + io::shape_text(x.shape) +
                    ": no images; calibration needs at least one");
  const std::size_t image = c.channels * c.image_size * c.image_size;
  for (std::size_t i = 0; i < x.data.size(); ++i)
    if (!std::isfinite(x.data[i])) {
      const std::size_t b = i / image, r = i % image;
      const std::size_t S = c.image_size;
      throw cli_error(name + " (--calibration): image " + std::to_string(b) + " has " +
                      (std::isnan(x.data[i]) ? "a NaN" : "an infinite value") + " at (" +
                      std::to_string(r / (S * S)) + "," + std::to_string(r / S % S) + "," +
                      std::to_string(r % S) +
                      "); calibration sets the int8 scales from the largest magnitudes and "
                      "needs finite values");
    }
  std::size_t scratch = 0;
  if (convit_int8_calibration_scratch_size(c, n, scratch) != status::ok)
    throw cli_error(name + " (--calibration): " + std::to_string(n) +
                    " images is too large a batch");
  io::byte_budget budget(name + " (--calibration, " + std::to_string(n) + " images)");
  budget.add("calibration scratch", {scratch}, sizeof(float)).require();
  try {
    convit_int8 q = convit_int8::quantize(m, x.data, n);
    std::string summary =
        "int8: calibrated on " + std::to_string(n) + (n == 1 ? " image of " : " images of ") +
        name + " (int8 weights per output channel, " +
        std::to_string(q.weights().activation_amax.size()) + " activation scales)";
    return {std::move(q), std::move(summary)};
  } catch (const model_error& e) {
    throw cli_error(name + " (--calibration): " + e.what());
  }
}

}  // namespace gpsa::cli
