# SPDX-License-Identifier: MIT
"""The gpsa Python module against the golden files (PyTorch's outputs) and against the CLI's bytes.

Run by ctest with the system python3 (NumPy only), once with the module of the build tree and
once with the module installed by `cmake --install` into a prefix:
  GPSA_CLI=.../gpsa GPSA_GOLDEN_DIR=tests/golden GPSA_EXPECT_MODULE_DIR=DIR \
  PYTHONPATH=DIR python3 -m unittest tests/python/test_module.py
GPSA_EXPECT_MODULE_DIR makes sure the module under test is the one meant (build or install).
The torch comparison runs when torch is importable and is skipped (by unittest) otherwise.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import unittest

import numpy as np

import gpsa

GOLDEN = pathlib.Path(os.environ["GPSA_GOLDEN_DIR"])
CLI = os.environ["GPSA_CLI"]
CONVIT_CASES = json.loads((GOLDEN / "convit" / "cases.json").read_text())
LAYER_CASES = json.loads((GOLDEN / "cases.json").read_text())
IMAGE_CASES = json.loads((GOLDEN / "images" / "cases.json").read_text())

try:
    import torch  # noqa: F401  (optional)
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


def cli(*args):
    """Runs the gpsa CLI; returns stdout, fails the test with stderr on a non-zero exit."""
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"gpsa {' '.join(map(str, args))}: exit {r.returncode}: {r.stderr}")
    return r.stdout


def rel_err(got, ref):
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / max(1.0, float(np.max(np.abs(ref)))))


class ModuleUnderTest(unittest.TestCase):
    def test_module_is_the_one_meant(self):
        want = pathlib.Path(os.environ["GPSA_EXPECT_MODULE_DIR"]).resolve()
        got = pathlib.Path(gpsa.__file__).resolve().parent
        self.assertEqual(got, want, f"imported {gpsa.__file__}")
        self.assertRegex(gpsa.__version__, r"^\d+\.\d+\.\d+$")
        self.assertIn(gpsa.__version__, cli("--version"))


class ConViTGolden(unittest.TestCase):
    def test_logits_and_features_match_pytorch(self):
        tol = CONVIT_CASES["tolerance"]
        for case in CONVIT_CASES["cases"]:
            d = GOLDEN / "convit" / case["name"]
            with self.subTest(case=case["name"]):
                m = gpsa.ConViT(d / "model.safetensors")
                self.assertEqual((m.image_size, m.patch_size, m.heads, m.depth, m.local_up_to_layer,
                                  m.classes, m.qkv_bias),
                                 (case["img_size"], case["patch"], case["heads"], case["depth"],
                                  case["local_up_to_layer"], case["classes"], case["qkv_bias"]))
                self.assertEqual(m.dim, case["heads"] * case["head_dim"])
                x = np.load(d / "x.npy")
                logits, features = m.forward(x)
                self.assertEqual(logits.dtype, np.float32)
                self.assertEqual(logits.shape, (case["batch"], case["classes"]))
                self.assertEqual(features.shape, (case["batch"], m.tokens, m.dim))
                self.assertLessEqual(rel_err(logits, np.load(d / "logits.npy")), tol["logits_rel_to_max"])
                self.assertLessEqual(rel_err(features, np.load(d / "features.npy")),
                                     tol["features_rel_to_max"])

    def test_same_bits_as_the_cli_for_every_thread_count(self):
        with tempfile.TemporaryDirectory() as tmp:
            for case in CONVIT_CASES["cases"]:
                d = GOLDEN / "convit" / case["name"]
                x = np.load(d / "x.npy")
                lo, fe = pathlib.Path(tmp, "l.npy"), pathlib.Path(tmp, "f.npy")
                cli("classify", "--weights", d / "model.safetensors", "--input", d / "x.npy",
                    "-o", lo, "--features", fe)
                cli_logits, cli_features = np.load(lo), np.load(fe)
                for threads in (None, 1, 2, 3):
                    with self.subTest(case=case["name"], threads=threads):
                        m = gpsa.ConViT(str(d / "model.safetensors"), threads=threads)
                        self.assertEqual(m.threads, threads)
                        self.assertEqual(m(x).tobytes(), cli_logits.tobytes())
                        self.assertEqual(m.features(x).tobytes(), cli_features.tobytes())
                        logits, features = m.forward(x)
                        self.assertEqual(logits.tobytes(), cli_logits.tobytes())
                        self.assertEqual(features.tobytes(), cli_features.tobytes())

    def test_image_file_same_bits_as_cli_classify_image(self):
        d = GOLDEN / "convit" / "convit_micro_4x4"
        image = GOLDEN / "images" / "scene_320x240.jpg"
        with tempfile.TemporaryDirectory() as tmp:
            lo = pathlib.Path(tmp, "l.npy")
            out = cli("classify", "--weights", d / "model.safetensors", "--image", image, "-o", lo)
            m = gpsa.ConViT(d / "model.safetensors", threads=2)
            x = gpsa.preprocess(image, size=m.image_size)
            self.assertEqual(x.shape, (1, 3, 64, 64))
            logits = m(x)
            self.assertEqual(logits.tobytes(), np.load(lo).tobytes())
            top = int(np.argmax(logits[0]))
            self.assertRegex(out, rf"\n    0     1 +{top} ")

    def test_input_conversions_give_the_same_bits(self):
        d = GOLDEN / "convit" / "convit_micro_4x4"
        m = gpsa.ConViT(d / "model.safetensors")
        x = np.load(d / "x.npy")
        ref = m(x).tobytes()
        self.assertEqual(m(x.astype(np.float64)).tobytes(), ref)  # converted once
        self.assertEqual(m(np.asfortranarray(x)).tobytes(), ref)
        self.assertEqual(m(x.tolist()).tobytes(), ref)  # any array-like
        wide = np.zeros((2, 3, 64, 128), np.float32)
        wide[..., ::2] = x
        self.assertEqual(m(wide[..., ::2]).tobytes(), ref)  # strided view
        self.assertEqual(m(x[:0]).shape, (0, m.classes))

    def test_float32_input_is_used_in_place(self):
        # tracemalloc sees NumPy's allocations: a converted input costs its size, an in-place one
        # nothing (the logits are a few bytes).
        d = GOLDEN / "convit" / "convit_micro_4x4"
        m = gpsa.ConViT(d / "model.safetensors")
        x32 = np.ascontiguousarray(np.repeat(np.load(d / "x.npy"), 8, axis=0))  # 16 images
        x64 = x32.astype(np.float64)
        m(x32)
        peaks = []
        for x in (x32, x64):
            tracemalloc.start()
            try:
                m(x)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
        self.assertLess(peaks[0], x32.nbytes // 4, "float32 C-contiguous input was copied")
        self.assertGreaterEqual(peaks[1], x32.nbytes, "the float64 input's conversion was not seen")

    def test_gil_released_during_forward(self):
        # With a switch interval of 1000 s Python never preempts a thread: the main thread can
        # only run while the worker is in gpsa if gpsa released the GIL.
        d = GOLDEN / "convit" / "convit_7x7_bias"
        m = gpsa.ConViT(d / "model.safetensors")
        x = np.repeat(np.load(d / "x.npy"), 4, axis=0)
        calls, done = 20, []
        started = threading.Event()

        def work():
            started.set()
            for _ in range(calls):
                m(x)
                done.append(1)

        old = sys.getswitchinterval()
        sys.setswitchinterval(1000)
        try:
            t = threading.Thread(target=work)
            t.start()
            started.wait()
            seen = len(done)
            t.join()
        finally:
            sys.setswitchinterval(old)
        self.assertLess(seen, calls, "the main thread could not run during any forward")

    def test_errors_carry_gpsa_messages(self):
        d = GOLDEN / "convit"
        with self.assertRaises(gpsa.FileError) as e:
            gpsa.ConViT(d / "no_such.safetensors")
        self.assertIn("no_such.safetensors", str(e.exception))
        with self.assertRaises(gpsa.FileError) as e:
            gpsa.ConViT(d / "convit_micro_4x4" / "x.npy")  # not a safetensors file
        self.assertIn("x.npy", str(e.exception))
        with self.assertRaises(gpsa.CheckpointError) as e:
            gpsa.ConViT(GOLDEN / "s2_h4_c16" / "weights.safetensors")  # one layer, not a model
        self.assertIn("missing key 'patch_embed.proj.weight'", str(e.exception))
        m = gpsa.ConViT(d / "convit_micro_4x4" / "model.safetensors")
        with self.assertRaises(gpsa.InputError) as e:
            m(np.load(d / "convit_7x7_bias" / "x.npy"))
        self.assertEqual(str(e.exception),
                         "x has shape (1,3,112,112), expected (B,3,64,64): this model takes 64x64 "
                         "images (4x4 patches of 16 pixels, from pos_embed and "
                         f"patch_embed.proj.weight of {d / 'convit_micro_4x4' / 'model.safetensors'})")
        self.assertTrue(issubclass(gpsa.InputError, gpsa.Error))
        self.assertTrue(issubclass(gpsa.Error, RuntimeError))
        for bad in (0, 257, -1):
            with self.assertRaisesRegex(ValueError, f"threads={bad}: expected a number of worker "
                                                    "threads from 1 to 256"):
                gpsa.ConViT(d / "convit_micro_4x4" / "model.safetensors", threads=bad)
        with self.assertRaisesRegex(TypeError, "x: expected a numeric array"):
            m(object())
        with self.assertRaises(gpsa.FileError) as e:
            gpsa.preprocess(d / "convit_micro_4x4" / "x.npy")
        self.assertIn("x.npy", str(e.exception))
        with self.assertRaisesRegex(ValueError, "size=0: expected an integer from 1 to 4096"):
            gpsa.preprocess(GOLDEN / "images" / "scene_320x240.jpg", size=0)
        with self.assertRaisesRegex(gpsa.FileError, "image bytes"):
            gpsa.preprocess(b"\x89PNG\r\n\x1a\n truncated")


class Variants(unittest.TestCase):
    # tests/model/fixtures/convit_variants: float64 NumPy references (make_variants.py).
    def test_variants_match_the_float64_reference(self):
        d = pathlib.Path(os.environ["GPSA_VARIANTS_DIR"])
        cases = json.loads((d / "cases.json").read_text())
        tol = cases["tolerance"]
        for case in cases["cases"]:
            with self.subTest(case=case["name"]):
                size = case["img_size"] if case["name"] == "no_pos_embed" else None
                m = gpsa.ConViT(d / case["name"] / "model.safetensors", image_size=size)
                self.assertEqual((m.image_size, m.global_pool, m.use_pos_embed),
                                 (case["img_size"], case["global_pool"], case["use_pos_embed"]))
                logits, features = m.forward(np.load(d / case["name"] / "x.npy"))
                self.assertLessEqual(rel_err(logits, np.load(d / case["name"] / "logits.npy")),
                                     tol["logits_rel_to_max"])
                self.assertLessEqual(rel_err(features, np.load(d / case["name"] / "features.npy")),
                                     tol["features_rel_to_max"])
        with self.assertRaisesRegex(gpsa.CheckpointError, "no pos_embed"):
            gpsa.ConViT(d / "no_pos_embed" / "model.safetensors")
        with self.assertRaisesRegex(gpsa.CheckpointError, "contradicts the checkpoint's metadata"):
            gpsa.ConViT(d / "avg_pool" / "model.safetensors", global_pool="token")
        with self.assertRaisesRegex(ValueError, "global_pool='max': expected 'token' or 'avg'"):
            gpsa.ConViT(d / "avg_pool" / "model.safetensors", global_pool="max")


class Preprocess(unittest.TestCase):
    def test_same_bits_as_cli_and_within_pil_tolerance(self):
        tol = IMAGE_CASES["tolerance"]
        with tempfile.TemporaryDirectory() as tmp:
            for case in IMAGE_CASES["cases"]:
                image = GOLDEN / "images" / case["image"]
                with self.subTest(**case):
                    x = gpsa.preprocess(str(image), size=case["size"])
                    self.assertEqual(x.shape, (1, 3, case["size"], case["size"]))
                    out = pathlib.Path(tmp, "x.npy")
                    cli("preprocess", "--image", image, "--size", case["size"], "-o", out)
                    self.assertEqual(x.tobytes(), np.load(out).tobytes())
                    self.assertEqual(gpsa.preprocess(image.read_bytes(), case["size"]).tobytes(),
                                     x.tobytes())
                    if case["image"].endswith(".jpg"):  # the golden tensors are the JPEG's (erratum)
                        diff = np.abs(x - np.load(GOLDEN / "images" / case["tensor"]))
                        self.assertLessEqual(float(diff.max()), tol["max_abs"])
                        self.assertLessEqual(float(diff.mean()), tol["mean_abs"])


class Tables(unittest.TestCase):
    def test_rel_indices_bit_identical_to_pytorch(self):
        for s in (1, 2, 3, 4, 7, 14):
            with self.subTest(S=s):
                ref = np.load(GOLDEN / f"rel_indices_s{s}.npy")
                self.assertEqual(gpsa.rel_indices(s).tobytes(), ref.tobytes())

    def test_rectangular_grid_from_the_formula(self):
        R, C = 3, 5
        t = gpsa.rel_indices((R, C))
        y, x = np.divmod(np.arange(R * C), C)
        dx = x[None, :] - x[:, None]
        dy = y[None, :] - y[:, None]
        ref = np.stack([dx, dy, dx * dx + dy * dy], axis=-1).astype(np.float32)
        self.assertEqual(t.shape, (R * C, R * C, 3))
        self.assertTrue(np.array_equal(t, ref))
        with self.assertRaisesRegex(ValueError, "over the 4.0 GiB limit"):
            gpsa.rel_indices(1000)
        with self.assertRaisesRegex(ValueError, "positive integers"):
            gpsa.rel_indices((0, 3))


def positional_softmax64(w, b, R, C):
    """softmax(P_h) (H, N, N) in float64 from pos_proj weight (H, 3) and bias (H): DESIGN.md §3."""
    y, x = np.divmod(np.arange(R * C), C)
    dx = (x[None, :] - x[:, None]).astype(np.float64)
    dy = (y[None, :] - y[:, None]).astype(np.float64)
    w = w.astype(np.float64)
    logits = (w[:, 0, None, None] * dx + w[:, 1, None, None] * dy
              + w[:, 2, None, None] * (dx * dx + dy * dy) + b.astype(np.float64)[:, None, None])
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def read_safetensors(path):
    """The float32 tensors of a safetensors file (the format's spec: u64 header length, JSON)."""
    raw = pathlib.Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        self_dtype = {"F32": np.float32, "F64": np.float64, "F16": np.float16}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=self_dtype).reshape(v["shape"])
    return out


