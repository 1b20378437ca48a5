#!/usr/bin/env python3
"""gpsa side by side with PyTorch and ONNX Runtime, and against the FMA limit, in one run.

Usage (from the repository root, after building bench_gpsa):
    bench/compare.py [--bench build/default/bench/bench_gpsa] [--ort-dir build/ort]
        [--repetitions 7] [--min-time 0.2] [--quick] [--json OUT.json]

Each workload (a row) is the same computation three ways:
  - gpsa: a Google Benchmark of bench_gpsa (--benchmark_format=json, cpu_time);
  - PyTorch: a torch.nn.Module written here from the layer's math (docs/DESIGN.md; it mirrors
    timm's GPSA), one thread (torch.set_num_threads(1), OMP/OPENBLAS/MKL_NUM_THREADS=1), per-thread
    CPU time;
  - ONNX Runtime: that module exported with torch.onnx.export(opset_version=13,
    do_constant_folding=True) (which folds the input-independent positional softmax into a
    constant), timed by bench/ort_time.js with the npm package onnxruntime-node (CPU, one
    intra-op thread), process CPU time. When ORT_DIR lacks it and npm is on PATH, this script
    runs `npm install --ignore-scripts onnxruntime-node@1.30.0` there first.
Missing pieces (torch, node/npm, the package) are reported and their columns print "n/a"; the
others still run. The FMA limit is the GEMM work of a row divided by BM_FmaPeak (the dispatched
SIMD target's register-only FMA loop) from the same bench_gpsa run.

Adding a row (e.g. the whole ConViT model): append a Workload in workloads() with the gpsa
benchmark name, a function building the torch module and its input, and the GEMM FLOP count.
"""

import argparse
import dataclasses
import json
import os
import shutil
import statistics
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
    """The GPSA layer from the math (docs/DESIGN.md section 1), structured like timm's GPSA."""
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
            torch.onnx.export(module, inputs, path, opset_version=13, do_constant_folding=True,
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


if __name__ == "__main__":
    sys.exit(main())
