#!/usr/bin/env python3
"""Builds the real-text sample (unlabeled events) from published customer feedback.

usage: make_real_sample.py RAWDIR [--round 2|3|...|13] > sample.jsonl
RAWDIR holds the source files named in tests/data/SOURCES.md. Selection is
deterministic (seeded), so the same sources give the same sample.
Round 1 (the default) is the first sample; round 2 draws further items from
the same shuffled orders, none of them in round 1: the remaining Yelp and
Amazon sentences, the next 400 Comcast titles and the next 300 hotel reviews.
Round 3 draws the next 600 Comcast titles, the next 300 hotel reviews and the
remaining credit-reporting CFPB complaints, leaving out texts already drawn
(repeated complaint titles). Round 4 draws the next 400 Comcast titles and the
next 300 hotel reviews the same way, and 500 women's clothing reviews
(clothing.csv; a new source). Round 5 draws the remaining Comcast titles,
the next 300 hotel reviews and the remaining clothing reviews of the copy.
Round 6 draws the next 300 hotel reviews and 600 Amazon fine-food reviews
(finefood.csv; a new source); rounds 7 to 13 the next 300 and 600 of each.
"""
import csv, json, random, sys, hashlib, re, os

raw = sys.argv[1]
if len(sys.argv) == 2:
    rnd = 1
elif len(sys.argv) == 4 and sys.argv[2] == '--round' and sys.argv[3] in [str(k) for k in range(1, 14)]:
    rnd = int(sys.argv[3])
else:
    sys.exit(__doc__.strip().splitlines()[2])

def norm(text):
    return re.sub(r'\W+', ' ', text.lower()).strip()