class Fold(unittest.TestCase):
    def test_factors_give_the_positional_softmax(self):
        path = GOLDEN / "convit" / "convit_micro_4x4" / "model.safetensors"
        t = read_safetensors(path)
        layers = gpsa.fold(path)  # the grid from pos_embed: 4x4
        self.assertEqual([l["prefix"] for l in layers], [f"blocks.{i}.attn" for i in range(3)])
        for l in layers:
            with self.subTest(prefix=l["prefix"]):
                self.assertEqual(l["grid"], (4, 4))
                fx, gy = l["fx"].astype(np.float64), l["gy"].astype(np.float64)
                H = fx.shape[0]
                dense = np.einsum("hac,hbd->habcd", gy, fx).reshape(H, 16, 16)
                ref = positional_softmax64(t[l["prefix"] + ".pos_proj.weight"],
                                           t[l["prefix"] + ".pos_proj.bias"], 4, 4)
                self.assertLessEqual(float(np.max(np.abs(dense - ref) / ref)), 2.5e-7)
                gate = t[l["prefix"] + ".gating_param"].astype(np.float64)
                self.assertTrue(np.allclose(l["lambda"], 1 / (1 + np.exp(-gate)), rtol=1e-6, atol=0))
        self.assertEqual(len(gpsa.fold(path, grid=4)), 3)
        with self.assertRaises(gpsa.CheckpointError) as e:
            gpsa.fold(path, grid=(4, 5))
        self.assertIn("grid 4x5 contradicts pos_embed (1,16,96)", str(e.exception))

    def test_layer_checkpoint_needs_a_grid(self):
        path = GOLDEN / "s3_h9_c36_bias" / "weights.safetensors"
        with self.assertRaisesRegex(gpsa.CheckpointError, "no pos_embed to take the patch grid from"):
            gpsa.fold(path)
        (l,) = gpsa.fold(path, grid=(3, 5))
        self.assertEqual((l["fx"].shape, l["gy"].shape, l["lambda"].shape), ((9, 5, 5), (9, 3, 3), (9,)))


