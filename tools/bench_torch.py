#!/usr/bin/python3
"""The PyTorch side of `make bench`: GPT-2 decoding with and without a KV
cache, on the same weights file and positions as tfc, float32.

  bench_torch.py WEIGHTS HEADS POSITION STEPS  ->  "cached_ms uncached_ms"

cached: ms a token for STEPS tokens after a prompt of POSITION tokens, each
token running alone against cached keys and values (as a decoder does);
uncached: ms to run the POSITION+1 tokens in full, which is what one more
token costs without a cache.
"""
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
import gpt2_ref  # noqa: E402
import torch  # noqa: E402

F = torch.nn.functional


def block_step(w, cfg, x, i, cache, pos):
    """x: (n, d) new rows at absolute positions pos..pos+n-1."""
    d, nh = cfg["dim"], cfg["heads"]
    hd, n, p = d // nh, x.shape[0], "h.%d." % i
    h = F.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], cfg["eps"])
    q, k, v = (h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]).split(d, dim=-1)
    kc, vc = cache[i]
    kc[pos:pos + n], vc[pos:pos + n] = k, v
    K, V = kc[:pos + n].view(-1, nh, hd).transpose(0, 1), vc[:pos + n].view(-1, nh, hd).transpose(0, 1)
    Q = q.view(n, nh, hd).transpose(0, 1)
    s = (Q @ K.transpose(-1, -2)) / math.sqrt(hd)
    mask = torch.arange(pos + n)[None, :] > (torch.arange(n)[:, None] + pos)
    s = s.masked_fill(mask, float("-inf"))
    y = (torch.softmax(s, -1) @ V).transpose(0, 1).reshape(n, d)
    x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
    h = F.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], cfg["eps"])
    u = gpt2_ref.gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
    return x + u @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]


def run(w, cfg, tokens, cache, pos):
    x = w["wte.weight"][tokens] + w["wpe.weight"][pos:pos + len(tokens)]
    for i in range(cfg["layers"]):
        x = block_step(w, cfg, x, i, cache, pos)
    x = F.layer_norm(x, (cfg["dim"],), w["ln_f.weight"], w["ln_f.bias"], cfg["eps"])
    return x @ w["wte.weight"].t()


def main():
    path, heads, position, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    cfg = gpt2_ref.read_config(path, heads=heads)
    w = gpt2_ref.load_weights(path, torch.float32)
    cache = [(torch.zeros(cfg["ctx"], cfg["dim"]), torch.zeros(cfg["ctx"], cfg["dim"]))
             for _ in range(cfg["layers"])]
    toks = torch.randint(0, cfg["vocab"], (position + steps,))
    with torch.no_grad():
        run(w, cfg, toks[:position], cache, 0)
        t0 = time.perf_counter()
        for j in range(steps):
            run(w, cfg, toks[position + j:position + j + 1], cache, position + j)
        cached = (time.perf_counter() - t0) * 1e3 / steps
        t0 = time.perf_counter()
        run(w, cfg, toks[:position + 1], cache, 0)
        uncached = (time.perf_counter() - t0) * 1e3
    print("%.3f %.3f" % (cached, uncached))


if __name__ == "__main__":
    main()
