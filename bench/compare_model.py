#!/usr/bin/env python3
"""Kept for old command lines: the whole-ConViT comparison now lives in bench/compare.py
(`bench/compare.py model BENCH_MODEL [options]`); this runs it with the same arguments."""

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    os.execv(sys.executable, [sys.executable, os.path.join(here, "compare.py"), "model"]
             + sys.argv[1:])
