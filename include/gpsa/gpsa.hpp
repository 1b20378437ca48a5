// SPDX-License-Identifier: MIT
// Umbrella header: every public C++ header of every gpsa library (gpsa::gpsa, gpsa::core,
// gpsa::runtime, gpsa::codegen, gpsa::image), so it is installed only by a build that has them
// all. A new public header gets one line in this list.
#pragma once

#include "gpsa/codegen.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/core/layer.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/core/nn_kernels.hpp"
#include "gpsa/core/positional.hpp"
#include "gpsa/core/preprocess.hpp"
#include "gpsa/core/types.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/image.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/checkpoint_schema.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "gpsa/runtime/safetensors.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "gpsa/status.hpp"
#include "gpsa/version.hpp"
