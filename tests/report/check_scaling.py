#!/usr/bin/env python3
"""Checks the scaling formulas of a --report page against compiled plans.

    check_scaling.py TFC MODEL page.html

For every row of every "Scaling: NAME" table (NAME a config value, or seq)
the model is compiled again at that point, `tfc MODEL -D NAME=V --plan=json`
(or `--seq V`), and the formulas' numbers must equal the plan's: parameters,
FLOPs of a prompt of S tokens (the plan counts a forward pass at S), the
KV-cache bytes exactly; the arena's lower bound within 1% (the formula
uses the model's live ranges: with another number of blocks the ends of
the schedule may reuse memory a little differently, as with one block),
and the planner's arena within 2% of the formula.  The formulas are derived once, from the model at
its own values; the plans at the other points are independent of them.
At least 5 points other than the model's own are required.
"""
import json
import subprocess
import sys
from html.parser import HTMLParser

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from check_report import Tables, number  # noqa: E402


def main():
    tfc, model, page = sys.argv[1:4]
    t = Tables()
    t.feed(open(page, encoding="utf-8").read())
    tables = {h.split(": ", 1)[1]: rows for h, rows in t.tables.items() if h.startswith("Scaling: ")}
    problems, points = [], 0
    if not tables:
        print(f"{page}: no scaling tables")
        return 1
    for name, rows in tables.items():
        for row in rows[1:]:
            value = row[0].split()[0]
            if "(model)" not in row[0]:
                points += 1
            args = ["--seq", value] if name == "seq" else ["-D", f"{name}={value}"]
            out = subprocess.run([tfc, model, *args, "--plan=json"], capture_output=True, text=True)
            if out.returncode:
                problems.append(f"{name}={value}: tfc: {out.stderr.strip()[:120]}")
                continue
            plan = json.loads(out.stdout)
            params, flops, s, kv, bound = (number(x) for x in row[1:6])
            want = {"parameters": (params, plan["params"]["total"]),
                    "FLOPs": (flops, plan["flops"]["total"]),
                    "KV-cache bytes": (kv, plan["kv_cache_bytes"])}
            for what, (page_v, plan_v) in want.items():
                if page_v != plan_v:
                    problems.append(f"{name}={value} {what}: formula {page_v}, plan {plan_v}")
            if abs(bound - plan["lower_bound_bytes"]) > 0.01 * plan["lower_bound_bytes"]:
                problems.append(f"{name}={value} arena lower bound: formula {bound}, "
                                f"plan {plan['lower_bound_bytes']}")
            if plan["arena_bytes"] > 1.02 * bound:
                problems.append(f"{name}={value}: arena {plan['arena_bytes']} over 1.02 x {bound}")
    if points < 5:
        problems.append(f"only {points} points besides the model's")
    if problems:
        print(f"{page}: {len(problems)} problems")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(f"{model}: the formulas equal the plans at {points} points "
          f"({', '.join(tables)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
