#!/usr/bin/env python3
"""Writes config/sample/events.jsonl: the demo's data set. About 3,000
contacts over six hours of event time, every category, a RapidShip carrier
incident (late and damaged parcels) between 02:00 and 02:30, a burst of
double-charge complaints between 04:00 and 05:00, 12 malformed lines and 20
producer-retry duplicates. Deterministic (fixed seed).

usage: scripts/data/make_sample.py > config/sample/events.jsonl
"""
import json
import random
import sys

# Hand-written statements: (text, categories, sentiment) by theme.
F = "facing"; C = "collaborative"; E = "external"; P = "performance"
S = [
    # ---- facing, negative
    ("The woman at the till was incredibly rude to my elderly mother.", {F}, -1),
    ("Your agent hung up on me halfway through my question.", {F}, -1),
    ("I sat on hold for 50 minutes listening to the same song.", {F}, -1),
    ("The waiter ignored our table for half an hour.", {F}, -1),
    ("Staff were chatting among themselves and nobody helped me find anything.", {F}, -1),
    ("The guy on the phone clearly had no idea what he was talking about.", {F}, -1),
    ("I got transferred four times and had to repeat my story every time.", {F}, -1),
    ("The store manager was condescending and blamed me for the mistake.", {F}, -1),
    ("Queue at the counter was massive and only one cashier working.", {F}, -1),
    ("The technician who came out was unprofessional and left without explaining anything.", {F}, -1),
    ("Chat support kept sending me canned replies that didn't answer anything.", {F}, -1),
    ("Receptionist rolled her eyes when I asked a simple question.", {F}, -1),
    ("Nobody picked up the phone all morning.", {F}, -1),
    ("your support team promised to call me back and never did", {F}, -1),
    ("The bank teller was dismissive and rushed me out.", {F}, -1),
    ("Agent was arrogant and argued with me instead of listening.", {F}, -1),
    ("the lady at the desk was so unfriendly i felt unwelcome", {F}, -1),
    ("I waited in line for over an hour at the branch.", {F}, -1),
    ("Your rep gave me the wrong information about my plan.", {F}, -1),
    ("Three different advisors gave me three different answers.", {F}, -1),
    ("The installer was rude and refused to take his boots off.", {F}, -1),
    ("Employee yelled at my son for touching a display.", {F}, -1),
    ("Customer service is a joke, nobody answers emails.", {F}, -1),
    ("the call centre guy couldnt understand me and kept talking over me", {F}, -1),
    ("Flight attendant was short with us the whole flight.", {F}, -1),
    ("It took 25 minutes for someone to take our order at the restaurant.", {F}, -1),
    ("The pharmacist was unhelpful and didn't bother checking stock.", {F}, -1),
    ("I was left waiting at the reception desk while staff ignored me.", {F}, -1),
    ("The consultant was pushy and wouldn't take no for an answer.", {F}, -1),
    ("Support agent closed my chat without resolving anything.", {F}, -1),
    ("Bartender served everyone else before us even though we were first.", {F}, -1),
    ("Sales assistant followed us around like we were shoplifters.", {F}, -1),
    ("Hold times on your helpline are ridiculous.", {F}, -1),
    ("The person I spoke with was patronising and read from a script.", {F}, -1),
    ("Nobody at the front desk knew how to check us in.", {F}, -1),
    # ---- facing, positive
    ("Sarah at the Leeds store was wonderful and so patient with me.", {F}, 1),
    ("The agent I spoke to was friendly and sorted everything in five minutes.", {F}, 1),
    ("Our waiter was attentive and really knew the menu.", {F}, 1),
    ("Big thanks to the technician, very professional and tidy.", {F}, 1),
    ("The support rep went above and beyond to help me.", {F}, 1),
    ("Staff were welcoming and helpful from the moment we walked in.", {F}, 1),
    ("Lovely cashier, made my day.", {F}, 1),
    ("The advisor on the phone explained everything clearly.", {F}, 1),
    ("Really polite young man at the counter.", {F}, 1),
    ("chat agent was quick and knowledgeable, great service", {F}, 1),
    ("Receptionist was kind and got us an early check-in.", {F}, 1),
    ("The nurse was caring and took time to listen.", {F}, 1),
    # ---- collaborative, negative
    ("I was charged twice for the same order.", {C}, -1),
    ("My invoice shows a fee I never agreed to.", {C}, -1),
    ("Still waiting for my refund after three weeks.", {C}, -1),
    ("The website crashed right when I tried to pay.", {C}, -1),
    ("The app keeps crashing whenever I open my account page.", {C}, -1),
    ("Password reset emails never arrive so I can't log in.", {C}, -1),
    ("Sales promised free installation but the contract says otherwise.", {C}, -1),
    ("The price at checkout was higher than the advertised price.", {C}, -1),
    ("Your promo code didn't work and the discount wasn't applied.", {C}, -1),
    ("Direct debit was taken on the wrong date and my account went overdrawn.", {C}, -1),
    ("I keep getting marketing emails even after unsubscribing.", {C}, -1),
    ("My subscription auto renewed without any warning.", {C}, -1),
    ("The item showed in stock online but was sold out when I ordered.", {C}, -1),
    ("Online booking system double booked our room.", {C}, -1),
    ("Error message every time I try to update my card details.", {C}, -1),
    ("The bill is wrong again, I was overcharged for data I never used.", {C}, -1),
    ("The salesman promised delivery by Friday, which the factory could not meet.", {C}, -1),
    ("Your portal has been down all day.", {C}, -1),
    ("Payment page timed out and took the money anyway.", {C}, -1),
    ("I was billed for a cancelled subscription.", {C}, -1),
    ("Loyalty points from my last purchase never showed up in my account.", {C}, -1),
    ("Your system lost my booking completely.", {C}, -1),
    ("The quote we were given was nowhere near the final invoice.", {C}, -1),
    ("Card declined at checkout even though it works everywhere else.", {C}, -1),
    ("account locked after one wrong password and no way to unlock it", {C}, -1),
    ("They cancelled my order because of a stock issue but kept the money.", {C}, -1),
    ("The late payment fee was applied even though I paid on time.", {C}, -1),
    ("The advert said 50% off but nothing was actually discounted.", {C}, -1),
    ("No appointments available for the next two months, there is no capacity.", {C}, -1),
    ("Got an error code 500 every time I tried to checkout.", {C}, -1),
    ("I was mis-sold an insurance add-on I did not need.", {C}, -1),
    ("The confirmation email had the wrong dates on it.", {C}, -1),
    ("Your app logged me out and now says my account doesn't exist.", {C}, -1),
    ("Refund was refused because your system shows no record of the return.", {C}, -1),
    ("Hidden charges on the final bill.", {C}, -1),
    # ---- collaborative, positive
    ("Checkout was quick and easy on the app.", {C}, 1),
    ("Refund was processed within a day, impressive.", {C}, 1),
    ("The new website is so much easier to navigate.", {C}, 1),
    ("Clear invoice and fair pricing.", {C}, 1),
    ("Booking online was seamless.", {C}, 1),
    ("Great value for money and the discount code worked first time.", {C}, 1),
    ("Love the new app, paying my bill takes seconds.", {C}, 1),
    # ---- external, negative
    ("The courier left my parcel out in the rain.", {E}, -1),
    ("Delivery driver threw the box over the fence.", {E}, -1),
    ("The package arrived crushed and soaking wet.", {E}, -1),
    ("Tracking says delivered but nothing was here.", {E}, -1),
    ("The supplier sent us a batch of faulty parts.", {E}, -1),
    ("Your contractor left a mess and damaged the wall.", {E}, -1),
    ("The plumber you sent never fixed the leak properly.", {E}, -1),
    ("DHL claimed they attempted delivery but I was home all day.", {E}, -1),
    ("The marketplace seller sent a counterfeit product.", {E}, -1),
    ("My parcel was delivered to the wrong address.", {E}, -1),
    ("The driver didn't even knock, just left a card.", {E}, -1),
    ("Parcel has been stuck at the depot for days.", {E}, -1),
    ("The vendor refused to honour the warranty.", {E}, -1),
    ("Manufacturer defect, the handle snapped on first use.", {E}, -1),
    ("Box was opened and items were taken before it reached me.", {E}, -1),
    ("The subcontractor did not turn up to fit the kitchen.", {E}, -1),
    ("Held at customs and the carrier wants extra fees.", {E}, -1),
    ("The delivery company lost my package.", {E}, -1),
    ("UPS left it with a neighbour I have never met.", {E}, -1),
    ("Replacement part from the supplier was also defective.", {E}, -1),
    ("The removal company scratched all our furniture.", {E}, -1),
    ("the fedex guy was rude and drove off before I got to the door", {E}, -1),
    ("Received a fake delivery photo of someone else's door.", {E}, -1),
    ("The electrician you subcontracted left wires exposed.", {E}, -1),
    ("Third-party seller never responded to my messages.", {E}, -1),
    # ---- external, positive
    ("The delivery driver was lovely and carried it inside for me.", {E}, 1),
    ("Courier was friendly and careful with the fragile box.", {E}, 1),
    ("The fitters were great, tidy and fast.", {E}, 1),
    ("Well packaged, nothing damaged at all.", {E}, 1),
    ("The supplier swapped the part without any fuss.", {E}, 1),
    # ---- performance, negative
    ("My order arrived a week late.", {P}, -1),
    ("Delivery was promised for Monday and it came on Thursday.", {P}, -1),
    ("Only 3 of the 5 items I ordered were delivered.", {P}, -1),
    ("Half my order is missing.", {P}, -1),
    ("Still waiting for my order placed over a month ago.", {P}, -1),
    ("The engineer was supposed to come yesterday and never showed up.", {P}, -1),
    ("Your 48 hour repair promise turned into two weeks.", {P}, -1),
    ("Shipment has been delayed three times now.", {P}, -1),
    ("We missed our launch because the order was late.", {P}, -1),
    ("The rest of the order never arrived.", {P}, -1),
    ("Received the wrong size and one item was missing.", {P}, -1),
    ("Still not fixed after the third visit.", {P}, -1),
    ("The delivery window came and went with no sign of anyone.", {P}, -1),
    ("Our pallet arrived days after the agreed date.", {P}, -1),
    ("Order was incomplete, no cables in the box.", {P}, -1),
    ("Ticket open for 10 days with no resolution despite your SLA.", {P}, -1),
    ("Estimated delivery keeps getting pushed back.", {P}, -1),
    ("it's been overdue for ages", {P}, -1),
    ("They rescheduled the installation again.", {P}, -1),
    ("Parts came in dribs and drabs, never the full order.", {P}, -1),
    ("Only got one of the two chairs.", {P}, -1),
    ("The response time was way beyond what was promised.", {P}, -1),
    # ---- performance, positive
    ("Arrived a day early, brilliant.", {P}, 1),
    ("Everything arrived on time and complete.", {P}, 1),
    ("Next day delivery as promised.", {P}, 1),
    ("Repair was done within 24 hours as promised.", {P}, 1),
    ("Super fast delivery, ordered Monday got it Tuesday.", {P}, 1),
    # ---- combinations
    ("The courier delivered it a week late.", {E, P}, -1),
    ("DPD lost the parcel so it never arrived.", {E, P}, -1),
    ("The carrier missed the delivery date twice.", {E, P}, -1),
    ("The agent promised a refund that billing never processed.", {F, C}, -1),
    ("Support couldn't fix the login problem and just kept transferring me.", {F, C}, -1),
    ("Supplier delays meant only part of our order shipped.", {E, P}, -1),
    ("Sales promised next-week delivery and it took a month.", {C, P}, -1),
    ("The driver was rude and the box was damaged.", {E}, -1),
    ("Staff at the store could not explain why I was charged twice.", {F, C}, -1),
    ("The app said in stock, the order was cancelled a week later.", {C, P}, -1),
    ("Contractor didn't show up on the agreed date.", {E, P}, -1),
    ("Great agent, but the website is a disaster.", {F, C}, 0),
    ("The courier was polite but the parcel was three days late.", {E, P}, 0),
    ("Lovely staff, shame the card machine kept failing.", {F, C}, 0),
    ("The vendor shipped the wrong quantity and your support line was useless.", {E, P, F}, -1),
    # ---- no category (vague, unrelated, or pure sentiment)
    ("ok", set(), 0),
    ("Thanks.", set(), 1),
    ("Great company, will use again.", set(), 1),
    ("Not impressed.", set(), -1),
    ("Average experience overall.", set(), 0),
    ("Terrible. Just terrible.", set(), -1),
    ("Happy with my purchase.", set(), 1),
    ("Just wanted to say keep up the good work.", set(), 1),
    ("n/a", set(), 0),
    ("Nothing to add.", set(), 0),
    ("Where is your nearest branch in Bristol?", set(), 0),
    ("Can I change the colour of my sofa order?", set(), 0),
    ("Customer called to ask about opening hours.", set(), 0),
    ("Meh.", set(), 0),
    ("Would buy again", set(), 1),
    ("worst experience ever", set(), -1),
    ("Fine.", set(), 0),
    ("The product itself is great quality.", set(), 1),
    ("I have a question about your sustainability policy.", set(), 0),
    ("Customer requested a copy of their data under GDPR.", set(), 0),
]

CHANNELS = ["store", "phone", "chat", "email", "web", "app", "survey", "social", "field"]
TOUCHPOINTS = ["checkout", "delivery", "billing", "support", "onboarding", "returns",
               "installation", None, None]

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
