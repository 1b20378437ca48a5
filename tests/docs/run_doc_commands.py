#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the shell commands of a Markdown file's blocks marked runnable, as a reader would type them.

A fenced block whose info string holds the word `runnable` is run from a scratch copy of the repo root
(every top-level entry symlinked, `build/default` pointing at the build under test), so commands
written for `build/default/cli/gpsa` run against whichever preset is being tested and their outputs
land in the scratch folder, not in the source tree:

  ```sh runnable          the whole block is one bash script (set -euo pipefail); it must exit 0
  ```console runnable     a transcript: `$ ` lines (with `\\` continuations) are commands, each must
                          exit 0 (show an expected error as `cmd; echo "exit $?"`); the other lines
                          are what they print
  ```console runnable exact   as above, and the printed lines must match the transcript's, line for
                          line (stdout and stderr together)

Usage: run_doc_commands.py --source-dir REPO --build-dir BUILD [--cc "COMPILER FLAGS..."] FILE.md...
--cc puts a `cc` first on the blocks' PATH that runs COMPILER with FLAGS added (a sanitizer build's
libraries need its runtime when a documented `cc` command links them).
Exits 1 when a block fails (naming FILE:LINE), or when a file has no runnable block at all.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.S | re.M)
TIMEOUT_S = 300


def runnable_blocks(path):
    text = open(path, encoding="utf-8").read()
    for m in FENCE.finditer(text):
        words = m.group("info").split()
        if "runnable" not in words[1:]:
            continue
        line = text.count("\n", 0, m.start()) + 1
        indent = len(m.group("indent"))
        body = "\n".join(l[indent:] for l in m.group("body").splitlines())
        yield line, words[0] if words else "", "exact" in words[1:], body


def transcript(body):
    """[(command, [expected lines])] from a console transcript."""
    steps, pending = [], None
    for raw in body.splitlines():
        if pending is not None:  # continuation of a `\`-ended command line
            pending += "\n" + raw
            if not raw.endswith("\\"):
                steps.append([pending, []])
                pending = None
        elif raw.startswith("$ "):
            cmd = raw[2:]
            if cmd.endswith("\\"):
                pending = cmd
            else:
                steps.append([cmd, []])
        elif steps:
            steps[-1][1].append(raw)
        else:
            raise ValueError(f"transcript starts with output, not a `$ ` line: {raw!r}")
    if pending is not None:
        raise ValueError("transcript ends inside a `\\` continuation")
    return steps


def scratch_root(source_dir, build_dir, cc):
    root = tempfile.mkdtemp(prefix="gpsa-doc-")
    for name in os.listdir(source_dir):
        if name not in ("build", ".git"):
            os.symlink(os.path.join(source_dir, name), os.path.join(root, name))
    os.mkdir(os.path.join(root, "build"))
    os.symlink(os.path.abspath(build_dir), os.path.join(root, "build", "default"))
    if cc:
        tools = os.path.join(root, ".doc-tools")
        os.mkdir(tools)
        words = cc.split()
        with open(os.path.join(tools, "cc"), "w") as f:
            f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(w) for w in words[:1]) + ' "$@" '
                    + " ".join(shlex.quote(w) for w in words[1:]) + "\n")
        os.chmod(os.path.join(tools, "cc"), 0o755)
    return root


def run(cmd, cwd, errexit):
    # A script stops at its first failing command; a transcript line is judged by its own exit
    # status (so `cmd; echo "exit $?"` can show an expected error).
    opts = ["-euo", "pipefail"] if errexit else ["-o", "pipefail"]
    env = dict(os.environ)
    tools = os.path.join(cwd, ".doc-tools")
    if os.path.isdir(tools):
        env["PATH"] = tools + os.pathsep + env.get("PATH", "")
    p = subprocess.run(["bash", *opts, "-c", cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=TIMEOUT_S, text=True, errors="replace")
    return p.returncode, p.stdout


def check_block(where, lang, exact, body, root):
    if lang == "console":
        steps = transcript(body)
    elif lang in ("sh", "bash"):
        steps = [[body, None]]
    else:
        return f"{where}: a runnable block must be ```sh or ```console, not ```{lang}"
    for cmd, expected in steps:
        rc, out = run(cmd, root, errexit=expected is None)
        if rc != 0:
            return f"{where}: `{cmd.strip()}` exited {rc}:\n{out}"
        if exact and expected is not None:
            got = out.rstrip("\n").split("\n") if out.strip("\n") else []
            want = list(expected)
            while want and want[-1] == "":
                want.pop()
            if got != want:
                diff = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                            min(len(got), len(want)))
                shown_got = got[diff] if diff < len(got) else "<end of output>"
                shown_want = want[diff] if diff < len(want) else "<end of transcript>"
                return (f"{where}: `{cmd.strip()}` printed something else than the docs, "
                        f"output line {diff + 1}:\n  docs: {shown_want}\n  got:  {shown_got}")
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--cc", default="")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    failures, count = [], 0
    for f in a.files:
        blocks = list(runnable_blocks(f))
        if not blocks:
            failures.append(f"{f}: no block marked runnable (nothing to check)")
        for line, lang, exact, body in blocks:
            count += 1
            where = f"{os.path.relpath(f, a.source_dir)}:{line}"
            root = scratch_root(a.source_dir, a.build_dir, a.cc)
            try:
                err = check_block(where, lang, exact, body, root)
            except (ValueError, subprocess.TimeoutExpired) as e:
                err = f"{where}: {e}"
            finally:
                subprocess.run(["rm", "-rf", root], check=False)
            print(f"{where}: {'FAILED' if err else 'ok'} ({lang}{' exact' if exact else ''})")
            if err:
                failures.append(err)
    for e in failures:
        print(e, file=sys.stderr)
    print(f"{count} runnable block(s), {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
