// SPDX-License-Identifier: MIT
// Umbrella header: every public gpsa header. A new public header gets one line in this list.
#pragma once

#include "gpsa/attention.hpp"
#include "gpsa/convit.hpp"
#include "gpsa/executor.hpp"
#include "gpsa/fold.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/image.hpp"
#include "gpsa/int8.hpp"
#include "gpsa/io.hpp"
#include "gpsa/layer.hpp"
#include "gpsa/linalg.hpp"
#include "gpsa/model.hpp"
#include "gpsa/preprocess.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"
#include "gpsa/version.hpp"
