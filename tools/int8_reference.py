#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reference for gpsa's int8 ConViT (docs/DESIGN.md §9), in NumPy, independent of the C++ code.

It implements the scheme operation by operation with the same IEEE float32 operations in the
same order as the specification, and exact integer arithmetic (int64), so its results are the
bits the C++ int8 path must give. It also holds a plain float64 ConViT (timm's math) to measure
the int8 model against.

Needs NumPy only (Debian: python3-numpy; run it with /usr/bin/python3). Commands:

  evaluate  --weights M.safetensors --calibration xc.npy --input x.npy [--labels y.npy]
            [--reference logits.npy] [--json OUT]
      calibrates on xc.npy, runs the int8 and the float64 models on x.npy and prints accuracy
      (with --labels), top-1 agreement, the worst logit difference and where the error comes from.
  random    --weights M.safetensors [--calibration-images 32] [--images 256] [--seed 0]
      the same on images drawn from N(0, 1) (any ConViT configuration, no data set needed).
  model     --weights M.safetensors --calibration xc.npy --input x.npy [--labels y.npy] --out F
      the C++ whole-model tests' fixture: every activation amax and the int8 logits of x.npy
      (a safetensors file).
  kernels   --out DIR
      writes the fixtures of the C++ kernel tests (tests/golden/int8/): quantisation and int8
      linear-layer cases taken from the digits model's calibration pass.

Example (the digits figures of docs/DESIGN.md §9; D is the trained digits model's folder, with
model.safetensors, x_calib.npy, x_test.npy and y_test.npy):

  /usr/bin/python3 tools/int8_reference.py evaluate --weights $D/model.safetensors \\
      --calibration $D/x_calib.npy --input $D/x_test.npy --labels $D/y_test.npy --breakdown
"""
import argparse
import json
import math
import struct
import sys

import numpy as np

F32 = np.float32


def f32(v):
    return np.float32(v)


# ------------------------------------------------------------------------------------------------
# Reading a timm checkpoint
# ------------------------------------------------------------------------------------------------

def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    dtypes = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}
    out = {}
    for key, t in header.items():
        if key == "__metadata__":
            continue
        if t["dtype"] not in dtypes:
            sys.exit(f"{path}: tensor {key}: dtype {t['dtype']} not supported here")
        lo, hi = t["data_offsets"]
        a = np.frombuffer(raw[base + lo:base + hi], dtype=dtypes[t["dtype"]])
        out[key] = a.reshape(t["shape"]).astype(F32)
    return out


def config_of(w):
    D, C, p, _ = w["patch_embed.proj.weight"].shape
    N = w["pos_embed"].shape[1]
    G = int(round(math.sqrt(N)))
    depth = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("blocks."))
    L = sum(1 for i in range(depth) if f"blocks.{i}.attn.pos_proj.weight" in w)
    if L == 0:
        sys.exit("no GPSA block (blocks.0.attn.pos_proj.weight)")
    H = w["blocks.0.attn.pos_proj.weight"].shape[0]
    return dict(D=D, C=C, p=p, G=G, N=N, S=G * p, depth=depth, L=L, H=H, d=D // H,
                M=w["blocks.0.mlp.fc1.weight"].shape[0], classes=w["head.weight"].shape[0])


def im2col(x, p):
    """(B, C, S, S) -> (B, N, C*p*p), columns in the conv weight's (c, ky, kx) order."""
    B, C, S, _ = x.shape
    G = S // p
    return x.reshape(B, C, G, p, G, p).transpose(0, 2, 4, 1, 3, 5).reshape(B, G * G, C * p * p)


# ------------------------------------------------------------------------------------------------
# The float64 ConViT (timm's math: the figure the int8 model is measured against)
# ------------------------------------------------------------------------------------------------

def rel_indices(G):
    ys, xs = np.divmod(np.arange(G * G), G)
    dx = xs[None, :] - xs[:, None]
    dy = ys[None, :] - ys[:, None]
    return np.stack([dx, dy, dx * dx + dy * dy], -1).astype(np.float64)


def softmax64(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def layernorm64(x, w, b, eps=1e-6):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu64(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def forward_float64(w, cfg, x):
    W = {k: v.astype(np.float64) for k, v in w.items()}
    D, H, d, L = cfg["D"], cfg["H"], cfg["d"], cfg["L"]
    B = x.shape[0]
    scale = float(F32(d ** -0.5))

    def lin(h, key):
        y = h @ W[key + ".weight"].T
        return y + W[key + ".bias"] if key + ".bias" in W else y

    t = im2col(x.astype(np.float64), cfg["p"]) @ W["patch_embed.proj.weight"].reshape(D, -1).T
    t = t + W["patch_embed.proj.bias"] + W["pos_embed"]
    rel = rel_indices(cfg["G"])
    for i in range(cfg["depth"]):
        pre = f"blocks.{i}."
        if i == L:
            t = np.concatenate([np.broadcast_to(W["cls_token"], (B, 1, D)), t], 1)
        h = layernorm64(t, W[pre + "norm1.weight"], W[pre + "norm1.bias"])
        T = h.shape[1]
        if i < L:
            q, k = lin(h, pre + "attn.qk").reshape(B, T, 2, H, d).transpose(2, 0, 3, 1, 4)
            v = lin(h, pre + "attn.v").reshape(B, T, H, d).transpose(0, 2, 1, 3)
        else:
            q, k, v = lin(h, pre + "attn.qkv").reshape(B, T, 3, H, d).transpose(2, 0, 3, 1, 4)
        a = softmax64(q @ k.transpose(0, 1, 3, 2) * scale)
        if i < L:
            pos = rel @ W[pre + "attn.pos_proj.weight"].T + W[pre + "attn.pos_proj.bias"]
            pos = softmax64(pos.transpose(2, 0, 1))
            g = (1 / (1 + np.exp(-W[pre + "attn.gating_param"])))[None, :, None, None]
            a = (1 - g) * a + g * pos[None]
            a = a / a.sum(-1, keepdims=True)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        t = t + lin(o, pre + "attn.proj")
        h = layernorm64(t, W[pre + "norm2.weight"], W[pre + "norm2.bias"])
        t = t + lin(gelu64(lin(h, pre + "mlp.fc1")), pre + "mlp.fc2")
    f = layernorm64(t[:, 0], W["norm.weight"], W["norm.bias"])
    return lin(f, "head")


# ------------------------------------------------------------------------------------------------
# The int8 scheme: every float operation below is one IEEE float32 operation (NumPy float32
# ufuncs round each result once), in the order docs/DESIGN.md §9 specifies.
# ------------------------------------------------------------------------------------------------

QMAX = 127


def round_half_even_sat(x):
    """float32 -> int8 code: round half to even, saturate to [-127, 127], NaN -> 0."""
    x = np.asarray(x, dtype=F32)
    r = np.rint(x.astype(np.float64))  # exact: every float32 is a double; rint is half-even
    r = np.where(np.isnan(r), 0.0, r)
    return np.clip(r, -QMAX, QMAX).astype(np.int8)


def quantize(x, mult):
    """q = sat(rne(x * mult)), the product rounded to float32 first."""
    return round_half_even_sat(np.asarray(x, dtype=F32) * f32(mult))


FLT_MIN = np.finfo(F32).tiny


def act_params(amax):
    """(scale, multiplier) = (amax / 127, 127 / amax) in float32; (0, 0) for amax < FLT_MIN."""
    amax = f32(amax)
    if not np.isfinite(amax) or amax < 0:
        sys.exit(f"amax {amax}: not a finite value >= 0")
    if amax < FLT_MIN:
        return f32(0), f32(0)
    return amax / f32(QMAX), f32(QMAX) / amax


def quantize_weight(wt):
    """Per output row r: (scale, multiplier) = act_params(max |w[r]|), codes quantize(w, multiplier)."""
    wt = wt.reshape(wt.shape[0], -1).astype(F32)
    params = [act_params(a) for a in np.abs(wt).max(1)]
    s = np.array([p[0] for p in params], dtype=F32)
    m = np.array([p[1] for p in params], dtype=F32)
    return round_half_even_sat(wt * m[:, None]), s


def int_matmul(q, wq):
    """int32 accumulation of int8 x int8 (exact in int64; |sum| < 2^31 for k < 133,000)."""
    acc = q.astype(np.int64) @ wq.astype(np.int64).T
    assert np.abs(acc).max(initial=0) < 2 ** 31
    return acc


def dequant(acc, mult, bias):
    """y = float(acc) * m[o] (+ b[o]): int32 -> float32 (round to nearest even), two float ops."""
    y = acc.astype(F32) * mult.astype(F32)
    if bias is not None:
        y = y + bias.astype(F32)
    return y


def seq_sum(x, axis=-1):
    """Sum in index order, one float32 rounding per addition (the C++ loops' order)."""
    return np.cumsum(x.astype(F32), axis=axis, dtype=F32).take(-1, axis=axis)


def layernorm32(x, w, b, eps):
    n = f32(x.shape[-1])
    mean = seq_sum(x) / n
    dev = x - mean[..., None]
    var = seq_sum(dev * dev) / n
    rstd = f32(1) / np.sqrt(var + f32(eps))
    return dev * rstd[..., None] * w + b


# gpsa's exp for float (src/core/linalg.cpp exp1): Cody-Waite reduction, degree-7 Taylor, 2^n
# applied in two factors.
def exp32(x):
    x = np.asarray(x, dtype=F32)
    xc = np.minimum(np.maximum(np.where(np.isnan(x), f32(0), x), f32(-104)), f32(89))
    t = xc * f32(1.44269504088896341)
    n = (t + f32(12582912.0)) - f32(12582912.0)
    ni = n.astype(np.int32)
    r = (xc - n * f32(0.693145751953125)) - n * f32(1.428606765330187045e-06)
    p = np.full_like(r, f32(1.0 / 5040.0))
    for c in (1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0):
        p = p * r + f32(c)
    e1 = np.trunc(ni / 2).astype(np.int32)

    def pow2(e):
        return ((e.astype(np.int32) + 127) << 23).astype(np.int32).view(F32)

    y = p * pow2(e1) * pow2(ni - e1)
    y = np.where(x > f32(88.72283935546875), f32(np.inf), y)
    y = np.where(x < f32(-103.972084045410156), f32(0), y)
    return np.where(np.isnan(x), x, y).astype(F32)


# gpsa's GELU (src/core/convit.cpp gelu_inplace; coefficients from tools/fit_erf.py).
_GELU_P = (1.128378987e+00, 1.929735690e-01, 5.308448523e-02, 3.876371542e-03,
           2.874933125e-04, 2.030861879e-06)
_GELU_Q = (1.0, 5.043500066e-01, 1.151678786e-01, 1.518844254e-02, 1.189761213e-03,
           3.803143409e-05)


def gelu32(v):
    v = np.asarray(v, dtype=F32)
    u = v * f32(0.70710678118654752)
    u = np.where(u > f32(3.925), f32(3.925), u)
    u = np.where(u < f32(-3.925), f32(-3.925), u)
    t = u * u
    P = f32(_GELU_P[5])
    for c in reversed(_GELU_P[:5]):
        P = P * t + f32(c)
    Q = f32(_GELU_Q[5])
    for c in reversed(_GELU_Q[:5]):
        Q = Q * t + f32(c)
    e = u * P / Q
    e = np.minimum(np.maximum(e, f32(-1)), f32(1))
    return f32(0.5) * v * (f32(1) + e)


def fold64(wpos, gate, G):
    """The folded positional branch (docs/DESIGN.md §5) in float64, rounded once to float32."""
    off = np.arange(G)[None, :] - np.arange(G)[:, None]  # j - i

    def factor(w_lin, w_sq):
        lg = w_lin * off + w_sq * off * off
        return softmax64(lg)

    fx = np.stack([factor(wpos[h, 0], wpos[h, 2]) for h in range(len(wpos))]).astype(F32)
    gy = np.stack([factor(wpos[h, 1], wpos[h, 2]) for h in range(len(wpos))]).astype(F32)
    lam = (1.0 / (1.0 + np.exp(-gate.astype(np.float64)))).astype(F32)
    return fx, gy, lam


class Int8Model:
    """Quantised weights and, after calibrate(), the activation parameters."""

    LINEARS = ("attn.qk", "attn.v", "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")

    def __init__(self, w, cfg, eps=1e-6, weights=True, activations=True, percentile=None):
        # weights / activations False: that side stays float (the error breakdown of `evaluate
        # --breakdown`); the float32 operations around the linear layers are the same.
        self.w, self.cfg, self.eps = w, cfg, eps
        self.int8_weights, self.int8_activations = weights, activations
        # None: amax = max |x| over the calibration batch (gpsa's scheme); a percentile P of |x|
        # instead clips the rarer large values (an alternative, for `evaluate --percentile`).
        self.percentile = percentile
        self.q = {}  # key -> (int8 weight (out, in), weight scales (out))
        keys = ["patch_embed.proj", "head"] + [
            f"blocks.{i}.{n}" for i in range(cfg["depth"]) for n in self.LINEARS]
        for k in keys:
            if k + ".weight" in w:
                self.q[k] = quantize_weight(w[k + ".weight"])
        G = cfg["G"]
        self.fold = [fold64(w[f"blocks.{i}.attn.pos_proj.weight"].astype(np.float64),
                            w[f"blocks.{i}.attn.gating_param"], G) for i in range(cfg["L"])]
        self.amax = {}  # activation point -> float32 amax (set by calibrate)
        self.trace = None  # when a dict: point -> (float input, int8 codes) of the last forward

    # One activation point: its amax is taken from this very tensor while calibrating.
    def _quant(self, point, x, calibrating):
        if not self.int8_activations:
            return np.asarray(x, dtype=F32), None
        if calibrating:
            a = np.abs(np.asarray(x, dtype=F32))
            self.amax[point] = f32(a.max() if self.percentile is None else
                                   np.percentile(a, self.percentile))
        scale, mult = act_params(self.amax[point])
        q = quantize(x, mult)
        if self.trace is not None:
            self.trace[point] = (np.array(x, dtype=F32), q, scale, mult)
        return q, scale

    def _linear(self, q, xscale, key):
        if xscale is None or not self.int8_weights:  # a breakdown variant: float64 product
            wt = self.w[key + ".weight"].reshape(self.w[key + ".weight"].shape[0], -1)
            if self.int8_weights:
                wt = self.q[key][0] * self.q[key][1][:, None].astype(np.float64)
            x = q.astype(np.float64) if xscale is None else q * np.float64(xscale)
            y = (x @ wt.T.astype(np.float64)).astype(F32)
            bias = self.w.get(key + ".bias")
            return y + bias if bias is not None else y
        wq, ws = self.q[key]
        m = (f32(xscale) * ws).astype(F32)
        acc = int_matmul(q.reshape(-1, q.shape[-1]), wq)
        y = dequant(acc, m, self.w.get(key + ".bias"))
        if self.trace is not None:
            self.trace[key] = (acc, m)
        return y.reshape(q.shape[:-1] + (wq.shape[0],))

    def _attention(self, i, q, k, v):
        """One block's attention, float32: q, k, v (B, H, T, d) -> (B, T, D)."""
        cfg = self.cfg
        B, H, T, d = q.shape
        scale = f32(d ** -0.5)
        pos = lam = None
        if i < cfg["L"]:
            fx, gy, lam = self.fold[i]
            G = cfg["G"]
            ys, xs = np.divmod(np.arange(G * G), G)
            pos = gy[:, ys[:, None], ys[None, :]] * fx[:, xs[:, None], xs[None, :]]  # (H, N, N)
        o = np.empty((B, H, T, d), dtype=F32)
        for b in range(B):  # one image at a time: the (H, T, T, d) products stay small
            # scores: the sum over the head width in order, then the scale (PyTorch: (q k^T) * scale)
            s = seq_sum(q[b, :, :, None, :] * k[b, :, None, :, :]) * scale  # (H, T, T)
            e = exp32(s - s.max(-1, keepdims=True))
            z = seq_sum(e)
            if pos is not None:
                c = (f32(1) - lam)[:, None] / z  # (H, T)
                a = e * c[..., None] + lam[:, None, None] * pos
            else:
                a = e * (f32(1) / z)[..., None]
            o[b] = seq_sum(a[:, :, :, None] * v[b, :, None, :, :], axis=2)  # (H, T, d)
        return o.transpose(0, 2, 1, 3).reshape(B, T, H * d)

    def forward(self, x, calibrating=False):
        cfg, w = self.cfg, self.w
        D, H, d, L, eps = cfg["D"], cfg["H"], cfg["d"], cfg["L"], self.eps
        x = np.asarray(x, dtype=F32)
        B = x.shape[0]
        q, s = self._quant("image", im2col(x, cfg["p"]), calibrating)
        t = self._linear(q, s, "patch_embed.proj") + w["pos_embed"][0]
        for i in range(cfg["depth"]):
            pre = f"blocks.{i}."
            if i == L:
                t = np.concatenate([np.broadcast_to(w["cls_token"], (B, 1, D)), t], 1)
            T = t.shape[1]
            h = layernorm32(t, w[pre + "norm1.weight"], w[pre + "norm1.bias"], eps)
            q, s = self._quant(pre + "norm1", h, calibrating)
            if i < L:
                qk = self._linear(q, s, pre + "attn.qk").reshape(B, T, 2, H, d)
                qh, kh = qk.transpose(2, 0, 3, 1, 4)
                vh = self._linear(q, s, pre + "attn.v").reshape(B, T, H, d).transpose(0, 2, 1, 3)
            else:
                qkv = self._linear(q, s, pre + "attn.qkv").reshape(B, T, 3, H, d)
                qh, kh, vh = qkv.transpose(2, 0, 3, 1, 4)
            o = self._attention(i, qh, kh, vh)
            q, s = self._quant(pre + "attn", o, calibrating)
            t = t + self._linear(q, s, pre + "attn.proj")
            h = layernorm32(t, w[pre + "norm2.weight"], w[pre + "norm2.bias"], eps)
            q, s = self._quant(pre + "norm2", h, calibrating)
            g = gelu32(self._linear(q, s, pre + "mlp.fc1"))
            q, s = self._quant(pre + "gelu", g, calibrating)
            if self.trace is not None:
                self.trace[pre + "residual"] = t.copy()
            t = t + self._linear(q, s, pre + "mlp.fc2")
        f = layernorm32(t[:, 0], w["norm.weight"], w["norm.bias"], eps)
        q, s = self._quant("norm", f, calibrating)
        return self._linear(q, s, "head")

    def calibrate(self, xc):
        """Each activation's amax from the calibration batch, in forward order: a point is
        measured on the int8 model's own values (every earlier point already quantised)."""
        self.amax = {}
        self.forward(xc, calibrating=True)


# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------

def compare(name, lq, lf, labels=None, reference=None):
    top_q, top_f = lq.argmax(1), lf.argmax(1)
    r = {"images": int(len(lq)),
         "top1_equal": int((top_q == top_f).sum()),
         "max_abs_logit_diff": float(np.abs(lq.astype(np.float64) - lf).max()),
         "max_abs_logit": float(np.abs(lf).max())}
    # Images whose top-1 changed: their float top-1 / top-2 margin (a flip needs a margin below
    # twice the logit error).
    srt = np.sort(lf, 1)
    margin = srt[:, -1] - srt[:, -2]
    flips = top_q != top_f
    r["largest_float_margin_of_a_flip"] = float(margin[flips].max()) if flips.any() else 0.0
    r["images_with_margin_over_2x_max_diff"] = int((margin > 2 * r["max_abs_logit_diff"]).sum())
    if labels is not None:
        r["int8_correct"] = int((top_q == labels).sum())
        r["float_correct"] = int((top_f == labels).sum())
    if reference is not None:
        r["float64_vs_reference"] = float(np.abs(lf - reference).max())
    print(f"{name}: {json.dumps(r)}")
    return r


def cmd_evaluate(a):
    w = load_safetensors(a.weights)
    cfg = config_of(w)
    xc, x = np.load(a.calibration), np.load(a.input)
    labels = np.load(a.labels) if a.labels else None
    ref = np.load(a.reference) if a.reference else None
    model = Int8Model(w, cfg, percentile=a.percentile)
    model.calibrate(xc)
    lq = model.forward(x)
    lf = forward_float64(w, cfg, x)
    name = "int8" + (f" (percentile {a.percentile})" if a.percentile is not None else "")
    out = {"config": cfg, "int8": compare(name + " vs float64", lq, lf, labels, ref),
           "amax": {k: float(v) for k, v in model.amax.items()}}
    if a.breakdown:
        for name, wq, aq in (("int8 weights only", True, False),
                             ("int8 activations only", False, True),
                             ("float32 operations, no int8", False, False)):
            m = Int8Model(w, cfg, weights=wq, activations=aq)
            m.calibrate(xc)
            out[name] = compare(name + " vs float64", m.forward(x), lf, labels)
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


def cmd_random(a):
    w = load_safetensors(a.weights)
    cfg = config_of(w)
    rng = np.random.default_rng(a.seed)
    shape = (cfg["C"], cfg["S"], cfg["S"])
    xc = rng.standard_normal((a.calibration_images,) + shape).astype(F32)
    x = rng.standard_normal((a.images,) + shape).astype(F32)
    model = Int8Model(w, cfg)
    model.calibrate(xc)
    compare(f"{a.weights} (random N(0,1) images, seed {a.seed})", model.forward(x),
            forward_float64(w, cfg, x))


def write_safetensors(path, tensors, metadata):
    """tensors: {key: array}, written as F32 (integer codes are exact in float32)."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for key, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def cmd_kernels(a):
    """Fixtures for the kernel tests, from the calibration pass of the model on a.calibration:
    one image's patch embedding (in = C*p*p), the first rows of block 0's fc2 with its residual
    (accumulate), and block 0's norm1 rows with their codes (quantisation)."""
    w = load_safetensors(a.weights)
    cfg = config_of(w)
    model = Int8Model(w, cfg)
    model.trace = {}
    model.calibrate(np.load(a.calibration))
    tr = model.trace
    rows = a.rows
    meta = {"made_by": "tools/int8_reference.py kernels " + " ".join(sys.argv[2:]),
            "weights": a.weights, "calibration": a.calibration,
            "scheme": "docs/DESIGN.md section 9; float32 tensors, integer codes stored exactly"}

    def linear_case(name, point, key, image_rows, residual=None):
        xf, xq, xs, xm = tr[point]
        xf = xf.reshape(-1, xf.shape[-1])[:image_rows]
        xq = xq.reshape(-1, xq.shape[-1])[:image_rows]
        wf = w[key + ".weight"].reshape(w[key + ".weight"].shape[0], -1)
        wq, ws = model.q[key]
        m = (f32(xs) * ws).astype(F32)
        acc = int_matmul(xq, wq)
        y = dequant(acc, m, w.get(key + ".bias"))
        t = {"x": xf, "x_scale": [xs], "x_multiplier": [xm], "x_codes": xq, "w": wf,
             "w_codes": wq, "w_scales": ws, "multiplier": m, "acc": acc}
        if key + ".bias" in w:
            t["bias"] = w[key + ".bias"]
        if residual is not None:
            r = residual.reshape(-1, residual.shape[-1])[:image_rows]
            t["y_in"] = r
            y = r + y
        t["y"] = y
        assert np.all(np.abs(acc) < 2 ** 24)  # exact as float32 in the fixture
        path = f"{a.out}/{name}.safetensors"
        write_safetensors(path, t, dict(meta, case=name, point=point, linear=key,
                                        mode="accumulate" if residual is not None else "store"))
        print(f"{path}: {', '.join(f'{k} {list(np.shape(v))}' for k, v in t.items())}")

    linear_case("patch_embed", "image", "patch_embed.proj", cfg["N"])
    linear_case("block0_fc2", "blocks.0.gelu", "blocks.0.mlp.fc2", rows, tr["blocks.0.residual"])
    xf, xq, xs, xm = tr["blocks.0.norm1"]
    t = {"x": xf.reshape(-1, xf.shape[-1])[:rows], "x_multiplier": [xm],
         "x_codes": xq.reshape(-1, xq.shape[-1])[:rows]}
    path = f"{a.out}/block0_norm1_quantize.safetensors"
    write_safetensors(path, t, dict(meta, case="block0_norm1_quantize", point="blocks.0.norm1"))
    print(f"{path}: {', '.join(f'{k} {list(np.shape(v))}' for k, v in t.items())}")


def cmd_model(a):
    """The whole model's fixture for the C++ forward: every activation amax (forward order) from
    the calibration, and the int8 logits of the input images."""
    w = load_safetensors(a.weights)
    cfg = config_of(w)
    model = Int8Model(w, cfg)
    model.calibrate(np.load(a.calibration))
    x = np.load(a.input)
    logits = model.forward(x)
    t = {"amax": np.array(list(model.amax.values()), dtype=F32), "logits": logits}
    meta = {"made_by": "tools/int8_reference.py model " + " ".join(sys.argv[2:]),
            "points": ",".join(model.amax.keys()),
            "scheme": "docs/DESIGN.md section 9"}
    write_safetensors(a.out, t, meta)
    if a.labels:
        print(f"int8 accuracy {int((logits.argmax(1) == np.load(a.labels)).sum())}/{len(x)}")
    print(f"{a.out}: amax {list(t['amax'].shape)}, logits {list(logits.shape)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("evaluate")
    e.add_argument("--weights", required=True)
    e.add_argument("--calibration", required=True)
    e.add_argument("--input", required=True)
    e.add_argument("--labels")
    e.add_argument("--reference")
    e.add_argument("--json")
    e.add_argument("--percentile", type=float,
                   help="calibrate activations on this percentile of |x| instead of the maximum")
    e.add_argument("--breakdown", action="store_true",
                   help="also run with only the weights / only the activations in int8, and "
                        "with neither (the float32 operations' own error)")
    r = sub.add_parser("random")
    r.add_argument("--weights", required=True)
    r.add_argument("--calibration-images", type=int, default=32)
    r.add_argument("--images", type=int, default=256)
    r.add_argument("--seed", type=int, default=0)
    k = sub.add_parser("kernels")
    k.add_argument("--weights", required=True)
    k.add_argument("--calibration", required=True)
    k.add_argument("--rows", type=int, default=8, help="token rows of the fc2 and norm1 cases")
    k.add_argument("--out", required=True)
    o = sub.add_parser("model")
    o.add_argument("--weights", required=True)
    o.add_argument("--calibration", required=True)
    o.add_argument("--input", required=True)
    o.add_argument("--labels")
    o.add_argument("--out", required=True)
    a = ap.parse_args()
    {"evaluate": cmd_evaluate, "random": cmd_random, "kernels": cmd_kernels,
     "model": cmd_model}[a.cmd](a)


if __name__ == "__main__":
    main()
