#!/usr/bin/env python3
"""Agreement between two labelings of the same events (docs/labeling.md):
per category percent agreement and Cohen's kappa, sentiment kappa, exact
label sets, and the second labeling's F1 against the first.

usage: scripts/data/agreement.py FIRST.jsonl SECOND.jsonl
Lines are labeled events ({"event": {...}, ...}) or {"event_id": ..., ...};
only events in both files count.
"""
import json
import sys

CATS = ["facing", "collaborative", "external", "performance"]


def load(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            out[o["event"]["event_id"] if "event" in o else o["event_id"]] = o
    return out


def kappa(a, b, values):
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pe = sum((a.count(v) / n) * (b.count(v) / n) for v in values)
    return po, (po - pe) / (1 - pe) if pe < 1 else 1.0


first, second = load(sys.argv[1]), load(sys.argv[2])
ids = sorted(set(first) & set(second))
print(f"{len(ids)} events labeled twice")
f1s = []
for c in CATS:
    a = [c in first[i]["categories"] for i in ids]
    b = [c in second[i]["categories"] for i in ids]
    po, k = kappa(a, b, [True, False])
    tp = sum(x and y for x, y in zip(a, b))
    f1 = 2 * tp / (sum(a) + sum(b)) if sum(a) + sum(b) else 1.0
    f1s.append(f1)
    print(f"{c:14s} agreement {po:.3f}  kappa {k:.3f}  F1 {f1:.3f}  ({sum(a)} / {sum(b)})")
a = [first[i]["sentiment"] for i in ids]
b = [second[i]["sentiment"] for i in ids]
po, k = kappa(a, b, ["negative", "neutral", "positive"])
print(f"sentiment      agreement {po:.3f}  kappa {k:.3f}")
exact = sum(set(first[i]["categories"]) == set(second[i]["categories"]) for i in ids)
print(f"same label set {exact / len(ids):.3f}; macro-F1 of one against the other {sum(f1s) / 4:.3f}")
