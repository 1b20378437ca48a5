# SPDX-License-Identifier: MIT
"""gpsa classify on many images in one run, through the real binary (system python3 + NumPy):
a folder of 100 images with one corrupt among them, CSV / JSON lines that parse, the logits equal
to one-image runs bit for bit, one open of the checkpoint for 30 images (strace), --fail-fast, --image-list (also from stdin), the progress bar only
on a terminal, the variants' --global-pool / --image-size.

Environment: GPSA_CLI (the binary), GPSA_GOLDEN_DIR, GPSA_IMAGE_FIXTURES, GPSA_VARIANTS_DIR.
"""
import csv
import io
import json
import os
import pathlib
import pty
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

CLI = os.environ["GPSA_CLI"]
GOLDEN = pathlib.Path(os.environ["GPSA_GOLDEN_DIR"])
FIXTURES = pathlib.Path(os.environ["GPSA_IMAGE_FIXTURES"])
VARIANTS = pathlib.Path(os.environ["GPSA_VARIANTS_DIR"])
WEIGHTS = GOLDEN / "convit" / "convit_micro_4x4" / "model.safetensors"
KINDS = ["cmyk_40x30.jpg", "grey16_50x40.png", "palette_45x61.png", "progressive_120x90.jpg",
         "rgba_37x29.png", "odd_301x199.jpg", "tall_13x400.png"]


def gpsa(*args, stdin=None):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, input=stdin,
                          timeout=300)


