#!/usr/bin/python3
"""PyTorch peer of the GPT-2 rows: latency of one uncached forward pass
over T tokens (tests/golden/gpt2_ref.py's forward, float32).

  torch_gpt2.py WEIGHTS.safetensors HEADS THREADS REPEATS T1,T2:ID,ID,...

For each T, one untimed warm-up run, then REPEATS timed runs over the
first T ids; prints one JSON line with the median milliseconds per T.
"""
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "golden"))


def main():
    path, heads, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lengths, ids = sys.argv[5].split(":")
    lengths = [int(t) for t in lengths.split(",")]
    ids = [int(t) for t in ids.split(",")]
    os.environ["GOLDEN_THREADS"] = str(threads)  # gpt2_ref sets torch's threads from it
    import gpt2_ref
    import torch
    cfg = gpt2_ref.read_config(path, heads=heads)
    w = gpt2_ref.load_weights(path, torch.float32)
    ms = {}
    with torch.no_grad():
        for t in lengths:
            gpt2_ref.forward(w, cfg, ids[:t])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                gpt2_ref.forward(w, cfg, ids[:t])
                times.append((time.perf_counter() - t0) * 1e3)
            ms[str(t)] = statistics.median(times)
    print(json.dumps(dict(latency_ms=ms)))


if __name__ == "__main__":
    main()
