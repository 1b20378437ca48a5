#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a timm-keyed ConViT checkpoint with random weights (safetensors, float32), for
measuring gpsa on real model shapes without downloading anything. Standard library only.

usage: tools/make_convit_checkpoint.py OUT.safetensors [--model tiny|small|base]
                                       [--image S] [--classes K] [--seed N]

The weights are uniform random, scaled like nn.Linear's initialisation (so activations stay
O(1)); the GPSA blocks' pos_proj follows ConViT's local_init with some noise. Only the shapes
and key names matter for what this is for (peak memory, speed); the predictions mean nothing.
Example (peak RSS of gpsa classify on ConViT-Ti):

  tools/make_convit_checkpoint.py /tmp/convit_tiny.safetensors --model tiny
  build/default/cli/gpsa preprocess --image tests/golden/images/scene_320x240.jpg -o /tmp/x.npy
  /usr/bin/time -v build/default/cli/gpsa classify --weights /tmp/convit_tiny.safetensors \\
      --input /tmp/x.npy
"""
import argparse
import array
import json
import math
import random
import struct
import sys

# timm's registered ConViTs: embed_dim = 48 * heads, depth 12, local_up_to_layer 10, mlp 4x.
MODELS = {"tiny": 4, "small": 9, "base": 16}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--model", choices=sorted(MODELS), default="tiny")
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    H = MODELS[a.model]
    D, depth, local, M, p, C = 48 * H, 12, 10, 4 * 48 * H, 16, 3
    if a.image % p != 0 or a.image <= 0:
        sys.exit(f"--image {a.image}: must be a positive multiple of {p}")
    N = (a.image // p) ** 2
    rng = random.Random(a.seed)
    tensors = []  # (key, shape, array('f'))

    def put(key, shape, lo, hi):
        n = math.prod(shape)
        tensors.append((key, shape, array.array("f", (rng.uniform(lo, hi) for _ in range(n)))))

    def linear(key, out, inp, bias=True):
        s = math.sqrt(3.0 / inp)
        put(key + ".weight", [out, inp], -s, s)
        if bias:
            put(key + ".bias", [out], -0.1, 0.1)

    def norm(key):
        put(key + ".weight", [D], 0.8, 1.2)
        put(key + ".bias", [D], -0.1, 0.1)

    s = math.sqrt(3.0 / (C * p * p))
    put("patch_embed.proj.weight", [D, C, p, p], -s, s)
    put("patch_embed.proj.bias", [D], -0.1, 0.1)
    put("pos_embed", [1, N, D], -0.5, 0.5)
    put("cls_token", [1, 1, D], -0.5, 0.5)
    k = int(math.isqrt(H))
    for i in range(depth):
        b = f"blocks.{i}."
        norm(b + "norm1")
        if i < local:
            linear(b + "attn.qk", 2 * D, D, bias=False)
            linear(b + "attn.v", D, D, bias=False)
            # local_init: head h1 + k*h2 looks at offset (h2 - c, h1 - c), strength 1..2
            w = array.array("f")
            c = (k - 1) / 2
            for h in range(H):
                h1, h2, st = h % k, h // k, rng.uniform(1.0, 2.0)
                w.extend([st * 2 * (h2 - c) + rng.uniform(-0.3, 0.3),
                          st * 2 * (h1 - c) + rng.uniform(-0.3, 0.3), -st])
            tensors.append((b + "attn.pos_proj.weight", [H, 3], w))
            put(b + "attn.pos_proj.bias", [H], -0.5, 0.5)
            put(b + "attn.gating_param", [H], -2.0, 2.0)
        else:
            linear(b + "attn.qkv", 3 * D, D, bias=False)
        linear(b + "attn.proj", D, D)
        norm(b + "norm2")
        linear(b + "mlp.fc1", M, D)
        linear(b + "mlp.fc2", D, M)
    norm("norm")
    linear("head", a.classes, D)

    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for key, shape, v in tensors:
        n = len(v) * 4
        header[key] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data section starts 8-byte aligned, as safetensors writes it
    if sys.byteorder != "little":
        for _, _, v in tensors:
            v.byteswap()
    with open(a.out, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, v in tensors:
            v.tofile(f)
    params = sum(len(v) for _, _, v in tensors)
    print(f"{a.out}: ConViT-{a.model[0].upper()}{a.model[1:]} shapes, {a.image}x{a.image}, "
          f"{a.classes} classes: {params} parameters, {offset / 1e6:.1f} MB of float32 weights")


if __name__ == "__main__":
    main()
