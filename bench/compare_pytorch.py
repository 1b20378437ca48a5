#!/usr/bin/env python3
"""Side-by-side timing of gpsa and PyTorch on the GPSA shapes (docs/performance.md), one run.

Usage:
    bench/compare_pytorch.py BUILD/bench/bench_gpsa [BUILD/bench/bench_linalg ...]
        [--repetitions 7] [--min-time 0.2] [--json OUT.json]

Runs the given gpsa Google Benchmark binaries (--benchmark_format=json, repetitions) and the same
operations in PyTorch (Debian's python3-torch; torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1 for
both sides), then prints a table of medians and PyTorch/gpsa ratios next to the targets.

The PyTorch side is written here from the math in docs/DESIGN.md §3-4 (it mirrors the structure of
timm's GPSA: relative-index table built with generic tensor ops, pos_proj applied to the expanded
(B, N, N, 3) table and softmaxed on every call, separate content/positional softmaxes and blend).

Times are per-thread CPU time (Google Benchmark's cpu_time; time.thread_time() in Python), which
is robust on a shared machine; wall-clock ratios are printed too. Without torch this prints a
message and exits 0.
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

# Single-threaded BLAS/OpenMP on both sides; must be set before torch (and its BLAS) is loaded.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

# name, heads, width (N = 196 tokens for all, 14 x 14 grid)
CONFIGS = [("tiny", 4, 192), ("small", 9, 432), ("base", 16, 768)]
GRID = 14
TOKENS = GRID * GRID


def import_torch():
    """Returns the torch module, or None. Debian's python3-torch lives in /usr/bin/python3's
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
# PyTorch reference implementation (docs/DESIGN.md §3-4)
# ----------------------------------------------------------------------------------------------


def make_torch_ops(torch):
    nn = torch.nn

    def rel_indices(size):
        """(1, N, N, 3) table: dx = x_q - x_p, dy = y_q - y_p, dx^2 + dy^2, p = y*S + x."""
        offsets = torch.arange(size).view(1, -1) - torch.arange(size).view(-1, 1)  # [i, j] = j - i
        dx = offsets.repeat(size, size)  # [p, q] = offsets[p % S, q % S]
        dy = offsets.repeat_interleave(size, dim=0).repeat_interleave(size, dim=1)  # [p // S, q // S]
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
            self.rel = rel_indices(GRID)  # cached, as the reference does for a fixed N

        def positional(self, batch):
            pos = self.rel.expand(batch, -1, -1, -1)
            return self.pos_proj(pos).permute(0, 3, 1, 2).softmax(dim=-1)

        def attention(self, x):
            b, n, c = x.shape
            h = self.heads
            qk = self.qk(x).reshape(b, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
            q, k = qk[0], qk[1]
            position = self.positional(b)
            content = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            lam = torch.sigmoid(self.gating_param.view(1, -1, 1, 1))
            attn = (1.0 - lam) * content + lam * position
            return attn / attn.sum(dim=-1, keepdim=True)

        def forward(self, x):
            b, n, c = x.shape
            attn = self.attention(x)
            v = self.v(x).reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))

    return rel_indices, Gpsa


def time_torch(fn, repetitions, min_time):
    """Median over repetitions of the per-call (cpu, wall) seconds; each repetition runs fn enough
    times to last min_time (calibrated once, like Google Benchmark)."""
    for _ in range(3):
        fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or calls >= 1 << 20:
            break
        calls = max(calls * 2, int(calls * min_time / max(elapsed, 1e-9) * 1.2))
    cpu, wall = [], []
    for _ in range(repetitions):
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        cpu.append((time.thread_time() - c0) / calls)
        wall.append((time.perf_counter() - w0) / calls)
    return statistics.median(cpu), statistics.median(wall)


# ----------------------------------------------------------------------------------------------
# gpsa side: Google Benchmark JSON
# ----------------------------------------------------------------------------------------------

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def name_regex(name):
    """Regex for a benchmark name whose arguments may carry ArgName labels ("BM_RelFill/S:14")."""
    first, *args = name.split("/")
    return "/".join([re.escape(first)] + ["([A-Za-z_]+:)?" + re.escape(a) for a in args])


def normalise(name):
    """Drops ArgName labels: "BM_RelFill/S:14" -> "BM_RelFill/14"."""
    return "/".join(part.split(":", 1)[-1] for part in name.split("/"))


