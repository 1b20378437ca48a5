#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""No include runs upward inside gpsa::core (docs/CONTRIBUTING.md, "Which header").

Every header and source of the core has a level; a file may include only files of its own level
or below. A file missing from the table fails the check, so a new one gets a level here.
    check_core_layers.py REPO_ROOT
"""
import pathlib
import re
import sys

# Levels, bottom first. Sources take the level of what they implement.
LEVELS = [
    # 0: the header-only tables library gpsa::gpsa, below the core
    ["gpsa/status.hpp", "gpsa/grid.hpp", "gpsa/rel_indices.hpp", "gpsa/registry.hpp",
     "gpsa/detail/constexpr_math.hpp", "gpsa/detail/checked.hpp", "gpsa/version.hpp",
     "version.cpp"],
    # 1: the bottom of the core
    ["gpsa/core/types.hpp"],
    # 2: dense kernels (and image preprocessing, beside them)
    ["gpsa/core/linalg.hpp", "gpsa/core/nn_kernels.hpp", "gpsa/core/preprocess.hpp",
     "gemm_blocked.hpp", "linalg_impl.hpp", "linalg_hwy.hpp", "fp_env.hpp", "nn_kernels_hwy.hpp",
     "nn_kernels_impl.hpp", "packing.hpp",
     "linalg.cpp", "linalg_hwy.cpp", "gemm.cpp", "nn_kernels.cpp", "nn_kernels_hwy.cpp",
     "preprocess.cpp",
     "gpsa/core/int8.hpp", "int8_kernels.hpp", "exp_scalar.hpp", "int8.cpp"],
    # 3: the folded positional branch
    ["gpsa/core/fold.hpp", "fold_kernels.hpp", "fold.cpp"],
    # 4: the dense positional branch, local_init, nonlocality
    ["gpsa/core/positional.hpp", "positional.cpp"],
    # 5: building blocks shared by the layer and the model
    ["nn.hpp", "nn.cpp"],
    # 6: the GPSA layer
    ["gpsa/core/layer.hpp", "layer.cpp"],
    # 7: the whole model
    ["gpsa/core/convit.hpp", "convit_layers.hpp", "convit.cpp", "convit_probe.cpp",
     "convit_low_memory.cpp"],
    # 8: the C API over all of it, and the int8 model (its block and linear types are gpsa.h's)
    ["gpsa/gpsa.h", "c_api.cpp", "gpsa/core/convit_int8.hpp", "convit_int8.cpp"],
]
LEVEL = {name: i for i, names in enumerate(LEVELS) for name in names}
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]', re.M)


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    files = sorted((root / "src/core").iterdir()) + sorted((root / "include/gpsa/core").iterdir())
    bad = []
    for path in files:
        # Private headers and sources by file name, public ones by their include path.
        name = path.name if path.parent == root / "src/core" else "gpsa/core/" + path.name
        if name not in LEVEL:
            bad.append(f"{path.relative_to(root)}: not in the level table of {__file__}")
            continue
        for inc in INCLUDE.findall(path.read_text()):
            if inc not in LEVEL:
                # System and third-party headers (<cstddef>, <hwy/highway.h>, <xmmintrin.h>);
                # any other gpsa or core-private header must have a level.
                if inc.startswith("gpsa/") or (root / "src/core" / inc).exists():
                    bad.append(f"{path.relative_to(root)}: includes {inc}, which has no level")
                continue
            if LEVEL[inc] > LEVEL[name]:
                bad.append(f"{path.relative_to(root)} (level {LEVEL[name]}) includes {inc} "
                           f"(level {LEVEL[inc]}): upward")
    for line in bad:
        print(line, file=sys.stderr)
    if not bad:
        print(f"ok: {len(files)} core files, no upward include")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
