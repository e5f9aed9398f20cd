#!/usr/bin/env python3
"""How much a company's own labeled events help, and from how many: each
published source of tests/data/real/dev.jsonl stands for a company the
default model's recipe has not seen. For each source with enough events, a
base model is trained without it (the written dev corpus and the other
sources, as holdout.py does), adapted with `cxpulse train --from` on the
first 30, 100 and 270 of the source's events (in a fixed order, by event
id), and scored by `cxpulse eval` on the source's other events, against the
base model unadapted. Uses the dev splits only.

Prints macro-F1 and sentiment accuracy per source and number of events,
each the mean over the seeds (training's random order moves figures on a
few events; default seeds 1, 2 and 3).

usage: scripts/data/adapt_curve.py [CXPULSE] [--seeds 1,2,3]
CXPULSE defaults to build/app/cxpulse. Takes a few minutes.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from holdout import REAL, ROOT, WRITTEN, labeled, source

SIZES = (30, 100, 270)
SCORED_AT_LEAST = 200  # a source needs this many events beyond the largest size


def order(o):
    return hashlib.sha256(("ad" + o["event"]["event_id"]).encode()).hexdigest()


def evaluate(binary, model, labels):
    """(macro-F1, sentiment accuracy) of model on the labeled file, by cxpulse eval."""
    out = subprocess.run([binary, "eval", labels, "--model", model, "--resamples", "0"],
                         check=True, capture_output=True, text=True).stdout
    f1 = re.search(r"^macro-F1 ([0-9.]+)", out, re.M)
    sent = re.search(r"^sentiment accuracy ([0-9.]+)", out, re.M)
    if f1 is None or sent is None:
        sys.exit(f"adapt_curve: no macro-F1 or sentiment accuracy in what `{binary} eval "
                 f"{labels} --model {model}` printed:\n{out}")
    return float(f1.group(1)), float(sent.group(1))


def curve(binary, seeds, tmp, name, rest, own):
    """The base model's figures and the adapted ones per size, for one source."""
    base = os.path.join(tmp, name)
    with open(base + ".rest.jsonl", "w", encoding="utf-8") as f:
        f.writelines(rest)
    with open(base + ".scored.jsonl", "w", encoding="utf-8") as f:
        f.writelines(own[max(SIZES):])
    subprocess.run([binary, "train", WRITTEN, base + ".rest.jsonl", "--out", base + ".cxm"],
                   check=True, stdout=subprocess.DEVNULL)
    rows = {0: [evaluate(binary, base + ".cxm", base + ".scored.jsonl")]}
    for size in SIZES:
        part = f"{base}.{size}.jsonl"
        with open(part, "w", encoding="utf-8") as f:
            f.writelines(own[:size])
        rows[size] = []
        for seed in seeds:
            model = f"{base}.{size}.{seed}.cxm"
            subprocess.run([binary, "train", part, "--from", base + ".cxm", "--seed", seed,
                            "--out", model], check=True, stdout=subprocess.DEVNULL)
            rows[size].append(evaluate(binary, model, base + ".scored.jsonl"))
    return name, len(own) - max(SIZES), rows


def main():
    args = sys.argv[1:]
    seeds = ["1", "2", "3"]
    if "--seeds" in args:
        i = args.index("--seeds")
        seeds = args[i + 1].split(",")
        del args[i:i + 2]
    binary = args[0] if args else os.path.join(ROOT, "build/app/cxpulse")
    real = labeled(REAL)
    names = sorted({source(o) for _, o in real})
    jobs = []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for name in names:
            own = sorted(((l, o) for l, o in real if source(o) == name), key=lambda p: order(p[1]))
            if len(own) < max(SIZES) + SCORED_AT_LEAST:
                continue
            rest = [l for l, o in real if source(o) != name]
            jobs.append(pool.submit(curve, binary, seeds, tmp, name, rest, [l for l, _ in own]))
        results = [j.result() for j in jobs]
    print(f"{'source':<10} {'scored':>6}  " +
          "  ".join(f"{('base' if n == 0 else f'{n} own'):>13}" for n in (0, *SIZES)))
    print(f"{'':<10} {'':>6}  " + "  ".join(f"{'F1 / sent':>13}" for _ in (0, *SIZES)))
    for name, scored, rows in results:
        cells = []
        for n in (0, *SIZES):
            f1 = sum(r[0] for r in rows[n]) / len(rows[n])
            sent = sum(r[1] for r in rows[n]) / len(rows[n])
            cells.append(f"{f1:.3f} / {sent:.3f}")
        print(f"{name:<10} {scored:>6}  " + "  ".join(f"{c:>13}" for c in cells))


if __name__ == "__main__":
    main()
