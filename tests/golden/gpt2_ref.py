#!/usr/bin/python3
"""A reference GPT-2 (Hugging Face GPT2LMHeadModel forward pass) in PyTorch.

Commands:
  make    --vocab V --ctx C --dim D --heads H --layers L --seed S
          [--std 0.02] [--prefix] [--mask-buffers] [--dtype F32|F16|BF16]
          --out W.safetensors [--tokens 1,2,3 --ref REF.f32]...
      Writes random weights under Hugging Face's GPT-2 names.  Matrices and
      embeddings are N(0, std^2) as in GPT-2's initialisation; unlike it,
      biases are std*N(0,1) and layer-norm gains 1 + 0.1*N(0,1), so that a
      mistake in any of them shows in the logits.  --prefix puts every name
      under "transformer."; --mask-buffers adds the causal-mask buffers
      h.{i}.attn.bias [1,1,C,C] (F32, BOOL and U8 in turn by layer) and
      h.{i}.attn.masked_bias [] that old checkpoints carry.  The
      configuration goes into the file's __metadata__.  Each --tokens/--ref
      pair also writes reference logits, as the logits command does.

  logits  --weights W.safetensors --tokens 1,2,3 --out REF.f32
          [--tokens ... --out ...]... [--heads H] [--eps E] [--float32]
      Runs the forward pass (float64 unless --float32) and writes the
      logits of every position as little-endian float32, shape [n, vocab].
      The configuration comes from the file's metadata and tensor shapes;
      --heads is needed for files without metadata.

  break   --in W.safetensors --kind KIND [--name TENSOR] --out BAD.safetensors
      Writes a damaged copy: truncate (cut in the middle of the data),
      truncate-header (cut in the middle of the JSON header), offsets (one tensor's
      data_offsets moved past the end of the file, length unchanged),
      missing (TENSOR left out), shape (TENSOR's shape transposed, same
      number of elements).  Two kinds make valid variants with the same
      weights: drop-buffers (the causal-mask buffers left out) and
      drop-prefix (the "transformer." prefix taken off every name).

  selftest [--quick]
      Checks the safetensors writer/reader, checks the PyTorch forward pass
      against an independent NumPy formulation, checks that a correct
      float32 computation passes the golden tolerance and that typical
      implementation mistakes fail it.

Run with /usr/bin/python3 (Debian's python3-torch).
"""

import argparse
import math
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import safetensors_io as st  # noqa: E402
import compare  # noqa: E402

PREFIX = "transformer."


def _torch():
    import torch
    torch.set_num_threads(int(os.environ.get("GOLDEN_THREADS", "1")))
    return torch


# ---------------------------------------------------------------- weights

def weight_names(layers):
    """The Hugging Face GPT-2 parameter names, without prefix, in order."""
    names = ["wte.weight", "wpe.weight"]
    for i in range(layers):
        h = "h.%d." % i
        names += [h + "ln_1.weight", h + "ln_1.bias",
                  h + "attn.c_attn.weight", h + "attn.c_attn.bias",
                  h + "attn.c_proj.weight", h + "attn.c_proj.bias",
                  h + "ln_2.weight", h + "ln_2.bias",
                  h + "mlp.c_fc.weight", h + "mlp.c_fc.bias",
                  h + "mlp.c_proj.weight", h + "mlp.c_proj.bias"]
    names += ["ln_f.weight", "ln_f.bias"]
    return names


def weight_shape(name, cfg):
    d, v, c = cfg["dim"], cfg["vocab"], cfg["ctx"]
    base = re.sub(r"^h\.\d+\.", "", name)
    return {
        "wte.weight": [v, d], "wpe.weight": [c, d],
        "ln_1.weight": [d], "ln_1.bias": [d], "ln_2.weight": [d], "ln_2.bias": [d],
        "ln_f.weight": [d], "ln_f.bias": [d],
        "attn.c_attn.weight": [d, 3 * d], "attn.c_attn.bias": [3 * d],
        "attn.c_proj.weight": [d, d], "attn.c_proj.bias": [d],
        "mlp.c_fc.weight": [d, 4 * d], "mlp.c_fc.bias": [4 * d],
        "mlp.c_proj.weight": [4 * d, d], "mlp.c_proj.bias": [d],
    }[base]