def run_gpsa(binaries, names, repetitions, min_time):
    """{benchmark name: (cpu median s, wall median s)} and the merged context of all binaries."""
    pattern = "^(" + "|".join(name_regex(n) + "(/.*)?" for n in names) + "|BM_Memset/.*)$"
    samples, context = {}, {}
    for binary in binaries:
        cmd = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
               f"--benchmark_min_time={min_time}", f"--benchmark_filter={pattern}"]
        print("running:", " ".join(cmd), flush=True)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        data = json.loads(out)
        context.update({k: v for k, v in data.get("context", {}).items() if isinstance(v, str)})
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or "error_occurred" in b:
                continue
            scale = UNIT[b.get("time_unit", "ns")]
            key = normalise(b.get("run_name", b["name"]))
            samples.setdefault(key, []).append((b["cpu_time"] * scale, b["real_time"] * scale))
    result = {}
    for key, vals in samples.items():
        result[key] = (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
    return result, context


def lookup(results, name):
    if name in results:
        return results[name]
    for key, value in results.items():  # e.g. a "/real_time" or "/iterations:N" suffix
        if key.startswith(name + "/"):
            return value
    return None


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} us"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="+", help="gpsa benchmark executables (bench_gpsa, ...)")
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()

    torch = import_torch()
    sys.stdout.reconfigure(line_buffering=True)
    if torch is None:
        print("compare_pytorch: PyTorch is not installed (Debian: apt-get install python3-torch); "
              "nothing to compare, skipping.")
        return 0
    for b in args.binaries:
        if not (os.path.isfile(b) and os.access(b, os.X_OK)) and shutil.which(b) is None:
            print(f"compare_pytorch: {b}: not an executable benchmark binary", file=sys.stderr)
            return 2

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rel_indices, Gpsa = make_torch_ops(torch)

    # (label, gpsa benchmark name, torch callable, target ratio or None)
    rows = []
    for size in (14, 24, 32):
        rows.append((f"table fill S={size}", f"BM_RelFill/{size}",
                     (lambda s=size: rel_indices(s)), 300.0 if size in (14, 32) else None))
    models = {}
    for name, heads, dim in CONFIGS:
        models[name] = Gpsa(dim, heads).eval()
    pos_model = Gpsa(432, 9).eval()
    rows.append(("positional branch S=14 H=9", "BM_PositionalBranch/14/9",
                 lambda: pos_model.positional(1), 200.0))
    for name, heads, dim in CONFIGS:
        x1 = torch.randn(1, TOKENS, dim)
        rows.append((f"attention {name} B=1", f"BM_Attention/{name}",
                     (lambda m=models[name], x=x1: m.attention(x)), 6.0 if name == "small" else None))
    for name, heads, dim in CONFIGS:
        for batch in (1, 8):
            xb = torch.randn(batch, TOKENS, dim)
            target = 3.0 if batch == 1 else (6.0 if name == "small" else None)
            rows.append((f"forward {name} B={batch}", f"BM_Forward/{name}/{batch}",
                         (lambda m=models[name], x=xb: m(x)), target))
    # Building blocks (informational): the linear layers and the content softmax.
    for _, heads, dim in CONFIGS:
        x = torch.randn(TOKENS, dim)
        w = torch.randn(2 * dim, dim)
        rows.append((f"gemm x W_qk^T D={dim}", f"BM_GemmQkProj/gemm/{dim}",
                     (lambda x=x, w=w: torch.nn.functional.linear(x, w)), None))
    scores = torch.randn(TOKENS, TOKENS) * 8.0
    rows.append(("softmax 196 x 196", "BM_SoftmaxRows/simd/196",
                 lambda: scores.softmax(dim=-1), None))

    gpsa, context = run_gpsa(args.binaries, [r[1] for r in rows], args.repetitions, args.min_time)

    print(f"\nPyTorch {torch.__version__} (1 thread) vs gpsa "
          f"(gemm: {context.get('gpsa_gemm_backend', '?')}, simd: {context.get('gpsa_simd_backend', '?')}), "
          f"medians of {args.repetitions} repetitions, per-thread CPU time\n")
    header = f"{'operation':30} {'PyTorch':>12} {'gpsa':>12} {'ratio':>9} {'wall ratio':>10} {'target':>8}  verdict"
    print(header)
    print("-" * len(header))
    table = []
    with torch.no_grad():
        for label, gname, fn, target in rows:
            t_cpu, t_wall = time_torch(fn, args.repetitions, args.min_time)
            g = lookup(gpsa, gname)
            ratio = t_cpu / g[0] if g and g[0] > 0 else None
            wall_ratio = t_wall / g[1] if g and g[1] > 0 else None
            if target is None:
                verdict = ""
            elif ratio is None:
                verdict = "MISSING (no gpsa benchmark " + gname + ")"
            else:
                verdict = "meets" if ratio >= target else f"misses ({ratio / target:.0%} of target)"
            print(f"{label:30} {fmt_time(t_cpu):>12} {fmt_time(g[0] if g else None):>12} "
                  f"{(f'{ratio:.1f}x' if ratio else 'n/a'):>9} "
                  f"{(f'{wall_ratio:.1f}x' if wall_ratio else 'n/a'):>10} "
                  f"{(f'>={target:g}x' if target else ''):>8}  {verdict}")
            table.append({"operation": label, "gpsa_benchmark": gname, "torch_cpu_s": t_cpu,
                          "torch_wall_s": t_wall, "gpsa_cpu_s": g[0] if g else None,
                          "gpsa_wall_s": g[1] if g else None, "ratio": ratio,
                          "wall_ratio": wall_ratio, "target": target})

    # gpsa-internal target: the table fill against memset of the same bytes (>= 50 %).
    for size in (14, 32):
        fill = lookup(gpsa, f"BM_RelFill/{size}")
        nbytes = (size ** 4) * 3 * 4
        mem = lookup(gpsa, f"BM_Memset/{nbytes}")
        if fill and mem:
            frac = mem[0] / fill[0]
            print(f"table fill S={size}: {frac:.0%} of memset bandwidth for {nbytes} bytes "
                  f"(target >= 50%: {'meets' if frac >= 0.5 else 'misses'})")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"torch": torch.__version__, "context": context, "rows": table}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
