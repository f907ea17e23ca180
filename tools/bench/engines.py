"""The engine table of `make bench`: one row per engine, each a name, the
kind of row it fills, how to tell whether it can run here, the command of
one run and how to read that run's output.

Kinds:
  llama    prefill of a prompt in one call, then greedy decoding; a run
           yields prompt tokens and seconds, decode steps and seconds, ids
  latency  GPT-2 uncached forward passes over T tokens; a run yields
           {T: milliseconds}

To add a row (an INT8 or an MPI variant, another peer), append an Engine:
the tables, ratios and id checks pick it up.  `group` says which tfc row a
peer is compared with (ratios and greedy ids): "f32" or "int8".
"""

import json
import os
import re
import subprocess


class Engine(object):
    def __init__(self, name, kind, group, command, parse, available, note=""):
        self.name, self.kind, self.group = name, kind, group
        self.command = command        # (ctx, run) -> (argv, extra env)
        self.parse = parse            # (stdout, stderr, run) -> dict
        self.available = available    # ctx -> None if it can run, else why not
        self.note = note


class Run(object):
    """What one run is asked: the model files, threads, prompt and count
    (llama), or the lengths and ids (latency)."""

    def __init__(self, files, threads, prompt=None, n=None, lengths=None, logits=None):
        self.files, self.threads, self.prompt, self.n = files, threads, prompt, n
        self.lengths, self.logits = lengths, logits

    def prompt_arg(self):
        return ",".join(map(str, self.prompt))


def last_json(stdout):
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def llama_rates(d):
    """prefill and decode tokens a second from a runner's JSON line."""
    return dict(prefill_tps=d["prompt"] / d["prompt_s"], decode_tps=d["steps"] / d["steps_s"],
                ids=d["ids"])


def parse_json_llama(stdout, stderr, run):
    return llama_rates(last_json(stdout))


def parse_json_latency(stdout, stderr, run):
    return {int(k): v for k, v in last_json(stdout)["latency_ms"].items()}


# tfc --run ... -n N --temp 0: the ids on stdout; on stderr
#   tfc: prompt P tokens in X s (R tokens/s), generated M tokens in Y s (S tokens/s)
# The M tokens took M - 1 steps (the first comes from the prompt's logits).
TFC_GEN = re.compile(r"prompt (\d+) tokens in [0-9.]+ s \(([0-9.]+) tokens/s\), "
                     r"generated (\d+) tokens in [0-9.]+ s \(([0-9.]+) tokens/s\)")


def parse_tfc_llama(stdout, stderr, run):
    m = TFC_GEN.search(stderr)
    if not m:
        raise ValueError("no timing line from tfc")
    made, rate = int(m.group(3)), float(m.group(4))
    ids = [int(t) for t in stdout.strip().split(",") if t.strip()]
    return dict(prefill_tps=float(m.group(2)), decode_tps=rate * (made - 1) / made, ids=ids)


TFC_FORWARD = re.compile(r"forward pass in ([0-9.]+) s")


def tfc_llama_command(extra):
    def command(ctx, run):
        f = run.files
        return ([ctx.tfc, f.model_file] + f.defines + ["-t", str(run.threads), "--weights",
                 f.safetensors(), "--run", "--tokens", run.prompt_arg(), "-n", str(run.n),
                 "--temp", "0"] + extra, {})
    return command


def tfc_latency_command(ctx, run):
    """One process a length: tfc --run does one forward pass."""
    f, t = run.files, run.lengths[0]
    argv = [ctx.tfc, f.model_file] + f.defines + ["-fno-kv-cache", "-t", str(run.threads),
            "--weights", f.safetensors(), "--run", "--tokens", ",".join(map(str, run.prompt[:t])),
            "--logits", run.logits or os.devnull]
    return argv, {}


def parse_tfc_latency(stdout, stderr, run):
    m = TFC_FORWARD.search(stderr)
    if not m:
        raise ValueError("no 'forward pass in' line from tfc")
    return {run.lengths[0]: 1e3 * float(m.group(1))}


