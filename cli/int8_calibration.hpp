// SPDX-License-Identifier: MIT
// --int8 --calibration x.npy of gpsa classify, bench and export: the calibration file read and
// checked, the model quantised.
#pragma once

#include <string>

#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/convit_int8.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace gpsa::cli {

// --int8 and --calibration x.npy, as classify and export take them.
struct int8_options {
  bool enabled = false;     // --int8
  std::string calibration;  // --calibration
  CLI::Option* calibration_option = nullptr;
  // After parsing: cli_error unless --int8 and --calibration are given together.
  void check() const;
};

// Registers --int8 ("<verb> the model quantised to int8 ...") and --calibration on cmd.
void add_int8_options(CLI::App& cmd, int8_options& o, const char* verb);

struct calibrated {
  convit_int8 model;
  // "int8: calibrated on 64 images of x.npy (int8 weights per output channel, 18 activation
  // scales)"
  std::string summary;
};

// cli_error "WEIGHTS: global_pool avg is not supported by --int8 (...)" unless m is timm's
// default ConViT (token pool, pos_embed), the one the int8 model runs; `weights` names the file.
void require_int8_supported(const convit& m, const std::string& weights);

// The int8 model of m, calibrated on the images of `path` ((n, C, S, S) float32 or float64,
// n >= 1, every value finite). cli_error (or io_error from the reader), one line naming the file,
// for a wrong shape or dtype, no images, a NaN or infinite value, or a batch too large.
calibrated calibrated_int8(const convit& m, const std::string& path);

}  // namespace gpsa::cli
