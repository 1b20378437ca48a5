#!/usr/bin/env python3
"""Regenerates the fuzz seed corpus (Python standard library only): python3 make_corpus.py

Small, valid files that reach every branch of the readers' happy paths: each .npy version,
both float dtypes, scalar/empty/1-D shapes; safetensors with every convertible dtype, an
unsupported one, metadata, empty tensors and a GPSA layer with timm key names.
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


def safetensors(tensors, metadata=None):
    """tensors: list of (key, dtype, shape, raw bytes)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for key, dtype, shape, raw in tensors:
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
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


if __name__ == "__main__":
    main()
