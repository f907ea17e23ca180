#!/usr/bin/python3
"""PyTorch references for the BERT, Llama, T5 and Transformer model files.

Each family is written here from its published description with plain torch
ops (the Transformer uses torch.nn.Transformer itself), in float64, with
random weights under the checkpoint names that tfc's model files read.

Commands:
  make FAMILY --seed S --out W.safetensors [-D name=value]... [options]
          [--case "tokens=1,2,3 [src=4,5] [types=0,0,1] [length=2] ref=R.f32"]...
      FAMILY is bert, bert_ner, llama, t5, t5_gated or transformer.  -D
      overrides the configuration defaults (the same names and defaults as
      the model files).  Writes random weights, then, for each --case, the reference
      output as little-endian float32: [labels] for bert, [n, labels] for
      bert_ner, [n, vocab] for the others.  A case without types= uses all
      zeros; without length= all n positions are valid.
      Options:  --position-ids   (bert, bert_ner) add the int64 buffer
                                 bert.embeddings.position_ids [1, ctx]
                --names hf|meta  (llama) the checkpoint convention of --out
                --hf-out W2      (llama, with --names meta) also write the
                                 weights in Hugging Face's convention (q and
                                 k rows permuted); the references are then
                                 computed both ways and must agree
                --greedy "tokens=1,2 [src=3,4] n=N ref=FILE"
                                 (llama, t5, transformer) the N ids that
                                 greedy decoding appends to tokens, each by
                                 full recomputation, into FILE (comma
                                 separated); t5 and transformer need src=,
                                 the encoder's tokens

  score FAMILY --weights W.safetensors --tokens 1,2 [--src 3,4] --cont 5,6
      (llama, t5, transformer) prints the total log-probability of the
      continuation cont after tokens (by full recomputation), with the
      configuration that make stored in W's metadata.

  selftest
      Checks the references against independent formulations: BERT padded
      rows against the unpadded run on the valid prefix, and against
      torch.nn.TransformerEncoderLayer; Llama interleaved RoPE on Meta
      weights against rotate-half RoPE on the permuted weights, and grouped
      against repeated key/value heads; the T5 bucket function against the
      table below; the sinusoidal table against its formula; and that the
      golden tolerance catches typical mistakes.

T5 relative position buckets (relative position = key - query), worked out
by hand from the definition (32 buckets, max_distance 128):

  encoder (bidirectional): 16 buckets a side, positive offsets add 16; |rel|
  below 8 is its own bucket, larger ones get 8 + floor(log(|rel|/8) /
  log(128/8) * 8), at most 15:
      rel   -1  -7  -8  -9  -12  -16  -31  -32  -64  -127  -200   0   1   5
      bkt    1   7   8   8    9   10   11   12   14    15    15   0  17  21
      rel    8  15  16  20   32   63   64  100  128
      bkt   24  25  26  26   28   29   30   31   31
  e.g. 12: log(1.5)/log(16)*8 = 1.17 -> 9;  20: log(2.5)/log(16)*8 = 2.64
  -> 10 (+16 = 26);  127: log(15.875)/log(16)*8 = 7.98 -> 15.

  decoder (causal): positive offsets are bucket 0; |rel| below 16 is its own
  bucket, larger ones get 16 + floor(log(|rel|/16) / log(128/16) * 16), at
  most 31:
      rel    5   0  -1  -15  -16  -20  -31  -32  -45  -64  -90  -127  -128  -500
      bkt    0   0   1   15   16   17   21   21   23   26   29    31    31    31
  e.g. 20: log(1.25)/log(8)*16 = 1.72 -> 17;  45: log(2.8125)/log(8)*16 =
  7.96 -> 23;  90: log(5.625)/log(8)*16 = 13.29 -> 29.

  The exact powers (16, 32, 64 in the encoder) sit on bucket edges, where
  float32 rounding of the log could move them down by one; selftest prints
  where float32 and float64 arithmetic disagree.

The bucket is computed as Hugging Face's T5 does it, in float32; see
t5_bucket().

Run with /usr/bin/python3 (Debian's python3-torch).
"""

import argparse
import math
import os
import re
import shlex
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import safetensors_io as st  # noqa: E402
import compare  # noqa: E402


def _torch():
    import torch
    torch.set_num_threads(max(1, min(2, int(os.environ.get("GOLDEN_THREADS", "1")))))
    return torch


DEFAULTS = {
    "bert": dict(vocab=30522, ctx=512, types=2, dim=768, heads=12, layers=12,
                 ffn=3072, labels=2, eps=1e-12),
    "llama": dict(vocab=32000, ctx=2048, dim=2048, heads=32, kv_heads=4, layers=22,
                  ffn=5632, eps=1e-5, rope_theta=10000.0),
    "t5": dict(vocab=32128, dim=512, kv_dim=512, heads=8, layers=6, ffn=2048,
               buckets=32, max_distance=128, eps=1e-6, ctx=512),
    # flan-t5-small, t5-v1_1-small
    "t5_gated": dict(vocab=32128, dim=512, kv_dim=384, heads=6, layers=8, ffn=1024,
                     buckets=32, max_distance=128, eps=1e-6, ctx=512),
    "transformer": dict(src_vocab=32000, tgt_vocab=32000, dim=512, heads=8, layers=6,
                        ffn=2048, ctx=512, eps=1e-5),
}
DEFAULTS["bert_ner"] = DEFAULTS["bert"]
FLOATS = ("eps", "rope_theta")


def config(family, defines):
    cfg = dict(DEFAULTS[family])
    for d in defines or []:
        if "=" not in d:
            sys.exit("families_ref.py: -D wants name=value, got %r" % d)
        k, v = d.split("=", 1)
        if k not in cfg:
            sys.exit("families_ref.py: %s has no configuration value %s" % (family, k))
        cfg[k] = float(v) if k in FLOATS else int(v)
    return cfg


# ---------------------------------------------------------------- random weights

class Gen(object):
    """Draws float32 tensors from one seeded generator, in call order."""

    def __init__(self, seed):
        torch = _torch()
        self.torch = torch
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, std):
        return std * self.torch.randn(shape, generator=self.g, dtype=self.torch.float32)

    def matrix(self, rows, cols, std=None):
        """[out, in] with std 1/sqrt(in) unless given (so that a product
        keeps its inputs' scale: about 0.036 at width 768, 0.125 at 64)."""
        return self.normal([rows, cols], std if std is not None else cols ** -0.5)

    def gain(self, n):
        return 1.0 + self.normal([n], 0.1)

    def bias(self, n):
        return self.normal([n], 0.02)


# ---------------------------------------------------------------- BERT

