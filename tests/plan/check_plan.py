#!/usr/bin/env python3
"""An independent check of a memory plan, from `tfc MODEL --plan=json`.

    tfc models/gpt2.model --seq 1 --plan=json > plan.json
    check_plan.py plan.json [--length 1 [--full default.json]] [--max-ratio 1.02]

It shares no code with compiler/passes/plan.c: liveness, in-place reuse and
the lower bound are derived here from the node list alone, by the rules
docs/memory-planning.md states, and the plan's offsets are then checked
against them:

  - exactly the nodes that need arena memory have a buffer (everything but
    weights, stacked weights, inputs, KV caches, the output, views into
    another node's memory and ops inlined into their reader's loop), each
    at least its bytes (a gated matmul's: twice its shape, the gate's and
    the value's products side by side);
  - reading a view reads the memory it views; an inlined op is computed
    at its reader's step, so its operands are read there;
  - every buffer lies inside the arena, on the alignment boundary;
  - no two buffers that are live at the same step share a byte, except
    in place: a node of an in-place-capable op may take the slot (the same
    offset) of an input of its shape and dtype whose last reader it is, and
    so may a matmul of its residual operand when its product adds straight
    onto it (no activation, not gated);
  - the arena is at most --max-ratio times the lower bound, the largest
    sum of bytes live at one step, with every in-place chance taken, and
    that bound equals the one the JSON states.

Prints one line of figures and exits 0, or prints the problems and exits 1.
"""
import argparse
import json
import sys

NOT_IN_ARENA = {"WEIGHT", "INPUT", "CACHE", "CONCAT"}


def no_memory(node):
    """A node with no memory of its own in the arena: a view of another
    node's, or an op computed inside its reader's loop."""
    return node.get("view_of") is not None or node.get("inlined", False)


def nbytes(node):
    """Bytes of a node's buffer at the planned lengths (f32 and i32: 4);
    a gated matmul's holds two products of its shape."""
    n = 8 if node.get("gated") else 4
    for d in node["shape"]:
        n *= d
    return n


def align(n, a):
    return (n + a - 1) // a * a


def last_reads(plan, nodes):
    """Step of each node's last reader (its own step when it has none).

    An encoder value that the decoder reads lives to the end: decode may
    run any number of times over one encoding, so its storage must outlive
    every decoder step (docs/memory-planning.md, encoder-decoders)."""
    enc = plan.get("encode_steps", 0)
    last = {i: i for i in nodes}

    def read(i, k):
        last[k] = max(last[k], i)
        if enc and k < enc <= i and nodes[k]["op"] not in NOT_IN_ARENA:
            last[k] = plan["steps"]
        if nodes[k].get("view_of") is not None:
            read(i, nodes[k]["view_of"])
        elif nodes[k].get("inlined"):
            for j in nodes[k]["inputs"]:
                read(i, j)

    for i, n in nodes.items():
        for k in n["inputs"]:
            read(i, k)
    return last


def handoff_inputs(v, nodes, last):
    """Inputs whose slot node v may take in place: v's op allows it, the
    input has v's shape and dtype, and v is its last reader."""
    n = nodes[v]
    if n["op"] == "MATMUL" and not n.get("gated") and not n.get("act"):
        candidates = [n["residual"]] if "residual" in n else []
    elif n["inplace_op"]:
        candidates = n["inputs"]
    else:
        return []
    return [k for k in candidates
            if nodes[k]["op"] not in NOT_IN_ARENA and not no_memory(nodes[k]) and k != v
            and last[k] == v and nodes[k]["shape"] == n["shape"] and nodes[k]["dtype"] == n["dtype"]]


def lower_bound(arena_ids, nodes, last, size, steps):
    """Largest sum over one step of the bytes live there.  At a step where
    a node overwrites a dying input in place the two are one slot, so the
    node adds nothing; no plan that follows the rules can do better."""
    delta = [0] * (steps + 2)
    for v in arena_ids:
        start = v
        if handoff_inputs(v, nodes, last):
            start = v + 1   # shares its input's bytes at its own step
        if start <= last[v]:
            delta[start] += size[v]
            delta[last[v] + 1] -= size[v]
    best, live, peak = 0, 0, 0
    for s in range(steps + 1):
        live += delta[s]
        if live > best:
            best, peak = live, s
    return best, peak