def always(ctx):
    return None


def needs(*keys):
    def available(ctx):
        for k in keys:
            why = ctx.missing.get(k)
            if why:
                return why
        return None
    return available


def tfc_int8_available(ctx):
    help_text = subprocess.run([ctx.tfc, "--help"], capture_output=True, text=True).stdout
    return None if "--quantize" in help_text else "tfc has no --quantize yet"


def llamacpp_command(gguf_q8):
    def command(ctx, run):
        return ([ctx.bin("llamacpp_run"), run.files.gguf(q8_0=gguf_q8), str(run.threads),
                 run.prompt_arg(), str(run.n)], {})
    return command


def llama_node_command(ctx, run):
    return (["node", os.path.join(ctx.here, "llama_node.mjs"), ctx.node_dir, run.files.gguf(),
             str(run.threads), run.prompt_arg(), str(run.n)], {})


def llama2c_command(binary, int8):
    def command(ctx, run):
        return ([ctx.bin(binary), run.files.llama2c(int8=int8), run.prompt_arg(), str(run.n)],
                {"OMP_NUM_THREADS": str(run.threads)})
    return command


def torch_env(threads):
    return {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


def torch_llama_command(ctx, run):
    return ([ctx.python, os.path.join(ctx.here, "torch_llama.py"), run.files.safetensors(),
             str(run.threads), run.prompt_arg(), str(run.n)], torch_env(run.threads))


def latency_spec(run):
    return "%s:%s" % (",".join(map(str, run.lengths)), ",".join(map(str, run.prompt)))


def ort_command(ctx, run):
    argv = ["node", os.path.join(ctx.here, "ort_gpt2.mjs"), ctx.node_dir, run.files.onnx(),
            str(run.threads), str(ctx.repeats), latency_spec(run)]
    return argv + ([run.logits] if run.logits else []), {}


def torch_gpt2_command(ctx, run):
    return ([ctx.python, os.path.join(ctx.here, "torch_gpt2.py"), run.files.safetensors(),
             str(run.files.cfg["heads"]), str(run.threads), str(ctx.repeats), latency_spec(run)],
            torch_env(run.threads))


ENGINES = [
    # Llama rows, float32
    Engine("tfc", "llama", "f32", tfc_llama_command([]), parse_tfc_llama, always),
    Engine("llama.cpp native", "llama", "f32", llamacpp_command(False), parse_json_llama,
           needs("llamacpp"), "F32 GGUF, F32 KV cache"),
    Engine("llama.cpp npm", "llama", "f32", llama_node_command, parse_json_llama,
           needs("node"), "node-llama-cpp prebuilt CPU binary"),
    Engine("llama2.c run", "llama", "f32", llama2c_command("llama2c_run", False),
           parse_json_llama, needs("llama2c"), "prompt one token at a time"),
    Engine("torch", "llama", "f32", torch_llama_command, parse_json_llama, always),
    # Llama rows, INT8 (BENCH_INT8=1): weights in int8 groups
    Engine("tfc int8", "llama", "int8", tfc_llama_command(["--quantize", "int8"]),
           parse_tfc_llama, tfc_int8_available),
    Engine("llama.cpp native Q8_0", "llama", "int8", llamacpp_command(True), parse_json_llama,
           needs("llamacpp"), "Q8_0 GGUF"),
    Engine("llama2.c runq", "llama", "int8", llama2c_command("llama2c_runq", True),
           parse_json_llama, needs("llama2c"), "int8 groups, prompt one token at a time"),
    # GPT-2 small, uncached latency
    Engine("tfc", "latency", "f32", tfc_latency_command, parse_tfc_latency, always,
           "-fno-kv-cache, one forward pass a process"),
    Engine("onnxruntime", "latency", "f32", ort_command, parse_json_latency, needs("node"),
           "onnxruntime-node, median of in-process repeats after a warm-up"),
    Engine("torch", "latency", "f32", torch_gpt2_command, parse_json_latency, always,
           "median of in-process repeats after a warm-up"),
]