def make_weights(cfg, seed, std=0.02):
    """Returns {name: float32 torch tensor} (no prefix, no buffers)."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in weight_names(cfg["layers"]):
        shape = weight_shape(name, cfg)
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if re.search(r"ln_(1|2|f)\.weight$", name):
            z = 1.0 + 0.1 * z
        else:
            z = std * z
        out[name] = z
    return out


def cmd_make(a):
    torch = _torch()
    cfg = dict(vocab=a.vocab, ctx=a.ctx, dim=a.dim, heads=a.heads, layers=a.layers)
    if a.dim % a.heads:
        sys.exit("gpt2_ref.py: dim %d is not a multiple of heads %d" % (a.dim, a.heads))
    w = make_weights(cfg, a.seed, a.std)
    tensors = {}
    pre = PREFIX if a.prefix else ""
    for name, t in w.items():
        if a.dtype == "F16":
            t = t.to(torch.float16)
        elif a.dtype == "BF16":
            t = t.to(torch.bfloat16)
        tensors[pre + name] = t
        m = re.match(r"h\.(\d+)\.ln_1\.bias$", name)
        if a.mask_buffers and m:
            i = int(m.group(1))
            tri = torch.tril(torch.ones(a.ctx, a.ctx)).view(1, 1, a.ctx, a.ctx)
            kind = i % 3
            mask = tri if kind == 0 else tri.to(torch.bool) if kind == 1 else tri.to(torch.uint8)
            tensors[pre + "h.%d.attn.bias" % i] = mask
            tensors[pre + "h.%d.attn.masked_bias" % i] = torch.tensor(-1e4)
    meta = dict(cfg, eps="1e-05", seed=a.seed, std=a.std, format="pt",
                generator="tests/golden/gpt2_ref.py")
    st.save(a.out, tensors, meta)
    if a.tokens:
        # Reference logits straight away, from the weights in memory (the
        # numbers written to the file; the self-test checks the round trip).
        if len(a.tokens) != len(a.ref):
            sys.exit("gpt2_ref.py: give one --ref per --tokens")
        cfg["eps"] = 1e-5
        w64 = {name: tensors[pre + name].to(torch.float64) for name in w}
        write_logits(w64, cfg, a.tokens, a.ref)
    return 0


# ---------------------------------------------------------------- config

def read_config(path, heads=None, eps=None):
    header, _, _ = st.read_header(path)
    meta = header.pop("__metadata__", {}) or {}
    names = {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in header.items()}
    vocab, dim = names["wte.weight"]["shape"]
    ctx = names["wpe.weight"]["shape"][0]
    layers = 0
    while ("h.%d.ln_1.weight" % layers) in names:
        layers += 1
    if heads is None:
        if "heads" not in meta:
            sys.exit("gpt2_ref.py: %s has no metadata; pass --heads" % path)
        heads = int(meta["heads"])
    if eps is None:
        eps = float(meta.get("eps", "1e-5"))
    return dict(vocab=vocab, ctx=ctx, dim=dim, heads=heads, layers=layers, eps=eps)


def load_weights(path, dtype):
    """Returns {name without prefix: torch tensor of dtype}, buffers dropped."""
    torch = _torch()
    arrays, _ = st.load(path)
    kinds = st.dtypes_of(path)
    np_dtype = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    out = {}
    for k, arr in arrays.items():
        name = k[len(PREFIX):] if k.startswith(PREFIX) else k
        if re.search(r"\.attn\.(bias|masked_bias)$", name):
            continue
        wide = st.to_float32(kinds[k], arr).astype(np_dtype)  # a writable copy
        out[name] = torch.from_numpy(wide)
    return out


# ---------------------------------------------------------------- forward

def gelu_new(x):
    torch = _torch()
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(w, cfg, tokens, mutate=None):
    """GPT-2 forward pass with torch ops.  w: {name: tensor}, all of one
    floating dtype.  Returns logits [n, vocab].  mutate names a deliberate
    mistake (used by the self-test to show the tolerance catches it)."""
    torch = _torch()
    F = torch.nn.functional
    mutate = mutate or ""
    d, nh = cfg["dim"], cfg["heads"]
    hd = d // nh
    eps = cfg["eps"] if mutate != "eps" else cfg["eps"] * 10
    n = len(tokens)
    if n < 1 or n > cfg["ctx"]:
        raise ValueError("need 1..%d tokens, got %d" % (cfg["ctx"], n))
    ids = torch.tensor(tokens, dtype=torch.long)
    pos = (torch.arange(n) + (1 if mutate == "pos" else 0)) % cfg["ctx"]
    x = w["wte.weight"][ids] + w["wpe.weight"][pos]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    scale = 1.0 / math.sqrt(hd) if mutate != "scale" else 1.0 / hd
    for i in range(cfg["layers"]):
        p = "h.%d." % i
        h = F.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(d, dim=-1)
        if mutate == "qkv":
            q, k = k, q
        q = q.view(n, nh, hd).transpose(0, 1)
        k = k.view(n, nh, hd).transpose(0, 1)
        v = v.view(n, nh, hd).transpose(0, 1)
        s = (q @ k.transpose(-1, -2)) * scale
        if mutate != "nomask":
            s = s.masked_fill(~causal, float("-inf"))
        att = torch.softmax(s, dim=-1)
        y = (att @ v).transpose(0, 1).reshape(n, d)
        x = x + (y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"])
        h = F.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        u = h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]
        u = F.gelu(u) if mutate == "gelu_erf" else gelu_new(u)
        mb = w[p + "mlp.c_proj.bias"] if mutate != "nobias" else 0.0
        x = x + (u @ w[p + "mlp.c_proj.weight"] + mb)
    if mutate != "noln_f":
        x = F.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"], eps)
    return x @ w["wte.weight"].t()


def forward_numpy(w, cfg, tokens):
    """A second, independent formulation in NumPy float64: per position and
    per head, attending explicitly over positions 0..t only, layer norm and
    GELU written out from their definitions."""
    d, nh = cfg["dim"], cfg["heads"]
    hd = d // nh
    eps = cfg["eps"]

    def ln(v, g, b):
        mu = sum(v) / len(v)
        var = sum((e - mu) ** 2 for e in v) / len(v)
        return (v - mu) / math.sqrt(var + eps) * g + b

    def gelu(z):
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * z * (1.0 + np.tanh(c * (z + 0.044715 * z * z * z)))

    n = len(tokens)
    xs = [w["wte.weight"][t] + w["wpe.weight"][j] for j, t in enumerate(tokens)]
    for i in range(cfg["layers"]):
        p = "h.%d." % i
        wa, ba = w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"]
        keys, vals, queries = [], [], []
        for t in range(n):
            h = ln(xs[t], w[p + "ln_1.weight"], w[p + "ln_1.bias"])
            queries.append(h.dot(wa[:, 0:d]) + ba[0:d])
            keys.append(h.dot(wa[:, d:2 * d]) + ba[d:2 * d])
            vals.append(h.dot(wa[:, 2 * d:3 * d]) + ba[2 * d:3 * d])
        new = []
        for t in range(n):
            y = np.zeros(d)
            for head in range(nh):
                sl = slice(head * hd, (head + 1) * hd)
                sc = np.array([queries[t][sl].dot(keys[j][sl]) for j in range(t + 1)]) / math.sqrt(hd)
                e = np.exp(sc - sc.max())
                e /= e.sum()
                for j in range(t + 1):
                    y[sl] += e[j] * vals[j][sl]
            x = xs[t] + y.dot(w[p + "attn.c_proj.weight"]) + w[p + "attn.c_proj.bias"]
            h = ln(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
            u = gelu(h.dot(w[p + "mlp.c_fc.weight"]) + w[p + "mlp.c_fc.bias"])
            x = x + u.dot(w[p + "mlp.c_proj.weight"]) + w[p + "mlp.c_proj.bias"]
            new.append(x)
        xs = new
    out = np.zeros((n, cfg["vocab"]))
    for t in range(n):
        out[t] = w["wte.weight"].dot(ln(xs[t], w["ln_f.weight"], w["ln_f.bias"]))
    return out


def parse_tokens(s):
    try:
        return [int(x) for x in s.split(",") if x.strip() != ""]
    except ValueError:
        sys.exit("gpt2_ref.py: bad token list %r" % s)


def cmd_logits(a):
    torch = _torch()
    if len(a.tokens) != len(a.out):
        sys.exit("gpt2_ref.py: give one output file per --tokens")
    cfg = read_config(a.weights, a.heads, a.eps)
    dtype = torch.float32 if a.float32 else torch.float64
    write_logits(load_weights(a.weights, dtype), cfg, a.tokens, a.out)
    return 0


def write_logits(w, cfg, token_lists, outs):
    torch = _torch()
    for tok, out in zip(token_lists, outs):
        tokens = parse_tokens(tok)
        for t in tokens:
            if not 0 <= t < cfg["vocab"]:
                sys.exit("gpt2_ref.py: token %d outside 0..%d" % (t, cfg["vocab"] - 1))
        with torch.no_grad():
            logits = forward(w, cfg, tokens)
        logits.to(torch.float32).numpy().astype("<f4").tofile(out)


# ---------------------------------------------------------------- break

def _drop(header, data, key):
    """Removes tensor key from header and its bytes from data, moving the
    later offsets so that the data stays contiguous.  Returns the new data."""
    b, e = header.pop(key)["data_offsets"]
    for v in header.values():
        vb, ve = v["data_offsets"]
        if vb >= e:
            v["data_offsets"] = [vb - (e - b), ve - (e - b)]
    return data[:b] + data[e:]


def cmd_break(a):
    header, start, size = st.read_header(a.inp)
    with open(a.inp, "rb") as f:
        blob = f.read()
    data = blob[start:]
    meta = header.pop("__metadata__", None)
    kind = a.kind

    def find(name):
        for k in header:
            if k == name or k == PREFIX + name:
                return k
        sys.exit("gpt2_ref.py: no tensor %s in %s" % (name, a.inp))

    if kind in ("truncate", "truncate-header"):
        cut = start + (size - start) // 2 if kind == "truncate" else 8 + (start - 8) // 2
        with open(a.out, "wb") as f:
            f.write(blob[:cut])
        return 0
    if kind == "offsets":
        key = find(a.name) if a.name else max(header, key=lambda k: header[k]["data_offsets"][1])
        b, e = header[key]["data_offsets"]
        shift = len(data) - b + 64  # past the end of the data
        header[key]["data_offsets"] = [b + shift, e + shift]
    elif kind == "missing":
        data = _drop(header, data, find(a.name))
    elif kind == "drop-buffers":
        for key in [k for k in header if re.search(r"\.attn\.(bias|masked_bias)$", k)]:
            data = _drop(header, data, key)
    elif kind == "drop-prefix":
        header = {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in header.items()}
    elif kind == "shape":
        key = find(a.name)
        shape = header[key]["shape"]
        if len(shape) != 2 or shape[0] == shape[1]:
            sys.exit("gpt2_ref.py: %s: need a non-square matrix to transpose" % key)
        header[key]["shape"] = [shape[1], shape[0]]
    else:
        sys.exit("gpt2_ref.py: unknown kind %s" % kind)
    if meta is not None:
        header["__metadata__"] = meta
    st.write_raw(a.out, header, data)
    return 0


# ---------------------------------------------------------------- selftest

def _check(cond, what, failures):
    print("  %-66s %s" % (what, "ok" if cond else "FAILED"))
    if not cond:
        failures.append(what)


def selftest_safetensors(tmp, failures):
    torch = _torch()
    # A file whose bytes are known exactly.
    p = os.path.join(tmp, "one.safetensors")
    st.save(p, {"a": np.array([1.0, -2.0], dtype=np.float32)})
    with open(p, "rb") as f:
        raw = f.read()
    hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    hdr += b" " * ((-(8 + len(hdr))) % 8)
    expect = len(hdr).to_bytes(8, "little") + hdr + bytes.fromhex("0000803f000000c0")
    _check(raw == expect, "safetensors: exact bytes of a one-tensor file", failures)

    # Round trip of every dtype the tests use, scalars and empty tensors.
    rng = np.random.default_rng(5)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    tensors = {
        "f32": f32,
        "f64": rng.standard_normal(7),
        "f16": f32.astype(np.float16),
        "bf16": torch.from_numpy(f32).to(torch.bfloat16),
        "bool": torch.tril(torch.ones(4, 4)).to(torch.bool).view(1, 1, 4, 4),
        "u8": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "i64": np.array([-1, 2, 3], dtype=np.int64),
        "scalar": torch.tensor(-1e4),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    p = os.path.join(tmp, "all.safetensors")
    st.save(p, tensors, {"k": "v"})
    back, meta = st.load(p)
    header, start, size = st.read_header(p)
    _check(start % 8 == 0 and meta == {"k": "v"}, "safetensors: data aligned to 8, metadata kept", failures)
    kinds = st.dtypes_of(p)
    ok = kinds == {"f32": "F32", "f64": "F64", "f16": "F16", "bf16": "BF16", "bool": "BOOL",
                   "u8": "U8", "i64": "I64", "scalar": "F32", "empty": "F32"}
    _check(ok, "safetensors: dtype names", failures)
    ok = (np.array_equal(back["f32"], f32) and np.array_equal(back["f16"], f32.astype(np.float16))
          and np.array_equal(back["u8"], tensors["u8"]) and back["scalar"].shape == ()
          and float(back["scalar"]) == -1e4 and back["empty"].shape == (0, 3)
          and back["bool"].shape == (1, 1, 4, 4) and bool(back["bool"][0, 0, 3, 0])
          and not bool(back["bool"][0, 0, 0, 3]))
    _check(ok, "safetensors: values, shapes, scalar, empty, bool round trip", failures)
    bf = st.to_float32("BF16", back["bf16"])
    ok = np.array_equal(bf, tensors["bf16"].to(torch.float32).numpy())
    ok = ok and np.array_equal(st.float32_to_bf16(f32).bits, back["bf16"])
    _check(ok, "safetensors: bf16 bits agree with torch", failures)
    ends = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    contiguous = ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
    _check(contiguous and start + ends[-1][1] == size, "safetensors: offsets contiguous, cover the file", failures)


def selftest_model(tmp, failures, quick):
    torch = _torch()
    for prefix, masks in ((False, False), (True, True)):
        cfg = dict(vocab=37, ctx=16, dim=24, heads=3, layers=2)
        p = os.path.join(tmp, "m%d.safetensors" % prefix)
        args = argparse.Namespace(seed=11, std=0.1, prefix=prefix, mask_buffers=masks,
                                  dtype="F32", out=p, tokens=[], ref=[], **cfg)
        cmd_make(args)
        back = read_config(p)
        _check(back == dict(cfg, eps=1e-5),
               "config read back (prefix=%s, masks=%s)" % (prefix, masks), failures)
        names = set(st.dtypes_of(p))
        want = set(weight_names(2))
        if masks:
            want |= {"h.%d.attn.bias" % i for i in range(2)} | {"h.%d.attn.masked_bias" % i for i in range(2)}
        if prefix:
            want = {PREFIX + x for x in want}
        _check(names == want, "tensor names (prefix=%s, masks=%s)" % (prefix, masks), failures)
        w64 = load_weights(p, torch.float64)
        tokens = [3, 36, 0, 7, 7, 21, 1, 30, 2, 5, 11, 12, 13, 14, 35, 9]
        with torch.no_grad():
            ref = forward(w64, back, tokens).numpy()
        alt = forward_numpy({k: v.numpy() for k, v in w64.items()}, back, tokens)
        diff = float(np.max(np.abs(ref - alt)))
        _check(diff < 1e-10, "torch vs numpy formulation, max diff %.2g" % diff, failures)
        # Causality: the logits of a prefix do not depend on later tokens.
        with torch.no_grad():
            short = forward(w64, back, tokens[:5]).numpy()
        _check(float(np.max(np.abs(short - ref[:5]))) < 1e-12, "prefix logits independent of later tokens", failures)

    # The same weights, once in the file and once regenerated: same numbers.
    w = make_weights(dict(vocab=37, ctx=16, dim=24, heads=3, layers=2), 11, 0.1)
    w_file = load_weights(os.path.join(tmp, "m1.safetensors"), torch.float32)
    same = all(torch.equal(w[k], w_file[k]) for k in w) and set(w) == set(w_file)
    _check(same, "weights with prefix equal regenerated weights", failures)

    # gelu_new against torch's own tanh-approximated GELU.
    z = torch.linspace(-8, 8, 1001, dtype=torch.float64)
    gd = float((gelu_new(z) - torch.nn.functional.gelu(z, approximate="tanh")).abs().max())
    _check(gd < 1e-12, "gelu_new equals torch gelu(approximate='tanh'), diff %.2g" % gd, failures)

    # Statistics of the generated weights.
    cfg = dict(vocab=101, ctx=64, dim=64, heads=4, layers=2, eps=1e-5)
    w = make_weights(cfg, 1, 0.02)
    s = float(w["h.1.mlp.c_fc.weight"].std())
    g = w["h.0.ln_2.weight"]
    ok = abs(s - 0.02) < 0.002 and abs(float(g.mean()) - 1) < 0.05 and 0.07 < float(g.std()) < 0.13
    ok = ok and float(w["h.0.attn.c_attn.bias"].abs().max()) > 0
    _check(ok, "weight statistics (std %.4f, gain mean %.3f sd %.3f)" % (s, float(g.mean()), float(g.std())),
           failures)

    # A correct float32 computation passes the tolerance; mistakes fail it.
    # (With std 0.02 the tiny model's GELU inputs are so small that the erf
    # and tanh forms of GELU agree within the tolerance; run.sh therefore
    # makes the tiny model with std 0.1.)
    shapes = [("tiny std 0.1", dict(vocab=101, ctx=64, dim=64, heads=4, layers=2), 0.1, 64)]
    if not quick:
        shapes.append(("gpt2 small", dict(vocab=50257, ctx=1024, dim=768, heads=12, layers=12), 0.02, 128))
    mistakes = ["nomask", "scale", "gelu_erf", "pos", "qkv", "eps", "nobias", "noln_f"]
    rng = np.random.default_rng(2)
    for label, cfg, std, n in shapes:
        cfg = dict(cfg, eps=1e-5)
        w32 = make_weights(cfg, 1, std)
        w64 = {k: v.to(torch.float64) for k, v in w32.items()}
        tokens = [int(t) for t in rng.integers(0, cfg["vocab"], n)]
        with torch.no_grad():
            ref = forward(w64, cfg, tokens).numpy()
            f32 = forward(w32, cfg, tokens).numpy()
            ok, msg = compare.check(f32, ref)
            _check(ok, "%s: float32 passes: %s" % (label, msg.split(" at ")[0]), failures)
            missed = []
            for m in mistakes:
                passes, _ = compare.check(forward(w64, cfg, tokens, mutate=m).numpy(), ref)
                if passes:
                    missed.append(m)
            _check(not missed, "%s: mistakes caught (missed: %s)" % (label, ",".join(missed) or "none"),
                   failures)


def cmd_selftest(a):
    import tempfile
    import shutil
    tmp = tempfile.mkdtemp(prefix="gpt2_ref.")
    failures = []
    try:
        print("safetensors_io:")
        selftest_safetensors(tmp, failures)
        print("reference model:")
        selftest_model(tmp, failures, a.quick)
    finally:
        shutil.rmtree(tmp)
    print("selftest: %s" % ("%d failed" % len(failures) if failures else "all passed"))
    return 1 if failures else 0


# ---------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description="GPT-2 reference for tfc's golden tests")
    sub = p.add_subparsers(dest="cmd")
    m = sub.add_parser("make")
    for k in ("vocab", "ctx", "dim", "heads", "layers"):
        m.add_argument("--" + k, type=int, required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--std", type=float, default=0.02)
    m.add_argument("--prefix", action="store_true")
    m.add_argument("--mask-buffers", action="store_true")
    m.add_argument("--dtype", choices=("F32", "F16", "BF16"), default="F32")
    m.add_argument("--out", required=True)
    m.add_argument("--tokens", action="append", default=[],
                   help="also write reference logits for these tokens (repeatable)")
    m.add_argument("--ref", action="append", default=[], help="one per --tokens")
    lg = sub.add_parser("logits")
    lg.add_argument("--weights", required=True)
    lg.add_argument("--tokens", action="append", required=True)
    lg.add_argument("--out", action="append", required=True)
    lg.add_argument("--heads", type=int)
    lg.add_argument("--eps", type=float)
    lg.add_argument("--float32", action="store_true")
    b = sub.add_parser("break")
    b.add_argument("--in", dest="inp", required=True)
    b.add_argument("--kind", required=True, choices=("truncate", "truncate-header", "offsets", "missing", "shape",
                                             "drop-buffers", "drop-prefix"))
    b.add_argument("--name")
    b.add_argument("--out", required=True)
    s = sub.add_parser("selftest")
    s.add_argument("--quick", action="store_true", help="skip the GPT-2 small float32 check")
    a = p.parse_args(argv)
    if a.cmd == "make":
        return cmd_make(a)
    if a.cmd == "logits":
        return cmd_logits(a)
    if a.cmd == "break":
        return cmd_break(a)
    if a.cmd == "selftest":
        return cmd_selftest(a)
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
