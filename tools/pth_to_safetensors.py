#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Converts a PyTorch checkpoint (.pth/.pt) to safetensors for gpsa, with PyTorch only (no
`safetensors` package needed). Developer/user tool: gpsa's build and tests never run it.

usage: tools/pth_to_safetensors.py IN.pth OUT.safetensors [--key model] [--strip-prefix module.]
                                  [--global-pool token|avg] [--img-size S]

IN may hold a bare state_dict or one under 'model', 'state_dict' or 'model_state' (or --key K),
or a whole pickled nn.Module (its state_dict() is taken; its class must be importable).
Every floating-point tensor is written with its dtype (F32, F16, BF16, F64); other tensors
(e.g. SWA's integer step counter n_averaged) are not weights: they are skipped and listed.
Keys are written as they are, or without --strip-prefix P where they start with P (gpsa names
the prefix to strip, e.g. 'module.' from DataParallel, when it reads a file that has one).
What the state_dict cannot tell goes into the safetensors metadata, where gpsa reads it:
--global-pool (timm's global_pool of the model: 'token', timm's default, or 'avg') and --img-size
(timm's img_size, needed for a model built with use_pos_embed=False or an image size that is not
a multiple of the patch).
"""
import argparse
import json
import os
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def state_dict_of(obj, key):
    if key is not None:
        obj = obj[key]
    if isinstance(obj, torch.nn.Module):  # torch.save(model) instead of model.state_dict()
        obj = obj.state_dict()
    elif isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        for k in ("model", "state_dict", "model_state"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict):
        sys.exit(f"no state_dict found (a {type(obj).__name__}); give --key")
    return {k: v for k, v in obj.items() if torch.is_tensor(v)}


def load(path):
    """torch.load, or one line (not a traceback) when the file cannot be unpickled."""
    try:
        try:
            # A whole pickled model (or an older checkpoint) needs weights_only=False: convert
            # only files you trust, as for any torch.load.
            return torch.load(path, map_location="cpu", weights_only=False)
        except TypeError:  # PyTorch before 1.13 has no weights_only
            return torch.load(path, map_location="cpu")
    except Exception as e:
        why = str(e).splitlines()[0] if str(e) else ""
        sys.exit(f"{path}: cannot load ({type(e).__name__}: {why}); a whole pickled model "
                 "needs its class importable (e.g. pip install timm), or save "
                 "model.state_dict() instead")


def raw_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: its bit pattern as int16
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--key", help="the checkpoint entry holding the state_dict")
    ap.add_argument("--strip-prefix", default="", help="remove this prefix from the keys")
    ap.add_argument("--global-pool", choices=("token", "avg"),
                    help="the model's global_pool, stored in the metadata")
    ap.add_argument("--img-size", type=int, help="the model's img_size, stored in the metadata")
    a = ap.parse_args()
    if a.img_size is not None and a.img_size <= 0:
        sys.exit(f"--img-size {a.img_size}: expected a positive integer")
    if os.path.abspath(a.input) == os.path.abspath(a.output):
        sys.exit("the output would overwrite the input")
    obj = load(a.input)
    sd = state_dict_of(obj, a.key)
    skipped = sorted(k for k, v in sd.items() if v.dtype not in DTYPES)
    sd = {k: v for k, v in sd.items() if v.dtype in DTYPES}
    p = a.strip_prefix
    sd = {(k[len(p):] if p and k.startswith(p) else k): v for k, v in sd.items()}
    metadata = {"format": "pt"}
    if a.global_pool:
        metadata["global_pool"] = a.global_pool
    if a.img_size:
        metadata["img_size"] = str(a.img_size)
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for k in sorted(sd):
        t = sd[k]
        if t.dtype not in DTYPES:
            sys.exit(f"{k}: dtype {t.dtype} has no safetensors name here")
        b = raw_bytes(t)
        header[k] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                     "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data section starts 8-byte aligned
    tmp = a.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, a.output)
    print(f"{a.output}: {len(sd)} tensors, {offset} bytes of data" +
          (f"; skipped (not floating point): {', '.join(skipped)}" if skipped else ""))


if __name__ == "__main__":
    main()
