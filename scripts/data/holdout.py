#!/usr/bin/env python3
"""How the default model's recipe does on feedback it was not trained on,
using the dev splits only (the frozen test splits are not read):

- each published source of tests/data/real/dev.jsonl held out in turn
  (trained on the written dev corpus and the other sources);
- each group of written authors held out in turn (trained on the other
  authors and the real dev split).

Prints macro-F1 and sentiment accuracy per held-out part and over all
held-out parts together (each scored by the model that did not see it).
A change to features, rules or training is kept when these improve, not
when the test splits do.

usage: scripts/data/holdout.py [CXPULSE] [--seed N]
CXPULSE defaults to build-rel/app/cxpulse; --seed is passed to `cxpulse
train`. Training's random order moves these figures (the pooled ones by about
0.01): compare changes over a few seeds.
"""
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
    "social posts": ["wf", "wg", "wh", "wi"],
    "review sentences": ["wj", "wk", "wl"],
}


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [l for l in f if l.strip()]


def source(line):
    return json.loads(line)["event"]["event_id"].split("-")[0]


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


def run(binary, seed, tmp, name, train, held_lines):
    """Trains on train (in this order, as the default model is trained:
    written first; each a file or a list of lines) and classifies held_lines:
    (name, [(labeled line, prediction)])."""
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
    labeled = [json.loads(l) for l in held_lines]
    events = "".join(json.dumps(r["event"]) + "\n" for r in labeled)
    out = subprocess.run([binary, "classify", "--model", base + ".cxm"], input=events,
                         check=True, capture_output=True, text=True).stdout.splitlines()
    if len(out) != len(labeled):
        sys.exit(f"holdout: {name}: {len(labeled)} events in, {len(out)} classified")
    return name, list(zip(labeled, (json.loads(o) for o in out)))


def main():
    args = sys.argv[1:]
    seed = []
    if "--seed" in args:
        i = args.index("--seed")
        seed = args[i:i + 2]
        del args[i:i + 2]
    binary = args[0] if args else os.path.join(ROOT, "build-rel/app/cxpulse")
    written, real = lines(WRITTEN), lines(REAL)
    jobs = []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for s in sorted({source(l) for l in real}):
            held = [l for l in real if source(l) == s]
            rest = [l for l in real if source(l) != s]
            jobs.append(("source", pool.submit(run, binary, seed, tmp, s, [WRITTEN, rest], held)))
        for g, authors in AUTHOR_GROUPS.items():
            held = [l for l in written if json.loads(l).get("author") in authors]
            rest = [l for l in written if json.loads(l).get("author") not in authors]
            jobs.append(("author", pool.submit(run, binary, seed, tmp, g, [rest, REAL], held)))
        results = [(kind, j.result()) for kind, j in jobs]
    for kind, title in (("source", "real source held out"), ("author", "written authors held out")):
        parts = [r for k, r in results if k == kind]
        print(f"{title:<28} {'events':>7} {'macro-F1':>9} {'sentiment':>10}")
        for name, pairs in parts:
            print(f"  {name:<26} {len(pairs):>7} {scores(pairs)[0]:>9.3f} {scores(pairs)[1]:>10.3f}")
        pooled = [p for _, pairs in parts for p in pairs]
        f1, sent = scores(pooled)
        print(f"  {'all, each held out':<26} {len(pooled):>7} {f1:>9.4f} {sent:>10.4f}")


if __name__ == "__main__":
    main()
