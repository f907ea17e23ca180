#!/usr/bin/python3
"""PyTorch's attention probabilities, output_attentions-style, for the
attention that `tfc --report --attention-json` records.

    attention_ref.py ref FAMILY --weights W.safetensors --tokens 1,2,3
                     [--src 4,5] [--types 0,1,0] [--length L] --out REF.json
        FAMILY: gpt2 (weights of tests/golden/gpt2_ref.py make), or bert,
        bert_ner, llama, t5, t5_gated, transformer (tests/golden/
        families_ref.py make, Hugging Face or Meta names; the
        configuration comes from the file's metadata).  Runs the golden
        reference forward pass in float64 and keeps every attention's
        probabilities, [heads, queries, keys], in the order the model runs
        them (encoder, then decoder; a decoder block's self-attention
        before its cross-attention): the softmax of the hand-written
        references (gpt2, bert, llama, t5), the attention weights
        torch.nn.MultiheadAttention returns with need_weights=True (the
        Transformer, which is torch.nn.Transformer).

    attention_ref.py setup DIR
        The suite's cases in one process (one torch import): tiny random
        models for every shipped model file: GPT-2, BERT with padding
        (--length), Llama with grouped-query attention (kv_heads < heads;
        Hugging Face and Meta names, llama2c), T5 (ReLU and gated) and the
        Transformer (cross-attention); their weights and references into
        DIR, and
        DIR/cases.txt, a line a case: LABEL|MODEL|-D OPTIONS|RUN OPTIONS|
        CALLS|REF.json (CALLS: the attention calls PyTorch made).

    attention_ref.py ref FAMILY --weights W.safetensors --inputs-from TFC.json
                     [--greedy-from K] --out REF.json
        The same on the inputs tfc ran (--attention-json's "inputs"); with
        --greedy-from K, the decoder's tokens after the first K must be the
        reference's greedy choices (each the argmax of the last row, by
        full recomputation), as tfc --report chooses them for an
        encoder-decoder's --prompt.

    attention_ref.py compare TFC.json REF.json [--rel 1e-4] [--label NAME]
        Every recorded call against the reference's, in order, with the
        golden tolerance of tests/golden/compare.py (max |tfc - ref| <=
        rel * max(1, max |ref|)), keys masked by padding or causality
        included (both must be 0).  As a check that the comparison can
        fail, the reference with each call's heads (or, for one head, its
        query rows) reversed must not pass.  Prints one line; exits 0 when
        all agree.

Run with /usr/bin/python3 (Debian's python3-torch).
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
sys.path.insert(0, GOLDEN)

import compare  # noqa: E402
import safetensors_io as st  # noqa: E402


def ints(s):
    return [int(x) for x in s.split(",")] if s else None


class Capture(object):
    """Keeps the probabilities of every attention run while active."""

    def __init__(self, torch):
        self.torch, self.calls = torch, []

    def __enter__(self):
        torch, calls = self.torch, self.calls
        self.softmax = torch.softmax
        self.mha = torch.nn.MultiheadAttention.forward
        softmax, mha = self.softmax, self.mha

        def recording_softmax(x, *args, **kw):
            y = softmax(x, *args, **kw)
            if y.dim() == 3:                      # [heads, queries, keys]
                calls.append(y.detach().clone())
            return y

        def recording_mha(module, *args, **kw):
            kw["need_weights"], kw["average_attn_weights"] = True, False
            out, weights = mha(module, *args, **kw)
            calls.append(weights.detach()[0].clone())   # batch 1: [heads, L, S]
            return out, weights

        torch.softmax = recording_softmax
        torch.nn.MultiheadAttention.forward = recording_mha
        return self

    def __exit__(self, *exc):
        self.torch.softmax = self.softmax
        self.torch.nn.MultiheadAttention.forward = self.mha
        return False


def run_family(a, torch):
    import families_ref as fr
    arrays, meta = st.load(a.weights)
    fam = a.family
    cfg = fr.config(fam, ["%s=%s" % (k, meta[k]) for k in fr.DEFAULTS[fam] if k in meta])
    w = fr.as64({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    tokens = ints(a.tokens)
    if fam in ("bert", "bert_ner"):
        return lambda: fr.bert_encode(w, cfg, tokens, ints(a.types), a.length)
    if fam == "llama":
        fwd = fr.llama_hf_forward if "model.norm.weight" in w else fr.llama_meta_forward
        return lambda: fwd(w, cfg, tokens)
    if fam in ("t5", "t5_gated"):
        return lambda: fr.t5_forward(w, cfg, ints(a.src), tokens, gated=fam == "t5_gated")
    return lambda: fr.transformer_forward(w, cfg, ints(a.src), tokens)


def run_gpt2(a, torch):
    import gpt2_ref
    cfg = gpt2_ref.read_config(a.weights)
    w = gpt2_ref.load_weights(a.weights, torch.float64)
    return lambda: gpt2_ref.forward(w, cfg, ints(a.tokens))


def check_greedy(a, torch):
    """The decoder tokens after the first a.greedy_from: the reference's
    greedy choices."""
    import families_ref as fr
    arrays, meta = st.load(a.weights)
    cfg = fr.config(a.family, ["%s=%s" % (k, meta[k]) for k in fr.DEFAULTS[a.family] if k in meta])
    w = fr.as64({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    tokens, src = ints(a.tokens), ints(a.src)
    fwd = fr.transformer_forward if a.family == "transformer" else fr.t5_forward
    ids = tokens[:a.greedy_from]
    with torch.no_grad():
        while len(ids) < len(tokens):
            ids.append(int(fwd(w, cfg, src, ids)[-1].argmax()))
    if ids != tokens:
        sys.exit("attention_ref.py: tfc's decoder tokens %s are not the greedy %s" % (tokens, ids))


def cmd_ref(a):
    import torch
    torch.set_num_threads(1)
    if a.inputs_from:
        inputs = json.load(open(a.inputs_from))["inputs"]
        for k in ("tokens", "src", "types"):
            if k in inputs:
                setattr(a, k, ",".join(map(str, inputs[k])))
    if a.greedy_from:
        check_greedy(a, torch)
    run = run_gpt2(a, torch) if a.family == "gpt2" else run_family(a, torch)
    with torch.no_grad(), Capture(torch) as cap:
        run()
    with open(a.out, "w") as f:
        json.dump({"calls": [c.to(torch.float64).numpy().tolist() for c in cap.calls]}, f)
    cmd_ref.calls = cap.calls
    return 0


# The cases: family, model file, configuration, seed, inputs, extra tfc
# options.  Sizes as the golden suites' small models.
CASES = [
    ("gpt2", "gpt2", "gpt2", "vocab=64 ctx=32 dim=32 heads=4 layers=2", 5,
     dict(tokens="1,5,9,63,0,17,22,8,3"), ""),
    ("gpt2 --jit cc", "gpt2", "gpt2", "vocab=64 ctx=32 dim=32 heads=4 layers=2", 5,
     dict(tokens="1,5,9,63,0,17,22,8,3"), "--jit cc"),
    ("bert padded (--length 5 of 9)", "bert", "bert",
     "vocab=101 ctx=64 types=2 dim=64 heads=4 layers=2 ffn=128 labels=3", 31,
     dict(tokens="5,100,0,7,8,9,10,11,12", types="0,0,0,1,1,1,1,0,0", length=5), ""),
    ("llama grouped-query (4 heads, 2 kv heads)", "llama", "llama",
     "vocab=97 ctx=64 dim=64 heads=4 kv_heads=2 layers=2 ffn=96", 41,
     dict(tokens="5,96,0,7,8,9,10,11,12,40,41"), ""),
    ("bert_ner (token classification)", "bert_ner", "bert_ner",
     "vocab=101 ctx=64 types=2 dim=64 heads=4 layers=2 ffn=128 labels=3", 33,
     dict(tokens="5,100,0,7,8,9,10"), ""),
    ("llama_meta (Meta names, interleaved rope)", "llama meta", "llama_meta",
     "vocab=97 ctx=64 dim=64 heads=4 kv_heads=2 layers=2 ffn=96", 43,
     dict(tokens="5,96,0,7,8,9"), ""),
    ("llama2c (Meta names, 1 kv head)", "llama meta", "llama2c",
     "vocab=97 ctx=64 dim=64 heads=4 kv_heads=1 layers=2 ffn=96", 44,
     dict(tokens="5,96,0,7,8,9"), ""),
    ("t5_gated (gated GELU, kv_dim 96)", "t5_gated", "t5_gated",
     "vocab=103 ctx=64 dim=64 kv_dim=96 heads=4 layers=2 ffn=128", 54,
     dict(src="5,102,0,7,8", tokens="3,4,5,6"), ""),
    ("t5 (relative bias, cross-attention)", "t5", "t5",
     "vocab=103 ctx=64 dim=64 kv_dim=64 heads=4 layers=2 ffn=128", 51,
     dict(src="5,102,0,7,8,9,10", tokens="3,4,5,6,1"), ""),
    ("transformer cross-attention", "transformer", "transformer",
     "src_vocab=89 tgt_vocab=83 ctx=64 dim=64 heads=4 layers=2 ffn=128", 61,
     dict(src="5,88,0,7,8,9,10,11", tokens="3,4,5,6,1,82"), ""),
]


def make_weights(fam, defines, seed, out):
    """The golden suites' random weights (their make commands, no cases)."""
    if fam == "gpt2":
        import gpt2_ref
        d = dict(x.split("=") for x in defines.split())
        return gpt2_ref.main(["make", "--vocab", d["vocab"], "--ctx", d["ctx"], "--dim", d["dim"],
                              "--heads", d["heads"], "--layers", d["layers"], "--seed", str(seed),
                              "--out", out])
    import families_ref
    fam, names = (fam.split() + ["hf"])[:2]
    args = ["make", fam, "--seed", str(seed), "--out", out, "--names", names]
    for x in defines.split():
        args += ["-D", x]
    return families_ref.main(args)


