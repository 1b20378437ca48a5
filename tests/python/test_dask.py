# SPDX-License-Identifier: MIT
"""examples/dask_classify.py on a LocalCluster of two worker processes: the CLI's logits for every
image, one model load per worker, a corrupt image named while the rest are classified.

Environment as test_module.py, plus GPSA_EXAMPLES_DIR (the examples folder) and
GPSA_IMAGE_FIXTURES (tests/image/fixtures).
"""
import csv
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

GOLDEN = pathlib.Path(os.environ["GPSA_GOLDEN_DIR"])
CLI = os.environ["GPSA_CLI"]
EXAMPLES = pathlib.Path(os.environ["GPSA_EXAMPLES_DIR"])
FIXTURES = pathlib.Path(os.environ["GPSA_IMAGE_FIXTURES"])
WEIGHTS = GOLDEN / "convit" / "convit_micro_4x4" / "model.safetensors"
sys.path.insert(0, str(EXAMPLES))

import dask_classify  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

# Eight images of different kinds (PNG grey/palette/16-bit/alpha/interlaced, JPEG baseline,
# progressive, CMYK), one corrupt JPEG, and a file that is not an image by its suffix.
IMAGES = ["cmyk_40x30.jpg", "grey16_50x40.png", "palette_45x61.png", "progressive_120x90.jpg",
          "rgba_37x29.png", "rgb_interlaced_77x51.png", "odd_301x199.jpg", "tall_13x400.png"]


def make_folder(root):
    folder = pathlib.Path(root, "photos")
    folder.mkdir()
    for name in IMAGES:
        shutil.copy(FIXTURES / name, folder / name)
    good = (FIXTURES / "odd_301x199.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(good[: len(good) // 3])
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def cli_logits(image, tmp):
    out = pathlib.Path(tmp, "cli_logits.npy")
    r = subprocess.run([CLI, "classify", "--weights", WEIGHTS, "--image", image, "-o", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"gpsa classify --image {image}: {r.stderr}")
    return np.load(out)


class DaskExample(unittest.TestCase):
    # One cluster for both tests (started once, closed at the end); the script joins it through
    # --scheduler as it would join a real cluster.
    @classmethod
    def setUpClass(cls):
        cls.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def test_local_cluster_matches_the_cli_and_loads_once_per_worker(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_folder(tmp)
            with Client(self.cluster) as client:
                paths, logits, failures = dask_classify.classify_folder(
                    client, WEIGHTS, folder, batch=3, threads=2)
                loads = client.run(lambda dask_worker: dask_worker.plugins["gpsa-model"].loads)
            self.assertEqual(len(loads), 2)
            self.assertEqual(sorted(loads.values()), [1, 1])  # 3 tasks, 2 workers, 2 loads
            self.assertEqual([pathlib.Path(p).name for p in paths], sorted(IMAGES))
            self.assertEqual(len(failures), 1)
            self.assertEqual(pathlib.Path(failures[0][0]).name, "corrupt.jpg")
            self.assertIn("corrupt.jpg", failures[0][1])
            self.assertEqual(logits.shape, (len(IMAGES), 10))
            for p, row in zip(paths, logits):
                with self.subTest(image=pathlib.Path(p).name):
                    self.assertEqual(row.tobytes(), cli_logits(p, tmp)[0].tobytes())

    def test_script_as_documented(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_folder(tmp)
            out, lg = pathlib.Path(tmp, "top.csv"), pathlib.Path(tmp, "logits.npy")
            r = subprocess.run([sys.executable, EXAMPLES / "dask_classify.py", WEIGHTS, folder,
                                "--scheduler", self.cluster.scheduler_address, "--batch", "4", "--topk", "2", "-o", out,
                                "--logits", lg], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1, r.stderr)  # one image failed
            self.assertIn(f"dask_classify: {folder / 'corrupt.jpg'}: ", r.stderr)
            self.assertIn("dask_classify: 8 image(s) classified, 1 failed", r.stderr)
            self.assertEqual(r.stdout, "")
            # The same CSV as gpsa classify --format csv on the folder, byte for byte.
            c = subprocess.run([CLI, "classify", "--weights", WEIGHTS, "--image", folder,
                                "--format", "csv", "--topk", "2"], capture_output=True, text=True)
            self.assertEqual(c.returncode, 1, c.stderr)  # the corrupt image
            self.assertEqual(out.read_text(), c.stdout)
            rows = list(csv.DictReader(io.StringIO(out.read_text())))
            self.assertEqual(len(rows), 2 * len(IMAGES))
            logits = np.load(lg)
            names = sorted(IMAGES)
            for i, name in enumerate(names):
                ref = cli_logits(folder / name, tmp)[0]
                self.assertEqual(logits[i].tobytes(), ref.tobytes())
                top = rows[2 * i]
                self.assertEqual((pathlib.Path(top["image"]).name, top["rank"]), (name, "1"))
                self.assertEqual(int(top["class"]), int(np.argmax(ref)))
                self.assertEqual(np.float32(float(top["logit"])), ref.max())


if __name__ == "__main__":
    unittest.main(verbosity=2)