def bert_weights(cfg, seed, head, position_ids=False):
    torch = _torch()
    g = Gen(seed)
    d, f = cfg["dim"], cfg["ffn"]
    w = {}
    e = "bert.embeddings."
    w[e + "word_embeddings.weight"] = g.normal([cfg["vocab"], d], 1.0)
    w[e + "position_embeddings.weight"] = g.normal([cfg["ctx"], d], 1.0)
    w[e + "token_type_embeddings.weight"] = g.normal([cfg["types"], d], 1.0)
    w[e + "LayerNorm.weight"] = g.gain(d)
    w[e + "LayerNorm.bias"] = g.bias(d)
    if position_ids:
        w[e + "position_ids"] = torch.arange(cfg["ctx"], dtype=torch.int64).view(1, -1)
    for i in range(cfg["layers"]):
        p = "bert.encoder.layer.%d." % i
        for m in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % m] = g.matrix(d, d)
            w[p + "attention.self.%s.bias" % m] = g.bias(d)
        w[p + "attention.output.dense.weight"] = g.matrix(d, d)
        w[p + "attention.output.dense.bias"] = g.bias(d)
        w[p + "attention.output.LayerNorm.weight"] = g.gain(d)
        w[p + "attention.output.LayerNorm.bias"] = g.bias(d)
        w[p + "intermediate.dense.weight"] = g.matrix(f, d)
        w[p + "intermediate.dense.bias"] = g.bias(f)
        w[p + "output.dense.weight"] = g.matrix(d, f)
        w[p + "output.dense.bias"] = g.bias(d)
        w[p + "output.LayerNorm.weight"] = g.gain(d)
        w[p + "output.LayerNorm.bias"] = g.bias(d)
    if head == "seq":
        # A larger pooler so that tanh is not nearly linear.
        w["bert.pooler.dense.weight"] = g.matrix(d, d, 2.0 * d ** -0.5)
        w["bert.pooler.dense.bias"] = g.bias(d)
    w["classifier.weight"] = g.matrix(cfg["labels"], d)
    w["classifier.bias"] = g.bias(cfg["labels"])
    return w


