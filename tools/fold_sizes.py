#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measures the firmware headers `gpsa fold --format c` writes for ConViT-Ti/S/B shapes.

For each shape (H = 4 / 9 / 16 heads, 14x14 grid, 10 GPSA layers, like timm's convit_tiny /
small / base) it writes a synthetic checkpoint with the GPSA keys only (local_init-like weights,
perturbed per layer), runs `gpsa fold --format c`, compiles the header as C99 with
-Wall -Wextra -Werror, and reports: header text size, the folded data (sizeof of every array, and
the .rodata of an object that keeps them all), and the dense positional attention it replaces
(H*N*N floats per layer). Standard library only; needs a C compiler (cc) and `size`.

usage: tools/fold_sizes.py PATH/TO/gpsa [--cc cc] [--grid 14] [--layers 10]
Prints a Markdown table."""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

SHAPES = [("ConViT-Ti", 4), ("ConViT-S", 9), ("ConViT-B", 16)]


def checkpoint(path, heads, layers):
    k = int(math.isqrt(heads))
    c = (k - 1) / 2
    tensors = {}
    for l in range(layers):
        w = []
        for h in range(heads):
            h1, h2 = h % k, h // k
            if h < k * k:
                w += [2 * (h2 - c), 2 * (h1 - c), -1.0 - 0.1 * l]
            else:  # heads beyond K*K keep their (here: small) weights, as local_init does
                w += [0.1 * h, -0.05 * h, -0.5]
        tensors[f"blocks.{l}.attn.pos_proj.weight"] = ([heads, 3], w)
        tensors[f"blocks.{l}.attn.pos_proj.bias"] = ([heads], [0.0] * heads)
        tensors[f"blocks.{l}.attn.gating_param"] = ([heads], [1.0 - 0.2 * l] * heads)
    header, data = {}, b""
    for key, (shape, vals) in tensors.items():
        raw = struct.pack(f"<{len(vals)}f", *vals)
        header[key] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gpsa")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--grid", type=int, default=14)
    ap.add_argument("--layers", type=int, default=10)
    a = ap.parse_args()
    S, L = a.grid, a.layers
    N = S * S
    print(f"| shape | H | header text | folded data (sizeof) | object .rodata | per layer | dense H*N^2 per layer | dense, {L} layers | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, H in SHAPES:
            ck = os.path.join(tmp, f"{name}.safetensors")
            hdr = os.path.join(tmp, "gpsa_fold.h")
            checkpoint(ck, H, L)
            run([os.path.abspath(a.gpsa), "fold", "--weights", ck, "--grid", str(S), "-o", hdr])
            sizes = os.path.join(tmp, "sizes.c")
            with open(sizes, "w") as f:
                f.write('#include <stdio.h>\n#include "gpsa_fold.h"\nint main(void) {\n  size_t n = 0;\n')
                for l in range(L):
                    f.write(f"  n += sizeof gpsa_fold_l{l}_fx + sizeof gpsa_fold_l{l}_gy + sizeof gpsa_fold_l{l}_lambda;\n")
                f.write('  printf("%zu\\n", n);\n  return 0;\n}\n')
            keep = os.path.join(tmp, "keep.c")
            with open(keep, "w") as f:  # an object holding exactly the arrays
                f.write('#include "gpsa_fold.h"\nconst float* keep_all(int l, int w);\n'
                        "const float* keep_all(int l, int w) { return w == 0 ? gpsa_fold_fx[l] : w == 1 ? gpsa_fold_gy[l] : gpsa_fold_lambda[l]; }\n")
            flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", tmp]
            exe = os.path.join(tmp, "sizes")
            run([a.cc, *flags, sizes, "-o", exe])
            data = int(run([exe]).strip())
            obj = os.path.join(tmp, "keep.o")
            run([a.cc, *flags, "-O2", "-fno-pic", "-c", keep, "-o", obj])
            rodata = 0
            for line in run(["size", "-A", obj]).splitlines():
                parts = line.split()
                if parts and parts[0].startswith(".rodata"):
                    rodata += int(parts[1])
            per_layer = H * (2 * N) + H  # H*(R^2 + C^2) + H floats, R = C = S
            assert per_layer * 4 * L == data, (per_layer, data)
            dense = H * N * N * 4
            print(f"| {name} | {H} | {os.path.getsize(hdr) / 1024:.0f} KiB | {data} B ({data / 1024:.1f} KiB) | "
                  f"{rodata} B | {per_layer} floats = {per_layer * 4} B | {H * N * N} floats = {dense / 1024:.0f} KiB | "
                  f"{dense * L / 2**20:.1f} MiB | {dense / (per_layer * 4):.0f}x |")


if __name__ == "__main__":
    main()