class LayerGolden(unittest.TestCase):
    def test_layer_matches_pytorch_and_the_cli(self):
        tol = LAYER_CASES["tolerance"]
        with tempfile.TemporaryDirectory() as tmp:
            for case in LAYER_CASES["cases"]:
                d = GOLDEN / case["name"]
                with self.subTest(case=case["name"]):
                    x = np.load(d / "x.npy")
                    for threads in (None, 2):
                        layer = gpsa.Layer(d / "weights.safetensors", prefix=case["prefix"],
                                           grid=case["grid"], threads=threads)
                        self.assertEqual((layer.heads, layer.dim, layer.qkv_bias, layer.grid),
                                         (case["heads"], case["dim"], case["qkv_bias"],
                                          (case["grid"], case["grid"])))
                        y = layer(x)
                        y_ref = np.load(d / "y.npy")
                        self.assertLessEqual(float(np.max(np.abs(y - y_ref))),
                                             tol["y_rel_to_max"] * float(np.max(np.abs(y_ref))))
                        attn = layer.attention(x)
                        self.assertLessEqual(float(np.max(np.abs(attn - np.load(d / "attn.npy")))),
                                             tol["attn_abs"])
                        dist = layer.nonlocality(x)
                        self.assertLessEqual(float(np.max(np.abs(dist - np.load(d / "dist.npy")))),
                                             tol["dist_abs"])
                    out = pathlib.Path(tmp, "y.npy")
                    cli("forward", "--weights", d / "weights.safetensors", "--input", d / "x.npy",
                        "-o", out)
                    self.assertEqual(gpsa.Layer(d / "weights.safetensors")(x).tobytes(),
                                     np.load(out).tobytes())

    def test_layer_errors(self):
        d = GOLDEN / "s2_h4_c16"
        layer = gpsa.Layer(d / "weights.safetensors")
        self.assertIsNone(layer.grid)
        with self.assertRaisesRegex(gpsa.InputError, r"x has shape \(2,4,15\), expected \(B,N,16\)"):
            layer(np.zeros((2, 4, 15), np.float32))
        with self.assertRaisesRegex(gpsa.CheckpointError, "blocks.7.attn"):
            gpsa.Layer(d / "weights.safetensors", prefix="blocks.7.attn")