def cmd_setup(a):
    lines = []
    made = {}
    for i, (label, fam, model, defines, seed, inputs, extra) in enumerate(CASES):
        weights = made.get((fam, defines, seed))
        if not weights:
            weights = made[(fam, defines, seed)] = os.path.join(a.dir, "%s-%d.safetensors" % (fam.replace(" ", "-"), seed))
            if make_weights(fam, defines, seed, weights):
                sys.exit("attention_ref.py: could not make the %s weights" % fam)
        ref = os.path.join(a.dir, "case%d.ref.json" % i)
        ns = argparse.Namespace(family=fam.split()[0], weights=weights, tokens=inputs["tokens"],
                                src=inputs.get("src"), types=inputs.get("types"),
                                length=inputs.get("length"), out=ref, inputs_from=None,
                                greedy_from=0)
        cmd_ref(ns)
        args = "--weights " + weights
        for k in ("tokens", "src", "types", "length"):
            if k in inputs:
                args += " --%s %s" % (k, inputs[k])
        lines.append("%s|%s|%s|%s %s|%d|%s" % (label, model, " ".join("-D " + x for x in defines.split()),
                                               args, extra, len(cmd_ref.calls), ref))
    with open(os.path.join(a.dir, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


def tfc_calls(path):
    calls = []
    for c in json.load(open(path))["calls"]:
        calls.append((c["node"], np.array(c["p"], dtype=np.float64).reshape(c["heads"], c["n_q"], c["n_kv"])))
    return calls


def agree(out, ref, rel):
    """Each call's probabilities as rows of keys, compared as logits are."""
    for k, ((name, o), r) in enumerate(zip(out, ref)):
        if o.shape != r.shape:
            return False, "%s: shape %s, reference %s" % (name, o.shape, r.shape)
        ok, msg = compare.check(o.reshape(-1, o.shape[2]), r.reshape(-1, r.shape[2]), rel)
        if not ok:
            return False, "%s (call %d): %s" % (name, k, msg)
    return True, ""


def cmd_compare(a):
    out = tfc_calls(a.tfc)
    ref = [np.array(c, dtype=np.float64) for c in json.load(open(a.ref))["calls"]]
    label = a.label or os.path.basename(a.tfc)
    if len(out) != len(ref):
        print("FAIL %s: tfc recorded %d attention calls, PyTorch ran %d" % (label, len(out), len(ref)))
        return 1
    ok, msg = agree(out, ref, a.rel)
    if not ok:
        print("FAIL %s: %s" % (label, msg))
        return 1
    flipped = [r[::-1] if r.shape[0] > 1 else r[:, ::-1] for r in ref]
    if agree(out, flipped, a.rel)[0]:
        print("FAIL %s: the reference with heads reversed passes too: the check cannot fail" % label)
        return 1
    worst = max(float(np.max(np.abs(o - r))) for (_, o), r in zip(out, ref))
    cells = sum(r.size for r in ref)
    print("PASS %s: %d attention calls, %d probabilities, max |tfc - torch| %.3g (tol %.3g)"
          % (label, len(out), cells, worst, compare.tolerance(np.ones(1), a.rel)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ref")
    r.add_argument("family", choices=["gpt2", "bert", "bert_ner", "llama", "t5", "t5_gated",
                                      "transformer"])
    r.add_argument("--weights", required=True)
    r.add_argument("--tokens")
    r.add_argument("--inputs-from")
    r.add_argument("--greedy-from", type=int, default=0)
    r.add_argument("--src")
    r.add_argument("--types")
    r.add_argument("--length", type=int)
    r.add_argument("--out", required=True)
    s = sub.add_parser("setup")
    s.add_argument("dir")
    c = sub.add_parser("compare")
    c.add_argument("tfc")
    c.add_argument("ref")
    c.add_argument("--rel", type=float, default=compare.DEFAULT_REL)
    c.add_argument("--label")
    a = p.parse_args()
    return {"ref": cmd_ref, "setup": cmd_setup, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
