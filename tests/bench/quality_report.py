#!/usr/bin/env python3
"""Turns attnlab-quality-bench's JSON into a markdown report and an SVG plot (standard library only).

  python3 tests/bench/quality_report.py results.json --md report.md --svg plot.svg
"""
import argparse
import json
from collections import defaultdict


def family(spec):
    return spec.split(":")[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--md", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--header", default="")
    args = ap.parse_args()
    data = json.load(open(args.results))
    rows = data["rows"]
    lengths = sorted({r["length"] for r in rows})
    depths = sorted({r["depth"] for r in rows})
    acc = defaultdict(list)      # (spec, length) -> correct
    kv = defaultdict(list)       # (spec, length) -> kv bytes
    dec = defaultdict(list)
    by_depth = defaultdict(list)  # (spec, depth) -> correct
    for r in rows:
        acc[(r["strategy"], r["length"])].append(r["correct"])
        kv[(r["strategy"], r["length"])].append(r["kv_bytes"])
        dec[(r["strategy"], r["length"])].append(r["decode_ms_per_token"])
        by_depth[(r["strategy"], r["depth"])].append(r["correct"])
    specs = sorted({r["strategy"] for r in rows}, key=lambda s: (s != "full", family(s), s))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    full = "full"

    out = [args.header, "",
           f"Model: `{data['model']}`; {data['trials_per_cell']} trials per (length, depth) cell; greedy; "
           "accuracy = the output starts with the pass key.", "",
           "## Accuracy and KV bytes kept, per length", "",
           "| strategy | " + " | ".join(f"{L}: acc (KV % of full)" for L in lengths) + " | mean acc / full's | mean KV % |",
           "| --- | " + " | ".join("---" for _ in lengths) + " | --- | --- |"]
    summary = {}
    for s in specs:
        cells, ratios, kvs = [], [], []
        for L in lengths:
            a = mean(acc[(s, L)])
            k = mean(kv[(s, L)]) / mean(kv[(full, L)])
            fa = mean(acc[(full, L)])
            cells.append(f"{a:.2f} ({100 * k:.0f}%)")
            ratios.append(a / fa if fa else 0.0)
            kvs.append(k)
        summary[s] = (mean(ratios), mean(kvs))
        out.append(f"| `{s}` | " + " | ".join(cells) + f" | {mean(ratios):.2f} | {100 * mean(kvs):.0f}% |")
    out += ["", "## Accuracy by needle depth (all lengths)", "",
            "| strategy | " + " | ".join(f"depth {d}" for d in depths) + " |",
            "| --- | " + " | ".join("---" for _ in depths) + " |"]
    for s in specs:
        out.append(f"| `{s}` | " + " | ".join(f"{mean(by_depth[(s, d)]):.2f}" for d in depths) + " |")
    out += ["", "## Decode time (ms/token, mean, on the device of the run)", "",
            "| strategy | " + " | ".join(str(L) for L in lengths) + " |",
            "| --- | " + " | ".join("---" for _ in lengths) + " |"]
    for s in specs:
        out.append(f"| `{s}` | " + " | ".join(f"{mean(dec[(s, L)]):.1f}" for L in lengths) + " |")
    open(args.md, "w").write("\n".join(out) + "\n")

    # SVG: accuracy relative to full vs KV share kept, one colour per strategy family.
    W, H, M = 560, 380, 50
    colours = {"full": "#000000", "streaming": "#d62728", "snapkv": "#1f77b4", "duo": "#2ca02c", "razor": "#9467bd"}
    x = lambda v: M + v * (W - 2 * M)
    y = lambda v: H - M - v * (H - 2 * M)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="DejaVu Sans, sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{M}" y1="{H - M}" x2="{W - M}" y2="{H - M}" stroke="black"/>',
           f'<line x1="{M}" y1="{M}" x2="{M}" y2="{H - M}" stroke="black"/>',
           f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">KV bytes kept (share of full, mean over lengths)</text>',
           f'<text x="14" y="{H / 2}" transform="rotate(-90 14 {H / 2})" text-anchor="middle">needle accuracy / full\'s</text>',
           f'<line x1="{x(0.25)}" y1="{M}" x2="{x(0.25)}" y2="{H - M}" stroke="#999" stroke-dasharray="4 3"/>',
           f'<line x1="{M}" y1="{y(0.9)}" x2="{W - M}" y2="{y(0.9)}" stroke="#999" stroke-dasharray="4 3"/>']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        svg.append(f'<text x="{x(t)}" y="{H - M + 14}" text-anchor="middle">{t:g}</text>')
        svg.append(f'<text x="{M - 6}" y="{y(t) + 4}" text-anchor="end">{t:g}</text>')
    by_family = defaultdict(list)
    for s, (r, k) in summary.items():
        by_family[family(s)].append((k, r))
    for i, (fam, pts) in enumerate(sorted(by_family.items())):
        c = colours.get(fam, "#555")
        pts.sort()
        if len(pts) > 1:
            svg.append('<polyline fill="none" stroke="%s" points="%s"/>' % (c, " ".join(f"{x(k):.1f},{y(r):.1f}" for k, r in pts)))
        for k, r in pts:
            svg.append(f'<circle cx="{x(k):.1f}" cy="{y(r):.1f}" r="4" fill="{c}"/>')
        svg.append(f'<rect x="{W - M - 90}" y="{M + 14 * i - 9}" width="10" height="10" fill="{c}"/>'
                   f'<text x="{W - M - 75}" y="{M + 14 * i}">{fam}</text>')
    svg.append("</svg>")
    open(args.svg, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
