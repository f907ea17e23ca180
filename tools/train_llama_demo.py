#!/usr/bin/python3
"""Trains the small Llama-style demo model: characters of tinyshakespeare.

    /usr/bin/python3 tools/train_llama_demo.py --data ../shared/data/tinyshakespeare.txt \\
        --minutes 12 --out models/

The same data, split, schedule and optimizer as tools/train_demo.py (the
GPT-2 demo model; docs/demo-model.md), with a Llama block instead: RMSNorm,
rotary position embedding (rotate-half, Hugging Face's order), grouped-query
attention (4 query heads, 2 key/value heads), a SwiGLU feed-forward layer
and an untied head, under Hugging Face Llama names, so that tfc runs it with
models/llama.model:

    tfc models/llama.model -D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D kv_heads=2 \\
        -D layers=4 -D ffn=384 --weights models/shakespeare_llama.safetensors \\
        --tokenizer models/shakespeare.chars.json --run --prompt "ROMEO:" -n 200

Every linear layer's input (128 or 384) is whole blocks of 32, so that
--quantize int8 quantizes all of them (docs/quantization.md).  Writes
shakespeare_llama.safetensors and docs/demo-llama-loss.csv / .svg.
"""

import argparse
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_demo as base  # noqa: E402  (batches, evaluation, schedule, files)

EPS = 1e-5
THETA = 10000.0


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope(x, pos):
    """x (B, H, T, d): rotate-half rotary embedding (Hugging Face's order)."""
    d = x.shape[-1]
    inv = 1.0 / (THETA ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = pos[:, None].float() * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], dim=-1)
    sin = torch.cat([ang.sin(), ang.sin()], dim=-1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def linear(n_in, n_out, std=0.02):
    lin = nn.Linear(n_in, n_out, bias=False)
    nn.init.normal_(lin.weight, std=std)
    return lin


class Attention(nn.Module):
    def __init__(self, dim, heads, kv_heads, layers):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, dim // heads
        self.q_proj = linear(dim, dim)
        self.k_proj = linear(dim, kv_heads * self.hd)
        self.v_proj = linear(dim, kv_heads * self.hd)
        self.o_proj = linear(dim, dim, 0.02 / math.sqrt(2 * layers))

    def forward(self, x, pos):
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        q, k = rope(q, pos), rope(k, pos)
        rep = self.heads // self.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        y = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, dim, ffn, layers):
        super().__init__()
        self.gate_proj = linear(dim, ffn)
        self.up_proj = linear(dim, ffn)
        self.down_proj = linear(ffn, dim, 0.02 / math.sqrt(2 * layers))

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, dim, heads, kv_heads, ffn, layers):
        super().__init__()
        self.input_layernorm = RMSNorm(dim)
        self.self_attn = Attention(dim, heads, kv_heads, layers)
        self.post_attention_layernorm = RMSNorm(dim)
        self.mlp = MLP(dim, ffn, layers)

    def forward(self, x, pos):
        x = x + self.self_attn(self.input_layernorm(x), pos)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, vocab, dim, heads, kv_heads, ffn, layers):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        self.layers = nn.ModuleList([Layer(dim, heads, kv_heads, ffn, layers) for _ in range(layers)])
        self.norm = RMSNorm(dim)


class Llama(nn.Module):
    def __init__(self, vocab, dim, heads, kv_heads, ffn, layers):
        super().__init__()
        self.config = dict(vocab=vocab)   # what train_demo.evaluate reads
        self.model = Body(vocab, dim, heads, kv_heads, ffn, layers)
        self.lm_head = linear(dim, vocab)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.model.embed_tokens(idx)
        for layer in self.model.layers:
            x = layer(x, pos)
        return self.lm_head(self.model.norm(x))


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    with open(args.data, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    model = Llama(len(chars), args.dim, args.heads, args.kv_heads, args.ffn, args.layers)
    nparams = sum(p.numel() for p in model.parameters())
    print("model: %d parameters" % nparams, flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    budget, t0, rows, step, warm_end = args.minutes * 60.0, time.time(), [], 0, None
    os.makedirs(args.curves, exist_ok=True)
    csv = open(os.path.join(args.curves, "demo-llama-loss.csv"), "w")
    csv.write("step,seconds,lr,train_loss,heldout_loss\n")
    while True:
        elapsed = time.time() - t0
        if step == args.warmup:
            warm_end = elapsed
        progress = 0.0 if warm_end is None else (elapsed - warm_end) / max(1.0, budget - warm_end)
        lr = base.lr_at(step, progress, args.lr, args.warmup, args.lr * 0.1)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = base.get_batch(train_data, args.batch, args.ctx, gen)
        loss = F.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        last = time.time() - t0 >= budget
        if step % args.eval_every == 0 or last or step == 1:
            tl = base.evaluate(model, train_data, args.batch, args.ctx, args.eval_batches, 1234)
            vl = base.evaluate(model, val_data, args.batch, args.ctx, args.eval_batches, 4321)
            row = (step, time.time() - t0, lr, tl, vl)
            rows.append(row)
            csv.write("%d,%.1f,%.6f,%.4f,%.4f\n" % row)
            csv.flush()
            print("step %5d  %6.1fs  lr %.2e  train %.4f  held-out %.4f" % row, flush=True)
            save(args, model, nparams, step, tl, vl)
        if last:
            break
    csv.close()
    full = base.heldout_full(model, val_data, args.ctx, args.batch)
    print("held-out loss (whole held-out 10%%, windows of %d): %.4f" % (args.ctx, full), flush=True)
    save(args, model, nparams, step, rows[-1][3], full)
    base.write_svg(os.path.join(args.curves, "demo-llama-loss.svg"), rows)


def save(args, model, nparams, step, tl, vl):
    meta = {"format": "pt", "model": "tfc demo: Llama char-level tinyshakespeare",
            "params": nparams, "steps": step, "train_loss": "%.4f" % tl, "heldout_loss": "%.4f" % vl,
            "seed": args.seed}
    state = {k: v for k, v in model.state_dict().items()}
    base.save_safetensors(os.path.join(args.out, "shakespeare_llama.safetensors"), state, meta)


def main(argv):
    p = argparse.ArgumentParser(prog="train_llama_demo.py")
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="models/")
    p.add_argument("--curves", default="docs/")
    p.add_argument("--minutes", type=float, default=12.0)
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ffn", type=int, default=384)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    train(p.parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
