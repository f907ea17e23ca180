#!/usr/bin/env python3
"""Checks the quantization section of a --report page against --quant-report.

    check_quant.py page.html quant.json

quant.json is `tfc MODEL --weights W --quantize int8 --quant-report=json
TEXT` on the text the page was made with (-f TEXT).  Every layer of the
report must have a bar in the page's two charts (weights, outputs) whose
value is the report's, as the page rounds it (3 significant digits, in
percent), and no other bar.  Prints one line and exits 0, or the problems
and exits 1.
"""
import json
import re
import sys


def bars(section, title):
    """{label: value text} of the bar chart titled title."""
    i = section.find("<title>%s</title>" % title)
    if i < 0:
        return None
    chart = section[i:section.index("</svg>", i)]
    pairs = re.findall(r"text-anchor='end'>([^<]*)</text><rect[^>]*/><text[^>]*>([^<]*)</text>", chart)
    return dict(pairs)


def main():
    page, report = sys.argv[1], json.load(open(sys.argv[2]))
    html = open(page, encoding="utf-8").read()
    if "<h2 id='quantization'>" not in html:
        print("%s: no quantization section" % page)
        return 1
    section = html[html.index("<h2 id='quantization'>"):]
    problems = []
    for title, key in (("weights: relative RMS error, %", "weight_rel_rms"),
                       ("outputs: relative RMS error, %", "output_rel_rms")):
        got = bars(section, title)
        if got is None:
            problems.append("no chart '%s'" % title)
            continue
        want = {L["name"]: "%.3g%%" % (100 * L[key]) for L in report["layers"]}
        if got != want:
            diff = sorted(set(got.items()) ^ set(want.items()))[:4]
            problems.append("%s: page and --quant-report differ: %s" % (title, diff))
    if problems:
        print("%s: %d problems" % (page, len(problems)))
        for p in problems:
            print("  " + p)
        return 1
    print("%d int8 layers: weight and output errors as --quant-report states them"
          % len(report["layers"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
