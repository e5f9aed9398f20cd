#!/usr/bin/env python3
"""How the default model's recipe does on feedback it was not trained on,
using the dev splits only (the frozen test splits are not read):

- each published source of tests/data/real/dev.jsonl held out in turn
  (trained on the written dev corpus and the other sources);
- each quarter of the real dev split's rows held out in turn (trained on the
  written dev corpus and the other three): more text of the sources it has
  seen, as the frozen real test split is (it came within about 0.02 of that
  split's figures);
- each group of written authors held out in turn (trained on the other
  authors and the real dev split); every author of the dev corpus must be in
  one of AUTHOR_GROUPS (a new author goes into a group when added).

Prints macro-F1 and sentiment accuracy per held-out part and over all
held-out parts together (each scored by the model that did not see it).
A change to features, rules or training is kept when these improve, not
when the test splits do.

usage: scripts/data/holdout.py [CXPULSE] [--seed N]
CXPULSE defaults to build/app/cxpulse; --seed is passed to `cxpulse
train`. Training's random order moves these figures (the pooled ones by about
0.01): compare changes over a few seeds.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRITTEN = os.path.join(ROOT, "tests/data/corpus/dev.jsonl")
REAL = os.path.join(ROOT, "tests/data/real/dev.jsonl")
AUTHOR_GROUPS = {
    "wa": ["wa"],
    "wb": ["wb"],
    "wd": ["wd"],
    "xj to xm": ["xj", "xk", "xl", "xm"],
    "xp to xs": ["xp", "xq", "xr", "xs"],
    "xx to ya": ["xx", "xy", "xz", "ya"],
    "social posts 1": ["wf", "wg", "wh", "wi"],
    "social posts 2": ["wm", "wn", "wo"],
    "social posts 3": ["wt", "wu", "wy"],
    "social posts 4": ["wz", "xa", "xd"],
    "social posts 5": ["xg", "xh"],
    "social posts 6": ["xt", "xu"],
    "social posts 7": ["yf", "yg", "yh", "yi"],
    "social posts 8": ["yj", "yk", "yl", "ym"],
    "review sentences 1": ["wj", "wk", "wl"],
    "review sentences 2": ["wp", "wq", "wr", "ws"],
    "review sentences 3": ["wv", "ww", "wx"],
    "review sentences 4": ["xb", "xc"],
    "review sentences 5": ["xe", "xf", "xi"],
    "review sentences 6": ["xn", "xo"],
    "review sentences 7": ["yb", "yc", "yd", "ye"],
    "app reviews": ["xv", "xw"],
}


def labeled(path):
    """The file's lines, each with its parsed object."""
    with open(path, encoding="utf-8") as f:
        return [(l, json.loads(l)) for l in f if l.strip()]


def source(o):
    return o["event"]["event_id"].split("-")[0]


def quarter(o):
    """A fixed quarter of the rows, by event id."""
    return int(hashlib.sha1(o["event"]["event_id"].encode()).hexdigest()[:6], 16) % 4


CATS = ["facing", "collaborative", "external", "performance"]


def scores(pairs):
    """Macro-F1 over the four categories (a category's F1 is 0 when it is
    never labeled nor predicted, as in `cxpulse eval`) and sentiment accuracy
    of (labeled line, prediction) pairs."""
    f1 = []
    for c in CATS:
        tp = fp = fn = 0
        for lab, pred in pairs:
            l, p = c in lab["categories"], c in pred["categories"]
            tp += l and p
            fp += p and not l
            fn += l and not p
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    sent = sum(lab["sentiment"] == pred["sentiment"] for lab, pred in pairs) / len(pairs)
    return sum(f1) / len(f1), sent


def run(binary, seed, tmp, name, train, held):
    """Trains on train (in this order, as the default model is trained:
    written first; each a file or a list of lines) and classifies the held
    labeled objects: (name, [(labeled object, prediction)])."""
    base = os.path.join(tmp, name.replace(" ", "_"))
    files = []
    for part in train:
        if isinstance(part, str):
            files.append(part)
            continue
        files.append(f"{base}.rest{len(files)}.jsonl")
        with open(files[-1], "w", encoding="utf-8") as f:
            f.writelines(part)
    subprocess.run([binary, "train", *files, "--out", base + ".cxm", *seed], check=True,
                   stdout=subprocess.DEVNULL)
    events = "".join(json.dumps(o["event"]) + "\n" for o in held)
    out = subprocess.run([binary, "classify", "--model", base + ".cxm"], input=events,
                         check=True, capture_output=True, text=True).stdout.splitlines()
    if len(out) != len(held):
        sys.exit(f"holdout: {name}: {len(held)} events in, {len(out)} classified")
    return name, list(zip(held, (json.loads(o) for o in out)))


def main():
    args = sys.argv[1:]
    seed = []
    if "--seed" in args:
        i = args.index("--seed")
        seed = args[i:i + 2]
        del args[i:i + 2]
    binary = args[0] if args else os.path.join(ROOT, "build/app/cxpulse")
    written, real = labeled(WRITTEN), labeled(REAL)
    grouped = {a for members in AUTHOR_GROUPS.values() for a in members}
    ungrouped = sorted({o.get("author") or "(none)" for _, o in written} - grouped)
    if ungrouped:  # else their events would never be held out, and no figure would say so
        sys.exit(f"holdout: {WRITTEN}: authors in no group of AUTHOR_GROUPS: "
                 f"{', '.join(ungrouped)}")
    sources = {s: [s] for s in sorted({source(o) for _, o in real})}
    plans = (  # kind, lines, group of a line, groups, training files around the rest
        ("source", real, source, sources, lambda rest: [WRITTEN, rest]),
        ("rows", real, quarter, {f"quarter {k + 1}": [k] for k in range(4)},
         lambda rest: [WRITTEN, rest]),
        ("author", written, lambda o: o.get("author"), AUTHOR_GROUPS, lambda rest: [rest, REAL]),
    )
    jobs = []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for kind, rows, group_of, groups, train in plans:
            for name, members in groups.items():
                held = [o for _, o in rows if group_of(o) in members]
                rest = [l for l, o in rows if group_of(o) not in members]
                jobs.append((kind, pool.submit(run, binary, seed, tmp, name, train(rest), held)))
        results = [(kind, j.result()) for kind, j in jobs]
    for kind, title in (("source", "real source held out"), ("rows", "real rows held out"),
                        ("author", "written authors held out")):
        parts = [r for k, r in results if k == kind]
        print(f"{title:<28} {'events':>7} {'macro-F1':>9} {'sentiment':>10}")
        for name, pairs in parts:
            f1, sent = scores(pairs)
            print(f"  {name:<26} {len(pairs):>7} {f1:>9.3f} {sent:>10.3f}")
        pooled = [p for _, pairs in parts for p in pairs]
        f1, sent = scores(pooled)
        print(f"  {'all, each held out':<26} {len(pooled):>7} {f1:>9.4f} {sent:>10.4f}")


if __name__ == "__main__":
    main()
