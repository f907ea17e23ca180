#!/usr/bin/python3
"""Exports GPT-2 (Hugging Face names, the safetensors file tfc reads) to
ONNX for ONNX Runtime: input_ids int64 [1, T] -> logits float32 [1, T, vocab],
T dynamic.  The module is the same computation as tests/golden/gpt2_ref.py's
forward, written with tensor shapes so that torch.onnx.export can trace it.

  gpt2_onnx.py WEIGHTS.safetensors HEADS OUT.onnx

After the export, the ONNX model is not run here: bench.py compares
ONNX Runtime's logits with tfc's.
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "golden"))
import gpt2_ref  # noqa: E402
import torch  # noqa: E402

F = torch.nn.functional


class Gpt2(torch.nn.Module):
    def __init__(self, w, cfg):
        super().__init__()
        self.cfg = cfg
        for k, v in w.items():
            self.register_buffer(k.replace(".", "_"), v.contiguous())
        self.register_buffer("causal", torch.ones(cfg["ctx"], cfg["ctx"], dtype=torch.bool).tril())

    def p(self, name):
        return getattr(self, name.replace(".", "_"))

    def ln(self, x, name):
        return F.layer_norm(x, (self.cfg["dim"],), self.p(name + ".weight"), self.p(name + ".bias"),
                            self.cfg["eps"])

    def lin(self, x, name):
        return x @ self.p(name + ".weight") + self.p(name + ".bias")

    def forward(self, input_ids):
        d, nh = self.cfg["dim"], self.cfg["heads"]
        hd = d // nh
        ids = input_ids[0]
        n = ids.shape[0]
        x = self.p("wte.weight")[ids] + self.p("wpe.weight")[:n]
        mask = self.causal[:n, :n]
        for i in range(self.cfg["layers"]):
            h = "h.%d." % i
            q, k, v = self.lin(self.ln(x, h + "ln_1"), h + "attn.c_attn").split(d, dim=-1)
            q, k, v = (t.reshape(n, nh, hd).transpose(0, 1) for t in (q, k, v))
            s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
            y = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1) @ v
            x = x + self.lin(y.transpose(0, 1).reshape(n, d), h + "attn.c_proj")
            u = gpt2_ref.gelu_new(self.lin(self.ln(x, h + "ln_2"), h + "mlp.c_fc"))
            x = x + self.lin(u, h + "mlp.c_proj")
        return (self.ln(x, "ln_f") @ self.p("wte.weight").t())[None]


def main():
    path, heads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cfg = gpt2_ref.read_config(path, heads=heads)
    m = Gpt2(gpt2_ref.load_weights(path, torch.float32), cfg).eval()
    example = torch.zeros(1, 8, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(m, (example,), out, input_names=["input_ids"], output_names=["logits"],
                          dynamic_axes={"input_ids": {1: "T"}, "logits": {1: "T"}}, opset_version=14)


if __name__ == "__main__":
    main()
