#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates the C headers the firmware test images embed, from the golden PyTorch data.

A firmware image has no file system, so its reference data is compiled in. Each header in
HEADERS below is built from files in tests/golden/ (PyTorch's outputs) by this script, with the
Python standard library only, and is committed (like ctre's single header); ctest regenerates
them in memory and fails when a committed one differs (--check).

  firmware/tools/golden_headers.py                      rewrite every header
  firmware/tools/golden_headers.py --check              compare, exit 1 naming a stale header
  firmware/tools/golden_headers.py --gpsa build/default/cli/gpsa [--check]
                                                        also the headers `gpsa fold` writes (the
                                                        folded layer; layers with their weights)

Adding a header: write a function that returns the header text (see rel_indices_golden and
convit_tiny_golden; read_npy / read_safetensors / c_array do the work) and list it in HEADERS.
"""
import argparse
import ast
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
OUT = os.path.join(ROOT, "firmware", "golden")


# ---- readers (little-endian float32/float64, C order: what tests/golden holds) --------------

def read_npy(path):
    """Returns (shape, values) of a .npy file with dtype <f4, <f8 or <i8, C order."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:6] != b"\x93NUMPY":
        raise SystemExit(f"{path}: not a .npy file")
    major = raw[6]
    hlen_size = 2 if major == 1 else 4
    hlen = int.from_bytes(raw[8:8 + hlen_size], "little")
    header = raw[8 + hlen_size:8 + hlen_size + hlen].decode("latin1")
    meta = ast.literal_eval(header)
    if meta["fortran_order"] or meta["descr"] not in ("<f4", "<f8", "<i8"):
        raise SystemExit(f"{path}: expected C-order <f4, <f8 or <i8, got {meta}")
    shape = tuple(meta["shape"])
    count = math.prod(shape)
    code = {"<f4": "f", "<f8": "d", "<i8": "q"}[meta["descr"]]
    data = raw[8 + hlen_size + hlen:]
    values = struct.unpack_from(f"<{count}{code}", data)
    return shape, list(values)


def read_safetensors(path):
    """Returns {key: (shape, values)} for the F32 tensors of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack_from("<Q", raw)[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for key, t in header.items():
        if key == "__metadata__" or t["dtype"] != "F32":
            continue
        b, e = t["data_offsets"]
        out[key] = (tuple(t["shape"]), list(struct.unpack_from(f"<{(e - b) // 4}f", raw, 8 + n + b)))
    return out


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- C emission -----------------------------------------------------------------------------

def f32(x):
    """x rounded to float32 (as a Python float)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def float_literal(v):
    """Shortest decimal that reads back as the same float32, with an f suffix."""
    v = f32(v)
    if not math.isfinite(v):
        raise SystemExit(f"non-finite value {v} in golden data")
    for prec in range(1, 10):
        s = "%.*g" % (prec, v)
        if f32(float(s)) == v:
            break
    if "." not in s and "e" not in s:
        s += ".0"
    return s + "f"


def double_literal(v):
    s = repr(float(v))  # shortest round-trip form
    return s if ("." in s or "e" in s) else s + ".0"


def c_array(ctype, name, dims, values, fmt, per_line=8):
    """`static GOLDEN_CONST ctype name[d0][d1]... GOLDEN_UNUSED = {...};`, braces per dimension."""
    if math.prod(dims) != len(values):
        raise SystemExit(f"{name}: {len(values)} values for dims {dims}")

    def emit(dims, vals, indent):
        if len(dims) == 1:
            return [indent + ", ".join(fmt(v) for v in vals[i:i + per_line]) + ","
                    for i in range(0, len(vals), per_line)]
        step = math.prod(dims[1:])
        out = []
        for i in range(dims[0]):
            out.append(indent + "{")
            out += emit(dims[1:], vals[i * step:(i + 1) * step], indent + "  ")
            out.append(indent + "},")
        return out

    ext = "".join(f"[{d}]" for d in dims)
    return f"static GOLDEN_CONST {ctype} {name}{ext} GOLDEN_UNUSED = {{\n" + \
        "\n".join(emit(list(dims), values, "  ")) + "\n};\n"


PRELUDE = """\
#ifndef GOLDEN_CONST
#ifdef __cplusplus
#define GOLDEN_CONST constexpr /* usable in constant expressions (e.g. gpsa::layer_fold) */
#else
#define GOLDEN_CONST const
#endif
#if defined(__GNUC__)
#define GOLDEN_UNUSED __attribute__((unused))
#else
#define GOLDEN_UNUSED
#endif
#endif
"""


def header(name, purpose, sources, body, origin="PyTorch reference data"):
    guard = name.upper().replace(".", "_") + "_INCLUDED"
    lines = ["/* SPDX-License-Identifier: MIT */",
             f"/* {name}: {purpose}", " * Generated by firmware/tools/golden_headers.py; do not edit.",
             f" * Sources (tests/golden, {origin}) and their SHA-256:"]
    for s in sources:
        lines.append(f" *   {os.path.relpath(s, GOLDEN)}  {sha256(s)}")
    lines.append(" */")
    return "\n".join(lines) + f"\n#ifndef {guard}\n#define {guard}\n\n" + PRELUDE + "\n" + body + \
        f"\n#endif /* {guard} */\n"


# ---- the headers ----------------------------------------------------------------------------

REL_GRIDS = (1, 2, 3, 4, 7, 14)


def rel_indices_golden():
    """PyTorch's get_rel_indices tables, losslessly as int16: every value is a small integer,
    checked here to give back the exact float32 bits (sign of zero included)."""
    body, sources = "", []
    for s in REL_GRIDS:
        path = os.path.join(GOLDEN, f"rel_indices_s{s}.npy")
        sources.append(path)
        shape, vals = read_npy(path)
        n = s * s
        if shape != (n, n, 3):
            raise SystemExit(f"{path}: shape {shape}, expected {(n, n, 3)}")
        ints = []
        for v in vals:
            i = int(v)
            if not (-32768 <= i <= 32767) or struct.pack("<f", float(i)) != struct.pack("<f", v):
                raise SystemExit(f"{path}: value {v!r} is not an int16 that converts back exactly")
            ints.append(i)
        body += f"/* rel_indices_s{s}.npy: ({n}, {n}, 3), element (p, q, c) at (p*{n} + q)*3 + c */\n"
        body += f"#define GOLDEN_REL_S{s}_COUNT {len(ints)}\n"
        body += c_array("short", f"golden_rel_s{s}", [len(ints)], ints, str, per_line=24)
        body += "\n"
    return header("rel_indices_golden.h",
                  "PyTorch's relative-index tables (GPSA.get_rel_indices) for S = "
                  + ", ".join(map(str, REL_GRIDS)) + ",\n * as int16 (all values are integers; "
                  "(float)value has the golden float32's exact bits).", sources, body)


CONVIT_CASE = "s14_h4_c192_convit_tiny"
CONVIT_ROWS = (0, 13, 97, 105, 182, 195)  # corners, an edge, the centre (y*14 + x)


def convit_tiny_golden():
    """The ConViT-Ti-shaped golden layer (14x14, 4 heads): its positional weights, and for a few
    query rows the positional attention softmax(P) in float64 (computed here from the weights,
    independent of gpsa), the content attention in float64 (from x.npy and qk.weight; rounded to
    float32 as the blend's input) and PyTorch's attention rows from attn.npy."""
    case_dir = os.path.join(GOLDEN, CONVIT_CASE)
    with open(os.path.join(GOLDEN, "cases.json")) as f:
        meta = json.load(f)
    case = next(c for c in meta["cases"] if c["name"] == CONVIT_CASE)
    pre, S, H, D = case["prefix"], case["grid"], case["heads"], case["dim"]
    N, d = S * S, D // H
    wpath, xpath, apath = (os.path.join(case_dir, f) for f in ("weights.safetensors", "x.npy", "attn.npy"))
    st = read_safetensors(wpath)
    w = st[pre + ".pos_proj.weight"][1]
    b = st[pre + ".pos_proj.bias"][1]
    gating = st[pre + ".gating_param"][1]
    wqk = st[pre + ".qk.weight"][1]  # (2D, D)
    bqk = st[pre + ".qk.bias"][1] if pre + ".qk.bias" in st else [0.0] * (2 * D)
    xshape, x = read_npy(xpath)
    ashape, attn = read_npy(apath)
    if xshape[1:] != (N, D) or ashape[1:] != (H, N, N):
        raise SystemExit(f"{CONVIT_CASE}: unexpected shapes x {xshape}, attn {ashape}")

    def softmax(row):
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = math.fsum(e)
        return [v / s for v in e]

    pos, content, ref = [], [], []
    xb = [x[n * D:(n + 1) * D] for n in range(N)]  # batch item 0
    for h in range(H):
        # P[h,p,q] = W0*dx + W1*dy + W2*(dx^2+dy^2) + b (the definition; no separability used)
        for p in CONVIT_ROWS:
            yp, xp = divmod(p, S)
            logits = []
            for q in range(N):
                yq, xq = divmod(q, S)
                dx, dy = xq - xp, yq - yp
                logits.append(w[3 * h] * dx + w[3 * h + 1] * dy + w[3 * h + 2] * (dx * dx + dy * dy) + b[h])
            pos += softmax(logits)
        # content[h] = softmax(q_h k_h^T / sqrt(d))
        rows_q = [[math.fsum(a * c for a, c in zip(xb[n], wqk[(h * d + j) * D:(h * d + j + 1) * D]))
                   + bqk[h * d + j] for j in range(d)] for n in CONVIT_ROWS]
        keys = [[math.fsum(a * c for a, c in zip(xb[n], wqk[(D + h * d + j) * D:(D + h * d + j + 1) * D]))
                 + bqk[D + h * d + j] for j in range(d)] for n in range(N)]
        scale = 1.0 / math.sqrt(d)
        for qv in rows_q:
            content += softmax([math.fsum(a * c for a, c in zip(qv, k)) * scale for k in keys])
        for p in CONVIT_ROWS:
            ref += attn[(h * N + p) * N:(h * N + p + 1) * N]

    R = len(CONVIT_ROWS)
    body = f"""\
/* Golden case {CONVIT_CASE}: grid {S}x{S} (N = {N}), H = {H}, D = {D}, batch item 0.
 * Tolerances (cases.json): attention max abs error <= {meta['tolerance']['attn_abs']!r}. */
#define CONVIT_TINY_GRID {S}
#define CONVIT_TINY_HEADS {H}
#define CONVIT_TINY_PATCHES {N}
#define CONVIT_TINY_ROWS {R}
#define CONVIT_TINY_ATTN_TOL {meta['tolerance']['attn_abs']!r}

/* {pre}.pos_proj.weight (H, 3), .pos_proj.bias (H), .gating_param (H): exact float32 */
"""
    body += c_array("float", "convit_tiny_pos_weight", [H * 3], w, float_literal, per_line=6)
    body += c_array("float", "convit_tiny_pos_bias", [H], b, float_literal)
    body += c_array("float", "convit_tiny_gating", [H], gating, float_literal)
    body += "\n/* the query patches p = y*14 + x of the rows below */\n"
    body += c_array("int", "convit_tiny_query_rows", [R], list(CONVIT_ROWS), str)
    body += "\n/* softmax(P[h]) rows in float64, [h][row][q] */\n"
    body += c_array("double", "convit_tiny_position_f64", [H, R, N], pos, double_literal, per_line=4)
    body += "\n/* content attention rows softmax(q_h k_h^T / sqrt(d)), float64 rounded to float32, [h][row][q] */\n"
    body += c_array("float", "convit_tiny_content", [H, R, N], content, float_literal, per_line=6)
    body += "\n/* PyTorch's attention rows attn.npy[0][h][p][:], exact float32, [h][row][q] */\n"
    body += c_array("float", "convit_tiny_attn", [H, R, N], ref, float_literal, per_line=6)
    return header("convit_tiny_golden.h",
                  "reference rows of the ConViT-Ti-shaped golden GPSA layer for the\n"
                  " * firmware fold test (positional weights; float64 softmax(P) and content "
                  "rows; PyTorch's attn rows).", [os.path.join(GOLDEN, "cases.json"), wpath, xpath, apath], body)


def layer_io_golden(case_name, symbol):
    """A whole layer's golden input and output (x.npy, y.npy: exact float32) and the y tolerance
    of cases.json, for the layer-forward images; the weights come from `gpsa fold --with-weights`
    (GPSA_HEADERS below)."""
    case_dir = os.path.join(GOLDEN, case_name)
    with open(os.path.join(GOLDEN, "cases.json")) as f:
        meta = json.load(f)
    case = next(c for c in meta["cases"] if c["name"] == case_name)
    S, H, D, B = case["grid"], case["heads"], case["dim"], case["batch"]
    N = S * S
    xpath, ypath = os.path.join(case_dir, "x.npy"), os.path.join(case_dir, "y.npy")
    xshape, x = read_npy(xpath)
    yshape, y = read_npy(ypath)
    if xshape != (B, N, D) or yshape != (B, N, D):
        raise SystemExit(f"{case_name}: x {xshape}, y {yshape}, expected {(B, N, D)}")
    apath = os.path.join(case_dir, "attn.npy")
    ashape, attn = read_npy(apath)
    if ashape != (B, H, N, N):
        raise SystemExit(f"{case_name}: attn {ashape}, expected {(B, H, N, N)}")
    # PyTorch's attention rows for some query patches: all of a small grid, else the corners,
    # an edge and the centre (as convit_tiny_golden.h).
    rows = tuple(range(N)) if N <= 16 else tuple(sorted({0, S - 1, N // 2, N // 2 + S // 2, N - S, N - 1}))
    attn_rows = []
    for b in range(B):
        for h in range(H):
            for p in rows:
                attn_rows += attn[((b * H + h) * N + p) * N:((b * H + h) * N + p + 1) * N]
    mac = symbol.upper()
    tol = meta["tolerance"]["y_rel_to_max"]
    body = f"""\
/* Golden case {case_name}: grid {S}x{S} (N = {N}), H = {H}, D = {D}, batch {B}, qkv_bias
 * {str(case["qkv_bias"]).lower()}. Tolerance (cases.json): max |y - y_ref| <= {tol!r} * max |y_ref|. */
#define {mac}_CASE "{case_name}"
#define {mac}_GRID {S}
#define {mac}_HEADS {H}
#define {mac}_DIM {D}
#define {mac}_BATCH {B}
#define {mac}_Y_REL_TOL {tol!r}

/* x.npy (B, N, D) and y.npy (B, N, D) = PyTorch's GPSA.forward(x): exact float32 */
"""
    body += c_array("float", f"{symbol}_x", [B * N, D], x, float_literal)
    body += c_array("float", f"{symbol}_y", [B * N, D], y, float_literal)
    body += f"""
/* attn.npy[b][h][p][:] (exact float32) for the query patches p below, [b][h][row][q];
 * tolerance (cases.json): max abs error <= {meta['tolerance']['attn_abs']!r} */
#define {mac}_ATTN_ROWS {len(rows)}
#define {mac}_ATTN_TOL {meta['tolerance']['attn_abs']!r}
"""
    body += c_array("int", f"{symbol}_attn_query", [len(rows)], list(rows), str, per_line=16)
    body += c_array("float", f"{symbol}_attn", [B * H * len(rows), N], attn_rows, float_literal)
    return header(f"{symbol}.h", f"input, output and attention rows of the golden GPSA layer\n"
                  f" * {case_name} for the firmware layer-forward test.",
                  [os.path.join(GOLDEN, "cases.json"), xpath, ypath, apath], body)


def int8_kernels_golden():
    """The int8 kernel fixtures of tools/int8_reference.py (tests/golden/int8: float32 tensors,
    integer codes stored exactly): block 0's fc2 of the digits model with its residual, and block
    0's norm1 codes. Codes become int8 / int32 arrays, checked here to be exact integers."""
    fc2_path = os.path.join(GOLDEN, "int8", "block0_fc2.safetensors")
    q_path = os.path.join(GOLDEN, "int8", "block0_norm1_quantize.safetensors")
    fc2, q = read_safetensors(fc2_path), read_safetensors(q_path)

    def ints(t, name, lo, hi):
        vals = t[name][1]
        if any(v != int(v) or not lo <= v <= hi for v in vals):
            raise SystemExit(f"{name}: not integer codes in [{lo}, {hi}]")
        return [int(v) for v in vals]

    (N, K), (M, _) = fc2["w"][0], fc2["x_codes"][0]
    QM, QK = q["x"][0]
    body = f"""\
/* Block 0's mlp.fc2 of the digits ConViT (tools/int8_reference.py kernels): M = {M} token rows of
 * the calibration pass, in = {K}, out = {N}; y = y_in + (float(acc) * multiplier + bias). */
#define INT8_FC2_M {M}
#define INT8_FC2_N {N}
#define INT8_FC2_K {K}
#define INT8_Q_ROWS {QM}
#define INT8_Q_COLS {QK}
"""
    body += c_array("float", "int8_fc2_w", [N, K], fc2["w"][1], float_literal)
    body += c_array("signed char", "int8_fc2_w_codes", [N, K], ints(fc2, "w_codes", -127, 127), str, 16)
    body += c_array("float", "int8_fc2_w_scales", [N], fc2["w_scales"][1], float_literal)
    body += c_array("float", "int8_fc2_x", [M, K], fc2["x"][1], float_literal)
    body += c_array("float", "int8_fc2_x_scale", [1], fc2["x_scale"][1], float_literal)
    body += c_array("float", "int8_fc2_x_multiplier", [1], fc2["x_multiplier"][1], float_literal)
    body += c_array("signed char", "int8_fc2_x_codes", [M, K], ints(fc2, "x_codes", -127, 127), str, 16)
    body += c_array("float", "int8_fc2_multiplier", [N], fc2["multiplier"][1], float_literal)
    body += c_array("float", "int8_fc2_bias", [N], fc2["bias"][1], float_literal)
    body += c_array("int", "int8_fc2_acc", [M, N], ints(fc2, "acc", -2**31, 2**31 - 1), str, 8)
    body += c_array("float", "int8_fc2_y_in", [M, N], fc2["y_in"][1], float_literal)
    body += c_array("float", "int8_fc2_y", [M, N], fc2["y"][1], float_literal)
    body += "\n/* Block 0's norm1 output rows and their codes (x_multiplier) */\n"
    body += c_array("float", "int8_q_x", [QM, QK], q["x"][1], float_literal)
    body += c_array("float", "int8_q_multiplier", [1], q["x_multiplier"][1], float_literal)
    body += c_array("signed char", "int8_q_codes", [QM, QK], ints(q, "x_codes", -127, 127), str, 16)
    return header("int8_kernels_golden.h", "the int8 kernel fixtures of the NumPy reference\n"
                  " * (tools/int8_reference.py kernels) for the firmware int8 kernel test.",
                  [fc2_path, q_path], body, origin="made by tools/int8_reference.py")


# The whole-layer cases on the target: (golden case, symbol prefix of its headers).
LAYER_CASES = (("s4_h4_c32_sharp", "s4_sharp"), (CONVIT_CASE, "convit_tiny"))

HEADERS = {
    "rel_indices_golden.h": rel_indices_golden,
    "convit_tiny_golden.h": convit_tiny_golden,
    "int8_kernels_golden.h": int8_kernels_golden,
}
for _case, _sym in LAYER_CASES:
    HEADERS[f"{_sym}_io.h"] = (lambda c, s: lambda: layer_io_golden(c, s + "_io"))(_case, _sym)


def weights_of(case_name):
    return os.path.join("tests", "golden", case_name, "weights.safetensors")


def grid_of(case_name):
    with open(os.path.join(GOLDEN, "cases.json")) as f:
        return str(next(c for c in json.load(f)["cases"] if c["name"] == case_name)["grid"])


# Written by the gpsa CLI itself (--gpsa): the folded ConViT-Ti layer, and each layer case with
# its weights (`gpsa fold --with-weights`), as firmware headers. {header: gpsa arguments}
GPSA_HEADERS = {
    "convit_tiny_fold.h": ["fold", "--weights", weights_of(CONVIT_CASE), "--grid", "14",
                           "--name", "convit_tiny_fold", "--format", "c"],
}
# The trained digits ConViT, whole (`gpsa export`), refused if it does not fit the part.
DIGITS = os.path.join("tests", "golden", "digits", "convit_digits")
GPSA_HEADERS["digits_model.h"] = ["export", "--weights", os.path.join(DIGITS, "model.safetensors"),
                                  "--name", "digits_model", "--flash", "1M", "--ram", "128K"]
# The same model in int8 (`gpsa export --int8`), calibrated on the digits' x_calib.npy, refused if
# it does not fit a 256 KB / 64 KB part.
GPSA_HEADERS["digits_int8_model.h"] = ["export", "--int8", "--calibration",
                                       os.path.join(DIGITS, "x_calib.npy"), "--weights",
                                       os.path.join(DIGITS, "model.safetensors"), "--name",
                                       "digits_int8", "--flash", "256K", "--ram", "64K"]
for _case, _sym in LAYER_CASES:
    GPSA_HEADERS[f"{_sym}_layer.h"] = ["fold", "--weights", weights_of(_case), "--grid", grid_of(_case),
                                       "--name", f"{_sym}_layer", "--format", "c", "--with-weights"]


def gpsa_header(gpsa, name, args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, name)
        p = subprocess.run([gpsa] + args + ["-o", out], cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{gpsa} {' '.join(args)}: failed:\n{p.stderr}")
        with open(out, encoding="utf-8") as f:
            return f.read()


INT8_DIGITS = os.path.join("tests", "golden", "int8", "digits_model.safetensors")


def digits_testdata(int8=False):
    """The digits test set for the firmware image, not committed (written into the build folder
    by --testdata): the 360 images (exact float32), their labels and timm's logits -- or, with
    int8, the host's int8 logits (tools/int8_reference.py model, which gpsa's int8 forward gives
    bit for bit) -- in the .testdata section (outside the part's flash budget, see
    part_1m_128k.ld)."""
    xs, x = read_npy(os.path.join(ROOT, DIGITS, "x_test.npy"))
    if int8:
        ls, logits = read_safetensors(os.path.join(ROOT, INT8_DIGITS))["logits"]
        source, name, guard = f"{INT8_DIGITS}'s int8 logits", "digits_int8_testdata.h", "DIGITS_INT8_TESTDATA_H"
    else:
        ls, logits = read_npy(os.path.join(ROOT, DIGITS, "logits.npy"))
        source, name, guard = "timm's logits.npy", "digits_testdata.h", "DIGITS_TESTDATA_H"
    ys, labels = read_npy(os.path.join(ROOT, DIGITS, "y_test.npy"))
    n, img = xs[0], math.prod(xs[1:])
    if ls[0] != n or ys != (n,):
        raise SystemExit(f"{DIGITS}: x_test {xs}, logits {ls}, y_test {ys} disagree")
    attr = "__attribute__((section(\".testdata\"), used))"
    flag = "--testdata-int8" if int8 else "--testdata"
    lines = [f"/* {name}: the digits test set ({n} images) from {DIGITS}/x_test.npy,",
             f" * y_test.npy and {source}; written by firmware/tools/golden_headers.py",
             f" * {flag} at build time (not committed). */",
             f"#ifndef {guard}", f"#define {guard}", "",
             f"#define DIGITS_TEST_COUNT {n}", f"#define DIGITS_TEST_IMAGE_LEN {img}",
             f"#define DIGITS_TEST_CLASSES {ls[1]}", ""]
    for name, ctype, values, fmt in (("digits_test_x", "float", x, float_literal),
                                     ("digits_test_logits", "float", logits, float_literal),
                                     ("digits_test_labels", "unsigned char", labels, str)):
        lines.append(f"static const {ctype} {name}[{len(values)}] {attr} = {{")
        for i in range(0, len(values), 8):
            lines.append("  " + ", ".join(fmt(v) for v in values[i:i + 8]) + ",")
        lines.append("};")
    lines += ["", "#endif", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testdata", help="write the digits test-set header (firmware build) to this file and stop")
    ap.add_argument("--testdata-int8", help="the same with the host's int8 logits (digits_int8_testdata.h)")
    ap.add_argument("--check", action="store_true", help="compare with the committed headers, write nothing")
    ap.add_argument("--gpsa", help="the gpsa CLI: also (re)generate " + ", ".join(GPSA_HEADERS))
    ap.add_argument("--out", default=OUT, help="folder of the headers (default firmware/golden)")
    args = ap.parse_args()
    if args.testdata or args.testdata_int8:
        path = args.testdata or args.testdata_int8
        text = digits_testdata(int8=bool(args.testdata_int8))
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        return 0

    made = {name: build for name, build in HEADERS.items()}
    if args.gpsa:
        for name, gpsa_args in GPSA_HEADERS.items():
            made[name] = (lambda n, a: lambda: gpsa_header(os.path.abspath(args.gpsa), n, a))(name, gpsa_args)
    stale = []
    for name, build in made.items():
        text = build()
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except OSError as e:
                stale.append(f"{path}: {e.strerror}")
                continue
            if current != text:
                stale.append(f"{path}: differs from what its sources give")
            else:
                print(f"{path}: up to date")
        else:
            os.makedirs(args.out, exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
            print(f"{path}: written ({len(text)} bytes)")
    if stale:
        for s in stale:
            print(f"golden_headers.py: {s}", file=sys.stderr)
        print("golden_headers.py: regenerate with: cmake --build --preset default --target firmware_headers",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
