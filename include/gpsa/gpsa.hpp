// SPDX-License-Identifier: MIT
// Umbrella header: every public gpsa header. A new public header gets one line in this list.
#pragma once

#include "gpsa/core/layer.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "gpsa/core/fold.hpp"
#include "gpsa/grid.hpp"
#include "gpsa/image.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/core/linalg.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/core/preprocess.hpp"
#include "gpsa/registry.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/status.hpp"
#include "gpsa/version.hpp"
