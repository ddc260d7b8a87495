#!/usr/bin/env python3
"""Merge `attnlab-oat-data eval --json` outputs of one split (one per decoding) into one markdown
table: every model row, then the baselines and the ceiling once, plus the issue-9 bar check
(model better than each non-oracle baseline with non-overlapping 95% intervals, on SS and delta).

Usage: results_table.py A.json [B.json ...] > table.md   (plain python3, no numpy needed)
"""
import json
import sys


def cell(m, key, fmt="{:.3f}"):
    v = m[key]
    return f"{fmt.format(v['value'])} [{fmt.format(v['lo'])}, {fmt.format(v['hi'])}]"


def row(m):
    b = m["behaviour"]
    return (f"| {m['name']} | {cell(m, 'sequence_score')} | {cell(m, 'edit_distance', '{:.2f}')} | "
            f"{cell(m, 'multimatch')} | {cell(m, 'behaviour_delta')} | {b['found']:.2f} | {b['length']:.2f} | "
            f"{b['search']:.2f} | {b['refixation']:.2f} | {b['revisit']:.2f} |")


def main():
    docs = [json.load(open(p)) for p in sys.argv[1:]]
    split, n = docs[0]["split"], docs[0]["displays"]
    models = [d["methods"][0] for d in docs]
    others = docs[0]["methods"][1:]
    print(f"### {split} ({n} displays, bootstrap 95% intervals over displays, 1000 resamples)\n")
    print("| method | SS ↑ | ED ↓ | MultiMatch ↑ | delta ↓ | found | length | search | refix | revisit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in models + others:
        print(row(m))
    base = [m for m in others if not m["oracle"] and not m["name"].startswith("subjects")]
    print("\nBar check against the non-oracle baselines "
          f"({', '.join(m['name'] for m in base)}): SS lower bound above every baseline's SS upper bound, "
          "delta upper bound below every baseline's delta lower bound.\n")
    ss_hi = max(base, key=lambda m: m["sequence_score"]["hi"])
    d_lo = min(base, key=lambda m: m["behaviour_delta"]["lo"])
    for m in models:
        ss_ok = m["sequence_score"]["lo"] > ss_hi["sequence_score"]["hi"]
        d_ok = m["behaviour_delta"]["hi"] < d_lo["behaviour_delta"]["lo"]
        print(f"- {m['name']}: SS {'MET' if ss_ok else 'NOT met'} (lower {m['sequence_score']['lo']:.3f} vs "
              f"{ss_hi['name']} upper {ss_hi['sequence_score']['hi']:.3f}); delta {'MET' if d_ok else 'NOT met'} "
              f"(upper {m['behaviour_delta']['hi']:.3f} vs {d_lo['name']} lower {d_lo['behaviour_delta']['lo']:.3f})")
    print()


if __name__ == "__main__":
    main()
