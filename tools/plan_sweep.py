#!/usr/bin/env python3
"""GPT-2's costs as its shape changes, from `tfc --plan=json`.

    tools/plan_sweep.py [--tfc ./tfc] > table.md

Prints Markdown tables (the scaling section of docs/memory-planning.md):
parameters, FLOPs of one forward pass over N tokens, weights, arena and
KV cache, for sweeps of depth, width, heads and sequence length around
GPT-2 small (12 layers, width 768, 12 heads, context 1024), and for the
four published GPT-2 sizes.  Nothing runs: every figure is the planner's.
"""
import argparse
import json
import subprocess
import sys

BASE = {"layers": 12, "dim": 768, "heads": 12, "ctx": 1024, "vocab": 50257}


def plan(tfc, cfg, n):
    args = [tfc, "models/gpt2.model"]
    for k, v in cfg.items():
        args += ["-D", "%s=%d" % (k, v)]
    args += ["--seq", str(n), "--plan=json"]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def mib(b):
    return "%.2f" % (b / 2**20)


def row(tfc, label, change, n=None):
    cfg = dict(BASE, **change)
    n = n or cfg["ctx"]
    p = plan(tfc, cfg, n)
    return "| %s | %d | %d | %d | %d | %.1f | %.1f | %s | %s | %s | %.3f |" % (
        label, cfg["layers"], cfg["dim"], cfg["heads"], n, p["params"]["total"] / 1e6,
        p["flops"]["total"] / 1e9, mib(p["weight_bytes"]), mib(p["arena_bytes"]),
        mib(p["kv_cache_bytes"]), p["arena_bytes"] / max(p["lower_bound_bytes"], 1))


HEAD = ("| sweep | layers | width | heads | N | params (M) | GFLOP | weights (MiB) | arena (MiB) "
        "| KV cache (MiB) | arena / bound |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tfc", default="./tfc")
    a = ap.parse_args()
    t = a.tfc
    print("Depth (width 768, 12 heads, N = ctx = 1024):\n")
    print(HEAD)
    for layers in (6, 12, 24, 48):
        print(row(t, "depth", {"layers": layers}))
    print("\nWidth (12 layers, 12 heads, N = ctx = 1024):\n")
    print(HEAD)
    for dim in (384, 768, 1152, 1536):
        print(row(t, "width", {"dim": dim}))
    print("\nHeads (12 layers, width 768, N = ctx = 1024):\n")
    print(HEAD)
    for heads in (2, 4, 12, 48):
        print(row(t, "heads", {"heads": heads}))
    print("\nSequence length (GPT-2 small; `--seq N`, context 4096 for the last two):\n")
    print(HEAD)
    for n in (1, 64, 256, 1024):
        print(row(t, "N", {}, n))
    for n in (2048, 4096):
        print(row(t, "N", {"ctx": 4096}, n))
    print("\nThe GPT-2 sizes (N = ctx = 1024):\n")
    print(HEAD)
    for name, layers, dim, heads in (("small", 12, 768, 12), ("medium", 24, 1024, 16),
                                     ("large", 36, 1280, 20), ("xl", 48, 1600, 25)):
        print(row(t, name, {"layers": layers, "dim": dim, "heads": heads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
