"""The benchmark's models: shapes, random weights and the files each engine
reads, all written from the same float32 tensors.

Llama shapes use Meta / llama2.c names (models/llama_meta.model).  Weights
come from tests/golden/families_ref.py (embeddings N(0, 1), matrices
N(0, 1/in), norm gains 1 + 0.1 N(0, 1)) with two changes that keep greedy
decoding clear of near-ties, so that engines which round differently still
pick the same ids:
  - each row of the head (output.weight) is scaled by exp(0.5 N(0, 1)): a
    few tokens have long rows, so the largest logit usually stands apart
    from the second (the median gap between them grows from about 4% to
    about 10% of the largest logit at 32000 tokens);
  - the head rows of <unk>, <s> and </s> (ids 0, 1, 2) are zero, so that no
    engine meets an end-of-text token and stops early.
GPT-2 small comes from tests/golden/gpt2_ref.py (std 0.02).

Files (under the cache folder, made once per shape and seed):
  weights.safetensors   tfc and PyTorch
  f32.gguf, q8_0.gguf   llama.cpp (native and node-llama-cpp)
  llama2c.bin           llama2.c run.c (legacy float32)
  llama2c_q80.bin       llama2.c runq.c (version 2, int8 groups)
  gpt2.onnx             ONNX Runtime (GPT-2 only)
"""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
sys.path.insert(0, HERE)

import gguf  # noqa: E402
import llama2c_format  # noqa: E402
import safetensors_io as st  # noqa: E402

# Bump when the weights or a file format written here changes: cached files
# of another version are made again.
FILES_VERSION = 1

LLAMA_COMMON = dict(eps=1e-5, rope_theta=10000.0, vocab=32000, ctx=512)
SHAPES = {
    "llama-15M": dict(family="llama", dim=288, layers=6, heads=6, kv_heads=6, ffn=768,
                      **LLAMA_COMMON),
    "llama-110M": dict(family="llama", dim=768, layers=12, heads=12, kv_heads=12, ffn=2048,
                       **LLAMA_COMMON),
    "gpt2-small": dict(family="gpt2", dim=768, layers=12, heads=12, vocab=50257, ctx=1024),
}
HEAD_ROW_SPREAD = 0.5
SPECIAL_IDS = (0, 1, 2)


def tfc_defines(cfg):
    """-D flags of tfc's model file for this shape."""
    keys = ("vocab", "ctx", "dim", "heads", "layers") + \
        (("kv_heads", "ffn") if cfg["family"] == "llama" else ())
    out = []
    for k in keys:
        out += ["-D", "%s=%d" % (k, cfg[k])]
    return out


def model_file(cfg):
    return os.path.join(ROOT, "models", "llama_meta.model" if cfg["family"] == "llama"
                        else "gpt2.model")


def llama_weights(cfg, seed):
    """{Meta name: float32 ndarray}."""
    import families_ref
    import torch
    defines = ["%s=%s" % (k, cfg[k]) for k in ("vocab", "ctx", "dim", "heads", "kv_heads",
                                                "layers", "ffn", "eps", "rope_theta")]
    w = families_ref.llama_weights(families_ref.config("llama", defines), seed)
    g = torch.Generator().manual_seed(seed + 1)
    spread = torch.exp(HEAD_ROW_SPREAD * torch.randn(cfg["vocab"], 1, generator=g))
    head = w["output.weight"] * spread
    head[list(SPECIAL_IDS)] = 0.0
    w["output.weight"] = head
    return {k: v.numpy().astype(np.float32) for k, v in w.items()}


def weight_bytes(cfg):
    """Bytes of float32 weights one decode step reads: every matrix once
    (the embedding table contributes one row only) and the norm gains."""
    d, f, L, v = cfg["dim"], cfg.get("ffn", 4 * cfg["dim"]), cfg["layers"], cfg["vocab"]
    if cfg["family"] == "llama":
        kv = d // cfg["heads"] * cfg["kv_heads"]
        per_layer = d * d * 2 + 2 * d * kv + 3 * d * f + 2 * d
        return 4 * (L * per_layer + d + v * d + d)
    per_layer = 12 * d * d + 13 * d
    return 4 * (L * per_layer + 2 * d + v * d + 2 * d)


class ModelFiles(object):
    """Paths of one shape's files, made on first use."""

    def __init__(self, name, seed, cache, python):
        self.name, self.cfg, self.seed, self.python = name, SHAPES[name], seed, python
        self.model_file, self.defines = model_file(self.cfg), tfc_defines(self.cfg)
        self.dir = os.path.join(cache, "%s-seed%d-v%d" % (name, seed, FILES_VERSION))
        os.makedirs(self.dir, exist_ok=True)
        self._w = None

    def path(self, leaf):
        return os.path.join(self.dir, leaf)

    def _weights(self):
        if self._w is None:
            self._w = llama_weights(self.cfg, self.seed)
        return self._w

    def _make(self, leaf, write):
        p = self.path(leaf)
        if not os.path.exists(p):
            tmp = p + ".tmp%d" % os.getpid()
            write(tmp)
            os.replace(tmp, p)
        return p

    def safetensors(self):
        if self.cfg["family"] == "gpt2":
            return self._make("weights.safetensors", self._gpt2)
        meta = {k: str(v) for k, v in self.cfg.items()}
        return self._make("weights.safetensors", lambda p: st.save(p, self._weights(), meta))

    def _gpt2(self, out):
        c = self.cfg
        subprocess.check_call([self.python, os.path.join(ROOT, "tests", "golden", "gpt2_ref.py"),
                               "make", "--vocab", str(c["vocab"]), "--ctx", str(c["ctx"]),
                               "--dim", str(c["dim"]), "--heads", str(c["heads"]),
                               "--layers", str(c["layers"]), "--seed", str(self.seed),
                               "--out", out], stdout=subprocess.DEVNULL)

    def gguf(self, q8_0=False):
        return self._make("q8_0.gguf" if q8_0 else "f32.gguf",
                          lambda p: gguf.write_llama(p, self._weights(), self.cfg, q8_0=q8_0,
                                                     name=self.name))

    def llama2c(self, int8=False):
        if int8:
            return self._make("llama2c_q80.bin",
                              lambda p: llama2c_format.write_v2(p, self._weights(), self.cfg))
        return self._make("llama2c.bin", lambda p: llama2c_format.write_v0(p, self._weights(), self.cfg))

    def onnx(self):
        w = self.safetensors()
        return self._make("gpt2.onnx", lambda p: subprocess.check_call(
            [self.python, os.path.join(HERE, "gpt2_onnx.py"), w, str(self.cfg["heads"]), p]))