@unittest.skipUnless(HAVE_TORCH, "torch is not installed (optional comparison)")
class TorchComparison(unittest.TestCase):
    def test_layer_against_a_torch_gpsa(self):
        # timm's GPSA forward written in torch from docs/DESIGN.md §3-4, float32.
        import torch
        case = next(c for c in LAYER_CASES["cases"] if c["qkv_bias"])
        d = GOLDEN / case["name"]
        t = {k: torch.from_numpy(v.astype(np.float32)) for k, v in
             read_safetensors(d / "weights.safetensors").items()}
        p = case["prefix"] + "."
        x = np.load(d / "x.npy")
        B, N, D = x.shape
        H = case["heads"]
        xt = torch.from_numpy(x)
        qk = torch.nn.functional.linear(xt, t[p + "qk.weight"], t.get(p + "qk.bias"))
        q, k = qk.reshape(B, N, 2, H, D // H).permute(2, 0, 3, 1, 4)
        v = torch.nn.functional.linear(xt, t[p + "v.weight"], t.get(p + "v.bias"))
        v = v.reshape(B, N, H, D // H).permute(0, 2, 1, 3)
        rel = torch.from_numpy(gpsa.rel_indices(case["grid"]))
        pos = torch.nn.functional.linear(rel, t[p + "pos_proj.weight"], t[p + "pos_proj.bias"])
        pos = pos.permute(2, 0, 1).softmax(dim=-1)
        content = (q @ k.transpose(-2, -1) * (D // H) ** -0.5).softmax(dim=-1)
        gate = torch.sigmoid(t[p + "gating_param"]).view(1, -1, 1, 1)
        attn = (1.0 - gate) * content + gate * pos
        attn = attn / attn.sum(dim=-1, keepdim=True)
        y = (attn @ v).transpose(1, 2).reshape(B, N, D)
        y = torch.nn.functional.linear(y, t[p + "proj.weight"], t[p + "proj.bias"]).numpy()
        got = gpsa.Layer(d / "weights.safetensors")(x)
        self.assertLessEqual(float(np.max(np.abs(got - y))),
                             LAYER_CASES["tolerance"]["y_rel_to_max"] * float(np.max(np.abs(y))))


if __name__ == "__main__":
    unittest.main(verbosity=2)