def sample(rnd):
    """The events of round rnd (a list of {"event", "source", "industry"})."""
    round2 = rnd == 2
    rng = random.Random(20261130)
    out = []

    def add(src, ident, text, industry, channel, when, touchpoint=None):
        text = re.sub(r'\s+', ' ', text).strip()
        if not text:
            return
        ev = {"event_id": f"{src}-{ident}", "occurred_at": when, "channel": channel,
              "language": "en", "text": text}
        if touchpoint:
            ev["touchpoint"] = touchpoint
        out.append({"event": ev, "source": src, "industry": industry})

    # CFPB consumer complaints (narratives), both copies, deduplicated by Complaint ID.
    seen, cf = set(), []
    for name, col, idc in (("cfpb.csv", "Consumer_complaint_narrative", "Complaint_ID"),
                           ("cfpb2.csv", "Consumer complaint narrative", "Complaint ID")):
        with open(os.path.join(raw, name), encoding="utf-8", errors="replace") as f:
            for r in csv.DictReader(f):
                t, i = (r.get(col) or "").strip(), (r.get(idc) or "").strip()
                if t and i and i not in seen and len(t) < 2500 and i.isdigit():
                    seen.add(i); cf.append((i, t, r.get("Product") or ""))
    credit = [c for c in cf if c[2].startswith("Credit reporting")]
    other = [c for c in cf if not c[2].startswith("Credit reporting")]
    rng.shuffle(credit)
    for i, t, _ in {1: sorted(credit[:60] + other), 3: sorted(credit[60:])}.get(rnd, []):
        add("cfpb", i, t, "banking", "web", "2023-08-01T12:00:00Z")

    # Comcast complaints to the FCC (complaint titles).
    with open(os.path.join(raw, "comcast.csv"), encoding="utf-8-sig") as f:
        rows = [r for r in csv.DictReader(f)]
    rng.shuffle(rows)
    for r in {1: rows[:250], 2: rows[250:650], 3: rows[650:1250], 4: rows[1250:1650], 5: rows[1650:]}.get(rnd, []):
        ch = "phone" if "Call" in r["Received Via"] else "web"
        add("comcast", r["Ticket #"], r["Customer Complaint"], "telecom", ch, "2015-06-01T12:00:00Z")

    # Booking.com hotel reviews (Europe): the disliked and liked parts, as shown on the site.
    with open(os.path.join(raw, "hotel.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng.shuffle(rows)
    n = 0
    for idx, r in enumerate(rows):
        neg, pos = r["Negative_Review"].strip(), r["Positive_Review"].strip()
        parts = []
        if pos and pos.lower() not in ("no positive", "nothing"):
            parts.append("Liked: " + pos)
        if neg and neg.lower() not in ("no negative", "nothing"):
            parts.append("Disliked: " + neg)
        if not parts or len(" ".join(parts)) < 40:
            continue
        h = hashlib.sha1((r["Hotel_Name"] + r["Review_Date"] + neg + pos).encode()).hexdigest()[:10]
        n += 1
        if (n - 1) // 300 + 1 == rnd:
            add("hotel", h, " ".join(parts), "hotel", "web", "2017-08-01T12:00:00Z")
        if n == 300 * rnd:  # the rounds so far drew 300 each
            break

    # UCI Sentiment Labelled Sentences: Yelp (restaurants) and Amazon (phones and accessories).
    for name, src, ind, k in (("yelp.txt", "yelp", "restaurant", 250), ("amazon.txt", "amazon", "ecommerce", 150)):
        with open(os.path.join(raw, name), encoding="utf-8", errors="replace") as f:
            lines = [l.rsplit("\t", 1)[0] for l in f if "\t" in l]
        idx = list(range(len(lines)))
        rng.shuffle(idx)
        seen_text = {lines[i].strip() for i in idx[:k]}
        for i in sorted({1: idx[:k], 2: idx[k:]}.get(rnd, [])):
            if round2 and (lines[i].strip() in seen_text or len(lines[i].strip()) < 3):
                continue
            seen_text.add(lines[i].strip())
            add(src, f"{i:04d}", lines[i], ind, "web", "2015-01-01T12:00:00Z")

    # Women's E-Commerce Clothing Reviews (rounds 4 and 5): title and text, as
    # posted; the review's star rating is not carried (the text decides).
    if rnd >= 4:
        with open(os.path.join(raw, "clothing.csv"), encoding="utf-8", errors="replace") as f:
            rows = [r for r in csv.DictReader(f) if (r.get("Review Text") or "").strip()]
        rng.shuffle(rows)
        for r in {4: rows[:500], 5: rows[500:]}.get(rnd, []):
            title, body = (r.get("Title") or "").strip(), r["Review Text"].strip()
            text = f"{title}. {body}" if title and title[-1] not in ".!?" else f"{title} {body}"
            add("clothing", f"{int(r['']):05d}", text, "retail", "web", "2018-01-01T12:00:00Z")

    # Amazon Fine Food Reviews (rounds 6 to 13): the review text as posted (line
    # breaks as spaces), 40 to 1,500 characters; the star rating is not
    # carried (the text decides).
    if rnd >= 6:
        with open(os.path.join(raw, "finefood.csv"), encoding="utf-8", errors="replace") as f:
            rows = [r for r in csv.DictReader(f)
                    if 40 <= len(re.sub(r'<br\s*/?>', ' ', r["Text"]).strip()) <= 1500]
        rng.shuffle(rows)
        for r in rows[600 * (rnd - 6):600 * (rnd - 5)]:
            add("finefood", f"{int(r['Id']):05d}", re.sub(r'<br\s*/?>', ' ', r["Text"]),
                "ecommerce", "web", "2012-06-01T12:00:00Z")
    return out

out = sample(rnd)
if rnd >= 3:
    # Repeated complaint titles ("Comcast internet") are kept once, and none
    # that an earlier round holds (a text on both sides of the split).
    seen = {norm(o["event"]["text"]) for r in range(1, rnd) for o in sample(r)}
    kept = []
    for o in out:
        t = norm(o["event"]["text"])
        if t not in seen:
            seen.add(t)
            kept.append(o)
    out = kept
for o in out:
    print(json.dumps(o, ensure_ascii=False))
