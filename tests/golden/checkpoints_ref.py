#!/usr/bin/python3
"""checkpoints_ref.py - checkpoints in the forms people download, made with
PyTorch, and the references tfc's outputs are compared with.

  make OUT TOKENIZERS    writes, under OUT:
    gpt2/, llama/, bert/   Hugging Face folders: config.json, bf16 weights in
        two shards with model.safetensors.index.json, and tokenizer.json
        (copied from TOKENIZERS/<family>/tokenizer.json).  gpt2/ also stores
        the tied lm_head.weight, as converted GPT-2 files do.  Beside each,
        <family>.ids (the input) and <family>.ref.f32 (PyTorch's logits on
        the bf16 weights widened to float32).
    t5/        a T5 folder (fp32, one model.safetensors) whose tokenizer.json
        is TOKENIZERS/t5's (its vocabulary of 3000 pieces); t5.src holds the
        source ids (read from OUT/t5.src.in, written by the caller) and
        t5.greedy PyTorch's greedy target ids from decoder start 0, up to
        </s> (id 1) or 12 tokens.
    llama2c/   the same small Llama (Meta names) as model.safetensors, as
        llama2.c checkpoints legacy.bin, v1.bin and v2.bin (Q8_0), with
        v2.ref.f32: the logits of v2's dequantized weights on llama.ids;
        greedy.ids: PyTorch's 12 greedy ids after llama.ids.
  probs LOGITS N       softmax of N float32 logits, one a line.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import families_ref as fr  # noqa: E402
import gpt2_ref  # noqa: E402
import safetensors_io as sio  # noqa: E402

SEED = 20240611


def torch():
    return fr._torch()


def bf16(w):
    """The weights rounded to bfloat16 (kept as float32 values)."""
    t = torch()
    return {k: v.to(t.bfloat16).to(t.float32) if v.is_floating_point() else v for k, v in w.items()}


def write_folder(out, fam, weights, config, tokenizers):
    d = os.path.join(out, fam)
    os.makedirs(d, exist_ok=True)
    t = torch()
    names = list(weights)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map = {}
    for k, part in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        sio.save(os.path.join(d, fname),
                 {n: weights[n].to(t.bfloat16) if weights[n].is_floating_point() else weights[n]
                  for n in part}, {"format": "pt"})
        for n in part:
            weight_map[n] = fname
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copy(os.path.join(tokenizers, fam, "tokenizer.json"), os.path.join(d, "tokenizer.json"))


def save_case(out, fam, ids, logits):
    with open(os.path.join(out, fam + ".ids"), "w") as f:
        f.write(",".join(str(i) for i in ids) + "\n")
    np.asarray(logits.detach().numpy(), dtype="<f4").tofile(os.path.join(out, fam + ".ref.f32"))


# ---- the families -------------------------------------------------------------

def make_gpt2(out, tokenizers):
    cfg = dict(vocab=50257, ctx=64, dim=64, heads=4, layers=2, eps=1e-5)
    w = bf16(gpt2_ref.make_weights(cfg, SEED))
    stored = {"transformer." + k: v for k, v in w.items()}
    stored["lm_head.weight"] = w["wte.weight"].clone()
    write_folder(out, "gpt2", stored, {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257,
        "n_positions": 64, "n_ctx": 64, "n_embd": 64, "n_head": 4, "n_layer": 2,
        "n_inner": None, "layer_norm_epsilon": 1e-5, "torch_dtype": "bfloat16"}, tokenizers)
    ids = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 50256, 0]
    save_case(out, "gpt2", ids, gpt2_ref.forward(w, cfg, ids))


def make_llama(out, tokenizers):
    cfg = dict(vocab=32000, ctx=128, dim=64, heads=4, kv_heads=2, layers=2, ffn=160,
               eps=1e-5, rope_theta=10000.0)
    meta = bf16(fr.llama_weights(cfg, SEED))
    hf = fr.llama_to_hf(meta, cfg)
    write_folder(out, "llama", hf, {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
        "hidden_size": 64, "intermediate_size": 160, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 2, "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16"}, tokenizers)
    ids = [1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 29871, 0, 31999]
    save_case(out, "llama", ids, fr.llama_hf_forward(hf, cfg, ids))
    return cfg, meta, ids


def make_bert(out, tokenizers):
    cfg = dict(vocab=30522, ctx=64, types=2, dim=64, heads=4, layers=2, ffn=128, labels=3,
               eps=1e-12)
    w = bf16(fr.bert_weights(cfg, SEED, "seq", position_ids=True))
    write_folder(out, "bert", w, {
        "model_type": "bert", "architectures": ["BertForSequenceClassification"],
        "vocab_size": 30522, "hidden_size": 64, "num_attention_heads": 4,
        "num_hidden_layers": 2, "intermediate_size": 128, "max_position_embeddings": 64,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
        "id2label": {"0": "NEGATIVE", "1": "NEUTRAL", "2": "POSITIVE"},
        "label2id": {"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2}, "torch_dtype": "bfloat16"},
        tokenizers)
    ids = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]
    save_case(out, "bert", ids, fr.bert_forward(w, cfg, "seq", ids))
    return cfg, w


def make_t5(out, tokenizers, src):
    cfg = dict(vocab=3000, dim=32, kv_dim=32, heads=4, layers=2, ffn=64, buckets=32,
               max_distance=128, eps=1e-6, ctx=64)
    w = fr.t5_weights(cfg, SEED)
    d = os.path.join(out, "t5")
    os.makedirs(d, exist_ok=True)
    sio.save(os.path.join(d, "model.safetensors"), w)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "t5", "vocab_size": 3000, "d_model": 32, "d_kv": 8,
                   "num_heads": 4, "num_layers": 2, "d_ff": 64, "n_positions": 64,
                   "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
                   "layer_norm_epsilon": 1e-6, "decoder_start_token_id": 0, "eos_token_id": 1,
                   "feed_forward_proj": "relu", "tie_word_embeddings": True}, f, indent=2)
    shutil.copy(os.path.join(tokenizers, "t5", "tokenizer.json"), os.path.join(d, "tokenizer.json"))
    ids = [0]
    for _ in range(12):
        nxt = int(fr.t5_forward(w, cfg, src, ids)[-1].argmax())
        if nxt == 1:
            break
        ids.append(nxt)
    with open(os.path.join(out, "t5.greedy"), "w") as f:
        f.write(",".join(str(i) for i in ids[1:]) + "\n")


# ---- llama2.c ----------------------------------------------------------------------

def f32_bytes(t):
    return np.ascontiguousarray(t.detach().numpy(), dtype="<f4").tobytes()


def q80(t, group):
    """llama2.c's Q8_0: per group of weights, scale = max|w| / 127 and
    int8 values round(w / scale).  Returns (bytes, dequantized tensor)."""
    tt = torch()
    flat = t.reshape(-1, group)
    scale = flat.abs().max(dim=1).values / 127.0
    q = tt.round(flat / scale[:, None]).to(tt.int8)
    deq = (q.to(tt.float32) * scale[:, None]).reshape(t.shape)
    return q.numpy().tobytes() + np.asarray(scale.numpy(), dtype="<f4").tobytes(), deq


def make_llama2c(out, cfg, meta, ids):
    d = os.path.join(out, "llama2c")
    os.makedirs(d, exist_ok=True)
    L = cfg["layers"]
    head = struct.pack("<7i", cfg["dim"], cfg["ffn"], L, cfg["heads"], cfg["kv_heads"],
                       cfg["vocab"], cfg["ctx"])
    lay = lambda role: [meta["layers.%d.%s.weight" % (i, role)] for i in range(L)]
    hd = cfg["dim"] // cfg["heads"]
    with open(os.path.join(d, "legacy.bin"), "wb") as f:
        # unshared classifier: a negative vocab_size
        f.write(struct.pack("<7i", cfg["dim"], cfg["ffn"], L, cfg["heads"], cfg["kv_heads"],
                            -cfg["vocab"], cfg["ctx"]))
        for t in ([meta["tok_embeddings.weight"]] + lay("attention_norm") + lay("attention.wq") +
                  lay("attention.wk") + lay("attention.wv") + lay("attention.wo") +
                  lay("ffn_norm") + lay("feed_forward.w1") + lay("feed_forward.w2") +
                  lay("feed_forward.w3") + [meta["norm.weight"]]):
            f.write(f32_bytes(t))
        f.write(b"\0" * (4 * cfg["ctx"] * hd))       # rope tables, unused
        f.write(f32_bytes(meta["output.weight"]))
    mats = ([meta["tok_embeddings.weight"]] + lay("attention.wq") + lay("attention.wk") +
            lay("attention.wv") + lay("attention.wo") + lay("feed_forward.w1") +
            lay("feed_forward.w2") + lay("feed_forward.w3") + [meta["output.weight"]])
    norms = lay("attention_norm") + lay("ffn_norm") + [meta["norm.weight"]]
    with open(os.path.join(d, "v1.bin"), "wb") as f:
        hdr = struct.pack("<Ii", 0x616b3432, 1) + head + struct.pack("<B", 0)
        f.write(hdr + b"\0" * (256 - len(hdr)))
        for t in norms + mats:
            f.write(f32_bytes(t))
    group = 64
    deq = dict(meta)
    with open(os.path.join(d, "v2.bin"), "wb") as f:
        hdr = struct.pack("<Ii", 0x616b3432, 2) + head + struct.pack("<B", 0) + struct.pack("<i", group)
        f.write(hdr + b"\0" * (256 - len(hdr)))
        for t in norms:
            f.write(f32_bytes(t))
        names = (["tok_embeddings.weight"] +
                 ["layers.%d.%s.weight" % (i, r) for r in ("attention.wq", "attention.wk",
                  "attention.wv", "attention.wo", "feed_forward.w1", "feed_forward.w2",
                  "feed_forward.w3") for i in range(L)] + ["output.weight"])
        for n, t in zip(names, mats):
            raw, deq[n] = q80(t, group)
            f.write(raw)
    sio.save(os.path.join(d, "model.safetensors"), meta)
    np.asarray(fr.llama_meta_forward(deq, cfg, ids).detach().numpy(), dtype="<f4").tofile(
        os.path.join(d, "v2.ref.f32"))
    greedy = fr.greedy(fr.llama_meta_forward, meta, cfg, ids, 12)
    with open(os.path.join(d, "greedy.ids"), "w") as f:
        f.write(",".join(str(i) for i in greedy) + "\n")


def main(argv):
    if len(argv) == 3 and argv[0] == "make":
        out, tokenizers = argv[1], argv[2]
        os.makedirs(out, exist_ok=True)
        make_gpt2(out, tokenizers)
        cfg, meta, ids = make_llama(out, tokenizers)
        make_bert(out, tokenizers)
        make_llama2c(out, cfg, meta, ids)
        with open(os.path.join(out, "t5.src.in")) as f:
            make_t5(out, tokenizers, [int(x) for x in f.read().strip().split(",")])
        return 0
    if len(argv) == 3 and argv[0] == "probs":
        x = np.fromfile(argv[1], dtype="<f4")[:int(argv[2])].astype(np.float64)
        p = np.exp(x - x.max())
        for v in p / p.sum():
            print("%.6f" % v)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
