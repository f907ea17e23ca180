#!/usr/bin/python3
"""make bench: tfc beside llama.cpp (native and npm), llama2.c, PyTorch and
ONNX Runtime, on the same random weights, in one run.

  tools/bench/bench.py --tfc ./tfc [--out build/bench]

Rounds are interleaved (every engine once, then every engine again...) and
each figure is the median over rounds, so that a machine shared with other
work slows every engine alike.  Knobs (environment):

  BENCH_ROUNDS    rounds (default 5)
  BENCH_QUICK=1   one round, Llama 15M and GPT-2 at T = 1, 64 only
  BENCH_SHAPES    comma list of llama-15M, llama-110M, gpt2-small (default all)
  BENCH_THREADS   thread counts of the Llama rows (default 1,2)
  BENCH_PROMPT    prompt tokens of the Llama rows (default 128)
  BENCH_DECODE    tokens decoded a run (default 64; the first 32 ids are checked)
  BENCH_INT8=1    also the INT8 rows (tfc --quantize int8, llama.cpp Q8_0, runq)
  BENCH_SEED      seed of the weights and prompts (default 1)
  LLAMA_CPP_DIR   a native llama.cpp build folder (its bin/ holds libllama.so;
                  its parent the sources), e.g. /work/peers/llama.cpp/build
  LLAMA2C_DIR     a llama2.c checkout (run.c, runq.c)
  NODE_DIR        where tools/bench/setup.sh installed the npm packages
                  (default build/bench/node)

Exits 1 when an engine's greedy ids differ from tfc's, when tfc's GPT-2
logits differ from ONNX Runtime's, or when tfc fails; a peer that cannot run
is reported and skipped.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import engines as E  # noqa: E402
import models  # noqa: E402

IDS_CHECKED = 32
LATENCY_T = (1, 64, 256)
LATENCY_THREADS = 2
RUN_TIMEOUT = 900


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v else default
    except ValueError:
        sys.exit("bench: %s must be an integer, got %r" % (name, v))


class Context(object):
    """Paths, knobs and what is missing here; shared by the engine rows."""

    def __init__(self, a):
        self.here, self.root = HERE, models.ROOT
        self.tfc = os.path.abspath(a.tfc)
        self.out = os.path.abspath(a.out)
        self.python = a.python
        quick = os.environ.get("BENCH_QUICK") == "1"
        self.rounds = env_int("BENCH_ROUNDS", 1 if quick else 5)
        self.repeats = 3
        self.seed = env_int("BENCH_SEED", 1)
        self.prompt_len = env_int("BENCH_PROMPT", 128)
        self.decode = env_int("BENCH_DECODE", 64)
        self.threads = [int(t) for t in os.environ.get("BENCH_THREADS", "1,2").split(",")]
        default_shapes = "llama-15M,gpt2-small" if quick else "llama-15M,llama-110M,gpt2-small"
        self.shapes = os.environ.get("BENCH_SHAPES", default_shapes).split(",")
        self.latency_t = (1, 64) if quick else LATENCY_T
        self.int8 = os.environ.get("BENCH_INT8") == "1"
        # BENCH_ENGINES: the peers to run beside tfc (names as in the tables)
        only = os.environ.get("BENCH_ENGINES")
        self.engines = None if not only else set(only.split(","))
        self.node_dir = os.path.abspath(os.environ.get("NODE_DIR") or os.path.join(self.out, "node"))
        for s in self.shapes:
            if s not in models.SHAPES:
                sys.exit("bench: unknown shape %r (known: %s)" % (s, ", ".join(models.SHAPES)))
        if self.prompt_len < 1 or self.decode < IDS_CHECKED or \
                self.prompt_len + self.decode > models.LLAMA_COMMON["ctx"]:
            sys.exit("bench: BENCH_PROMPT + BENCH_DECODE must fit in %d tokens, BENCH_DECODE >= %d"
                     % (models.LLAMA_COMMON["ctx"], IDS_CHECKED))
        os.makedirs(os.path.join(self.out, "bin"), exist_ok=True)
        self.missing = {}
        self.load = []   # load averages seen at the starts of rounds

    def wanted(self, engine):
        return self.engines is None or engine.name.startswith("tfc") or engine.name in self.engines

    def bin(self, name):
        return os.path.join(self.out, "bin", name)


# ---------------------------------------------------------------- peers

def compile_c(ctx, argv, what):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode:
        return "%s does not build: %s" % (what, (r.stderr.strip().splitlines() or ["?"])[-1])
    return None


def prepare_llamacpp(ctx):
    build = os.environ.get("LLAMA_CPP_DIR")
    if not build:
        return "not given: set LLAMA_CPP_DIR to a native llama.cpp build (docs/benchmarks.md)"
    build = os.path.abspath(build)
    src = os.path.dirname(build)
    libdir = os.path.join(build, "bin")
    if not os.path.exists(os.path.join(libdir, "libllama.so")):
        return "LLAMA_CPP_DIR=%s has no bin/libllama.so" % build
    return compile_c(ctx, ["cc", "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O2",
                           "-I" + os.path.join(src, "include"), "-I" + os.path.join(src, "ggml", "include"),
                           "-o", ctx.bin("llamacpp_run"), os.path.join(HERE, "llamacpp_run.c"),
                           "-L" + libdir, "-lllama", "-lggml", "-lggml-base", "-Wl,-rpath," + libdir],
                     "tools/bench/llamacpp_run.c against %s" % build)


def prepare_llama2c(ctx):
    src = os.environ.get("LLAMA2C_DIR")
    if not src:
        return "not given: set LLAMA2C_DIR to a llama2.c checkout (docs/benchmarks.md)"
    for name, c in (("llama2c_run", "run.c"), ("llama2c_runq", "runq.c")):
        path = os.path.abspath(os.path.join(src, c))
        if not os.path.exists(path):
            return "LLAMA2C_DIR=%s has no %s" % (src, c)
        # llama2.c's own recipe for a fast multithreaded build (make runomp)
        why = compile_c(ctx, ["cc", "-Ofast", "-fopenmp", "-march=native", "-DTESTING",
                              '-DLLAMA2C_SOURCE="%s"' % path, "-o", ctx.bin(name),
                              os.path.join(HERE, "llama2c_run.c"), "-lm"], "llama2.c %s" % c)
        if why:
            return why
    return None


def prepare_node(ctx):
    if not shutil.which("node"):
        return "node is not installed"
    for pkg in ("node-llama-cpp", "onnxruntime-node"):
        if not os.path.isdir(os.path.join(ctx.node_dir, "node_modules", pkg)):
            return "%s is not installed in %s (tools/bench/setup.sh)" % (pkg, ctx.node_dir)
    return None


def prepare(ctx):
    ctx.missing = {"llamacpp": prepare_llamacpp(ctx), "llama2c": prepare_llama2c(ctx),
                   "node": prepare_node(ctx)}
    r = subprocess.run(["cc", "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O3", "-march=native", "-pthread", "-o",
                        ctx.bin("bw"), os.path.join(HERE, "bw.c")], capture_output=True, text=True)
    if r.returncode:
        sys.exit("bench: tools/bench/bw.c does not build:\n" + r.stderr)


# ---------------------------------------------------------------- runs

def run_engine(ctx, eng, run):
    """(result dict, None) or (None, why it failed)."""
    argv, extra = eng.command(ctx, run)
    env = dict(os.environ)
    env.update(extra)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % RUN_TIMEOUT
    if r.returncode:
        tail = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
        return None, "exit %d: %s" % (r.returncode, tail)
    try:
        return eng.parse(r.stdout, r.stderr, run), None
    except (ValueError, KeyError) as e:
        return None, "unreadable output (%s)" % e


def bandwidth(ctx, threads, mib=None):
    """Best read GB/s over a 2 GiB buffer, or over mib MiB."""
    r = subprocess.run([ctx.bin("bw"), str(threads)] + ([str(mib)] if mib else []),
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("bench: bandwidth probe failed: " + r.stderr)
    return E.last_json(r.stdout)["best_gb_s"]


def prompt_ids(ctx, vocab, n, salt):
    """Random ids, never the Llama specials 0, 1, 2 (models.SPECIAL_IDS)."""
    r = random.Random(ctx.seed * 1000 + salt)
    return [r.randrange(3, vocab) for _ in range(n)]


def med(values):
    return statistics.median(values) if values else None


def fmt(v, spec="%.1f"):
    return spec % v if v is not None else "-"


# ---------------------------------------------------------------- Llama rows

def llama_rows(ctx, shape, failures):
    files = models.ModelFiles(shape, ctx.seed, ctx.out, ctx.python)
    cfg = files.cfg
    rows = [e for e in E.ENGINES if e.kind == "llama" and (ctx.int8 or e.group == "f32") and ctx.wanted(e)]
    skipped = {}
    for e in rows:
        why = e.available(ctx)
        if why:
            skipped[e.name] = why
    live = [e for e in rows if e.name not in skipped]
    prompt = prompt_ids(ctx, cfg["vocab"], ctx.prompt_len, 1)
    print("bench: %s: writing the weights files" % shape, file=sys.stderr, flush=True)
    files.safetensors()
    for e in live:  # every file once, before any timing
        e.command(ctx, E.Run(files, 1, prompt, ctx.decode))
    res = {(e.name, t): [] for e in live for t in ctx.threads}
    ids, errors = {}, {}
    bw = {(t, size): [] for t in ctx.threads for size in ("dram", "weights")}
    weights_mib = -(-models.weight_bytes(cfg) // (1 << 20))
    for rnd in range(ctx.rounds):
        ctx.load.append(os.getloadavg()[0])
        for t in ctx.threads:
            bw[(t, "dram")].append(bandwidth(ctx, t))
            bw[(t, "weights")].append(bandwidth(ctx, t, weights_mib))
            for e in live:
                print("bench: %s round %d/%d, %d thread(s): %s" % (shape, rnd + 1, ctx.rounds, t, e.name),
                      file=sys.stderr, flush=True)
                out, why = run_engine(ctx, e, E.Run(files, t, prompt, ctx.decode))
                if why:
                    errors[e.name] = why
                    continue
                res[(e.name, t)].append(out)
                ids.setdefault((e.name, t), out["ids"][:IDS_CHECKED])
    print_llama_table(ctx, shape, cfg, rows, skipped, errors, res, ids, bw, failures)


def print_llama_table(ctx, shape, cfg, rows, skipped, errors, res, ids, bw, failures):
    wb = models.weight_bytes(cfg)
    print()
    print("%s: dim %d, %d layers, %d heads, ffn %d, vocab %d; float32 weights %.1f MB read a token"
          % (shape, cfg["dim"], cfg["layers"], cfg["heads"], cfg["ffn"], cfg["vocab"], wb / 1e6))
    print("prompt %d ids in one call (prefill), then %d greedy tokens (decode); medians of %d rounds; "
          "ratio = tfc / peer tokens a second (above 1: tfc faster)"
          % (ctx.prompt_len, ctx.decode, ctx.rounds))
    print("%-22s %3s %12s %12s %9s %9s  %s" % ("engine", "thr", "prefill t/s", "decode t/s",
                                              "ratio pf", "ratio dec", "first %d ids" % IDS_CHECKED))
    for t in ctx.threads:
        for e in rows:
            if e.name in skipped:
                if t == ctx.threads[0]:
                    print("%-22s     skipped: %s" % (e.name, skipped[e.name]))
                continue
            runs = res[(e.name, t)]
            if not runs:
                print("%-22s %3d failed: %s" % (e.name, t, errors.get(e.name, "?")))
                if e.name == "tfc":
                    failures.append("%s: tfc failed: %s" % (shape, errors.get(e.name)))
                continue
            pf, dec = med([r["prefill_tps"] for r in runs]), med([r["decode_tps"] for r in runs])
            base_name = "tfc" if e.group == "f32" else "tfc int8"
            base = res.get((base_name, t))
            rpf = rdec = None
            if base and e.name != base_name:
                rpf = med([r["prefill_tps"] for r in base]) / pf
                rdec = med([r["decode_tps"] for r in base]) / dec
            verdict = check_ids(ids, e, base_name, t, shape, failures)
            print("%-22s %3d %12s %12s %9s %9s  %s" % (e.name, t, fmt(pf), fmt(dec), fmt(rpf, "%.2f"),
                                                     fmt(rdec, "%.2f"), verdict))
    for t in ctx.threads:
        dec = med([r["decode_tps"] for r in res.get(("tfc", t), [])])
        if dec is None:
            continue
        got, b, bw_ws = wb * dec / 1e9, med(bw[(t, "dram")]), med(bw[(t, "weights")])
        print("tfc decode, %d thread(s): %.2f GB/s of weights read = %.0f%% of the measured memory "
              "read bandwidth (%.2f GB/s over 2 GiB), %.0f%% of the read bandwidth over a buffer "
              "the weights' size (%.2f GB/s)" % (t, got, 100 * got / b, b, 100 * got / bw_ws, bw_ws))
    print_load(ctx)


def print_load(ctx):
    if ctx.load:
        print("load average (1 min) at the rounds' starts: %s on %d cores"
              % (", ".join("%.1f" % x for x in ctx.load), os.cpu_count() or 0))
    ctx.load = []


def check_ids(ids, e, base_name, t, shape, failures):
    mine, ref = ids.get((e.name, t)), ids.get((base_name, t))
    if e.name == base_name:
        return ",".join(map(str, mine[:6])) + ",..."
    if ref is None and e.group == "int8":  # no tfc int8 row: where int8 parts from float32
        base_name, ref = "tfc", ids.get(("tfc", t))
    if mine is None or ref is None:
        return "-"
    same = sum(1 for _ in iter_prefix(mine, ref))
    if same == IDS_CHECKED:
        return "= %s" % base_name
    if e.group == "f32":
        failures.append("%s: %s (%d threads) differs from %s at id %d" % (shape, e.name, t, base_name, same))
        return "DIFFERS from %s at id %d" % (base_name, same)
    return "%d ids equal to %s's, then differ" % (same, base_name)


def iter_prefix(a, b):
    for x, y in zip(a, b):
        if x != y:
            return
        yield x


# ---------------------------------------------------------------- GPT-2 rows

def latency_rows(ctx, shape, failures):
    import numpy as np
    files = models.ModelFiles(shape, ctx.seed, ctx.out, ctx.python)
    cfg = files.cfg
    rows = [e for e in E.ENGINES if e.kind == "latency" and ctx.wanted(e)]
    skipped = {e.name: e.available(ctx) for e in rows if e.available(ctx)}
    live = [e for e in rows if e.name not in skipped]
    prompt = prompt_ids(ctx, cfg["vocab"], max(ctx.latency_t), 2)
    print("bench: %s: writing the weights files" % shape, file=sys.stderr, flush=True)
    files.safetensors()
    if any(e.name == "onnxruntime" for e in live):
        files.onnx()
    res = {(e.name, t): [] for e in live for t in ctx.latency_t}
    errors = {}
    last = ctx.latency_t[-1]
    logits = {e.name: os.path.join(files.dir, "logits-%s.f32" % e.name) for e in live}
    for rnd in range(ctx.rounds):
        ctx.load.append(os.getloadavg()[0])
        for e in live:
            print("bench: %s round %d/%d: %s" % (shape, rnd + 1, ctx.rounds, e.name), file=sys.stderr, flush=True)
            per_t = [[t] for t in ctx.latency_t] if e.name == "tfc" else [list(ctx.latency_t)]
            for lengths in per_t:
                want = logits[e.name] if rnd == 0 and lengths[-1] == last and e.name != "torch" else None
                out, why = run_engine(ctx, e, E.Run(files, LATENCY_THREADS, prompt, lengths=lengths,
                                                    logits=want))
                if why:
                    errors[e.name] = why
                    continue
                for t, v in out.items():
                    res[(e.name, t)].append(v)
    print()
    print("%s: dim %d, %d layers, vocab %d; uncached forward pass over T tokens, %d threads, "
          "median ms of %d rounds; ratio = peer ms / tfc ms (above 1: tfc faster)"
          % (shape, cfg["dim"], cfg["layers"], cfg["vocab"], LATENCY_THREADS, ctx.rounds))
    print("%-14s " % "engine" + " ".join("%10s %6s" % ("T=%d ms" % t, "ratio") for t in ctx.latency_t)
          + "  note")
    for e in rows:
        if e.name in skipped:
            print("%-14s skipped: %s" % (e.name, skipped[e.name]))
            continue
        cells = []
        for t in ctx.latency_t:
            v, base = med(res[(e.name, t)]), med(res.get(("tfc", t), []))
            ratio = v / base if v is not None and base and e.name != "tfc" else None
            cells.append("%10s %6s" % (fmt(v), fmt(ratio, "%.2f")))
        note = e.note if e.name not in errors else "failed: " + errors[e.name]
        print("%-14s " % e.name + " ".join(cells) + "  " + note)
        if e.name == "tfc" and e.name in errors:
            failures.append("%s: tfc failed: %s" % (shape, errors[e.name]))
    a, b = logits.get("tfc"), logits.get("onnxruntime")
    if a and b and os.path.exists(a) and os.path.exists(b):
        x, y = np.fromfile(a, "<f4"), np.fromfile(b, "<f4")
        if x.shape != y.shape:
            failures.append("%s: tfc and onnxruntime logits differ in size" % shape)
        else:
            diff, scale = float(np.abs(x - y).max()), max(1.0, float(np.abs(y).max()))
            ok = diff <= 1e-4 * scale
            print("logits at T=%d: max |tfc - onnxruntime| = %.3g (%s 1e-4 x max(1, max|logit|) = %.3g)"
                  % (last, diff, "within" if ok else "BEYOND", 1e-4 * scale))
            if not ok:
                failures.append("%s: tfc's logits differ from onnxruntime's by %.3g" % (shape, diff))
    print_load(ctx)


# ---------------------------------------------------------------- main

def environment(ctx):
    r = subprocess.run([ctx.tfc, "models/gpt2.model", "-D", "layers=1", "--dump-ir"], cwd=ctx.root,
                       capture_output=True, text=True, env=dict(os.environ, OPENBLAS_VERBOSE="2"))
    core = [l for l in r.stderr.splitlines() + r.stdout.splitlines() if l.startswith("Core:")]
    print("machine: %s, %d cores" % (cpu_name(), os.cpu_count() or 0))
    print("OpenBLAS (tfc): %s (OPENBLAS_VERBOSE=2); OPENBLAS_CORETYPE=%s"
          % (core[0] if core else "kernel not reported", os.environ.get("OPENBLAS_CORETYPE", "unset")))
    for k, v in sorted(ctx.missing.items()):
        print("peer %-9s %s" % (k + ":", "ready" if v is None else v))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tfc", default="./tfc")
    ap.add_argument("--out", default=os.path.join(models.ROOT, "build", "bench"))
    ap.add_argument("--python", default=sys.executable)
    ctx = Context(ap.parse_args())
    prepare(ctx)
    environment(ctx)
    failures = []
    for shape in ctx.shapes:
        if models.SHAPES[shape]["family"] == "llama":
            llama_rows(ctx, shape, failures)
        else:
            latency_rows(ctx, shape, failures)
    print()
    for f in failures:
        print("FAIL " + f)
    print("bench: %s" % ("done, ids and logits agree" if not failures else "%d failures" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
