#!/usr/bin/env python3
"""Writes config/sample/events.jsonl: the demo's data set. About 3,000
contacts over six hours of event time, every category, a RapidShip carrier
incident (late and damaged parcels) between 02:00 and 02:30, a burst of
double-charge complaints between 04:00 and 05:00, 12 malformed lines and 20
producer-retry duplicates. Deterministic (fixed seed).

usage: scripts/data/make_sample.py > config/sample/events.jsonl
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_eval import S, CHANNELS, TOUCHPOINTS  # noqa: E402  the same hand-written statements

R = random.Random(7)
START = 1793318400  # 2026-10-30T00:00:00Z
SPAN = 6 * 3600


def ts(sec):
    import datetime
    d = datetime.datetime.fromtimestamp(START + sec, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{R.randrange(1000):03d}Z"


def rating(pol):
    if R.random() > 0.35:
        return None
    scale = R.choice(["csat", "nps", "stars"])
    if scale == "nps":
        return {"scale": scale, "value": {-1: R.randrange(0, 7), 0: R.choice([7, 8]), 1: R.choice([9, 10])}[pol]}
    return {"scale": scale, "value": {-1: R.choice([1, 2]), 0: 3, 1: R.choice([4, 5])}[pol]}


def event(n, sec, text, pol, attrs=None, channel=None, touchpoint=None):
    ev = {"event_id": f"demo-{n:05d}", "occurred_at": ts(sec), "customer_id": f"cust-{R.randrange(1, 900)}",
          "channel": channel or R.choice(CHANNELS), "language": "en", "text": text}
    tp = touchpoint or R.choice(TOUCHPOINTS)
    if tp:
        ev["touchpoint"] = tp
    r = rating(pol)
    if r:
        ev["rating"] = r
    if attrs:
        ev["attributes"] = attrs
    return ev


RAPIDSHIP = [
    "RapidShip left my parcel on the doorstep in the rain.",
    "Parcel arrived three days late and the box was crushed.",
    "The RapidShip driver threw the package over the fence.",
    "Still waiting, tracking says delivered but nothing here.",
    "Delivery was promised for yesterday, the courier never came.",
    "Box arrived soaking wet and two days late.",
]
BILLING = [
    "I was charged twice for the same order!",
    "Double charged again, please refund the duplicate payment.",
    "My card was billed twice this morning.",
    "Two identical charges on my statement for one order.",
]


def main():
    events = []
    n = 0
    for _ in range(2700):
        n += 1
        text, cats, pol = R.choice(S)
        events.append(event(n, R.randrange(SPAN), text, pol))
    for _ in range(220):  # the carrier incident, 02:00-02:30
        n += 1
        day = R.randrange(2, 5)
        events.append(event(n, 2 * 3600 + R.randrange(1800), R.choice(RAPIDSHIP), -1,
                            {"carrier": "RapidShip", "order_id": f"o{R.randrange(10**6)}",
                             "promised_date": "2026-10-27", "delivered_date": f"2026-10-{27 + day}"},
                            channel=R.choice(["phone", "chat", "email"]), touchpoint="delivery"))
    for _ in range(90):  # billing burst, 04:00-05:00
        n += 1
        events.append(event(n, 4 * 3600 + R.randrange(3600), R.choice(BILLING), -1,
                            channel=R.choice(["phone", "web", "app"]), touchpoint="billing"))
    events.sort(key=lambda e: e["occurred_at"])
    # A few late arrivals: produced after newer events.
    for _ in range(15):
        i = R.randrange(100, len(events))
        events.insert(i, events.pop(i - R.randrange(30, 90)))
    lines = [json.dumps(e) for e in events]
    for _ in range(20):  # producer retries: the same event again, a little later in the stream
        i = R.randrange(len(lines) - 50)
        lines.insert(i + R.randrange(1, 40), lines[i])
    malformed = [
        "this is not json",
        '{"event_id":"demo-bad-1","occurred_at":"2026-10-30T01:00:00Z","text":"truncated',
        '{"occurred_at":"2026-10-30T01:00:00Z","text":"no event id"}',
        '{"event_id":"demo-bad-3","occurred_at":"30/10/2026 01:00","text":"bad date"}',
        '{"event_id":"demo-bad-4","occurred_at":"2026-10-30T01:00:00Z","rating":{"scale":"csat","value":9}}',
        json.dumps({"event_id": "demo-bad-5", "occurred_at": "2026-10-30T01:00:00Z", "text": "x" * 17000}),
        '{"event_id":42,"occurred_at":"2026-10-30T01:00:00Z","text":"numeric id"}',
        '{"event_id":"demo-bad-7","occurred_at":"2026-10-30T01:00:00Z"}',
        '[{"event_id":"demo-bad-8"}]',
        '{"event_id":"demo-bad-9","occurred_at":"2026-02-30T01:00:00Z","text":"no such day"}',
        '{"event_id":"demo-bad-10","occurred_at":"2026-10-30T01:00:00Z","text":"a\\u0000b"}',
        '{"event_id":"demo-bad-11","occurred_at":"2026-10-30T01:00:00Z","text":"x","text":"dup key"}',
    ]
    for m in malformed:
        lines.insert(R.randrange(len(lines)), m)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
