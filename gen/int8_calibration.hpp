// SPDX-License-Identifier: MIT
// --int8 --calibration x.npy of gpsa classify and gpsa export: the calibration file read and
// checked, the model quantised.
#pragma once

#include <string>

#include "gpsa/model.hpp"
#include "gpsa/model_int8.hpp"

namespace gpsa::cli {

struct calibrated {
  convit_int8 model;
  // "int8: calibrated on 64 images of x.npy (int8 weights per output channel, 18 activation
  // scales)"
  std::string summary;
};

// The int8 model of m, calibrated on the images of `path` ((n, C, S, S) float32 or float64,
// n >= 1, every value finite). cli_error (or io_error from the reader), one line naming the file,
// for a wrong shape or dtype, no images, a NaN or infinite value, or a batch too large.
calibrated calibrated_int8(const convit& m, const std::string& path);

}  // namespace gpsa::cli
