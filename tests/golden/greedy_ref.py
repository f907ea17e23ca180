#!/usr/bin/python3
"""Generation references for tfc's KV-cache and sampling tests, computed
with the PyTorch GPT-2 of gpt2_ref.py in float64, by full recomputation
(no cache), so that they are independent of tfc's cache.

  greedy_ref.py greedy --weights W --tokens 1,2,3 -n N    the N greedy ids
  greedy_ref.py score  --weights W --tokens 1,2,3 --cont 4,5
                       the total log-probability of the continuation
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_ref  # noqa: E402


def ids(s):
    return [int(t) for t in s.split(",") if t != ""]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["greedy", "score"])
    p.add_argument("--weights", required=True)
    p.add_argument("--tokens", required=True, type=ids)
    p.add_argument("-n", type=int, default=0)
    p.add_argument("--cont", type=ids, default=[])
    p.add_argument("--heads", type=int)
    a = p.parse_args()
    torch = gpt2_ref._torch()
    cfg = gpt2_ref.read_config(a.weights, heads=a.heads)
    w = gpt2_ref.load_weights(a.weights, torch.float64)
    seq = list(a.tokens)
    if a.what == "greedy":
        for _ in range(a.n):
            logits = gpt2_ref.forward(w, cfg, seq)
            seq.append(int(torch.argmax(logits[-1])))
        print(",".join(str(t) for t in seq[len(a.tokens):]))
    else:
        full = seq + a.cont
        lp = torch.log_softmax(gpt2_ref.forward(w, cfg, full), dim=-1)
        total = sum(float(lp[len(seq) - 1 + i, t]) for i, t in enumerate(a.cont))
        print("%.6f" % total)


if __name__ == "__main__":
    main()
