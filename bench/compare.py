#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gpsa side by side with PyTorch and ONNX Runtime, and against the FMA limit, in one run.

Usage (from the repository root, after building bench_gpsa):
    bench/compare.py [--bench build/default/bench/bench_gpsa] [--ort-dir build/ort]
        [--repetitions 7] [--min-time 0.2] [--quick] [--json OUT.json]

Each workload (a row) is the same computation three ways:
  - gpsa: a Google Benchmark of bench_gpsa (--benchmark_format=json, cpu_time);
  - PyTorch: a torch.nn.Module written here from the layer's math (docs/DESIGN.md; it mirrors
    timm's GPSA), one thread (torch.set_num_threads(1), OMP/OPENBLAS/MKL_NUM_THREADS=1), per-thread
    CPU time;
  - ONNX Runtime: that module exported with torch.onnx.export(opset_version=14,
    do_constant_folding=True) (which folds the input-independent positional softmax into a
    constant), timed by bench/ort_time.js with the npm package onnxruntime-node (CPU, one
    intra-op thread), process CPU time. When ORT_DIR lacks it and npm is on PATH, this script
    runs `npm install --ignore-scripts onnxruntime-node@1.30.0` there first.
Missing pieces (torch, node/npm, the package) are reported and their columns print "n/a"; the
others still run. The FMA limit is the GEMM work of a row divided by BM_FmaPeak (the dispatched
SIMD target's register-only FMA loop) from the same bench_gpsa run.

Adding a row: append a Workload in workloads() with the gpsa benchmark name, a function building
the torch module and its input, and the GEMM FLOP count.

The whole ConViT (bench_model against the same model in PyTorch and ONNX Runtime, one and two
threads, with the FMA limit):
    bench/compare.py model [build/default/bench/bench_model] [--models tiny,small]
        [--batches 1,8] [--threads 1,2] [--repetitions 5] [--check-golden tests/golden/convit]
        [--rss] [--json OUT]
(see MODEL_DOC below).
"""

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

# Single-threaded BLAS/OpenMP for torch; must be set before torch (and its BLAS) is loaded.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

ORT_PACKAGE = "onnxruntime-node@1.30.0"
GRID = 14
TOKENS = GRID * GRID
# name, heads, width (N = 196 tokens, 14 x 14 grid): ConViT-Ti / -S / -B.
CONFIGS = {"tiny": (4, 192), "small": (9, 432), "base": (16, 768)}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def import_torch():
    """The torch module, or None. Debian's python3-torch lives in /usr/bin/python3's
    dist-packages; when another python3 is first on PATH, re-run this script with that one."""
    try:
        import torch  # noqa: PLC0415

        return torch
    except ImportError:
        system_python = "/usr/bin/python3"
        if (os.environ.get("GPSA_COMPARE_REEXEC") is None and os.path.exists(system_python)
                and os.path.realpath(sys.executable) != os.path.realpath(system_python)):
            os.environ["GPSA_COMPARE_REEXEC"] = "1"
            os.execv(system_python, [system_python] + sys.argv)
        return None


# ----------------------------------------------------------------------------------------------
# Workloads
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Workload:
    label: str
    gpsa_benchmark: str                  # name in bench_gpsa
    flops: float = 0.0                   # GEMM work, for the FMA-limit column (0: none)
    torch_factory: Optional[Callable] = None  # torch -> (module or callable, tuple of inputs)
    onnx: bool = False                   # export torch_factory's module and time it in ORT
    ort_target: Optional[float] = None   # gpsa must be this many times faster than ORT
    fma_target: Optional[float] = None   # gpsa must reach this fraction of the FMA limit


def layer_flops(dim, batch):
    """qk, v, proj linear layers + q k^T and attn v over all heads (2 N^2 d each)."""
    n = float(TOKENS)
    return batch * (2.0 * n * dim * 4.0 * dim + 4.0 * n * n * dim)


def make_torch_layer(torch):
    """The GPSA layer from the math (docs/DESIGN.md §3–4), structured like timm's GPSA."""
    nn = torch.nn

    def rel_indices(size):
        offsets = torch.arange(size).view(1, -1) - torch.arange(size).view(-1, 1)  # [i, j] = j - i
        dx = offsets.repeat(size, size)
        dy = offsets.repeat_interleave(size, dim=0).repeat_interleave(size, dim=1)
        n = size * size
        table = torch.zeros(1, n, n, 3)
        table[:, :, :, 0] = dx.unsqueeze(0)
        table[:, :, :, 1] = dy.unsqueeze(0)
        table[:, :, :, 2] = (dx ** 2 + dy ** 2).unsqueeze(0)
        return table

    class Gpsa(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.scale = (dim // heads) ** -0.5
            self.qk = nn.Linear(dim, 2 * dim, bias=False)
            self.v = nn.Linear(dim, dim, bias=False)
            self.proj = nn.Linear(dim, dim)
            self.pos_proj = nn.Linear(3, heads)
            self.gating_param = nn.Parameter(torch.ones(heads))
            self.register_buffer("rel", rel_indices(GRID))  # cached, as timm does for a fixed N

        def positional(self, batch):
            pos = self.rel.expand(batch, -1, -1, -1)
            return self.pos_proj(pos).permute(0, 3, 1, 2).softmax(dim=-1)

        def forward(self, x):
            b, n, c = x.shape
            h = self.heads
            qk = self.qk(x).reshape(b, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
            q, k = qk[0], qk[1]
            position = self.positional(b)
            content = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            lam = torch.sigmoid(self.gating_param.view(1, -1, 1, 1))
            attn = (1.0 - lam) * content + lam * position
            attn = attn / attn.sum(dim=-1, keepdim=True)
            v = self.v(x).reshape(b, n, h, c // h).permute(0, 2, 1, 3)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))

    return rel_indices, Gpsa


def workloads(quick):
    """The rows, in print order."""
    rows = []

    def layer(name, batch):
        heads, dim = CONFIGS[name]

        def factory(torch):
            _, gpsa_cls = make_torch_layer(torch)
            return gpsa_cls(dim, heads).eval(), (torch.randn(batch, TOKENS, dim),)

        target = 1.3 if (batch == 1 or name == "small") else None
        return Workload(f"forward {name} B={batch}", f"BM_Forward/{name}/{batch}",
                        layer_flops(dim, batch), factory, True, target,
                        0.8 if (name == "small" and batch == 1) else None)

    layers = [("tiny", 1), ("small", 1), ("base", 1), ("small", 8)]
    if not quick:
        layers += [("tiny", 8), ("base", 8)]
    rows += [layer(n, b) for n, b in layers]

    def table(size):
        def factory(torch):
            rel_indices, _ = make_torch_layer(torch)
            return (lambda: rel_indices(size)), ()

        return Workload(f"table fill S={size}", f"BM_RelFill/{size}", 0.0, factory)

    rows += [table(14), table(32)]

    # GEMM building blocks (the linear layers of ConViT-S; x W^T).
    def linear(label, bench, n_out, n_in):
        def factory(torch):
            lin = torch.nn.Linear(n_in, n_out, bias=False)
            return lin, (torch.randn(TOKENS, n_in),)

        return Workload(label, bench, 2.0 * TOKENS * n_out * n_in, factory, True)

    rows.append(linear("gemm x W_qk^T D=432", "BM_GemmQkProj/gpsa/432", 864, 432))
    if not quick:
        rows.append(linear("gemm x W^T D=432", "BM_GemmProj/gpsa/432", 432, 432))
        rows.append(linear("gemm MLP fc1 D=432", "BM_GemmMlpUp/gpsa/432", 1728, 432))
    return rows


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


def time_callable(fn, args, repetitions, min_time):
    """Median over repetitions of the per-call (cpu, wall) seconds of fn(*args); each repetition
    runs fn enough times to last min_time (calibrated once, like Google Benchmark)."""
    for _ in range(3):
        fn(*args)
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(*args)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or calls >= 1 << 20:
            break
        calls = max(calls * 2, int(calls * min_time / max(elapsed, 1e-9) * 1.2))
    cpu, wall = [], []
    for _ in range(repetitions):
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(calls):
            fn(*args)
        cpu.append((time.thread_time() - c0) / calls)
        wall.append((time.perf_counter() - w0) / calls)
    return statistics.median(cpu), statistics.median(wall)


def run_gpsa(binary, names, repetitions, min_time):
    """{benchmark name: (cpu median s, wall median s, counters)} and the binary's context."""
    extra = ["BM_FmaPeak", "BM_ForwardThreads/small/1/1", "BM_ForwardThreads/small/1/2",
             "BM_Memset/460992", "BM_Memset/12582912"]
    wanted = list(dict.fromkeys(names + extra))
    pattern = "^(" + "|".join(n.replace("/", "/") for n in wanted) + ")(/real_time)?$"
    cmd = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
           f"--benchmark_min_time={min_time}", f"--benchmark_filter={pattern}"]
    print("running:", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    samples = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "error_occurred" in b:
            continue
        key = b.get("run_name", b["name"]).removesuffix("/real_time")
        scale = unit[b.get("time_unit", "ns")]
        counters = {k: v for k, v in b.items() if k in ("FLOP/s", "bytes_per_second")}
        samples.setdefault(key, []).append((b["cpu_time"] * scale, b["real_time"] * scale,
                                            counters, b.get("label", "")))
    result = {}
    for key, vals in samples.items():
        result[key] = {
            "cpu": statistics.median(v[0] for v in vals),
            "wall": statistics.median(v[1] for v in vals),
            "flops": statistics.median(v[2].get("FLOP/s", 0.0) for v in vals),
            "label": vals[0][3],
        }
    return result, data.get("context", {})


def ensure_ort(ort_dir, allow_install):
    """Path of node if onnxruntime-node is usable from ort_dir (installing it if allowed), else
    None after saying why."""
    node = shutil.which("node")
    if node is None:
        print("compare: node is not installed (Debian: apt-get install nodejs); "
              "no ONNX Runtime column.")
        return None
    package = os.path.join(ort_dir, "node_modules", "onnxruntime-node", "package.json")
    if not os.path.exists(package):
        npm = shutil.which("npm")
        if npm is None or not allow_install:
            print(f"compare: {package} is missing and " +
                  ("npm is not installed" if npm is None else "--no-install was given") +
                  f"; run `npm install --ignore-scripts {ORT_PACKAGE}` in {ort_dir}. "
                  "No ONNX Runtime column.")
            return None
        os.makedirs(ort_dir, exist_ok=True)
        print(f"compare: installing {ORT_PACKAGE} into {ort_dir} (npm, --ignore-scripts)",
              flush=True)
        r = subprocess.run([npm, "install", "--ignore-scripts", "--no-audit", "--no-fund",
                            ORT_PACKAGE], cwd=ort_dir, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(package):
            print(f"compare: npm install failed ({r.stderr.strip()[-300:]}); "
                  "no ONNX Runtime column.")
            return None
    return node


def time_ort(node, ort_dir, torch, models, repetitions, min_time, workdir):
    """Exports each (name, module, inputs) to ONNX and times them all in one node process."""
    spec = {"repetitions": repetitions, "min_time": min_time, "models": []}
    for name, module, inputs in models:
        path = os.path.join(workdir, f"m{len(spec['models'])}.onnx")
        names = [f"in{i}" for i in range(len(inputs))]
        with torch.no_grad():
            torch.onnx.export(module, inputs, path, opset_version=14, do_constant_folding=True,
                              input_names=names, output_names=["out"])
        spec["models"].append({"name": name, "path": path,
                               "inputs": {n: list(t.shape) for n, t in zip(names, inputs)}})
    spec_file = os.path.join(workdir, "spec.json")
    with open(spec_file, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    r = subprocess.run([node, os.path.join(HERE, "ort_time.js"), ort_dir, spec_file],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"compare: ONNX Runtime timing failed: {r.stderr.strip()[-500:]}")
        return {}, None
    data = json.loads(r.stdout)
    return data["results"], data.get("ort_version")


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}x"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "model":
        return model_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", default=os.path.join(ROOT, "build/default/bench/bench_gpsa"),
                        help="the bench_gpsa binary")
    parser.add_argument("--ort-dir", default=os.path.join(ROOT, "build/ort"),
                        help="folder with node_modules/onnxruntime-node (installed if missing)")
    parser.add_argument("--no-install", action="store_true", help="never run npm install")
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition")
    parser.add_argument("--quick", action="store_true", help="fewer rows")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    if not (os.path.isfile(args.bench) and os.access(args.bench, os.X_OK)):
        print(f"compare: {args.bench}: not an executable (build it: cmake --build --preset "
              "default --target bench_gpsa)", file=sys.stderr)
        return 2
    rows = workloads(args.quick)
    gpsa, context = run_gpsa(args.bench, [w.gpsa_benchmark for w in rows], args.repetitions,
                             args.min_time)
    peak = gpsa.get("BM_FmaPeak", {}).get("flops") or None
    target = context.get("gpsa_simd_backend", "?")

    torch = import_torch()
    torch_times, ort_times, ort_version = {}, {}, None
    if torch is None:
        print("compare: PyTorch is not installed (Debian: apt-get install python3-torch); "
              "no PyTorch or ONNX Runtime column.")
    else:
        torch.set_num_threads(1)
        torch.manual_seed(0)
        built = {}
        with torch.no_grad():
            for w in rows:
                if w.torch_factory is None:
                    continue
                module, inputs = w.torch_factory(torch)
                built[w.label] = (module, inputs)
                torch_times[w.label] = time_callable(module, inputs, args.repetitions,
                                                     args.min_time)
        node = ensure_ort(os.path.abspath(args.ort_dir), not args.no_install)
        if node is not None:
            with tempfile.TemporaryDirectory(prefix="gpsa_compare_") as workdir:
                models = [(w.label, *built[w.label]) for w in rows if w.onnx and w.label in built]
                ort_times, ort_version = time_ort(node, os.path.abspath(args.ort_dir), torch,
                                                  models, args.repetitions, args.min_time,
                                                  workdir)

    print(f"\ngpsa ({context.get('gpsa_gemm_backend', '?')}, SIMD target {target}) vs "
          f"PyTorch {torch.__version__ if torch else 'n/a'} (1 thread) vs ONNX Runtime "
          f"{ort_version or 'n/a'} (CPU, 1 intra-op thread); medians of {args.repetitions}, "
          f"CPU time. FMA limit: BM_FmaPeak = "
          f"{(peak / 1e9) if peak else float('nan'):.1f} GFLOP/s on {target}.\n")
    header = (f"{'operation':24} {'PyTorch':>11} {'ORT':>11} {'gpsa':>11} {'FMA limit':>11} "
              f"{'vs PyTorch':>10} {'vs ORT':>7} {'% limit':>8}  targets")
    print(header)
    print("-" * len(header))
    table = []
    for w in rows:
        g = gpsa.get(w.gpsa_benchmark)
        g_cpu = g["cpu"] if g else None
        t = torch_times.get(w.label)
        o = ort_times.get(w.label)
        limit = w.flops / peak if (w.flops and peak) else None
        vs_torch = t[0] / g_cpu if (t and g_cpu) else None
        vs_ort = o["cpu_s"] / g_cpu if (o and g_cpu) else None
        frac = limit / g_cpu if (limit and g_cpu) else None
        verdicts = []
        if w.ort_target:
            verdicts.append(f">={w.ort_target}x ORT: " + (
                "n/a" if vs_ort is None else ("meets" if vs_ort >= w.ort_target else "misses")))
        if w.fma_target:
            verdicts.append(f">={w.fma_target:.0%} limit: " + (
                "n/a" if frac is None else ("meets" if frac >= w.fma_target else "misses")))
        print(f"{w.label:24} {fmt_time(t[0] if t else None):>11} "
              f"{fmt_time(o['cpu_s'] if o else None):>11} {fmt_time(g_cpu):>11} "
              f"{fmt_time(limit):>11} {fmt_ratio(vs_torch):>10} {fmt_ratio(vs_ort):>7} "
              f"{(f'{frac:.0%}' if frac else ''):>8}  {'; '.join(verdicts)}")
        table.append({"operation": w.label, "gpsa_benchmark": w.gpsa_benchmark,
                      "torch_cpu_s": t[0] if t else None, "torch_wall_s": t[1] if t else None,
                      "ort_cpu_s": o["cpu_s"] if o else None,
                      "ort_wall_s": o["wall_s"] if o else None, "gpsa_cpu_s": g_cpu,
                      "gpsa_wall_s": g["wall"] if g else None, "fma_limit_s": limit,
                      "vs_torch": vs_torch, "vs_ort": vs_ort, "fraction_of_limit": frac})

    print()
    for size, nbytes in ((14, 460992), (32, 12582912)):
        fill, mem = gpsa.get(f"BM_RelFill/{size}"), gpsa.get(f"BM_Memset/{nbytes}")
        if fill and mem:
            frac = mem["cpu"] / fill["cpu"]
            print(f"table fill S={size}: {frac:.0%} of memset bandwidth for {nbytes} bytes "
                  f"(target >= 50%: {'meets' if frac >= 0.5 else 'misses'})")
    one, two = gpsa.get("BM_ForwardThreads/small/1/1"), gpsa.get("BM_ForwardThreads/small/1/2")
    if one and two:
        speedup = one["wall"] / two["wall"]
        print(f"forward small B=1, 2 workers: {speedup:.2f}x one worker, wall time "
              f"(target >= 1.8x: {'meets' if speedup >= 1.8 else 'misses'})")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"context": context, "torch": torch.__version__ if torch else None,
                       "onnxruntime": ort_version, "fma_peak_flops": peak, "rows": table}, f,
                      indent=1)
    return 0




# ==============================================================================================
# The whole ConViT: `compare.py model BENCH_MODEL [options]`
# ==============================================================================================

MODEL_DOC = """Whole-ConViT timing: gpsa (bench_model) next to PyTorch and ONNX Runtime and the FMA limit,
one and two threads, from one run.

Usage:
    bench/compare.py model [build/default/bench/bench_model]
        [--models tiny,small] [--batches 1,8] [--threads 1,2] [--repetitions 5] [--min-time 0.5]
        [--ort-dir build/ort] [--no-install] [--rss] [--check-golden tests/golden/convit]
        [--json OUT.json]

What it does:
- gpsa: bench_model's BM_Model/<model>/<B> (one thread, CPU time), BM_ModelThreads/<model>/<B>/<W>
  (W = 1, 2 workers of a thread_pool_executor, wall time) and BM_FmaPeak (the FMA limit of one
  core on the dispatched SIMD target), all in one bench_model run (--benchmark_format=json).
- PyTorch (Debian's python3-torch, torch.set_num_threads(W)): timm's ConViT math written here in
  plain torch (timm is not needed), loaded from a timm-keyed safetensors checkpoint with random
  weights of the same shape (224x224, patch 16, depth 12, local_up_to_layer 10; tiny D 192 H 4,
  small D 432 H 9). Like timm, every GPSA block recomputes its positional softmax per call.
- ONNX Runtime (npm onnxruntime-node 1.30, CPU, intra-op threads W, inter-op 1, all graph
  optimisations): the same module exported with torch.onnx.export(opset_version=14,
  do_constant_folding=True), which folds the constant positional softmax. Timed by a small node
  script (process.cpuUsage for CPU time). When build/ort lacks the package and npm is on PATH,
  this script runs `npm install --prefix build/ort --ignore-scripts onnxruntime-node@1.30.0`
  first (not with --no-install). Without node / the package the column says n/a and it goes on.
- --check-golden DIR: first checks that this script's torch model reproduces the golden logits
  of every case in DIR/cases.json (so the PyTorch / ONNX columns time the right model).
- --rss: writes random ConViT-Ti and -S checkpoints and reports bench_model --rss_checkpoint
  (peak RSS of loading each and one forward, next to the weights' size).

One thread: CPU time per forward (robust on a busy machine); two threads: wall time (what the
second core gains), with gpsa's wall time on one worker beside it. FLOPs follow bench_model.cpp's
count (2.50 GFLOP for ConViT-Ti, 11.5 for ConViT-S per image); the FMA limit is that work at
BM_FmaPeak x threads. Targets (docs/performance.md): one thread, ConViT-Ti B=1 >= 1.4x ONNX
Runtime, ConViT-S B=1 >= 1.25x, ConViT-Ti B=8 >= 1.5x; two threads, B=1: >= 1.8x gpsa's own one
worker and ahead of ONNX Runtime on two threads. Without torch it prints gpsa's column only.
"""

SHAPES = {"tiny": (192, 4), "small": (432, 9)}
IMAGE, PATCH, DEPTH, LOCAL, CLASSES = 224, 16, 12, 10, 1000
# One thread: gpsa must be this many times faster than ONNX Runtime.
ORT_TARGETS = {("tiny", 1): 1.4, ("small", 1): 1.25, ("tiny", 8): 1.5}
SPEEDUP_TARGET = 1.8  # two workers vs one, B = 1


# ----------------------------------------------------------------------------------------------
# safetensors (standard library only)
# ----------------------------------------------------------------------------------------------

def read_safetensors(path, torch):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "F64": torch.float64}
    out = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        buf = bytearray(data[base + begin:base + end])
        t = torch.frombuffer(buf, dtype=dtypes[meta["dtype"]]) if buf else torch.zeros(0)
        out[key] = t.reshape(meta["shape"]).float()
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for key, t in tensors.items():
        raw = t.detach().contiguous().float().numpy().tobytes()
        header[key] = {"dtype": "F32", "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))


# ----------------------------------------------------------------------------------------------
# timm's ConViT math in plain torch
# ----------------------------------------------------------------------------------------------

def make_model_class(torch):
    nn, F = torch.nn, torch.nn.functional

    def rel_indices(side):
        """(1, N, N, 3): dx = x_q - x_p, dy = y_q - y_p, dx^2 + dy^2, patch p = y * side + x."""
        ind = torch.arange(side).view(1, -1) - torch.arange(side).view(-1, 1)
        dx = ind.repeat(side, side)
        dy = ind.repeat_interleave(side, dim=0).repeat_interleave(side, dim=1)
        return torch.stack([dx, dy, dx ** 2 + dy ** 2], dim=-1).float().unsqueeze(0)

    class ConvitTorch(nn.Module):
        """timm's ConViT forward from a timm-keyed state dict (eval mode: no dropout)."""

        def __init__(self, state, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v, requires_grad=False)
                                            for k, v in state.items()})
            w = state["patch_embed.proj.weight"]
            self.dim, self.patch = w.shape[0], w.shape[2]
            self.depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
            self.local = next((i for i in range(self.depth)
                               if f"blocks.{i}.attn.qkv.weight" in state), self.depth)
            self.heads = state["blocks.0.attn.pos_proj.weight"].shape[0]
            n = state["pos_embed"].shape[1]
            self.register_buffer("rel", rel_indices(int(round(n ** 0.5))))

        def t(self, key):
            return self.params[key.replace(".", "__")]

        def has(self, key):
            return key.replace(".", "__") in self.params

        def linear(self, x, key, bias=True):
            b = self.t(key + ".bias") if bias and self.has(key + ".bias") else None
            return F.linear(x, self.t(key + ".weight"), b)

        def norm(self, x, key):
            return F.layer_norm(x, (self.dim,), self.t(key + ".weight"), self.t(key + ".bias"),
                                self.eps)

        def gpsa(self, x, k):
            b, n, c = x.shape
            h = self.heads
            qk = self.linear(x, k + "qk").reshape(b, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
            q, kk = qk[0], qk[1]
            pos = self.linear(self.rel.expand(b, -1, -1, -1), k + "pos_proj")
            pos = pos.permute(0, 3, 1, 2).softmax(dim=-1)
            patch = ((q @ kk.transpose(-2, -1)) * (c // h) ** -0.5).softmax(dim=-1)
            gate = torch.sigmoid(self.t(k + "gating_param").view(1, -1, 1, 1))
            attn = (1.0 - gate) * patch + gate * pos
            attn = attn / attn.sum(dim=-1).unsqueeze(-1)
            v = self.linear(x, k + "v").reshape(b, n, h, c // h).permute(0, 2, 1, 3)
            return self.linear((attn @ v).transpose(1, 2).reshape(b, n, c), k + "proj")

        def mhsa(self, x, k):
            b, n, c = x.shape
            h = self.heads
            qkv = self.linear(x, k + "qkv").reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
            q, kk, v = qkv[0], qkv[1], qkv[2]
            attn = ((q @ kk.transpose(-2, -1)) * (c // h) ** -0.5).softmax(dim=-1)
            return self.linear((attn @ v).transpose(1, 2).reshape(b, n, c), k + "proj")

        def forward(self, images):
            b = images.shape[0]
            x = F.conv2d(images, self.t("patch_embed.proj.weight"),
                         self.t("patch_embed.proj.bias"), stride=self.patch)
            x = x.flatten(2).transpose(1, 2) + self.t("pos_embed")
            for i in range(self.depth):
                k = f"blocks.{i}."
                if i == self.local:
                    x = torch.cat((self.t("cls_token").expand(b, -1, -1), x), dim=1)
                a = self.norm(x, k + "norm1")
                x = x + (self.gpsa(a, k + "attn.") if i < self.local else self.mhsa(a, k + "attn."))
                m = F.gelu(self.linear(self.norm(x, k + "norm2"), k + "mlp.fc1"))
                x = x + self.linear(m, k + "mlp.fc2")
            x = self.norm(x, "norm")
            return self.linear(x[:, 0], "head")

    return ConvitTorch


def random_state(torch, dim, heads, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.05):
        return (torch.rand(*shape, generator=g) * 2 - 1) * scale

    n, m = (IMAGE // PATCH) ** 2, 4 * dim
    s = {"patch_embed.proj.weight": r(dim, 3, PATCH, PATCH), "patch_embed.proj.bias": r(dim),
         "pos_embed": r(1, n, dim, scale=0.5), "cls_token": r(1, 1, dim, scale=0.5)}
    for i in range(DEPTH):
        k = f"blocks.{i}."
        s[k + "norm1.weight"], s[k + "norm1.bias"] = 1 + r(dim), r(dim)
        if i < LOCAL:
            s[k + "attn.qk.weight"], s[k + "attn.v.weight"] = r(2 * dim, dim), r(dim, dim)
            s[k + "attn.pos_proj.weight"], s[k + "attn.pos_proj.bias"] = r(heads, 3, scale=1.0), r(heads)
            s[k + "attn.gating_param"] = r(heads, scale=2.0)
        else:
            s[k + "attn.qkv.weight"] = r(3 * dim, dim)
        s[k + "attn.proj.weight"], s[k + "attn.proj.bias"] = r(dim, dim), r(dim)
        s[k + "norm2.weight"], s[k + "norm2.bias"] = 1 + r(dim), r(dim)
        s[k + "mlp.fc1.weight"], s[k + "mlp.fc1.bias"] = r(m, dim), r(m)
        s[k + "mlp.fc2.weight"], s[k + "mlp.fc2.bias"] = r(dim, m), r(dim)
    s["norm.weight"], s["norm.bias"] = 1 + r(dim), r(dim)
    s["head.weight"], s["head.bias"] = r(CLASSES, dim), r(CLASSES)
    return s


def model_flops(dim, batch):
    """bench_model.cpp's count: 2 per multiply-add of the model's matrix products."""
    n, t, m, k = (IMAGE // PATCH) ** 2, (IMAGE // PATCH) ** 2 + 1, 4 * dim, 3 * PATCH * PATCH
    gpsa = 2 * n * dim * 4 * dim + 4 * n * n * dim + 4 * n * dim * m
    mhsa = 2 * t * dim * 4 * dim + 4 * t * t * dim + 4 * t * dim * m
    return batch * (2 * n * dim * k + LOCAL * gpsa + (DEPTH - LOCAL) * mhsa + 2 * dim * CLASSES)


# ----------------------------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------------------------

ORT_SCRIPT = r"""
const ort = require(process.argv[2]);
const [model, batch, reps, minTime, threads] = [process.argv[3], +process.argv[4], +process.argv[5], +process.argv[6], +process.argv[7]];
(async () => {
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: threads, interOpNumThreads: 1,
      executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const n = batch * 3 * 224 * 224, data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = ((i * 7919) % 1000) / 250 - 2;
  const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', data, [batch, 3, 224, 224])};
  for (let i = 0; i < 2; ++i) await s.run(feeds);
  let calls = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; ++i) await s.run(feeds);
    const el = Number(process.hrtime.bigint() - t0) / 1e9;
    if (el >= minTime || calls >= 65536) break;
    calls = Math.max(calls * 2, Math.floor(calls * minTime / Math.max(el, 1e-9) * 1.2));
  }
  const cpu = [], wall = [];
  for (let r = 0; r < reps; ++r) {
    const c0 = process.cpuUsage(), w0 = process.hrtime.bigint();
    for (let i = 0; i < calls; ++i) await s.run(feeds);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6 / calls);
    wall.push(Number(process.hrtime.bigint() - w0) / 1e9 / calls);
  }
  const med = a => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const out = await s.run(feeds);
  console.log(JSON.stringify({cpu: med(cpu), wall: med(wall),
                              first: out[s.outputNames[0]].data[0]}));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def ort_module(ort_dir, install):
    """Path of the onnxruntime-node package, installing it unless told not to; None when
    unavailable (after saying why)."""
    pkg = os.path.join(ort_dir, "node_modules", "onnxruntime-node")
    if os.path.isdir(pkg):
        return os.path.abspath(pkg)
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("ONNX Runtime: node/npm not found; the ONNX Runtime column is n/a")
        return None
    if not install:
        print(f"ONNX Runtime: {pkg} missing and --no-install was given; install with\n"
              f"    npm install --prefix {ort_dir} --ignore-scripts onnxruntime-node@1.30.0\n"
              "The ONNX Runtime column is n/a.")
        return None
    print(f"ONNX Runtime: installing onnxruntime-node@1.30.0 into {ort_dir} "
          "(npm, --ignore-scripts)", flush=True)
    os.makedirs(ort_dir, exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", ort_dir, "--ignore-scripts", "--no-audit",
                    "--no-fund", "onnxruntime-node@1.30.0"], check=True)
    return os.path.abspath(pkg)


def time_ort_model(pkg, onnx_path, batch, threads, repetitions, min_time, workdir):
    script = os.path.join(workdir, "time_ort.js")
    with open(script, "w") as f:
        f.write(ORT_SCRIPT)
    out = subprocess.run(["node", script, pkg, onnx_path, str(batch), str(repetitions),
                          str(min_time), str(threads)], check=True, capture_output=True,
                         text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["cpu"], r["wall"], r["first"]


def run_gpsa_model(binary, names, repetitions, min_time):
    pattern = "^(" + "|".join(names) + ")(/real_time)?$"
    cmd = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
           f"--benchmark_min_time={min_time}", f"--benchmark_filter={pattern}"]
    print("running:", " ".join(cmd), flush=True)
    data = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    samples = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "error_occurred" in b:
            continue
        s = unit[b.get("time_unit", "ns")]
        samples.setdefault(b["run_name"].removesuffix("/real_time"), []).append(
            (b["cpu_time"] * s, b["real_time"] * s))
    ctx = {k: v for k, v in data.get("context", {}).items() if isinstance(v, str)}
    peak = [b.get("FLOP/s") for b in data.get("benchmarks", [])
            if b.get("run_name") == "BM_FmaPeak" and b.get("run_type") == "iteration"]
    if peak:
        ctx["fma_peak_flops"] = statistics.median(peak)
    return {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
            for k, v in samples.items()}, ctx


def check_golden(torch, model_class, folder):
    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    for case in cases["cases"]:
        d = os.path.join(folder, case["name"])
        m = model_class(read_safetensors(os.path.join(d, "model.safetensors"), torch),
                        case["layer_norm_eps"]).eval()
        import numpy as np  # noqa: PLC0415

        x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
        ref = torch.from_numpy(np.load(os.path.join(d, "logits.npy")))
        with torch.inference_mode():
            got = m(x)
        err = float((got - ref).abs().max() / max(1.0, float(ref.abs().max())))
        ok = err <= cases["tolerance"]["logits_rel_to_max"]
        print(f"golden {case['name']}: this script's torch model vs reference logits: {err:.3g} "
              f"({'ok' if ok else 'MISMATCH'})")
        if not ok:
            sys.exit(f"compare.py model: the torch model does not reproduce {case['name']}")


def fmt(seconds):
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f} ms"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}x"


def model_main(argv):
    parser = argparse.ArgumentParser(prog="compare.py model", description=MODEL_DOC.split("\n\n")[0])
    parser.add_argument("bench_model", nargs="?",
                        default=os.path.join(ROOT, "build/default/bench/bench_model"),
                        help="build/<preset>/bench/bench_model")
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", default="1,2", help="1 and/or 2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition")
    parser.add_argument("--ort-dir", default=os.path.join(ROOT, "build/ort"))
    parser.add_argument("--no-install", action="store_true", help="never run npm install")
    parser.add_argument("--install-ort", action="store_true", help=argparse.SUPPRESS)  # default now
    parser.add_argument("--rss", action="store_true")
    parser.add_argument("--check-golden", metavar="DIR")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if not (os.path.isfile(args.bench_model) and os.access(args.bench_model, os.X_OK)):
        print(f"compare.py model: {args.bench_model}: not an executable (build it: cmake --build "
              "--preset default --target bench_model)", file=sys.stderr)
        return 2

    models = [m for m in args.models.split(",") if m]
    batches = [int(b) for b in args.batches.split(",") if b]
    threads = [int(t) for t in args.threads.split(",") if t]
    for m in models:
        if m not in SHAPES:
            sys.exit(f"compare.py model: --models: unknown model '{m}' (tiny, small)")
    for t in threads:
        if t not in (1, 2):
            sys.exit(f"compare.py model: --threads: {t} (bench_model has 1 and 2 workers)")

    torch = import_torch()  # first: it may re-run this script with the system python3
    names = ["BM_FmaPeak"]
    for m in models:
        for b in batches:
            names.append(f"BM_Model/{m}/{b}")
            if 2 in threads:
                names += [f"BM_ModelThreads/{m}/{b}/1", f"BM_ModelThreads/{m}/{b}/2"]
    gpsa, ctx = run_gpsa_model(args.bench_model, names, args.repetitions, args.min_time)
    peak = ctx.get("fma_peak_flops")

    if torch is None:
        print("compare.py model: torch is not installed (Debian: python3-torch); gpsa's column "
              "only")
    else:
        model_class = make_model_class(torch)
        if args.check_golden:
            check_golden(torch, model_class, args.check_golden)
    pkg = ort_module(args.ort_dir, not args.no_install) if torch is not None else None

    rows = []
    with tempfile.TemporaryDirectory(prefix="gpsa_compare_model_") as work:
        for name in models:
            dim, heads = SHAPES[name]
            model = None
            if torch is not None:
                ckpt = os.path.join(work, f"convit_{name}.safetensors")
                write_safetensors(ckpt, random_state(torch, dim, heads))
                model = model_class(read_safetensors(ckpt, torch)).eval()
            for b in batches:
                x = torch.rand(b, 3, IMAGE, IMAGE) * 4 - 2 if torch is not None else None
                onnx_path = None
                if pkg is not None:
                    onnx_path = os.path.join(work, f"convit_{name}_{b}.onnx")
                    with torch.no_grad():
                        torch.onnx.export(model, x, onnx_path, opset_version=14,
                                          do_constant_folding=True, input_names=["images"],
                                          output_names=["logits"])
                for t in threads:
                    pt = (None, None)
                    if torch is not None:
                        torch.set_num_threads(t)
                        with torch.inference_mode():
                            pt = time_callable(model, (x,), args.repetitions, args.min_time)
                    ort = (None, None)
                    if onnx_path is not None:
                        c, w, _ = time_ort_model(pkg, onnx_path, b, t, args.repetitions,
                                                 args.min_time, work)
                        ort = (c, w)
                    if t == 1:
                        g = gpsa.get(f"BM_Model/{name}/{b}", (None, None))
                        one = gpsa.get(f"BM_ModelThreads/{name}/{b}/1", (None, None))[1]
                        # one thread: CPU times
                        times = (pt[0], ort[0], g[0])
                    else:
                        g = gpsa.get(f"BM_ModelThreads/{name}/{b}/2", (None, None))
                        one = gpsa.get(f"BM_ModelThreads/{name}/{b}/1", (None, None))[1]
                        # two threads: wall times
                        times = (pt[1], ort[1], g[1])
                    flops = model_flops(dim, b)
                    limit = flops / (peak * t) if peak else None
                    rows.append({"model": name, "batch": b, "threads": t, "gflop": flops / 1e9,
                                 "clock": "cpu" if t == 1 else "wall",
                                 "pytorch_s": times[0], "ort_s": times[1], "gpsa_s": times[2],
                                 "fma_limit_s": limit, "gpsa_one_worker_wall_s": one,
                                 "pytorch_cpu_s": pt[0], "pytorch_wall_s": pt[1],
                                 "ort_cpu_s": ort[0], "ort_wall_s": ort[1]})
        rss = []
        if args.rss and torch is not None:
            for name in models:
                ckpt = os.path.join(work, f"convit_{name}_rss.safetensors")
                write_safetensors(ckpt, random_state(torch, *SHAPES[name]))
                rss.append(subprocess.run([args.bench_model, f"--rss_checkpoint={ckpt}"],
                                          check=True, capture_output=True, text=True)
                           .stdout.strip())

    print()
    print(f"gpsa {ctx.get('gpsa_gemm_backend', '?')}, SIMD target "
          f"{ctx.get('gpsa_simd_backend', '?')}; FMA limit BM_FmaPeak = "
          f"{(peak or float('nan')) / 1e9:.1f} GFLOP/s per core; torch "
          f"{torch.__version__ if torch else 'n/a'}; medians of {args.repetitions}. One thread: "
          "CPU time per forward; two threads: wall time.")
    head = ("| model | B | threads | PyTorch | ONNX Runtime | gpsa | FMA limit | % of limit | "
            "vs ORT | vs PyTorch | targets |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        vs_ort = ratio(r["ort_s"], r["gpsa_s"])
        vs_pt = ratio(r["pytorch_s"], r["gpsa_s"])
        frac = ratio(r["fma_limit_s"], r["gpsa_s"])
        verdicts = []
        target = ORT_TARGETS.get((r["model"], r["batch"])) if r["threads"] == 1 else None
        if target:
            verdicts.append(f">= {target}x ORT: " +
                            ("n/a" if vs_ort is None else "meets" if vs_ort >= target else "misses"))
        if r["threads"] == 2:
            speedup = ratio(r["gpsa_one_worker_wall_s"], r["gpsa_s"])
            r["speedup_vs_one_worker"] = speedup
            verdict = ("n/a" if speedup is None else
                       "meets" if speedup >= SPEEDUP_TARGET else "misses")
            verdicts.append(f"{fmt_x(speedup)} one worker"
                            + (f" (>= {SPEEDUP_TARGET}x: {verdict})" if r["batch"] == 1 else ""))
            if r["batch"] == 1:
                verdicts.append("ahead of ORT: " + ("n/a" if vs_ort is None else
                                                    "meets" if vs_ort > 1.0 else "misses"))
        print(f"| ConViT-{'Ti' if r['model'] == 'tiny' else 'S'} | {r['batch']} | {r['threads']} | "
              f"{fmt(r['pytorch_s'])} | {fmt(r['ort_s'])} | {fmt(r['gpsa_s'])} | "
              f"{fmt(r['fma_limit_s'])} | {'' if frac is None else f'{frac:.0%}'} | "
              f"{fmt_x(vs_ort)} | {fmt_x(vs_pt)} | {'; '.join(verdicts)} |")
    for line in rss:
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "context": ctx, "rss": rss,
                       "torch": torch.__version__ if torch else None}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
