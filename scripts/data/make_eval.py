#!/usr/bin/env python3
"""Writes tests/data/eval/labeled.jsonl: the labeled evaluation set for the
classifier (docs/labeling.md). Each event combines hand-written statements,
each labeled with the operations it implicates and its feeling, with neutral
context, channels, ratings and attributes. Deterministic (fixed seed).

usage: scripts/data/make_eval.py > tests/data/eval/labeled.jsonl
"""
import json
import random
import sys

R = random.Random(20261122)

# (statement, categories, polarity: -1 negative, 0 neutral, +1 positive)
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

OPENERS = ["", "", "", "Hi, ", "Hello. ", "Order 4471-22. ", "Re my recent order: ", "Honestly, ",
           "Feedback: ", "Not for the first time. ", "So... ", "Quick note: ", "Dear team, "]
CLOSERS = ["", "", "", " Please sort it.", " Regards, J.", " Thanks.", " Not good enough.",
           " I expect a reply.", " Cheers.", " That's all.", " Will see how it goes.", " Kind regards"]
CHANNELS = ["store", "phone", "chat", "email", "web", "app", "survey", "social", "field"]
TOUCHPOINTS = ["checkout", "delivery", "billing", "support", "onboarding", "returns",
               "installation", None, None]
CARRIERS = ["RapidShip", "DPD", "ParcelNet", "EuroFreight"]


def typo(s):
    """A light realistic typo: drop, double or swap one letter in a long word."""
    words = s.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) > 6 and w.isalpha()]
    if not idx:
        return s
    i = R.choice(idx)
    w = words[i]
    k = R.randrange(1, len(w) - 2)
    op = R.randrange(3)
    if op == 0:
        w = w[:k] + w[k + 1:]
    elif op == 1:
        w = w[:k] + w[k] + w[k:]
    else:
        w = w[:k] + w[k + 1] + w[k] + w[k + 2:]
    words[i] = w
    return " ".join(words)


def rating_for(pol):
    scale = R.choice(["csat", "nps", "ces", "stars"])
    if scale in ("csat", "stars"):
        v = {-1: R.choice([1, 2]), 0: 3, 1: R.choice([4, 5])}[pol]
    elif scale == "nps":
        v = {-1: R.randrange(0, 7), 0: R.choice([7, 8]), 1: R.choice([9, 10])}[pol]
    else:
        v = {-1: R.choice([5, 6, 7]), 0: 4, 1: R.choice([1, 2, 3])}[pol]
    return {"scale": scale, "value": v}


def sentiment_of(pols):
    s = sum(pols)
    return "negative" if s < 0 else "positive" if s > 0 else "neutral"


def event(n, text, cats, sent, rating=None, attrs=None):
    ev = {"event_id": f"eval-{n:04d}",
          "occurred_at": f"2026-10-{R.randrange(1, 29):02d}T{R.randrange(24):02d}:{R.randrange(60):02d}:00Z",
          "customer_id": f"c{R.randrange(100000)}",
          "channel": R.choice(CHANNELS)}
    tp = R.choice(TOUCHPOINTS)
    if tp:
        ev["touchpoint"] = tp
    if text is not None:
        ev["text"] = text
        ev["language"] = "en"
    if rating:
        ev["rating"] = rating
    if attrs:
        ev["attributes"] = attrs
    return {"event": ev, "categories": sorted(cats), "sentiment": sent}


def main():
    out = []
    n = 0
    # 1. every statement alone, with light context
    for text, cats, pol in S:
        n += 1
        t = R.choice(OPENERS) + text + (R.choice(CLOSERS) if pol <= 0 else "")
        out.append(event(n, t, cats, sentiment_of([pol])))
    # 2. combinations of two or three statements, some with typos, casing, ratings
    labeled = [s for s in S if s[1]]
    for _ in range(460):
        n += 1
        parts = R.sample(labeled, R.choice([2, 2, 2, 3]))
        text = " ".join(p[0] for p in parts)
        if R.random() < 0.25:
            text = typo(text)
        if R.random() < 0.08:
            text = text.upper()
        elif R.random() < 0.15:
            text = text.lower()
        cats = set().union(*(p[1] for p in parts))
        pol = sentiment_of([p[2] for p in parts])
        rating = None
        if R.random() < 0.35:
            p = {"negative": -1, "neutral": 0, "positive": 1}[pol]
            rating = rating_for(p)
        out.append(event(n, R.choice(OPENERS) + text + R.choice(CLOSERS).rstrip(), cats, pol, rating))
    # 3. field-driven events: little or no text, attributes decide
    for _ in range(60):
        n += 1
        kind = R.randrange(4)
        attrs = {"order_id": f"o{R.randrange(10**6)}"}
        cats = set()
        if kind in (0, 1):  # late delivery
            attrs["promised_date"] = "2026-10-10"
            attrs["delivered_date"] = f"2026-10-{R.randrange(12, 20)}"
            cats.add(P)
            if kind == 1:
                attrs["carrier"] = R.choice(CARRIERS)
                cats.add(E)
        elif kind == 2:  # short delivery
            attrs["qty_ordered"] = R.randrange(4, 12)
            attrs["qty_delivered"] = attrs["qty_ordered"] - R.randrange(1, 4)
            cats.add(P)
        else:  # on time, in full: nothing to report
            attrs["promised_date"] = "2026-10-10"
            attrs["delivered_date"] = R.choice(["2026-10-09", "2026-10-10"])
            attrs["qty_ordered"] = attrs["qty_delivered"] = R.randrange(1, 6)
        pol = -1 if cats else R.choice([0, 1])
        text = R.choice([None, None, "See attached order.", "Order feedback"])
        out.append(event(n, text, cats, sentiment_of([pol]), rating_for(pol), attrs))
    # 4. rating-only events without telling attributes: no category
    for _ in range(30):
        n += 1
        pol = R.choice([-1, 0, 1])
        out.append(event(n, None, set(), sentiment_of([pol]), rating_for(pol)))
    R.shuffle(out)
    for o in out:
        sys.stdout.write(json.dumps(o, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
