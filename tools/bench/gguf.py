"""A GGUF (version 3) writer for Llama weights: what llama.cpp loads.

File layout (all little-endian):
    "GGUF", version u32 = 3, tensor count u64, metadata count u64
    metadata: key (string), value type u32, value
    tensor infos: name (string), n_dims u32, dims u64 x n_dims (innermost
        first: a PyTorch [out, in] matrix is written as [in, out]),
        ggml type u32, offset u64 (from the start of the data, aligned)
    zero padding to the alignment (general.alignment, 32), then the data
A string is a u64 length and its UTF-8 bytes; an array is the element
type u32, a u64 count and the elements.

Tensor types written here: F32 (row-major float32 as in PyTorch) and Q8_0:
each row cut in blocks of 32 values, a block being the scale d = max|x| / 127
as float16 and 32 int8 values round(x / d) (34 bytes a block).

llama.cpp's llama architecture reads Meta's layout (rotary pairs
interleaved), so Meta-named weights go in without a permutation.
"""

import struct

import numpy as np

GGUF_VERSION = 3
ALIGNMENT = 32

# metadata value types
U32, I32, F32_V, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
# ggml tensor types
GGML_F32, GGML_Q8_0 = 0, 8
# general.file_type
FILE_ALL_F32, FILE_MOSTLY_Q8_0 = 0, 7
# tokenizer.ggml.token_type
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6

Q8_0_BLOCK = 32

# Meta / llama2.c names -> GGUF names (per layer: %d is the layer)
LAYER_NAMES = {
    "attention_norm.weight": "attn_norm.weight",
    "attention.wq.weight": "attn_q.weight",
    "attention.wk.weight": "attn_k.weight",
    "attention.wv.weight": "attn_v.weight",
    "attention.wo.weight": "attn_output.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "feed_forward.w1.weight": "ffn_gate.weight",
    "feed_forward.w2.weight": "ffn_down.weight",
    "feed_forward.w3.weight": "ffn_up.weight",
}
GLOBAL_NAMES = {"tok_embeddings.weight": "token_embd.weight",
                "norm.weight": "output_norm.weight",
                "output.weight": "output.weight"}


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == U32:
        return struct.pack("<I", v)
    if vtype == I32:
        return struct.pack("<i", v)
    if vtype == F32_V:
        return struct.pack("<f", v)
    if vtype == BOOL:
        return struct.pack("<?", v)
    if vtype == STRING:
        return _string(v)
    raise ValueError("gguf: no writer for value type %d" % vtype)


def _kv(key, vtype, v):
    return _string(key) + struct.pack("<I", vtype) + _value(vtype, v)


def _kv_array(key, etype, values):
    head = _string(key) + struct.pack("<IIQ", ARRAY, etype, len(values))
    if etype == F32_V:
        return head + np.asarray(values, dtype="<f4").tobytes()
    if etype == I32:
        return head + np.asarray(values, dtype="<i4").tobytes()
    return head + b"".join(_value(etype, v) for v in values)


def quantize_q8_0(a):
    """Q8_0 blocks of a float32 array whose last dimension is a multiple of
    32: the bytes, and the dequantized values (for checks)."""
    x = np.ascontiguousarray(a, dtype=np.float32).reshape(-1, Q8_0_BLOCK)
    amax = np.abs(x).max(axis=1)
    d = (amax / 127.0).astype(np.float32)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    v = x * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # C's roundf: ties away from 0
    blocks = np.empty(len(x), dtype=[("d", "<f2"), ("qs", "i1", Q8_0_BLOCK)])
    blocks["d"] = d.astype(np.float16)
    blocks["qs"] = q
    deq = q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return blocks.tobytes(), deq.reshape(a.shape)


def spm_vocab(n):
    """A stand-in SentencePiece vocabulary of n tokens laid out as Llama's:
    <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF> (llama.cpp looks up
    <0x0A> when it loads a vocabulary), then unique made-up pieces.  The
    bench feeds token ids, so the pieces' text never matters."""
    if n < 259:
        raise ValueError("gguf: a Llama vocabulary needs at least 259 tokens, got %d" % n)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL] + [TOKEN_BYTE] * 256
    tokens += ["\u2581t%d" % i for i in range(len(tokens), n)]
    types += [TOKEN_NORMAL] * (n - len(types))
    scores = [0.0] * 259 + [-float(i) for i in range(n - 259)]
    return tokens, scores, types


