#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Regenerates the fuzz seed corpus (Python standard library only): python3 make_corpus.py

Small, valid files that reach every branch of the readers' happy paths: each .npy version,
both float dtypes, scalar/empty/1-D shapes; safetensors with every convertible dtype, an
unsupported one, metadata, empty tensors and a GPSA layer with timm key names. Then the limit
cases of docs/reliability.md, at and one over the limits the fuzz targets set (16 tensors, rank 8, 16
metadata entries; the real limits need more than -max_len bytes) and at the real rank limit 64:
tensor count, rank, metadata size and kind, unexpected fields, control characters in keys.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def npy(descr, shape, payload, major=1, fortran=False):
    shape_txt = "()" if not shape else "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_txt)
    pre = 10 if major == 1 else 12
    pad = (64 - (pre + len(d) + 1) % 64) % 64
    header = (d + " " * pad + "\n").encode("latin1")
    length = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header + payload


def safetensors(tensors, metadata=None, extra=None):
    """tensors: list of (key, dtype, shape, raw bytes); extra: more fields for every tensor."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for key, dtype, shape, raw in tensors:
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        header[key].update(extra or {})
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v): return struct.pack("<%df" % len(v), *v)
def f64(*v): return struct.pack("<%dd" % len(v), *v)
def u16(*v): return struct.pack("<%dH" % len(v), *v)


def write(folder, name, blob):
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(blob)


def main():
    write("npy", "f4_2x3_v1.npy", npy("<f4", [2, 3], f32(1, 2, 3, 4, 5, 6)))
    write("npy", "f8_scalar_v1.npy", npy("<f8", [], f64(0.1)))
    write("npy", "f4_vec_v2.npy", npy("<f4", [3], f32(-1, 0.5, float("inf")), major=2))
    write("npy", "f8_2x1x2_v3.npy", npy("<f8", [2, 1, 2], f64(1e300, -0.0, float("nan"), 2), major=3))
    write("npy", "f4_empty_0x3.npy", npy("<f4", [0, 3], b""))
    write("npy", "f4_fortran_1x2.npy", npy("<f4", [1, 2], f32(7, 8), fortran=True))

    write("safetensors", "all_dtypes.safetensors", safetensors([
        ("a.f32", "F32", [2, 2], f32(1, 2, 3, 4)),
        ("b.f16", "F16", [3], u16(0x3C00, 0x0001, 0x7C00)),
        ("c.bf16", "BF16", [2], u16(0x3F80, 0x7FC0)),
        ("d.f64", "F64", [], f64(0.1)),
        ("e.i64", "I64", [1], struct.pack("<q", 7)),
        ("f.empty", "F32", [0, 4], b""),
    ], metadata={"format": "pt"}))
    write("safetensors", "empty.safetensors", safetensors([]))
    # Regression: a number beyond double's range made nlohmann throw out_of_range (fuzzer find).
    hdr = b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[1e400,4]}}'
    write("safetensors", "regress_number_overflow.safetensors", struct.pack("<Q", len(hdr)) + hdr + b"\0" * 4)
    d, h = 4, 1
    ident = [1.0 if i == j else 0.0 for i in range(d) for j in range(d)]
    p = "blocks.0.attn."
    write("safetensors", "gpsa_layer_d4_h1.safetensors", safetensors([
        (p + "gating_param", "F32", [h], f32(1.0)),
        (p + "pos_proj.bias", "F32", [h], f32(0.0)),
        (p + "pos_proj.weight", "F32", [h, 3], f32(0.0, 0.0, -1.0)),
        (p + "proj.bias", "F32", [d], f32(*([0.0] * d))),
        (p + "proj.weight", "F32", [d, d], f32(*ident)),
        (p + "qk.weight", "F32", [2 * d, d], f32(*(ident + ident))),
        (p + "v.weight", "F32", [d, d], f32(*ident)),
    ]))


    # Limits (fuzz targets: 16 tensors, rank 8, 16 metadata entries; readers: rank 64).
    for n in (16, 17):
        write("safetensors", "limit_tensors_%d.safetensors" % n,
              safetensors([("t%d" % i, "F32", [1], f32(i)) for i in range(n)]))
    for rank in (8, 9, 64, 65):
        write("safetensors", "limit_rank_%d.safetensors" % rank,
              safetensors([("t", "F32", [1] * rank, f32(1))]))
    for n in (16, 17):
        write("safetensors", "limit_metadata_%d.safetensors" % n,
              safetensors([("t", "F32", [1], f32(1))], metadata={"k%d" % i: "v" for i in range(n)}))
    write("safetensors", "metadata_not_string.safetensors",
          safetensors([("t", "F32", [1], f32(1))], metadata={"format": {"nested": ["pt"]}}))
    dup = b'{"__metadata__":{"a":"x","a":"y"},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    write("safetensors", "metadata_duplicate.safetensors", struct.pack("<Q", len(dup)) + dup + f32(1))
    write("safetensors", "unexpected_field.safetensors",
          safetensors([("t", "F32", [1], f32(1))], extra={"extra": {"deep": [1, 2, 3]}}))
    write("safetensors", "control_chars_in_key.safetensors",
          safetensors([("evil\n\x1b[31m\u202e", "X", [1], f32(1))]))
    write("npy", "limit_rank_8.npy", npy("<f4", [1] * 8, f32(1)))
    write("npy", "limit_rank_9.npy", npy("<f4", [1] * 9, f32(1)))
    write("npy", "control_chars_in_descr.npy", npy("<f4\x1b[2J", [1], f32(1)))


if __name__ == "__main__":
    main()
