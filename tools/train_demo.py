#!/usr/bin/python3
"""Train (and sample from) tfc's character-level Shakespeare demo model.

The model is a plain GPT-2 (learned token and position embeddings, pre-norm
blocks, causal multi-head attention, GELU-tanh MLP, final layer norm, head
tied to the token embedding).  Its tensors are written with Hugging Face
GPT-2 names and layouts (Conv1D weights stored [in, out]) so that
models/gpt2.model can run it with -D overrides of the sizes.

Train (CPU, one thread, stops after --minutes of wall time):

    /usr/bin/python3 tools/train_demo.py --data ../shared/data/tinyshakespeare.txt \
        --minutes 20 --out models/

This writes, under --out:
    shakespeare.safetensors     the weights (float32)
    shakespeare.chars.json      the character vocabulary
and under --curves (default docs/):
    demo-model-loss.csv         step, seconds, lr, train loss, held-out loss
    demo-model-loss.svg         the loss curve

Sample (greedy, then temperature 0.8 with a fixed seed):

    /usr/bin/python3 tools/train_demo.py sample --model models/shakespeare.safetensors \
        --chars models/shakespeare.chars.json --prompt "ROMEO:" --tokens 300

Needs only PyTorch (Debian's python3-torch) and the standard library.
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5


# ----------------------------------------------------------------------------
# Model: GPT-2, with parameters held in the Hugging Face layout.

class Conv1D(nn.Module):
    """GPT-2's linear layer: weight [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight) \
            .reshape(*x.shape[:-1], self.weight.shape[1])


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class Attention(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(dim, 3 * dim)
        self.c_proj = Conv1D(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.heads
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.view(B, T, self.heads, hd).transpose(1, 2)
        v = v.view(B, T, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf"))
        att = self.drop(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, dim, dropout):
        super().__init__()
        self.c_fc = Conv1D(dim, 4 * dim)
        self.c_proj = Conv1D(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.c_proj(gelu_tanh(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=EPS)
        self.attn = Attention(dim, heads, dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=EPS)
        self.mlp = MLP(dim, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT2(nn.Module):
    def __init__(self, vocab, ctx, dim, heads, layers, dropout=0.0):
        super().__init__()
        assert dim % heads == 0
        self.config = dict(vocab=vocab, ctx=ctx, dim=dim, heads=heads, layers=layers)
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(ctx, dim)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(dim, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim, eps=EPS)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)
        # GPT-2's scaled initialisation of the residual projections.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))

    def forward(self, idx):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.wte.weight.t()


# ----------------------------------------------------------------------------
# safetensors, written and read by hand (no extra package).

def save_safetensors(path, tensors, metadata):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous().cpu()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        buf = bytearray(raw[base + b:base + e])
        t = torch.frombuffer(buf, dtype=torch.float32) if len(buf) else torch.empty(0)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


def model_state(model):
    """Parameters under Hugging Face GPT-2 names (no prefix, no mask buffers)."""
    return {name: p for name, p in model.state_dict().items()}


def load_model(path):
    tensors, meta = load_safetensors(path)
    vocab, dim = tensors["wte.weight"].shape
    ctx = tensors["wpe.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[1]) for k in tensors if k.startswith("h."))
    heads = int(meta.get("n_head", 4))
    model = GPT2(vocab, ctx, dim, heads, layers)
    missing, unexpected = model.load_state_dict(tensors, strict=True), None
    model.eval()
    return model, meta


# ----------------------------------------------------------------------------
# Vocabulary

def write_chars(path, chars):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": "chars", "chars": chars}, f, ensure_ascii=False)
        f.write("\n")


def read_chars(path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    assert d.get("type") == "chars"
    return d["chars"]


# ----------------------------------------------------------------------------
# Loss plot

def write_svg(path, rows):
    W, H, L, R, T, Bm = 640, 400, 60, 20, 30, 50
    steps = [r[0] for r in rows]
    losses = [r[3] for r in rows] + [r[4] for r in rows]
    xmax = max(steps) or 1
    ymin = math.floor(min(losses) * 2) / 2
    ymax = math.ceil(min(max(losses), 4.5) * 2) / 2
    if ymax <= ymin:
        ymax = ymin + 1

    def X(s):
        return L + (W - L - R) * s / xmax

    def Y(v):
        v = min(max(v, ymin), ymax)
        return T + (H - T - Bm) * (ymax - v) / (ymax - ymin)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">tfc demo model: cross-entropy '
           '(nats/char) vs step</text>' % L]
    y = ymin
    while y <= ymax + 1e-9:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                   % (L, Y(y), W - R, Y(y)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>' % (L - 6, Y(y) + 4, y))
        y += 0.5
    for i in range(6):
        s = xmax * i / 5
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (X(s), H - Bm + 18, s))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - Bm, W - R, H - Bm))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, T, L, H - Bm))
    out.append('<text x="%d" y="%d" text-anchor="middle">step</text>' % ((L + W - R) // 2, H - 12))
    for col, colour, label, ly in ((3, "#1f77b4", "train", 50), (4, "#d62728", "held-out", 68)):
        pts = " ".join("%.1f,%.1f" % (X(r[0]), Y(r[col])) for r in rows)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (colour, pts))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (W - R - 110, ly - 4, W - R - 85, ly - 4, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (W - R - 80, ly, label))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ----------------------------------------------------------------------------
# Training

def get_batch(data, batch, ctx, gen):
    ix = torch.randint(len(data) - ctx - 1, (batch,), generator=gen)
    x = torch.stack([data[i:i + ctx] for i in ix.tolist()])
    y = torch.stack([data[i + 1:i + ctx + 1] for i in ix.tolist()])
    return x, y


@torch.no_grad()
def evaluate(model, data, batch, ctx, batches, seed):
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    total = 0.0
    for _ in range(batches):
        x, y = get_batch(data, batch, ctx, gen)
        total += F.cross_entropy(model(x).reshape(-1, model.config["vocab"]), y.reshape(-1)).item()
    model.train()
    return total / batches


@torch.no_grad()
def heldout_full(model, data, ctx, batch):
    """Mean loss over every next-char prediction in consecutive ctx windows."""
    model.eval()
    n = (len(data) - 1) // ctx
    x = data[:n * ctx].view(n, ctx)
    y = data[1:n * ctx + 1].view(n, ctx)
    total = 0.0
    for i in range(0, n, batch):
        logits = model(x[i:i + batch])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i:i + batch].reshape(-1),
                                 reduction="sum").item()
    model.train()
    return total / (n * ctx)


def lr_at(step, progress, peak, warmup, floor):
    """Linear warmup over `warmup` steps, then cosine decay to `floor` as
    `progress` (0..1, the fraction of the run done after warmup) goes to 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, max(0.0, progress))
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * p))


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    with open(args.data, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    print("data: %d chars, vocab %d, train %d, held-out %d"
          % (len(text), len(chars), len(train_data), len(val_data)), flush=True)

    model = GPT2(len(chars), args.ctx, args.dim, args.heads, args.layers, args.dropout)
    nparams = sum(p.numel() for p in model.parameters())
    print("model: ctx %d dim %d heads %d layers %d -> %d parameters"
          % (args.ctx, args.dim, args.heads, args.layers, nparams), flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)

    # With --steps the schedule is a fixed number of steps (reproducible to the
    # bit); otherwise it is wall time: the cosine decay runs over the time left
    # after warmup, so the run ends annealed however busy the machine is.
    budget = args.minutes * 60.0
    t0 = time.time()
    rows = []
    os.makedirs(args.curves, exist_ok=True)
    csv_path = os.path.join(args.curves, "demo-model-loss.csv")
    csv = open(csv_path, "w")
    csv.write("step,seconds,lr,train_loss,heldout_loss\n")
    eval_time = 0.0
    step = 0
    warm_end = None
    running = None
    while True:
        elapsed = time.time() - t0
        if step == args.warmup:
            warm_end = elapsed
        if args.steps:
            progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        elif warm_end is None:
            progress = 0.0
        else:
            progress = (elapsed - warm_end) / max(1.0, budget - warm_end)
        lr = lr_at(step, progress, args.lr, args.warmup, args.lr * 0.1)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = get_batch(train_data, args.batch, args.ctx, gen)
        loss = F.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        step += 1
        elapsed = time.time() - t0
        last = step >= args.steps if args.steps else elapsed >= budget
        if step % args.eval_every == 0 or last or step == 1:
            te = time.time()
            tl = evaluate(model, train_data, args.batch, args.ctx, args.eval_batches, 1234)
            vl = evaluate(model, val_data, args.batch, args.ctx, args.eval_batches, 4321)
            eval_time += time.time() - te
            row = (step, time.time() - t0, lr, tl, vl)
            rows.append(row)
            csv.write("%d,%.1f,%.6f,%.4f,%.4f\n" % row)
            csv.flush()
            print("step %5d  %6.1fs  lr %.2e  train %.4f  held-out %.4f  (running %.4f)"
                  % (step, row[1], lr, tl, vl, running), flush=True)
            save(args, model, chars, nparams, step, tl, vl, row[1])
        if last:
            break
    csv.close()
    full = heldout_full(model, val_data, args.ctx, args.batch)
    print("held-out loss over the whole held-out 10%% (non-overlapping windows of %d): %.4f"
          % (args.ctx, full), flush=True)
    save(args, model, chars, nparams, step, rows[-1][3], full, time.time() - t0)
    write_svg(os.path.join(args.curves, "demo-model-loss.svg"), rows)
    print("done: %d steps in %.1f s (%.1f s evaluating); final train %.4f held-out %.4f"
          % (step, time.time() - t0, eval_time, rows[-1][3], rows[-1][4]), flush=True)


def save(args, model, chars, nparams, step, tl, vl, seconds):
    meta = {"format": "pt", "model": "tfc demo: GPT-2 char-level tinyshakespeare",
            "n_vocab": len(chars), "n_ctx": args.ctx, "n_embd": args.dim,
            "n_head": args.heads, "n_layer": args.layers, "params": nparams,
            "steps": step, "train_loss": "%.4f" % tl, "heldout_loss": "%.4f" % vl,
            "seconds": "%.0f" % seconds, "seed": args.seed}
    save_safetensors(os.path.join(args.out, "shakespeare.safetensors"), model_state(model), meta)
    write_chars(os.path.join(args.out, "shakespeare.chars.json"), chars)


# ----------------------------------------------------------------------------
# Sampling

@torch.no_grad()
def generate(model, ids, n, temperature, gen):
    ctx = model.config["ctx"]
    ids = list(ids)
    for _ in range(n):
        x = torch.tensor([ids[-ctx:]], dtype=torch.long)
        logits = model(x)[0, -1]
        if temperature == 0:
            nxt = int(torch.argmax(logits))
        else:
            probs = F.softmax(logits / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        ids.append(nxt)
    return ids


def sample(args):
    torch.set_num_threads(args.threads)
    model, meta = load_model(args.model)
    chars = read_chars(args.chars)
    stoi = {c: i for i, c in enumerate(chars)}
    ids = [stoi[c] for c in args.prompt]
    print("# model %s: %s" % (args.model, json.dumps(meta)))
    print("# greedy, prompt %r, %d tokens" % (args.prompt, args.tokens))
    print("".join(chars[i] for i in generate(model, ids, args.tokens, 0.0, None)))
    gen = torch.Generator().manual_seed(args.seed)
    print("# temperature %.2f, torch seed %d" % (args.temperature, args.seed))
    print("".join(chars[i] for i in generate(model, ids, args.tokens, args.temperature, gen)))


def main(argv):
    if argv and argv[0] == "sample":
        p = argparse.ArgumentParser(prog="train_demo.py sample")
        p.add_argument("--model", default="models/shakespeare.safetensors")
        p.add_argument("--chars", default="models/shakespeare.chars.json")
        p.add_argument("--prompt", default="ROMEO:\n")
        p.add_argument("--tokens", type=int, default=300)
        p.add_argument("--temperature", type=float, default=0.8)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--threads", type=int, default=1)
        sample(p.parse_args(argv[1:]))
        return
    p = argparse.ArgumentParser(prog="train_demo.py")
    p.add_argument("--data", required=True, help="tinyshakespeare.txt")
    p.add_argument("--out", default="models/")
    p.add_argument("--curves", default="docs/", help="where the loss CSV and SVG go")
    p.add_argument("--minutes", type=float, default=20.0, help="wall-time budget")
    p.add_argument("--steps", type=int, default=0,
                   help="fixed number of steps (ignores --minutes); 0: fit to --minutes")
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    train(p.parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