def _metadata(cfg, name, file_type):
    hd = cfg["dim"] // cfg["heads"]
    tokens, scores, types = spm_vocab(cfg["vocab"])
    kv = [
        _kv("general.architecture", STRING, "llama"),
        _kv("general.name", STRING, name),
        _kv("general.file_type", U32, file_type),
        _kv("general.alignment", U32, ALIGNMENT),
        _kv("llama.context_length", U32, cfg["ctx"]),
        _kv("llama.embedding_length", U32, cfg["dim"]),
        _kv("llama.block_count", U32, cfg["layers"]),
        _kv("llama.feed_forward_length", U32, cfg["ffn"]),
        _kv("llama.rope.dimension_count", U32, hd),
        _kv("llama.attention.head_count", U32, cfg["heads"]),
        _kv("llama.attention.head_count_kv", U32, cfg["kv_heads"]),
        _kv("llama.attention.layer_norm_rms_epsilon", F32_V, cfg["eps"]),
        _kv("llama.rope.freq_base", F32_V, cfg["rope_theta"]),
        _kv("tokenizer.ggml.model", STRING, "llama"),
        _kv_array("tokenizer.ggml.tokens", STRING, tokens),
        _kv_array("tokenizer.ggml.scores", F32_V, scores),
        _kv_array("tokenizer.ggml.token_type", I32, types),
        _kv("tokenizer.ggml.bos_token_id", U32, 1),
        _kv("tokenizer.ggml.eos_token_id", U32, 2),
        _kv("tokenizer.ggml.unknown_token_id", U32, 0),
        _kv("tokenizer.ggml.add_bos_token", BOOL, False),
    ]
    return kv


def gguf_tensors(w, layers):
    """(GGUF name, float32 array) in llama.cpp's usual order."""
    out = [(GLOBAL_NAMES["tok_embeddings.weight"], w["tok_embeddings.weight"])]
    for i in range(layers):
        for meta, g in LAYER_NAMES.items():
            out.append(("blk.%d.%s" % (i, g), w["layers.%d.%s" % (i, meta)]))
    out.append((GLOBAL_NAMES["norm.weight"], w["norm.weight"]))
    out.append((GLOBAL_NAMES["output.weight"], w["output.weight"]))
    return out


def _pad(n):
    return (-n) % ALIGNMENT


def write_llama(path, w, cfg, q8_0=False, name="tfc-bench"):
    """Writes Meta-named float32 weights w ({name: ndarray}) as GGUF.  With
    q8_0 the matrices (2-D tensors) are Q8_0 and the norm gains stay F32,
    as llama.cpp's own Q8_0 files have them."""
    tensors = []
    for gname, a in gguf_tensors(w, cfg["layers"]):
        a = np.ascontiguousarray(a, dtype=np.float32)
        if q8_0 and a.ndim == 2:
            if a.shape[-1] % Q8_0_BLOCK:
                raise ValueError("gguf: %s: rows of %d values are not whole Q8_0 blocks"
                                 % (gname, a.shape[-1]))
            data, _ = quantize_q8_0(a)
            tensors.append((gname, a.shape, GGML_Q8_0, data))
        else:
            tensors.append((gname, a.shape, GGML_F32, a.astype("<f4").tobytes()))
    kv = _metadata(cfg, name, FILE_MOSTLY_Q8_0 if q8_0 else FILE_ALL_F32)
    infos, offset = [], 0
    for gname, shape, gtype, data in tensors:
        dims = list(reversed(shape))
        infos.append(_string(gname) + struct.pack("<I", len(dims))
                     + struct.pack("<%dQ" % len(dims), *dims) + struct.pack("<IQ", gtype, offset))
        offset += len(data) + _pad(len(data))
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", GGUF_VERSION, len(tensors), len(kv)))
        for item in kv + infos:
            f.write(item)
        f.write(b"\0" * _pad(f.tell()))
        for _, _, _, data in tensors:
            f.write(data)
            f.write(b"\0" * _pad(len(data)))
