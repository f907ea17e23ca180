#!/usr/bin/python3
"""PyTorch peer of the Llama rows: prefill of the prompt in one call, then
greedy decoding one token at a time through a KV cache, float32.

  torch_llama.py WEIGHTS.safetensors THREADS PROMPT_IDS N

Prints one JSON line: prompt tokens and seconds, decode steps and seconds
(N - 1 steps: the first new id comes from the prefill's logits), the N ids.
The configuration comes from the file's metadata (models.py writes it).
"""
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "golden"))
import safetensors_io as st  # noqa: E402
import torch  # noqa: E402


def rope(x, cos, sin):
    """x [n, heads, hd]: pairs (2j, 2j+1) rotated by the angle of (position, j)."""
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


class Llama(object):
    def __init__(self, path):
        arrays, meta = st.load(path)
        self.w = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
        c = {k: float(meta[k]) for k in ("dim", "heads", "kv_heads", "layers", "ctx", "eps",
                                          "rope_theta")}
        self.d, self.nh, self.nkv = int(c["dim"]), int(c["heads"]), int(c["kv_heads"])
        self.layers, self.ctx, self.eps = int(c["layers"]), int(c["ctx"]), c["eps"]
        self.hd = self.d // self.nh
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        ang = torch.outer(torch.arange(self.ctx, dtype=torch.float64), inv)
        self.cos, self.sin = ang.cos().float()[:, None, :], ang.sin().float()[:, None, :]
        self.k = torch.zeros(self.layers, self.ctx, self.nkv, self.hd)
        self.v = torch.zeros(self.layers, self.ctx, self.nkv, self.hd)

    def norm(self, x, g):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * g

    def attention(self, i, h, pos):
        """h [n, d] at positions pos..pos+n-1; the cache of layer i grows by n."""
        n, p, W = h.shape[0], "layers.%d." % i, self.w
        cs, sn = self.cos[pos:pos + n], self.sin[pos:pos + n]
        q = rope((h @ W[p + "attention.wq.weight"].t()).view(n, self.nh, self.hd), cs, sn)
        self.k[i, pos:pos + n] = rope((h @ W[p + "attention.wk.weight"].t()).view(n, self.nkv, self.hd), cs, sn)
        self.v[i, pos:pos + n] = (h @ W[p + "attention.wv.weight"].t()).view(n, self.nkv, self.hd)
        rep = self.nh // self.nkv
        K = self.k[i, :pos + n].repeat_interleave(rep, 1).transpose(0, 1)  # [nh, t, hd]
        V = self.v[i, :pos + n].repeat_interleave(rep, 1).transpose(0, 1)
        s = (q.transpose(0, 1) @ K.transpose(1, 2)) / math.sqrt(self.hd)  # [nh, n, t]
        later = torch.arange(pos + n)[None, :] > (torch.arange(n)[:, None] + pos)
        y = torch.softmax(s.masked_fill(later, float("-inf")), -1) @ V
        return y.transpose(0, 1).reshape(n, self.d) @ W[p + "attention.wo.weight"].t()

    def forward(self, ids, pos):
        """Logits of the last of ids, which sit at positions pos.."""
        W = self.w
        x = W["tok_embeddings.weight"][torch.tensor(ids)]
        for i in range(self.layers):
            p = "layers.%d." % i
            x = x + self.attention(i, self.norm(x, W[p + "attention_norm.weight"]), pos)
            h = self.norm(x, W[p + "ffn_norm.weight"])
            g = torch.nn.functional.silu(h @ W[p + "feed_forward.w1.weight"].t())
            x = x + (g * (h @ W[p + "feed_forward.w3.weight"].t())) @ W[p + "feed_forward.w2.weight"].t()
        return self.norm(x[-1:], W["norm.weight"]) @ W["output.weight"].t()


def main():
    path, threads, prompt, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(threads)
    ids = [int(t) for t in prompt.split(",")]
    m = Llama(path)
    out = []
    with torch.no_grad():
        t0 = time.perf_counter()
        logits = m.forward(ids, 0)
        t1 = time.perf_counter()
        out.append(int(logits[0].argmax()))
        for j in range(n - 1):
            logits = m.forward(out[-1:], len(ids) + j)
            out.append(int(logits[0].argmax()))
        t2 = time.perf_counter()
    print(json.dumps(dict(prompt=len(ids), prompt_s=t1 - t0, steps=n - 1, steps_s=t2 - t1, ids=out)))


if __name__ == "__main__":
    main()
