"""llama2.c's checkpoint formats, written from Meta-named float32 weights.

Legacy (version 0, read by run.c): seven int32 (dim, hidden_dim, n_layers,
n_heads, n_kv_heads, vocab_size, seq_len; vocab_size negative when the
classifier is not the embedding table), then float32 tensors, each kind for
all layers in turn: token embeddings [vocab, dim], attention norms, wq, wk,
wv, wo ([out, in] as in PyTorch), ffn norms, w1, w2, w3, the final norm, two
unused RoPE tables of seq_len x head_dim/2 each, and the classifier.

Version 2 (read by runq.c): a 256-byte header (magic "ak42" as u32
0x616b3432, version i32 = 2, the seven ints, a shared-classifier byte, the
group size i32, zeros); the norms in float32 (attention norms, ffn norms,
final norm); then every matrix (embeddings, wq.., wk.., wv.., wo.., w1..,
w2.., w3.., the classifier when not shared) as int8 values round(x / s)
followed by one float32 scale s = max|x| / 127 a group of GS consecutive
values.  GS is 64, halved until it divides dim (llama2.c's rule).
"""

import struct

import numpy as np

MAGIC_V2 = 0x616b3432
HEADER_V2 = 256
LAYER_MATRICES = ("attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
                  "attention.wo.weight", "feed_forward.w1.weight", "feed_forward.w2.weight",
                  "feed_forward.w3.weight")


def _config(cfg, shared):
    vocab = cfg["vocab"] if shared else -cfg["vocab"]
    return struct.pack("<7i", cfg["dim"], cfg["ffn"], cfg["layers"], cfg["heads"],
                       cfg["kv_heads"], vocab, cfg["ctx"])


def _layers(w, cfg, key):
    return [w["layers.%d.%s" % (i, key)] for i in range(cfg["layers"])]


def _f32(f, a):
    f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def check_config(cfg):
    if cfg["dim"] % cfg["heads"] or cfg["heads"] % cfg["kv_heads"]:
        raise ValueError("llama2.c: dim %d, heads %d, kv_heads %d do not divide"
                         % (cfg["dim"], cfg["heads"], cfg["kv_heads"]))
    if cfg["rope_theta"] != 10000 or cfg["eps"] != 1e-5:
        raise ValueError("llama2.c fixes rope_theta 10000 and eps 1e-5")


def write_v0(path, w, cfg):
    """run.c's legacy float32 file; the classifier is written separately."""
    check_config(cfg)
    hd = cfg["dim"] // cfg["heads"]
    with open(path, "wb") as f:
        f.write(_config(cfg, shared=False))
        _f32(f, w["tok_embeddings.weight"])
        for key in ("attention_norm.weight",) + LAYER_MATRICES[:4] + ("ffn_norm.weight",) \
                + ("feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight"):
            for a in _layers(w, cfg, key):
                _f32(f, a)
        _f32(f, w["norm.weight"])
        f.write(b"\0" * (2 * cfg["ctx"] * (hd // 2) * 4))
        _f32(f, w["output.weight"])


def group_size(dim, start=64):
    gs = start
    while dim % gs:
        gs //= 2
    return gs


def quantize_groups(a, gs):
    """(int8 values, float32 scales) of a's values in groups of gs."""
    x = np.ascontiguousarray(a, dtype=np.float32).reshape(-1, gs)
    scale = np.abs(x).max(axis=1) / np.float32(127.0)
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    v = x * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)
    return q, scale.astype(np.float32)


def write_v2(path, w, cfg):
    """runq.c's int8 file (classifier separate from the embeddings)."""
    check_config(cfg)
    gs = group_size(cfg["dim"])
    mats = [w["tok_embeddings.weight"]]
    for key in LAYER_MATRICES:
        mats += _layers(w, cfg, key)
    mats.append(w["output.weight"])
    for m in mats:
        if m.size % gs:
            raise ValueError("llama2.c: a %s matrix is not whole groups of %d" % (m.shape, gs))
    with open(path, "wb") as f:
        head = struct.pack("<Ii", MAGIC_V2, 2) + _config(cfg, shared=True) + struct.pack("<Bi", 0, gs)
        f.write(head + b"\0" * (HEADER_V2 - len(head)))
        for key in ("attention_norm.weight", "ffn_norm.weight"):
            for a in _layers(w, cfg, key):
                _f32(f, a)
        _f32(f, w["norm.weight"])
        for m in mats:
            q, s = quantize_groups(m, gs)
            f.write(q.tobytes())
            _f32(f, s)
