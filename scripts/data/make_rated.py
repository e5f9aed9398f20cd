#!/usr/bin/env python3
"""Builds tests/data/rated/rated.jsonl: published reviews labeled with their
sentiment only, taken from the star rating their author gave, for measuring
what a shop's own star-rated reviews teach the model (docs/model.md, "Star
ratings"). The default model does not learn from them.

usage: make_rated.py RAWDIR > tests/data/rated/rated.jsonl
RAWDIR holds the source files named in tests/data/SOURCES.md
(clothing-full.csv, finefood-more.csv, finefood-spread.csv).

The stars map to a feeling by the labeling guide's table: 1-2 negative, 4-5
positive. 3 (neutral by the table) is left out: the guide's labelers, reading
the text of such reviews in the real sample, called most of them negative,
so a 3 says too little about what the text says. Nobody labeled these
reviews' categories, so each line has no "categories": `cxpulse train` learns
only the sentiment from it.

Per source, every negative review is kept and as many positive ones drawn at
random (seeded): the reviews are mostly positive (88% of the clothing ones
left after the 3s), and at that ratio they taught the model to call almost
every review positive. No review whose text is in the labeled real sample
(tests/data/real) is taken, nor any of the rows of the copies that sample
was drawn from.
"""
import csv, json, os, random, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def norm(text):
    return re.sub(r'\W+', ' ', text.lower()).strip()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[5])
    raw = sys.argv[1]
    seen = set()
    for name in ("dev.jsonl", "test.jsonl"):
        with open(os.path.join(ROOT, "tests/data/real", name), encoding="utf-8") as f:
            seen.update(norm(json.loads(line)["event"]["text"]) for line in f)
    reviews = {"clothing": [], "finefood": []}

    def add(src, ident, text, stars, when):
        text = re.sub(r'\s+', ' ', text).strip()
        if len(text) < 20 or stars == 3 or norm(text) in seen:
            return
        seen.add(norm(text))
        ev = {"event_id": f"{src}-rated-{ident}", "occurred_at": when, "channel": "web",
              "language": "en", "text": text}
        reviews[src].append({"event": ev, "sentiment": "negative" if stars <= 2 else "positive",
                             "source": src, "stars": stars})

    # Women's E-Commerce Clothing Reviews: title and text as posted; the
    # real sample drew from a copy of the first 1,000 reviews.
    with open(os.path.join(raw, "clothing-full.csv"), encoding="utf-8", errors="replace") as f:
        for r in csv.DictReader(f):
            title, body = (r.get("Title") or "").strip(), (r.get("Review Text") or "").strip()
            if not r[""].isdigit() or int(r[""]) < 1000 or not body:
                continue
            text = f"{title}. {body}" if title and title[-1] not in ".!?" else f"{title} {body}"
            add("clothing", f"{int(r['']):05d}", text, int(r["Rating"]), "2018-01-01T12:00:00Z")
    # Amazon Fine Food Reviews: the text as posted, line breaks as spaces; the
    # real sample drew from a copy of the first 5,000 (Id 1 to 5000).
    for name in ("finefood-more.csv", "finefood-spread.csv"):
        with open(os.path.join(raw, name), encoding="utf-8", errors="replace") as f:
            for r in csv.DictReader(f):
                if r["Id"].isdigit() and int(r["Id"]) > 5000:
                    add("finefood", f"{int(r['Id']):06d}", re.sub(r'<br\s*/?>', ' ', r["Text"]),
                        int(r["Score"]), "2012-06-01T12:00:00Z")
    rng = random.Random(20261202)
    out = []
    for src in sorted(reviews):
        neg = [o for o in reviews[src] if o["sentiment"] == "negative"]
        pos = [o for o in reviews[src] if o["sentiment"] == "positive"]
        out += neg + rng.sample(pos, len(neg))
    rng.shuffle(out)
    for o in out:
        print(json.dumps(o, ensure_ascii=False))


if __name__ == "__main__":
    main()