def make_folder(root, count=100, bad_at=37):
    """count images (copies of KINDS, cycled) named img_000.png..., one truncated JPEG."""
    folder = pathlib.Path(root, "photos")
    folder.mkdir()
    names = []
    for i in range(count):
        if i == bad_at:
            name = f"img_{i:03d}.jpg"
            data = (FIXTURES / "odd_301x199.jpg").read_bytes()
            (folder / name).write_bytes(data[: len(data) // 2])
        else:
            src = KINDS[i % len(KINDS)]
            name = f"img_{i:03d}{pathlib.Path(src).suffix}"
            shutil.copy(FIXTURES / src, folder / name)
        names.append(name)
    (folder / "README.txt").write_text("not an image: left alone\n")
    return folder, names


def single_logits(image, tmp):
    out = pathlib.Path(tmp, "one.npy")
    r = gpsa("classify", "--weights", WEIGHTS, "--image", image, "-o", out)
    assert r.returncode == 0, r.stderr
    return np.load(out)[0]


class ManyImages(unittest.TestCase):
    def test_folder_of_100_with_a_corrupt_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder, names = make_folder(tmp)
            res, lg, feat = (pathlib.Path(tmp, n) for n in ("r.csv", "l.npy", "f.npy"))
            r = gpsa("classify", "--weights", WEIGHTS, "--image", folder, "--format", "csv",
                     "-o", res, "--logits", lg, "--features", feat, "--topk", "3", "--batch", "8")
            self.assertEqual(r.returncode, 1, r.stderr)
            bad = folder / names[37]
            self.assertEqual(r.stderr.splitlines(), [
                f"gpsa: {bad}: truncated JPEG: the file ends after {bad.stat().st_size} bytes",
                "gpsa: 1 of 100 images could not be read (each is named above); the others are "
                "classified"])
            self.assertIn("100 images: 99 images classified, 1 failed, top 3 of 10 classes", r.stdout)
            self.assertNotIn("\r", r.stderr)  # no progress bar outside a terminal
            good = [folder / n for i, n in enumerate(names) if i != 37]
            logits = np.load(lg)
            self.assertEqual(logits.shape, (99, 10))
            self.assertEqual(np.load(feat).shape, (99, 17, 96))
            rows = list(csv.DictReader(io.StringIO(res.read_text())))
            self.assertEqual(len(rows), 3 * 99)
            self.assertEqual([rows[3 * i]["image"] for i in range(99)], [str(p) for p in good])
            # One image of each kind against a run of its own: the same bits (batches of 8 or 1).
            for i in range(len(KINDS)):
                with self.subTest(image=good[i].name):
                    self.assertEqual(logits[i].tobytes(), single_logits(good[i], tmp).tobytes())
            for i, row in enumerate(logits):
                top = rows[3 * i]
                self.assertEqual(int(top["class"]), int(np.argmax(row)))
                self.assertEqual(np.float32(float(top["logit"])), row.max())  # 9 digits: exact
                z = row.astype(np.float64)
                p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
                self.assertAlmostEqual(float(top["probability"]), p.max(), delta=1e-8)

    def test_one_model_load_for_many_images(self):
        # strace counts the opens: the checkpoint once, each image once.
        with tempfile.TemporaryDirectory() as tmp:
            folder, names = make_folder(tmp, count=30, bad_at=-1)
            log = pathlib.Path(tmp, "strace.log")
            r = subprocess.run(["strace", "-f", "-e", "trace=open,openat", "-o", log, CLI,
                                "classify", "--weights", WEIGHTS, "--image", folder, "--batch", "4",
                                "--topk", "1"], capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            opens = [l for l in log.read_text().splitlines() if "open" in l]
            self.assertEqual(sum(str(WEIGHTS) in l for l in opens), 1)
            for n in names:
                self.assertEqual(sum(f"/{n}\"" in l for l in opens), 1, n)

    def test_jsonl_on_stdout_and_image_list(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder, names = make_folder(tmp, count=6, bad_at=-1)
            listed = [folder / n for n in names[:4]]
            lst = pathlib.Path(tmp, "list.txt")
            lst.write_text("".join(f"{p}\r\n" for p in listed) + "\n")
            for args, stdin in ((["--image-list", lst], None),
                                (["--image-list", "-"], "\n".join(map(str, listed)))):
                r = gpsa("classify", "--weights", WEIGHTS, *args, "--format", "jsonl",
                         "--topk", "2", stdin=stdin)
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = [json.loads(l) for l in r.stdout.splitlines()]
                self.assertEqual([l["image"] for l in lines], [str(p) for p in listed])
                self.assertEqual([len(l["top"]) for l in lines], [2] * 4)
                self.assertEqual(lines[0]["top"][0]["rank"], 1)
                ref = single_logits(listed[0], tmp)
                self.assertEqual(lines[0]["top"][0]["class"], int(np.argmax(ref)))
                self.assertEqual(np.float32(lines[0]["top"][0]["logit"]), ref.max())

    def test_stdin_image_and_npy(self):
        with tempfile.TemporaryDirectory() as tmp:
            image = FIXTURES / "progressive_120x90.jpg"
            lg = pathlib.Path(tmp, "l.npy")
            for flag, data in (("--image", image.read_bytes()),
                               ("--input", (GOLDEN / "convit" / "convit_micro_4x4" / "x.npy").read_bytes())):
                r = subprocess.run([CLI, "classify", "--weights", WEIGHTS, flag, "-", "-o", lg],
                                   input=data, capture_output=True, timeout=300)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = np.load(lg)
                if flag == "--image":
                    self.assertEqual(got[0].tobytes(), single_logits(image, tmp).tobytes())
                else:
                    self.assertEqual(got.shape, (2, 10))
            r = gpsa("classify", "--weights", WEIGHTS, "--image", "-", "--image-list", "-")
            self.assertEqual((r.returncode, r.stderr), (1, "gpsa: '-' (stdin) can be given once: "
                                                           "one image, x.npy or the list\n"))

    def test_fail_fast_writes_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder, names = make_folder(tmp, count=5, bad_at=2)
            lg = pathlib.Path(tmp, "l.npy")
            r = gpsa("classify", "--weights", WEIGHTS, "--image", folder, "-o", lg, "--fail-fast")
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn(names[2], r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertFalse(lg.exists())
            self.assertEqual(sorted(os.listdir(tmp)), ["photos"])  # no temporary left

    def test_progress_bar_only_on_a_terminal(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder, _ = make_folder(tmp, count=12, bad_at=-1)
            master, slave = pty.openpty()
            try:
                p = subprocess.run([CLI, "classify", "--weights", WEIGHTS, "--image", folder,
                                    "--batch", "4", "--topk", "1"], stdout=subprocess.PIPE,
                                   stderr=slave, timeout=300)
                os.close(slave)
                seen = b""
                while True:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
            finally:
                os.close(master)
            self.assertEqual(p.returncode, 0)
            self.assertIn(b"\r[" + b"#" * 30 + b"] 12/12 images", seen)
            self.assertTrue(seen.endswith(b"\r\x1b[K"), seen[-40:])  # the bar is erased at the end
            self.assertNotIn(b"\r", p.stdout)

    def test_variants_pool_and_image_size(self):
        with tempfile.TemporaryDirectory() as tmp:
            avg = VARIANTS / "avg_pool" / "model.safetensors"
            lg = pathlib.Path(tmp, "l.npy")
            r = gpsa("classify", "--weights", avg, "--input", VARIANTS / "avg_pool" / "x.npy",
                     "-o", lg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("6 classes, global_pool avg (from the metadata)", r.stdout)
            ref = np.load(VARIANTS / "avg_pool" / "logits.npy")
            self.assertLessEqual(float(np.max(np.abs(np.load(lg) - ref))), 1e-4)
            r = gpsa("classify", "--weights", avg, "--input", VARIANTS / "avg_pool" / "x.npy",
                     "--global-pool", "token")
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr, f"gpsa: {avg}: global_pool token (given) contradicts the "
                                       "checkpoint's metadata global_pool 'avg'\n")
            nope = VARIANTS / "no_pos_embed" / "model.safetensors"
            r = gpsa("classify", "--weights", nope, "--input", VARIANTS / "no_pos_embed" / "x.npy")
            self.assertEqual(r.returncode, 1)
            self.assertIn("no pos_embed (timm's use_pos_embed=False)", r.stderr)
            r = gpsa("classify", "--weights", nope, "--input", VARIANTS / "no_pos_embed" / "x.npy",
                     "--image-size", "48", "-o", lg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("no pos_embed", r.stdout)
            ref = np.load(VARIANTS / "no_pos_embed" / "logits.npy")
            self.assertLessEqual(float(np.max(np.abs(np.load(lg) - ref))), 1e-4)
            pth = pathlib.Path(tmp, "model.pth")
            pth.write_bytes(b"PK\x03\x04" + bytes(60))
            r = gpsa("classify", "--weights", pth, "--image", FIXTURES / "odd_301x199.jpg")
            self.assertEqual(r.stderr, f"gpsa: {pth}: a PyTorch checkpoint (torch.save zip archive, "
                                       ".pth/.pt), not safetensors: convert it with "
                                       f"tools/pth_to_safetensors.py {pth} OUT.safetensors\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
