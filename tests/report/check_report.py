#!/usr/bin/env python3
"""Checks a page of `tfc MODEL --report page.html` against tfc's own plans.

    check_report.py page.html full.json [--seq N plan_N.json]... [--max-bytes B]

full.json is `tfc MODEL --plan=json` (the same -D options as the page);
each --seq N plan_N.json is `tfc MODEL --seq N --plan=json`.  The page must:

  - be self-contained: no script, no stylesheet or image from elsewhere,
    no URL but the SVG namespace, and (--max-bytes) not too large;
  - state the parameters by component, the weight, arena and KV-cache
    bytes that --plan=json states for the same model;
  - state, for a prompt of N tokens, the FLOPs that the graph planned for
    N tokens (--seq N) counts: the page computes them at other lengths
    from the graph planned at the maximum, so this checks the lengths are
    carried through, not only printed;
  - have the sections, and say why there is no attention section; or,
    with --attention N (a page made with weights and a prompt), an
    entropy table of N attention nodes, each head's entropy between 0 and
    the even spread's, and a heatmap for each node.

Prints one line and exits 0, or prints the problems and exits 1.
"""
import argparse
import json
import re
import sys
from html.parser import HTMLParser


class Tables(HTMLParser):
    """Every table of the page as rows of cell texts, by the heading that
    precedes it; and the ids and tags seen."""

    def __init__(self):
        super().__init__()
        self.tables, self.heading, self.ids, self.tags = {}, "", set(), set()
        self.cell = None
        self.in_heading = False
        self.rows = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("h2", "h3"):
            self.in_heading, self.heading = True, ""
        elif tag == "table":
            self.rows = []
            self.tables[self.heading] = self.rows
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self.in_heading = False
        elif tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None
        elif tag == "table":
            self.rows = None

    def handle_data(self, data):
        if self.in_heading:
            self.heading += data
        if self.cell is not None:
            self.cell += data


def number(text):
    return int(text.replace(",", ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("full")
    ap.add_argument("--seq", nargs=2, action="append", default=[], metavar=("N", "PLAN"))
    ap.add_argument("--max-bytes", type=int, default=0)
    ap.add_argument("--attention", type=int, default=-1, metavar="N")
    a = ap.parse_args()
    raw = open(a.page, "rb").read()
    html = raw.decode("utf-8")
    plan = json.load(open(a.full))
    problems = []
    if a.max_bytes and len(raw) > a.max_bytes:
        problems.append(f"the page is {len(raw)} bytes, more than {a.max_bytes}")
    for bad in ("<script", "<link", "<img", "<iframe", "@import", r"url\((?!#)"):
        if re.search(bad, html, re.IGNORECASE):
            problems.append(f"the page has {bad!r}: not self-contained")
    urls = set(re.findall(r"(?:https?|ftp)://[^\s'\"<>]+", html)) - {"http://www.w3.org/2000/svg"}
    if urls:
        problems.append(f"the page refers to {sorted(urls)[:3]}")
    t = Tables()
    t.feed(html)
    for section in ("model", "cost", "scaling", "plan", "attention"):
        if section not in t.ids:
            problems.append(f"no section '{section}'")
    if "svg" not in t.tags:
        problems.append("no SVG")
    if a.attention < 0 and "No attention section" not in html:
        problems.append("the page does not say why there is no attention section")
    if a.attention >= 0:
        rows = t.tables.get("Entropy of each head", [])[1:]
        if "No attention section" in html or len(rows) != a.attention:
            problems.append(f"an entropy table of {len(rows)} nodes, expected {a.attention}")
        for r in rows:
            even = float(r[-1])
            for e in r[1:-1]:
                if e and not 0 <= float(e) <= even + 1e-6:
                    problems.append(f"{r[0]}: entropy {e} outside [0, {even}]")
        if html.count("queries \u00d7") != a.attention:
            problems.append(f"{html.count('queries ×')} heatmap headings, expected {a.attention}")

    params = {r[0]: number(r[1]) for r in t.tables.get("Parameters by component", [])[1:]}
    for comp, want in plan["params"].items():
        if comp == "other" and not want and comp not in params:
            continue
        if params.get(comp) != want:
            problems.append(f"params {comp}: page {params.get(comp)}, plan {want}")
    kinds = {r[0]: number(r[1]) for r in t.tables.get("Memory by kind", [])[1:]}
    for kind, key in (("weights", "weight_bytes"), ("arena", "arena_bytes"), ("KV cache", "kv_cache_bytes")):
        if kinds.get(kind) != plan[key]:
            problems.append(f"{kind}: page {kinds.get(kind)}, plan {plan[key]}")
    flops = {number(r[0]): number(r[1]) for r in t.tables.get("FLOPs per token", [])[1:]}
    longest = max(plan["lengths"].values()) if plan["lengths"] else 1
    checks = [(longest, plan)] + [(int(n), json.load(open(p))) for n, p in a.seq]
    for n, p in checks:
        if n not in flops:
            problems.append(f"no FLOPs row for a prompt of {n} tokens")
        elif flops[n] != p["flops"]["total"]:
            problems.append(f"FLOPs of {n} tokens: page {flops[n]}, plan at --seq {n} {p['flops']['total']}")
    if problems:
        print(f"{a.page}: {len(problems)} problems")
        for p in problems:
            print("  " + p)
        return 1
    print(f"{plan['model']}: {len(raw)} bytes; params, weights, arena, KV cache and "
          f"FLOPs at {len(checks)} lengths as the plans state")
    return 0


if __name__ == "__main__":
    sys.exit(main())
