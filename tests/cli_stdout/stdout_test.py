# SPDX-License-Identifier: MIT
"""`-o -` means stdout for gpsa preprocess, table and classify (system python3 + NumPy): the bytes
on stdout are exactly those `-o FILE` writes, stdout holds nothing else (the report goes to
stderr), and a write error on stdout (/dev/full) is exit status 1 with a one-line
message naming stdout, never a silent 0.

Environment: GPSA_CLI (the binary), GPSA_GOLDEN_DIR, GPSA_IMAGE_FIXTURES.
"""
import io
import os
import pathlib
import subprocess
import tempfile
import unittest

import numpy as np

CLI = os.environ["GPSA_CLI"]
GOLDEN = pathlib.Path(os.environ["GPSA_GOLDEN_DIR"])
FIXTURES = pathlib.Path(os.environ["GPSA_IMAGE_FIXTURES"])
WEIGHTS = GOLDEN / "convit" / "convit_micro_4x4" / "model.safetensors"
IMAGE = FIXTURES / "rgba_37x29.png"


def gpsa(*args, stdout=subprocess.PIPE):
    return subprocess.run([CLI, *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                          timeout=120)


class StdoutOutput(unittest.TestCase):
    def same_as_file(self, *args):
        """Runs `gpsa ARGS -o FILE` and `gpsa ARGS -o -`; returns (file bytes, stdout bytes, stderr)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp, "out")
            r = gpsa(*args, "-o", path)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            s = gpsa(*args, "-o", "-")
            self.assertEqual(s.returncode, 0, s.stderr.decode())
            self.assertEqual(sorted(os.listdir(tmp)), ["out"])  # nothing named '-' or staged
            self.assertFalse(pathlib.Path("-").exists())
            data = path.read_bytes()
            self.assertEqual(s.stdout, data)
            return data, s.stdout, s.stderr.decode()

    def test_preprocess(self):
        _, out, err = self.same_as_file("preprocess", "--image", IMAGE, "--size", 32)
        x = np.load(io.BytesIO(out))
        self.assertEqual(x.shape, (1, 3, 32, 32))
        self.assertIn("x (1,3,32,32) float32", err)  # the report, on stderr

    def test_table_npy_and_c(self):
        _, out, err = self.same_as_file("table", "--grid", 5)
        t = np.load(io.BytesIO(out))
        self.assertEqual(t.shape, (25, 25, 3))
        # independent: patch p = (y, x) on the 5x5 grid, dx = x_j - x_i, dy = y_j - y_i
        i, j = 7, 19
        dx, dy = j % 5 - i % 5, j // 5 - i // 5
        self.assertEqual(list(t[i, j]), [dx, dy, dx * dx + dy * dy])
        self.assertIn("gpsa table: wrote -", err)
        # a C header names the command that made it (provenance): compared with its own -o
        r = gpsa("table", "--grid", 3, "--format", "c", "-o", "-")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"gpsa table --grid 3 --dtype f32 --format c -o -", r.stdout)
        self.assertIn(b"#define", r.stdout)
        self.assertIn(b"#endif", r.stdout[-100:])  # the whole header

    def test_classify_logits_and_csv(self):
        _, out, err = self.same_as_file("classify", "--weights", WEIGHTS, "--image", IMAGE)
        logits = np.load(io.BytesIO(out))
        self.assertEqual(logits.shape[0], 1)
        self.assertIn("logits", err)
        _, out, err = self.same_as_file("classify", "--weights", WEIGHTS, "--image", IMAGE,
                                        "--format", "csv", "--topk", 2)
        lines = out.decode().splitlines()
        self.assertTrue(lines[0].startswith("image,"), lines[0])
        self.assertEqual(len(lines), 3, lines)  # header + top 2
        self.assertIn("wrote -: csv", err)

    def test_classify_two_outputs_on_stdout_refused(self):
        r = gpsa("classify", "--weights", WEIGHTS, "--image", IMAGE, "--format", "csv", "-o", "-",
                 "--logits", "-")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertIn("-o and --logits both name the standard output '-'", r.stderr.decode())

    def test_full_stdout_is_an_error(self):
        with open("/dev/full", "wb") as full:
            r = gpsa("table", "--grid", 5, "-o", "-", stdout=full)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("stdout: write failed: No space left on device", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
