// SPDX-License-Identifier: MIT
// How the gpsa commands describe a whole ConViT in their reports (classify, bench).
#pragma once

#include <string>

namespace gpsa {
class convit;
}

namespace gpsa::cli {

// The model in one line, e.g. "ConViT 224x224 (14x14 patches of 16 px), D = 192, H = 4, depth 12
// (10 GPSA + 2 MHSA), 1000 classes" (then ", no pos_embed" and the global pool when they are not
// timm's defaults, with where the pool came from).
std::string describe(const convit& m);

}  // namespace gpsa::cli
