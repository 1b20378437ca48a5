#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Classify a folder of PNG/JPEG images with gpsa on a Dask cluster (docs/python.md).

usage: examples/dask_classify.py WEIGHTS FOLDER [--scheduler ADDRESS | --workers N]
                                 [--threads T] [--batch B] [--topk K] [-o OUT.csv]
                                 [--logits OUT.npy]

Dask schedules the work; gpsa only computes. Every worker loads the model once, when it joins
(a Dask WorkerPlugin holding a gpsa.ConViT), then classifies batches of images: each task reads
and preprocesses its files like timm (gpsa.preprocess) and runs one forward over the batch. The
same code runs on a LocalCluster (--workers N, the default: 2 worker processes on this machine) or
on a real cluster (--scheduler tcp://HOST:8786); there, WEIGHTS and the images must be readable at
the same paths on every worker (a shared file system).

Output: CSV lines `image,rank,class,logit,probability` (top-K per image, probability = softmax of
the logits) on stdout or -o; --logits writes every image's logits (images in sorted file order,
float32 .npy). An image that cannot be read is reported on stderr by name and the rest are
classified; the exit status is 1 when any failed.
"""
import argparse
import csv
import math
import os
import sys

import numpy as np
from distributed import Client, LocalCluster, WorkerPlugin, get_worker

import gpsa

PLUGIN = "gpsa-model"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class GpsaModel(WorkerPlugin):
    """Loads the checkpoint once per worker (setup runs when the worker starts or joins)."""

    name = PLUGIN

    def __init__(self, weights, threads=None):
        self.weights = os.fspath(weights)
        self.threads = threads
        self.model = None
        self.loads = 0

    def setup(self, worker):
        self.model = gpsa.ConViT(self.weights, threads=self.threads)
        self.loads += 1

    def teardown(self, worker):
        self.model = None


def classify_batch(paths):
    """On a worker: (paths classified, their logits (B, classes), [(path, error message)])."""
    model = get_worker().plugins[PLUGIN].model
    images, done, failed = [], [], []
    for p in paths:
        try:
            images.append(gpsa.preprocess(p, size=model.image_size))
            done.append(p)
        except gpsa.Error as e:
            failed.append((p, str(e)))
    if not images:
        return done, np.zeros((0, model.classes), np.float32), failed
    return done, model(np.concatenate(images)), failed


def list_images(folder):
    """The folder's PNG/JPEG files (by suffix), sorted by name."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    return [os.path.join(folder, n) for n in names]


def classify_folder(client, weights, folder, batch=16, threads=None):
    """Classifies every image of `folder` on the client's cluster.

    Returns (paths, logits (len(paths), classes) float32, failures [(path, message)]), paths in
    sorted order without the failed ones. Each worker loads `weights` once (GpsaModel).
    """
    files = list_images(folder)
    if not files:
        raise ValueError(f"{folder}: no PNG or JPEG file (*.png, *.jpg, *.jpeg)")
    client.register_worker_plugin(GpsaModel(weights, threads), name=PLUGIN)
    batches = [files[i:i + batch] for i in range(0, len(files), batch)]
    futures = client.map(classify_batch, batches, pure=False)
    paths, logits, failures = [], [], []
    for done, lg, failed in client.gather(futures):
        paths += done
        logits.append(lg)
        failures += failed
    return paths, np.concatenate(logits), failures


def top_rows(paths, logits, k):
    """CSV rows (image, rank, class, logit, probability) of the top-k classes of each image, as
    `gpsa classify --format csv` writes them (9 significant digits: the float's exact value)."""
    for path, row in zip(paths, logits):
        peak = float(np.max(row))
        e = [math.exp(float(v) - peak) for v in row]  # libm's exp, summed in class order (the CLI's)
        total = 0.0
        for v in e:
            total += v
        order = sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]
        for rank, j in enumerate(order, 1):
            yield path, rank, j, f"{float(row[j]):.9g}", f"{e[j] / total:.9g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="safetensors checkpoint of a timm ConViT")
    ap.add_argument("folder", help="folder of PNG/JPEG images")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler")
    where.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    ap.add_argument("--threads", type=int, default=None, help="gpsa threads per worker")
    ap.add_argument("--batch", type=int, default=16, help="images per task")
    ap.add_argument("--topk", type=int, default=5)
    ap.add_argument("-o", "--output", help="CSV file (default: stdout)")
    ap.add_argument("--logits", help="write the logits (images, classes) float32 .npy")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.topk < 1 or (a.scheduler is None and a.workers < 1):
        ap.error("--batch, --topk and --workers must be positive")

    if a.scheduler:
        client, cluster = Client(a.scheduler), None
    else:
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        paths, logits, failures = classify_folder(client, a.weights, a.folder, a.batch, a.threads)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    out = open(a.output, "w", newline="") if a.output else sys.stdout
    try:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["image", "rank", "class", "logit", "probability"])
        w.writerows(top_rows(paths, logits, a.topk))
    finally:
        if out is not sys.stdout:
            out.close()
    if a.logits:
        np.save(a.logits, logits)
    for _, message in failures:  # gpsa's message names the file
        print(f"dask_classify: {message}", file=sys.stderr)
    print(f"dask_classify: {len(paths)} image(s) classified, {len(failures)} failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