def check(plan, length=None, max_ratio=1.02, maxima=None):
    """Problems found (strings) and figures.  length: every symbol must be
    planned at it, or at its maximum in `maxima` (a symbol's lengths from
    the model's default plan) when that is shorter: --seq N caps them all."""
    problems = []
    if plan.get("schema") != "tfc-plan/1":
        problems.append("schema is %r, not tfc-plan/1" % plan.get("schema"))
    if length is not None:
        for sym, n in plan["lengths"].items():
            want = min(length, (maxima or {}).get(sym, length))
            if n != want:
                problems.append("length %s is %d, not %d" % (sym, n, want))
    a = plan.get("alignment", 64)
    arena = plan["arena_bytes"]
    nodes = {n["id"]: n for n in plan["nodes"]}
    bufs = {b["node"]: b for b in plan["buffers"]}
    last = last_reads(plan, nodes)

    need = {i for i, n in nodes.items()
            if n["op"] not in NOT_IN_ARENA and not no_memory(n) and i != plan["output"]}
    for i in sorted(need - set(bufs)):
        problems.append("node %d (%s) needs arena memory but has no buffer" % (i, nodes[i]["name"]))
    for i in sorted(set(bufs) - need):
        problems.append("node %d (%s) has a buffer but needs none" % (i, nodes[i]["name"]))
    for i, n in nodes.items():
        if n["in_arena"] != (i in bufs):
            problems.append("node %d (%s): in_arena disagrees with the buffer list" % (i, n["name"]))
    ids = sorted(need & set(bufs))

    size = {v: align(nbytes(nodes[v]), a) for v in ids}
    for v in ids:
        b = bufs[v]
        if b["bytes"] < size[v]:
            problems.append("%s: %d bytes planned, %d needed" % (b["name"], b["bytes"], size[v]))
        if b["offset"] < 0 or b["offset"] % a:
            problems.append("%s: offset %d is not a multiple of %d" % (b["name"], b["offset"], a))
        if b["offset"] + size[v] > arena:
            problems.append("%s: [%d, %d) ends beyond the arena of %d bytes"
                            % (b["name"], b["offset"], b["offset"] + size[v], arena))

    # Overlap: sweep the steps in order; two buffers conflict when their
    # live ranges and their byte ranges both intersect, unless the later
    # one takes the earlier one's slot in place at the earlier one's death.
    for x, u in enumerate(ids):
        ou, eu = bufs[u]["offset"], bufs[u]["offset"] + nbytes(nodes[u])
        for v in ids[x + 1:]:
            if v > last[u]:
                break   # ids ascend: no later buffer meets u's range
            ov, ev = bufs[v]["offset"], bufs[v]["offset"] + nbytes(nodes[v])
            if ov >= eu or ou >= ev:
                continue
            if u in handoff_inputs(v, nodes, last) and ou == ov:
                continue
            problems.append("%s [%d, %d) steps %d..%d and %s [%d, %d) steps %d..%d share bytes"
                            % (nodes[u]["name"], ou, eu, u, last[u], nodes[v]["name"], ov, ev, v,
                               last[v]))
            if len(problems) > 20:
                break

    bound, peak = lower_bound(ids, nodes, last, size, plan["steps"])
    if bound != plan["lower_bound_bytes"]:
        problems.append("lower bound: %d bytes here, %d in the JSON" % (bound, plan["lower_bound_bytes"]))
    ratio = arena / bound if bound else 1.0
    if bound and ratio > max_ratio:
        problems.append("arena %d is %.4f x the lower bound %d (allowed %.2f)"
                        % (arena, ratio, bound, max_ratio))
    if length == 1 and plan.get("step_arena_bytes") and plan["step_arena_bytes"] != arena:
        problems.append("the one-token step arena %d differs from the N=1 arena %d"
                        % (plan["step_arena_bytes"], arena))
    figures = {"arena": arena, "bound": bound, "ratio": ratio, "buffers": len(ids), "peak": peak,
               "peak_name": nodes[peak]["name"] if peak in nodes else "end"}
    return problems, figures


def self_test(plan):
    """Breaks a good plan three ways; each must be caught.  Returns the
    names of the breakages that went unnoticed."""
    import copy
    assert not check(plan)[0], "self-test needs a plan that passes"
    missed = []
    nodes = {n["id"]: n for n in plan["nodes"]}
    last = last_reads(plan, nodes)
    bufs = sorted(plan["buffers"], key=lambda b: b["node"])
    # two buffers live at once, not an in-place pair: the later one moved
    # onto the earlier one
    pair = next(((u, v) for i, u in enumerate(bufs) for v in bufs[i + 1:]
                 if v["node"] < last[u["node"]] and u["offset"] != v["offset"]), None)
    broken = copy.deepcopy(plan)
    if pair:
        for b in broken["buffers"]:
            if b["node"] == pair[1]["node"]:
                b["offset"] = pair[0]["offset"]
    if not pair or not check(broken)[0]:
        missed.append("two live buffers at one offset")
    broken = copy.deepcopy(plan)
    broken["arena_bytes"] -= plan.get("alignment", 64)
    if not check(broken)[0]:
        missed.append("an arena one step too small")
    broken = copy.deepcopy(plan)
    broken["lower_bound_bytes"] += 64
    if not check(broken)[0]:
        missed.append("a wrong lower bound")
    return missed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", help="output of tfc --plan=json (- for stdin)")
    ap.add_argument("--length", type=int, help="every length symbol must be planned at this")
    ap.add_argument("--full", help="the model's default plan (JSON): a symbol whose maximum is "
                                   "shorter than --length must be planned at that maximum")
    ap.add_argument("--max-ratio", type=float, default=1.02)
    ap.add_argument("--self-test", action="store_true",
                    help="break the (good) plan in three ways and check that each is caught")
    ap.add_argument("--longest", action="store_true",
                    help="print the longest planned length and stop (for N = ctx)")
    args = ap.parse_args()
    f = sys.stdin if args.json == "-" else open(args.json)
    plan = json.load(f)
    if args.longest:
        print(max(plan["lengths"].values(), default=1))
        return 0
    if args.self_test:
        missed = self_test(plan)
        print("checker self-test: %s" % ("; ".join("missed " + m for m in missed) or
                                        "all three broken plans caught"))
        return 1 if missed else 0
    maxima = json.load(open(args.full))["lengths"] if args.full else None
    problems, fig = check(plan, args.length, args.max_ratio, maxima)
    print("arena %d, lower bound %d, ratio %.4f, %d tensors in the arena, peak at step %d (%s)"
          % (fig["arena"], fig["bound"], fig["ratio"], fig["buffers"], fig["peak"], fig["peak_name"]))
    for p in problems[:20]:
        print("  problem: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