def bert_encode(w, cfg, tokens, types=None, length=None, mutate=""):
    """BERT encoder output [n, dim] (post-norm blocks, exact GELU).  Keys at
    positions >= length are masked out; every position is computed."""
    torch = _torch()
    F = torch.nn.functional
    d, nh, eps = cfg["dim"], cfg["heads"], cfg["eps"]
    hd = d // nh
    n = len(tokens)
    types = types if types is not None else [0] * n
    length = n if length is None else length
    e = "bert.embeddings."
    x = (w[e + "word_embeddings.weight"][torch.tensor(tokens)]
         + w[e + "position_embeddings.weight"][torch.arange(n)]
         + w[e + "token_type_embeddings.weight"][torch.tensor(types)])
    x = F.layer_norm(x, (d,), w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    keymask = torch.zeros(n, dtype=x.dtype)
    if mutate != "nopad":
        keymask[length:] = float("-inf")

    def lin(h, name):
        return h @ w[name + ".weight"].t() + w[name + ".bias"]

    for i in range(cfg["layers"]):
        p = "bert.encoder.layer.%d." % i
        q = lin(x, p + "attention.self.query").view(n, nh, hd).transpose(0, 1)
        k = lin(x, p + "attention.self.key").view(n, nh, hd).transpose(0, 1)
        v = lin(x, p + "attention.self.value").view(n, nh, hd).transpose(0, 1)
        s = q @ k.transpose(1, 2) / math.sqrt(hd) + keymask
        y = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(n, d)
        h = F.layer_norm(x + lin(y, p + "attention.output.dense"), (d,),
                         w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"], eps)
        u = lin(h, p + "intermediate.dense")
        u = F.gelu(u, approximate="tanh") if mutate == "gelu_tanh" else F.gelu(u)
        x = F.layer_norm(h + lin(u, p + "output.dense"), (d,),
                         w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    return x


def bert_forward(w, cfg, head, tokens, types=None, length=None, mutate=""):
    torch = _torch()
    x = bert_encode(w, cfg, tokens, types, length, mutate)
    if head == "seq":
        pooled = torch.tanh(x[0] @ w["bert.pooler.dense.weight"].t() + w["bert.pooler.dense.bias"])
        return pooled @ w["classifier.weight"].t() + w["classifier.bias"]
    return x @ w["classifier.weight"].t() + w["classifier.bias"]


def bert_encode_nn(w, cfg, tokens, types=None, length=None):
    """The same encoder through torch.nn.TransformerEncoderLayer (post-norm,
    GELU) with a key padding mask: an independent check of bert_encode."""
    torch = _torch()
    d, nh, eps = cfg["dim"], cfg["heads"], cfg["eps"]
    n = len(tokens)
    types = types if types is not None else [0] * n
    length = n if length is None else length
    dt = w["classifier.weight"].dtype
    e = "bert.embeddings."
    x = (w[e + "word_embeddings.weight"][torch.tensor(tokens)]
         + w[e + "position_embeddings.weight"][torch.arange(n)]
         + w[e + "token_type_embeddings.weight"][torch.tensor(types)])
    x = torch.nn.functional.layer_norm(x, (d,), w[e + "LayerNorm.weight"],
                                       w[e + "LayerNorm.bias"], eps)
    pad = torch.arange(n).view(1, n) >= length
    x = x.view(1, n, d)
    for i in range(cfg["layers"]):
        p = "bert.encoder.layer.%d." % i
        layer = torch.nn.TransformerEncoderLayer(d, nh, cfg["ffn"], dropout=0.0,
                                                 activation="gelu", layer_norm_eps=eps,
                                                 batch_first=True).to(dt).eval()
        sd = {
            "self_attn.in_proj_weight": torch.cat([w[p + "attention.self.%s.weight" % m]
                                                   for m in ("query", "key", "value")]),
            "self_attn.in_proj_bias": torch.cat([w[p + "attention.self.%s.bias" % m]
                                                 for m in ("query", "key", "value")]),
            "self_attn.out_proj.weight": w[p + "attention.output.dense.weight"],
            "self_attn.out_proj.bias": w[p + "attention.output.dense.bias"],
            "norm1.weight": w[p + "attention.output.LayerNorm.weight"],
            "norm1.bias": w[p + "attention.output.LayerNorm.bias"],
            "linear1.weight": w[p + "intermediate.dense.weight"],
            "linear1.bias": w[p + "intermediate.dense.bias"],
            "linear2.weight": w[p + "output.dense.weight"],
            "linear2.bias": w[p + "output.dense.bias"],
            "norm2.weight": w[p + "output.LayerNorm.weight"],
            "norm2.bias": w[p + "output.LayerNorm.bias"],
        }
        layer.load_state_dict(sd)
        x = layer(x, src_key_padding_mask=pad)
    return x.view(n, d)


# ---------------------------------------------------------------- Llama

def llama_weights(cfg, seed):
    """Meta-convention weights (interleaved RoPE pairs)."""
    g = Gen(seed)
    d, nh, nkv, f = cfg["dim"], cfg["heads"], cfg["kv_heads"], cfg["ffn"]
    hd = d // nh
    w = {"tok_embeddings.weight": g.normal([cfg["vocab"], d], 1.0)}
    for i in range(cfg["layers"]):
        p = "layers.%d." % i
        w[p + "attention_norm.weight"] = g.gain(d)
        w[p + "attention.wq.weight"] = g.matrix(nh * hd, d)
        w[p + "attention.wk.weight"] = g.matrix(nkv * hd, d)
        w[p + "attention.wv.weight"] = g.matrix(nkv * hd, d)
        w[p + "attention.wo.weight"] = g.matrix(d, nh * hd)
        w[p + "ffn_norm.weight"] = g.gain(d)
        w[p + "feed_forward.w1.weight"] = g.matrix(f, d)
        w[p + "feed_forward.w3.weight"] = g.matrix(f, d)
        w[p + "feed_forward.w2.weight"] = g.matrix(d, f)
    w["norm.weight"] = g.gain(d)
    w["output.weight"] = g.matrix(cfg["vocab"], d)
    return w


def rope_permute(m, heads):
    """Meta -> Hugging Face row order of wq/wk: within each head, rows
    (2i, 2i+1) go to (i, i + head_dim/2)."""
    rows, cols = m.shape
    hd = rows // heads
    return m.view(heads, hd // 2, 2, cols).transpose(1, 2).reshape(rows, cols).contiguous()


def llama_to_hf(w, cfg):
    out = {"model.embed_tokens.weight": w["tok_embeddings.weight"]}
    for i in range(cfg["layers"]):
        p, q = "layers.%d." % i, "model.layers.%d." % i
        out[q + "self_attn.q_proj.weight"] = rope_permute(w[p + "attention.wq.weight"], cfg["heads"])
        out[q + "self_attn.k_proj.weight"] = rope_permute(w[p + "attention.wk.weight"], cfg["kv_heads"])
        out[q + "self_attn.v_proj.weight"] = w[p + "attention.wv.weight"]
        out[q + "self_attn.o_proj.weight"] = w[p + "attention.wo.weight"]
        out[q + "mlp.gate_proj.weight"] = w[p + "feed_forward.w1.weight"]
        out[q + "mlp.up_proj.weight"] = w[p + "feed_forward.w3.weight"]
        out[q + "mlp.down_proj.weight"] = w[p + "feed_forward.w2.weight"]
        out[q + "input_layernorm.weight"] = w[p + "attention_norm.weight"]
        out[q + "post_attention_layernorm.weight"] = w[p + "ffn_norm.weight"]
    out["model.norm.weight"] = w["norm.weight"]
    out["lm_head.weight"] = w["output.weight"]
    return out


def rms_norm(x, g, eps):
    torch = _torch()
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g


def _inv_freq(hd, theta, dtype):
    torch = _torch()
    return 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=dtype) / hd))


def _llama_blocks(w, cfg, tokens, names, rope, mutate=""):
    """Shared decoder loop; names maps a role to a tensor name pattern,
    rope(t, positions) rotates t [heads, n, hd]."""
    torch = _torch()
    d, nh, nkv, eps = cfg["dim"], cfg["heads"], cfg["kv_heads"], cfg["eps"]
    hd = d // nh
    n = len(tokens)
    rep = nh // nkv
    x = w[names["embed"]][torch.tensor(tokens)]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    for i in range(cfg["layers"]):
        def W(role):
            return w[names[role] % i]
        h = rms_norm(x, W("attn_norm"), eps)
        q = (h @ W("q").t()).view(n, nh, hd).transpose(0, 1)
        k = (h @ W("k").t()).view(n, nkv, hd).transpose(0, 1)
        v = (h @ W("v").t()).view(n, nkv, hd).transpose(0, 1)
        q, k = rope(q), rope(k)
        if mutate == "kv_tile":
            k, v = k.repeat(rep, 1, 1), v.repeat(rep, 1, 1)
        else:
            # query head j reads key/value head j // rep
            k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        s = (q @ k.transpose(1, 2)) / math.sqrt(hd)
        s = s.masked_fill(~causal, float("-inf"))
        y = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(n, nh * hd)
        x = x + y @ W("o").t()
        h = rms_norm(x, W("ffn_norm"), eps)
        x = x + (torch.nn.functional.silu(h @ W("gate").t()) * (h @ W("up").t())) @ W("down").t()
    x = rms_norm(x, w[names["norm"]], eps)
    return x @ w[names["head"]].t()


META_NAMES = dict(embed="tok_embeddings.weight", attn_norm="layers.%d.attention_norm.weight",
                  q="layers.%d.attention.wq.weight", k="layers.%d.attention.wk.weight",
                  v="layers.%d.attention.wv.weight", o="layers.%d.attention.wo.weight",
                  ffn_norm="layers.%d.ffn_norm.weight", gate="layers.%d.feed_forward.w1.weight",
                  up="layers.%d.feed_forward.w3.weight", down="layers.%d.feed_forward.w2.weight",
                  norm="norm.weight", head="output.weight")
HF_NAMES = dict(embed="model.embed_tokens.weight",
                attn_norm="model.layers.%d.input_layernorm.weight",
                q="model.layers.%d.self_attn.q_proj.weight",
                k="model.layers.%d.self_attn.k_proj.weight",
                v="model.layers.%d.self_attn.v_proj.weight",
                o="model.layers.%d.self_attn.o_proj.weight",
                ffn_norm="model.layers.%d.post_attention_layernorm.weight",
                gate="model.layers.%d.mlp.gate_proj.weight",
                up="model.layers.%d.mlp.up_proj.weight",
                down="model.layers.%d.mlp.down_proj.weight",
                norm="model.norm.weight", head="lm_head.weight")


def llama_meta_forward(w, cfg, tokens, mutate=""):
    """Meta's convention: consecutive pairs (2i, 2i+1) of each head rotated
    as complex numbers by position * theta^(-2i/hd)."""
    torch = _torch()
    hd = cfg["dim"] // cfg["heads"]
    n = len(tokens)
    dt = w["norm.weight"].dtype
    pos = torch.arange(n, dtype=dt)
    ang = torch.outer(pos, _inv_freq(hd, cfg["rope_theta"], dt))  # [n, hd/2]
    if mutate == "conj":
        ang = -ang
    rot = torch.polar(torch.ones_like(ang), ang)

    def rope(t):
        c = torch.view_as_complex(t.reshape(t.shape[0], n, hd // 2, 2).contiguous())
        return torch.view_as_real(c * rot).reshape(t.shape)
    return _llama_blocks(w, cfg, tokens, META_NAMES, rope, mutate)


def llama_hf_forward(w, cfg, tokens, mutate=""):
    """Hugging Face's convention: halves (i, i + hd/2) rotated together."""
    torch = _torch()
    hd = cfg["dim"] // cfg["heads"]
    n = len(tokens)
    dt = w["model.norm.weight"].dtype
    ang = torch.outer(torch.arange(n, dtype=dt), _inv_freq(hd, cfg["rope_theta"], dt))
    ang = torch.cat([ang, ang], -1)  # [n, hd]
    cos, sin = torch.cos(ang), torch.sin(ang)

    def rope(t):
        half = torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1)
        return t * cos + half * sin
    return _llama_blocks(w, cfg, tokens, HF_NAMES, rope, mutate)


# ---------------------------------------------------------------- T5

def t5_bucket(rel, bidirectional, num_buckets, max_distance):
    """Hugging Face T5's _relative_position_bucket, rewritten: rel = key
    position - query position (a LongTensor).  The log is taken in float32
    and truncated toward zero, as there."""
    torch = _torch()
    out = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        out = out + (rel > 0).long() * num_buckets
        r = rel.abs()
    else:
        r = -torch.clamp(rel, max=0)
    exact = num_buckets // 2
    rf = r.to(torch.float32)
    large = exact + (torch.log(rf / exact) / math.log(max_distance / exact)
                     * (num_buckets - exact)).to(torch.long)
    large = torch.clamp(large, max=num_buckets - 1)
    return out + torch.where(r < exact, r, large)


def t5_bucket_scalar(rel, bidirectional, num_buckets, max_distance):
    """The same bucket for one int, in float64 (used to show where float32
    rounding would change a bucket)."""
    b = 0
    if bidirectional:
        num_buckets //= 2
        b = num_buckets if rel > 0 else 0
        r = abs(rel)
    else:
        r = -min(rel, 0)
    exact = num_buckets // 2
    if r < exact:
        return b + r
    return b + min(num_buckets - 1,
                   exact + int(math.log(r / exact) / math.log(max_distance / exact)
                               * (num_buckets - exact)))


def t5_weights(cfg, seed, gated=False):
    """T5 (ReLU feed-forward, head tied to shared.weight) or, gated, T5 v1.1
    / FLAN-T5 (gated-GELU feed-forward wi_0, wi_1, and an lm_head)."""
    g = Gen(seed)
    d, kd, nh, f = cfg["dim"], cfg["kv_dim"], cfg["heads"], cfg["ffn"]
    hd = kd // nh
    # No 1/sqrt(hd) in T5's attention: q and k are drawn so that q.k has
    # unit variance (each ~ hd^-1/4 after the product with a unit input).
    qk = hd ** -0.25 * d ** -0.5
    w = {"shared.weight": g.normal([cfg["vocab"], d], 1.0)}

    def attn(p, bias):
        w[p + "q.weight"] = g.matrix(kd, d, qk)
        w[p + "k.weight"] = g.matrix(kd, d, qk)
        w[p + "v.weight"] = g.matrix(kd, d)
        w[p + "o.weight"] = g.matrix(d, kd)
        if bias:
            w[p + "relative_attention_bias.weight"] = g.normal([cfg["buckets"], nh], 0.5)

    for stack, nffn in (("encoder", 1), ("decoder", 2)):
        for i in range(cfg["layers"]):
            p = "%s.block.%d.layer." % (stack, i)
            attn(p + "0.SelfAttention.", i == 0)
            w[p + "0.layer_norm.weight"] = g.gain(d)
            if stack == "decoder":
                attn(p + "1.EncDecAttention.", False)
                w[p + "1.layer_norm.weight"] = g.gain(d)
            for wi in (("wi_0", "wi_1") if gated else ("wi",)):
                w[p + "%d.DenseReluDense.%s.weight" % (nffn, wi)] = g.matrix(f, d)
            w[p + "%d.DenseReluDense.wo.weight" % nffn] = g.matrix(d, f)
            w[p + "%d.layer_norm.weight" % nffn] = g.gain(d)
        w[stack + ".final_layer_norm.weight"] = g.gain(d)
    if gated:
        w["lm_head.weight"] = g.matrix(cfg["vocab"], d)
    return w


def t5_forward(w, cfg, src, tokens, mutate="", gated=False):
    """Hugging Face's T5ForConditionalGeneration without padding.  gated:
    T5DenseGatedActDense with gelu_new, and the untied lm_head (no
    rescale)."""
    torch = _torch()
    F = torch.nn.functional
    d, kd, nh, eps = cfg["dim"], cfg["kv_dim"], cfg["heads"], cfg["eps"]
    hd = kd // nh
    emb = w["shared.weight"]

    def attention(p, xq, xkv, bias, causal):
        nq, nk = xq.shape[0], xkv.shape[0]
        q = (xq @ w[p + "q.weight"].t()).view(nq, nh, hd).transpose(0, 1)
        k = (xkv @ w[p + "k.weight"].t()).view(nk, nh, hd).transpose(0, 1)
        v = (xkv @ w[p + "v.weight"].t()).view(nk, nh, hd).transpose(0, 1)
        s = q @ k.transpose(1, 2)
        if mutate == "scale":
            s = s / math.sqrt(hd)
        if bias is not None:
            s = s + bias
        if causal:
            s = s.masked_fill(~torch.ones(nq, nk, dtype=torch.bool).tril(), float("-inf"))
        y = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(nq, kd)
        return y @ w[p + "o.weight"].t()

    def pos_bias(table, n, bidirectional):
        pos = torch.arange(n)
        rel = pos.view(1, n) - pos.view(n, 1)  # key - query
        if mutate == "rel_sign":
            rel = -rel
        b = t5_bucket(rel, bidirectional, cfg["buckets"], cfg["max_distance"])
        return table[b].permute(2, 0, 1)  # [heads, n, n]

    def ffn(p, x):
        if not gated:
            return torch.relu(x @ w[p + "wi.weight"].t()) @ w[p + "wo.weight"].t()
        act = "none" if mutate == "exact_gelu" else "tanh"
        g0 = F.gelu(x @ w[p + "wi_0.weight"].t(), approximate=act)
        return (g0 * (x @ w[p + "wi_1.weight"].t())) @ w[p + "wo.weight"].t()

    x = emb[torch.tensor(src)]
    eb = pos_bias(w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                  len(src), mutate != "enc_causal_bucket")
    for i in range(cfg["layers"]):
        p = "encoder.block.%d.layer." % i
        h = rms_norm(x, w[p + "0.layer_norm.weight"], eps)
        x = x + attention(p + "0.SelfAttention.", h, h, eb, False)
        x = x + ffn(p + "1.DenseReluDense.", rms_norm(x, w[p + "1.layer_norm.weight"], eps))
    enc = rms_norm(x, w["encoder.final_layer_norm.weight"], eps)

    y = emb[torch.tensor(tokens)]
    db = pos_bias(w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                  len(tokens), False)
    for i in range(cfg["layers"]):
        p = "decoder.block.%d.layer." % i
        h = rms_norm(y, w[p + "0.layer_norm.weight"], eps)
        y = y + attention(p + "0.SelfAttention.", h, h, db, True)
        h = rms_norm(y, w[p + "1.layer_norm.weight"], eps)
        y = y + attention(p + "1.EncDecAttention.", h, enc, None, False)
        y = y + ffn(p + "2.DenseReluDense.", rms_norm(y, w[p + "2.layer_norm.weight"], eps))
    y = rms_norm(y, w["decoder.final_layer_norm.weight"], eps)
    if gated:
        return y @ w["lm_head.weight"].t()
    if mutate != "noscale":
        y = y * d ** -0.5
    return y @ emb.t()


# ---------------------------------------------------------------- Transformer

def sinusoid(n, dim, dtype=None):
    """pe[p, 2i] = sin(p / 10000^(2i/dim)), pe[p, 2i+1] = cos(...)."""
    torch = _torch()
    dtype = dtype or torch.float64
    pos = torch.arange(n, dtype=torch.float64).view(n, 1)
    div = 10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    pe = torch.zeros(n, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos / div)
    pe[:, 1::2] = torch.cos(pos / div)[:, :dim // 2]
    return pe.to(dtype)


def transformer_module(cfg):
    torch = _torch()
    return torch.nn.Transformer(d_model=cfg["dim"], nhead=cfg["heads"],
                                num_encoder_layers=cfg["layers"],
                                num_decoder_layers=cfg["layers"],
                                dim_feedforward=cfg["ffn"], dropout=0.0, activation="relu",
                                layer_norm_eps=cfg["eps"], norm_first=False)


def transformer_weights(cfg, seed):
    g = Gen(seed)
    d = cfg["dim"]
    m = transformer_module(cfg)
    w = {}
    for name, t in m.state_dict().items():
        shape = list(t.shape)
        if re.search(r"norm\d?\.weight$", name):
            z = g.gain(shape[0])
        elif name.endswith("bias"):
            z = g.bias(shape[0])
        else:
            z = g.matrix(shape[0], shape[1])
        w["transformer." + name] = z
    w["src_embed.weight"] = g.normal([cfg["src_vocab"], d], d ** -0.5)
    w["tgt_embed.weight"] = g.normal([cfg["tgt_vocab"], d], d ** -0.5)
    w["generator.weight"] = g.matrix(cfg["tgt_vocab"], d)
    w["generator.bias"] = g.bias(cfg["tgt_vocab"])
    return w


def transformer_forward(w, cfg, src, tokens, mutate=""):
    torch = _torch()
    d = cfg["dim"]
    dt = w["generator.weight"].dtype
    m = transformer_module(cfg).to(dt).eval()
    m.load_state_dict({k[len("transformer."):]: v for k, v in w.items()
                       if k.startswith("transformer.")})
    pe = sinusoid(max(len(src), len(tokens)), d, dt)
    xs = w["src_embed.weight"][torch.tensor(src)] * math.sqrt(d) + pe[:len(src)]
    xt = w["tgt_embed.weight"][torch.tensor(tokens)] * math.sqrt(d) + pe[:len(tokens)]
    mask = m.generate_square_subsequent_mask(len(tokens)).to(dt)
    if mutate == "nomask":
        mask = None
    y = m(xs.unsqueeze(1), xt.unsqueeze(1), tgt_mask=mask).squeeze(1)
    return y @ w["generator.weight"].t() + w["generator.bias"]


# ---------------------------------------------------------------- make

def parse_ints(s, what):
    try:
        return [int(x) for x in s.split(",") if x.strip() != ""]
    except ValueError:
        sys.exit("families_ref.py: bad %s list %r" % (what, s))


def parse_case(spec):
    c = {}
    for part in shlex.split(spec):
        if "=" not in part:
            sys.exit("families_ref.py: bad case item %r" % part)
        k, v = part.split("=", 1)
        if k in ("tokens", "src", "types"):
            c[k] = parse_ints(v, k)
        elif k in ("length", "n"):
            c[k] = int(v)
        elif k == "ref":
            c[k] = v
        else:
            sys.exit("families_ref.py: unknown case item %r" % k)
    if "tokens" not in c or "ref" not in c:
        sys.exit("families_ref.py: a case needs tokens= and ref=")
    return c


def as64(w):
    torch = _torch()
    return {k: (v.to(torch.float64) if v.is_floating_point() else v) for k, v in w.items()}


def write_f32(path, t):
    t.detach().to(_torch().float64).numpy().astype("<f4").tofile(path)


def check_ids(ids, limit, what):
    for t in ids:
        if not 0 <= t < limit:
            sys.exit("families_ref.py: %s id %d outside 0..%d" % (what, t, limit - 1))


def greedy(fwd, w, cfg, tokens, n):
    """n tokens chosen by argmax, each from a full recomputation of the
    sequence so far (no cache): what a KV cache must reproduce.  fwd takes
    (w, cfg, ids); bind an encoder-decoder's source first."""
    ids = list(tokens)
    for _ in range(n):
        ids.append(int(fwd(w, cfg, ids)[-1].argmax()))
    return ids[len(tokens):]


def write_greedy(spec, fwd, w, cfg, vocab, src_vocab=None):
    """--greedy: the ids into the case's ref file."""
    g = parse_case(spec)
    if "n" not in g:
        sys.exit("families_ref.py: --greedy needs n=")
    check_ids(g["tokens"], vocab, "token")
    if src_vocab is not None:
        if "src" not in g:
            sys.exit("families_ref.py: --greedy needs src= for an encoder-decoder")
        check_ids(g["src"], src_vocab, "src")
        step, src = fwd, g["src"]
        fwd = lambda w_, c_, ids: step(w_, c_, src, ids)  # noqa: E731
    with _torch().no_grad():
        ids = greedy(fwd, w, cfg, g["tokens"], g["n"])
    with open(g["ref"], "w") as f:
        f.write(",".join(map(str, ids)) + "\n")


def cmd_make(a):
    torch = _torch()
    fam = a.family
    cfg = config(fam, a.D)
    meta = {k: str(v) for k, v in cfg.items()}
    meta.update(family=fam, seed=str(a.seed), format="pt",
                generator="tests/golden/families_ref.py")
    cases = [parse_case(s) for s in a.case or []]
    if fam in ("bert", "bert_ner"):
        head = "seq" if fam == "bert" else "tok"
        w = bert_weights(cfg, a.seed, head, a.position_ids)
        st.save(a.out, w, meta)
        w = as64(w)
        for c in cases:
            n = len(c["tokens"])
            check_ids(c["tokens"], cfg["vocab"], "token")
            check_ids(c.get("types", []), cfg["types"], "type")
            if "types" in c and len(c["types"]) != n:
                sys.exit("families_ref.py: %d types for %d tokens" % (len(c["types"]), n))
            L = c.get("length", n)
            if not 1 <= L <= n or n > cfg["ctx"]:
                sys.exit("families_ref.py: bad length %d for %d tokens" % (L, n))
            with torch.no_grad():
                write_f32(c["ref"], bert_forward(w, cfg, head, c["tokens"], c.get("types"), L))
    elif fam == "llama":
        w = llama_weights(cfg, a.seed)
        if a.names == "hf":
            w = llama_to_hf(w, cfg)
        st.save(a.out, w, meta)
        if a.hf_out:
            if a.names != "meta":
                sys.exit("families_ref.py: --hf-out goes with --names meta")
            hf = llama_to_hf(w, cfg)
            st.save(a.hf_out, hf, meta)
            hf = as64(hf)
        w = as64(w)
        fwd = llama_meta_forward if a.names == "meta" else llama_hf_forward
        for c in cases:
            check_ids(c["tokens"], cfg["vocab"], "token")
            with torch.no_grad():
                out = fwd(w, cfg, c["tokens"])
                if a.hf_out:
                    other = llama_hf_forward(hf, cfg, c["tokens"])
                    diff = float((out - other).abs().max())
                    if diff > 1e-9 * max(1.0, float(out.abs().max())):
                        sys.exit("families_ref.py: interleaved and rotate-half references "
                                 "disagree by %.3g" % diff)
            write_f32(c["ref"], out)
        if a.greedy:
            write_greedy(a.greedy, fwd, w, cfg, cfg["vocab"])
    elif fam in ("t5", "t5_gated", "transformer"):
        t5 = fam != "transformer"
        gated = fam == "t5_gated"
        w = t5_weights(cfg, a.seed, gated) if t5 else transformer_weights(cfg, a.seed)
        st.save(a.out, w, meta)
        w = as64(w)
        if t5:
            def fwd(w_, cfg_, src, tok):
                return t5_forward(w_, cfg_, src, tok, gated=gated)
        else:
            fwd = transformer_forward
        sv = cfg["vocab"] if t5 else cfg["src_vocab"]
        tv = cfg["vocab"] if t5 else cfg["tgt_vocab"]
        for c in cases:
            if "src" not in c:
                sys.exit("families_ref.py: %s cases need src=" % fam)
            check_ids(c["src"], sv, "src")
            check_ids(c["tokens"], tv, "token")
            with torch.no_grad():
                write_f32(c["ref"], fwd(w, cfg, c["src"], c["tokens"]))
        if a.greedy:
            write_greedy(a.greedy, fwd, w, cfg, tv, sv)
    else:
        sys.exit("families_ref.py: unknown family %s" % fam)
    return 0


# ---------------------------------------------------------------- score

def cmd_score(a):
    """The log-probability of a continuation, by full recomputation."""
    torch = _torch()
    arrays, meta = st.load(a.weights)
    cfg = config(a.family, ["%s=%s" % (k, meta[k]) for k in DEFAULTS[a.family] if k in meta])
    w = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    w = as64(w)
    tokens, cont = parse_ints(a.tokens, "tokens"), parse_ints(a.cont, "cont")
    if a.family == "llama":
        fwd = llama_hf_forward if "model.norm.weight" in w else llama_meta_forward
        run = lambda ids: fwd(w, cfg, ids)  # noqa: E731
    else:
        if not a.src:
            sys.exit("families_ref.py: score %s needs --src" % a.family)
        fwd = t5_forward if a.family == "t5" else transformer_forward
        src = parse_ints(a.src, "src")
        run = lambda ids: fwd(w, cfg, src, ids)  # noqa: E731
    with torch.no_grad():
        lp = torch.log_softmax(run(tokens + cont), dim=-1)
    total = sum(float(lp[len(tokens) - 1 + i, t]) for i, t in enumerate(cont))
    print("%.6f" % total)
    return 0


# ---------------------------------------------------------------- compare

def cmd_compare(a):
    """Like compare.py, for any shape given as --shape 9,2 (or 2)."""
    shape = parse_ints(a.shape, "shape")
    count = int(np.prod(shape))
    want = count * 4
    try:
        if os.path.getsize(a.ref) != want:
            print("reference has %d bytes, expected %d; FAIL" % (os.path.getsize(a.ref), want))
            return 2
    except OSError as e:
        print("reference unreadable: %s; FAIL" % e)
        return 2
    try:
        size = os.path.getsize(a.out)
    except OSError as e:
        print("output missing: %s; FAIL" % e)
        return 1
    if size != want:
        print("output has %d bytes (%d floats), expected %d floats, shape %s; FAIL"
              % (size, size // 4, count, "x".join(map(str, shape))))
        return 1
    rows = shape[0] if len(shape) == 2 else 1
    out = np.fromfile(a.out, dtype="<f4").reshape(rows, -1)
    ref = np.fromfile(a.ref, dtype="<f4").reshape(rows, -1)
    ok, msg = compare.check_int8(out, ref) if compare.quantized() else compare.check(out, ref, a.rel)
    print("%s; %s" % (msg, "PASS" if ok else "FAIL"))
    return 0 if ok else 1


# ---------------------------------------------------------------- selftest

def _check(cond, what, failures):
    print("  %-70s %s" % (what, "ok" if cond else "FAILED"))
    if not cond:
        failures.append(what)


def _rel(a, b):
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


def _caught(fwd_ok, fwd_bad, failures, what):
    """A float32 run of the right model passes the golden tolerance against
    the float64 reference; the mutated model fails it."""
    torch = _torch()
    ref = fwd_ok(torch.float64)
    ok32, _ = compare.check(fwd_ok(torch.float32).reshape(ref.shape[0], -1).numpy(),
                            ref.reshape(ref.shape[0], -1).numpy())
    bad, _ = compare.check(fwd_bad(torch.float64).reshape(ref.shape[0], -1).numpy(),
                           ref.reshape(ref.shape[0], -1).numpy())
    _check(ok32 and not bad, what, failures)


def cmd_selftest(a):
    torch = _torch()
    failures = []
    rng = np.random.default_rng(11)

    def cast(w, dt):
        return {k: (v.to(dt) if v.is_floating_point() else v) for k, v in w.items()}

    print("BERT")
    cfg = config("bert", ["vocab=57", "ctx=40", "dim=32", "heads=4", "layers=2",
                          "ffn=48", "labels=3"])
    with torch.no_grad():
        for head in ("seq", "tok"):
            w = cast(bert_weights(cfg, 5, head, True), torch.float64)
            tok = [int(t) for t in rng.integers(0, 57, 11)]
            ty = [int(t) for t in rng.integers(0, 2, 11)]
            for L in (11, 6, 1):
                full = bert_encode(w, cfg, tok, ty, L)
                short = bert_encode(w, cfg, tok[:L], ty[:L])
                _check(_rel(full[:L], short) < 1e-12,
                       "%s: padded n=11 L=%d rows 0..%d == unpadded run on %d tokens"
                       % (head, L, L - 1, L), failures)
                nn = bert_encode_nn(w, cfg, tok, ty, L)
                _check(_rel(full, nn) < 1e-10,
                       "%s: L=%d all rows == nn.TransformerEncoderLayer with key padding"
                       % (head, L), failures)
            if head == "seq":
                a_ = bert_forward(w, cfg, "seq", tok, ty, 6)
                b_ = bert_forward(w, cfg, "seq", tok[:6], ty[:6])
                _check(_rel(a_, b_) < 1e-12, "seq: classifier logits padded == truncated",
                       failures)
            _caught(lambda dt: bert_forward(cast(w, dt), cfg, head, tok, ty, 6),
                    lambda dt: bert_forward(cast(w, dt), cfg, head, tok, ty, 6, "nopad"),
                    failures, "%s: tolerance catches a missing padding mask" % head)
            if head == "tok":
                # (The 3 pooled logits of the seq head barely move with it.)
                _caught(lambda dt: bert_forward(cast(w, dt), cfg, head, tok, ty),
                        lambda dt: bert_forward(cast(w, dt), cfg, head, tok, ty, None,
                                                "gelu_tanh"),
                        failures, "tok: tolerance catches tanh GELU for exact GELU")

    print("Llama")
    for kv in (2, 1, 4):
        cfg = config("llama", ["vocab=61", "ctx=64", "dim=64", "heads=4", "kv_heads=%d" % kv,
                               "layers=2", "ffn=96"])
        with torch.no_grad():
            meta = llama_weights(cfg, 7)
            hf = cast(llama_to_hf(meta, cfg), torch.float64)
            meta = cast(meta, torch.float64)
            tok = [int(t) for t in rng.integers(0, 61, 23)]
            a_ = llama_meta_forward(meta, cfg, tok)
            b_ = llama_hf_forward(hf, cfg, tok)
            _check(_rel(a_, b_) < 1e-12,
                   "kv_heads=%d: interleaved RoPE (Meta) == rotate-half (HF permuted)" % kv,
                   failures)
            # Grouped attention == full attention with each kv head repeated.
            full = dict(meta)
            rep = cfg["heads"] // kv
            hd = cfg["dim"] // cfg["heads"]
            for i in range(cfg["layers"]):
                for m in ("wk", "wv"):
                    t = full["layers.%d.attention.%s.weight" % (i, m)].view(kv, hd, -1)
                    full["layers.%d.attention.%s.weight" % (i, m)] = \
                        t.repeat_interleave(rep, 0).reshape(cfg["heads"] * hd, -1)
            c2 = dict(cfg, kv_heads=cfg["heads"])
            _check(_rel(a_, llama_meta_forward(full, c2, tok)) < 1e-12,
                   "kv_heads=%d: grouped == repeated key/value heads" % kv, failures)
            if kv == 2:
                _caught(lambda dt: llama_meta_forward(cast(meta, dt), cfg, tok),
                        lambda dt: llama_meta_forward(cast(meta, dt), cfg, tok, "kv_tile"),
                        failures, "tolerance catches kv head j %% kv_heads for j // rep")
                _caught(lambda dt: llama_meta_forward(cast(meta, dt), cfg, tok),
                        lambda dt: llama_meta_forward(cast(meta, dt), cfg, tok, "conj"),
                        failures, "tolerance catches RoPE rotating the wrong way")
                c3 = dict(cfg, rope_theta=500000.0)
                _caught(lambda dt: llama_meta_forward(cast(meta, dt), cfg, tok),
                        lambda dt: llama_meta_forward(cast(meta, dt), c3, tok),
                        failures, "tolerance catches rope_theta 500000 for 10000")
                # Interleaved rotation applied to HF-ordered rows is a mistake.
                _caught(lambda dt: llama_hf_forward(cast(hf, dt), cfg, tok),
                        lambda dt: llama_meta_forward(_hf_as_meta(cast(hf, dt), cfg), cfg, tok),
                        failures, "tolerance catches interleaved RoPE on HF-ordered rows")

    print("T5")
    table = {  # from the docstring, worked out by hand
        True: {-1: 1, -7: 7, -8: 8, -9: 8, -12: 9, -16: 10, -31: 11, -32: 12, -64: 14,
               -127: 15, -200: 15, 0: 0, 1: 17, 5: 21, 8: 24, 15: 25, 16: 26, 20: 26,
               32: 28, 63: 29, 64: 30, 100: 31, 128: 31},
        False: {5: 0, 0: 0, -1: 1, -15: 15, -16: 16, -20: 17, -31: 21, -32: 21, -45: 23,
                -64: 26, -90: 29, -127: 31, -128: 31, -500: 31},
    }
    for bidi, cases in table.items():
        rel = torch.tensor(list(cases.keys()))
        got = t5_bucket(rel, bidi, 32, 128).tolist()
        want = list(cases.values())
        bad = [(r, g_, w_) for r, g_, w_ in zip(cases.keys(), got, want) if g_ != w_]
        _check(not bad, "%s buckets match the hand table%s"
               % ("encoder" if bidi else "decoder", (" " + repr(bad)) if bad else ""), failures)
    # Where does HF's float32 log differ from exact arithmetic?  Reported,
    # not a failure: the reference follows HF.
    for bidi in (True, False):
        rel = torch.arange(-600, 601)
        f32 = t5_bucket(rel, bidi, 32, 128).tolist()
        f64 = [t5_bucket_scalar(int(r), bidi, 32, 128) for r in rel]
        diff = [int(r) for r, x, y in zip(rel, f32, f64) if x != y]
        print("  %-70s %s" % ("%s: float32 vs float64 bucket differs at rel in -600..600"
                               % ("encoder" if bidi else "decoder"), diff or "nowhere"))
    cfg = config("t5", ["vocab=67", "dim=32", "kv_dim=48", "heads=4", "layers=2", "ffn=40",
                        "ctx=64"])
    with torch.no_grad():
        w = t5_weights(cfg, 9)
        src = [int(t) for t in rng.integers(0, 67, 40)]
        tok = [int(t) for t in rng.integers(0, 67, 37)]
        for m, what in (("rel_sign", "relative position sign flipped"),
                        ("enc_causal_bucket", "encoder using causal buckets"),
                        ("scale", "1/sqrt(d) scaling added"),
                        ("noscale", "missing dim^-0.5 before the tied head")):
            _caught(lambda dt: t5_forward(cast(w, dt), cfg, src, tok),
                    lambda dt: t5_forward(cast(w, dt), cfg, src, tok, m),
                    failures, "tolerance catches " + what)
        # The decoder is causal: logits of the first k tokens do not depend on later ones.
        w64 = cast(w, torch.float64)
        a_ = t5_forward(w64, cfg, src, tok)
        b_ = t5_forward(w64, cfg, src, tok[:9])
        _check(_rel(a_[:9], b_) < 1e-12, "decoder rows 0..8 == run on the first 9 tokens",
               failures)
        wg = t5_weights(cfg, 10, gated=True)
        _caught(lambda dt: t5_forward(cast(wg, dt), cfg, src, tok, gated=True),
                lambda dt: t5_forward(cast(wg, dt), cfg, src, tok, "exact_gelu", gated=True),
                failures, "gated: tolerance catches exact GELU for gelu_new")
        swapped = dict(wg)
        for k_ in wg:
            if k_.endswith("wi_0.weight"):
                k1 = k_.replace("wi_0", "wi_1")
                swapped[k_], swapped[k1] = wg[k1], wg[k_]
        _caught(lambda dt: t5_forward(cast(wg, dt), cfg, src, tok, gated=True),
                lambda dt: t5_forward(cast(swapped, dt), cfg, src, tok, gated=True),
                failures, "gated: tolerance catches wi_0 and wi_1 swapped")

    print("Transformer")
    pe = sinusoid(50, 14)
    ok = all(abs(float(pe[p, j]) - (math.sin if j % 2 == 0 else math.cos)(
        p / 10000.0 ** ((j - j % 2) / 14.0))) < 1e-12 for p in range(50) for j in range(14))
    _check(ok, "sinusoidal table == sin/cos formula, element by element", failures)
    cfg = config("transformer", ["src_vocab=53", "tgt_vocab=59", "dim=32", "heads=4",
                                 "layers=2", "ffn=48", "ctx=64"])
    with torch.no_grad():
        w = transformer_weights(cfg, 13)
        names = set(w)
        want = {"transformer.encoder.layers.0.self_attn.in_proj_weight",
                "transformer.encoder.norm.weight", "transformer.decoder.norm.bias",
                "transformer.decoder.layers.1.multihead_attn.out_proj.weight",
                "transformer.decoder.layers.1.norm3.weight", "src_embed.weight",
                "tgt_embed.weight", "generator.weight", "generator.bias"}
        _check(want <= names, "checkpoint names include the encoder/decoder final norms",
               failures)
        src = [int(t) for t in rng.integers(0, 53, 17)]
        tok = [int(t) for t in rng.integers(0, 59, 13)]
        w64 = cast(w, torch.float64)
        a_ = transformer_forward(w64, cfg, src, tok)
        b_ = transformer_forward(w64, cfg, src, tok[:5])
        _check(_rel(a_[:5], b_) < 1e-12, "tgt rows 0..4 == run on the first 5 tokens", failures)
        _caught(lambda dt: transformer_forward(cast(w, dt), cfg, src, tok),
                lambda dt: transformer_forward(cast(w, dt), cfg, src, tok, "nomask"),
                failures, "tolerance catches a missing causal mask")

    print("%s" % ("selftest passed" if not failures else
                  "selftest FAILED: %d check(s)" % len(failures)))
    return 1 if failures else 0


def _hf_as_meta(hf, cfg):
    """HF-ordered weights under Meta names, rows NOT permuted back."""
    out = {}
    inv = {v: k for k, v in HF_NAMES.items()}
    for name, t in hf.items():
        m = re.match(r"model\.layers\.(\d+)\.(.*)$", name)
        if m:
            role = inv["model.layers.%d." + m.group(2)]
            out[META_NAMES[role] % int(m.group(1))] = t
        else:
            out[META_NAMES[inv[name]]] = t
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd")
    m = sub.add_parser("make")
    m.add_argument("family", choices=["bert", "bert_ner", "llama", "t5", "t5_gated",
                                      "transformer"])
    m.add_argument("--seed", type=int, required=True)
    m.add_argument("--out", required=True)
    m.add_argument("-D", action="append", default=[])
    m.add_argument("--case", action="append", default=[])
    m.add_argument("--position-ids", action="store_true")
    m.add_argument("--names", choices=["hf", "meta"], default="hf")
    m.add_argument("--hf-out")
    m.add_argument("--greedy", help='(llama, t5, transformer) "tokens=1,2 [src=3,4] n=N '
                                    'ref=FILE": greedy ids into FILE')
    sc = sub.add_parser("score")
    sc.add_argument("family", choices=["llama", "t5", "transformer"])
    sc.add_argument("--weights", required=True)
    sc.add_argument("--tokens", required=True)
    sc.add_argument("--src")
    sc.add_argument("--cont", required=True)
    c = sub.add_parser("compare")
    c.add_argument("out")
    c.add_argument("ref")
    c.add_argument("--shape", required=True)
    c.add_argument("--rel", type=float, default=compare.DEFAULT_REL)
    sub.add_parser("selftest")
    a = p.parse_args(argv)
    if a.cmd == "make":
        return cmd_make(a)
    if a.cmd == "compare":
        return cmd_compare(a)
    if a.cmd == "score":
        return cmd_score(a)
    if a.cmd == "selftest":
        return cmd_selftest(a)
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
