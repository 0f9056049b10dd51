"""The marketing event streams of synthetic people, in `occurred_at` order.

Hidden intent (never emitted): each lead gets a buying intent in (0, 1) = logistic
of 0.8 × standardised fit (seniority, company size, company email, target industry
and country) + a source bonus (referral and partner leads buy more, syndicated
content leads less) + N(0, 1) noise - 1.3. Mean ~0.25, a thin high tail: intent
correlates with fit but a good-fit lead can be idle and a poor fit eager, which is
what makes scoring interesting.

Events (`iter_events`), in `occurred_at` order:

* Per-lead activity rate = log-normal(σ 1.0) × (0.2 + 2.5 × intent), plus a burst
  after the first touch that decays with a 7-day time constant (people read a lot
  the week they find you, then drift). The product of a log-normal rate and very
  unequal lifetimes gives a heavy tail: most leads have a handful of events, the
  top 10 % of leads produce about half of all events.
* Repeating events are drawn hour by hour (hourly volume follows the same
  weekday/hour curve): page_view ~55-60 % (`url` among /, /blog/…, /pricing,
  /features, /docs, /careers — high-intent leads look at /pricing and /docs, low
  intent at the blog and /careers), email_open 20-35 %, email_click 6-13 %,
  whitepaper_download 2-7 % (the higher share for the higher intent).
* One-off events, each with a probability rising with intent and a delay after
  created_at: newsletter_signup (~13 %), webinar_registered (~15 %, always right
  after creation for webinar-sourced leads) and webinar_attended for ~45 % of
  registrants a few days later (the usual 35-50 % attendance), trial_signup
  (~2 %), demo_request / contact_sales (hand-raisers, ~1.5-2 % of leads: the rare,
  decisive signal), unsubscribe (~3.5 %, afterwards no more email events).
  Syndicated-content leads start with the whitepaper_download that created them.
* Events are strictly after their lead's created_at, inside [start, start+days],
  ids are `ev-<seed>-<n>` in stream order, and the total is exactly `n_events`
  (one-off events are thinned, whole leads at a time, when they alone exceed it).

Example: `Events(people, 100_000, 42, start, 180).batches()` yields one list of event
dicts per hour of the window; together exactly 100,000 events.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate

from leadgate.demo.base import DAY, HOUR, MMSS, Clock, Row, Table, hour_factor, normalised
from leadgate.demo.names import ASSETS, SOURCE_BONUS
from leadgate.demo.people import Hidden

TYPES = [
    "page_view", "email_open", "email_click", "whitepaper_download",  # repeating
    "newsletter_signup", "webinar_registered", "webinar_attended", "trial_signup",
    "demo_request", "contact_sales", "unsubscribe",  # one-off
]  # fmt: skip
PAGE_VIEW, EMAIL_OPEN, EMAIL_CLICK, WHITEPAPER = 0, 1, 2, 3
NEWSLETTER, WEBINAR_REG, WEBINAR_ATT, TRIAL, DEMO, CONTACT, UNSUB = 4, 5, 6, 7, 8, 9, 10

# Four intent tiers (intent quartiles of the (0, 1) scale): the higher, the more clicks,
# downloads and bottom-of-funnel pages.
_TYPE_MIX = [
    Table([(PAGE_VIEW, 0.55), (EMAIL_OPEN, 0.35), (EMAIL_CLICK, 0.06), (WHITEPAPER, 0.02)]),
    Table([(PAGE_VIEW, 0.56), (EMAIL_OPEN, 0.30), (EMAIL_CLICK, 0.09), (WHITEPAPER, 0.05)]),
    Table([(PAGE_VIEW, 0.58), (EMAIL_OPEN, 0.25), (EMAIL_CLICK, 0.11), (WHITEPAPER, 0.06)]),
    Table([(PAGE_VIEW, 0.60), (EMAIL_OPEN, 0.20), (EMAIL_CLICK, 0.13), (WHITEPAPER, 0.07)]),
]
_BLOG = [
    "/blog/what-is-an-mql", "/blog/lead-scoring-101", "/blog/bant-is-not-dead",
    "/blog/speed-to-lead", "/blog/b2b-funnel-metrics", "/blog/nurture-that-works",
    "/blog/fit-vs-engagement", "/blog/sdr-playbook",
]  # fmt: skip


def _url_table(*shares: float) -> Table:
    """Page-view URLs for shares of (/, all blog posts, /pricing, /features, /docs, /careers)."""
    home, blog, pricing, features, docs, careers = shares
    pages = [("/", home), ("/pricing", pricing), ("/features", features), ("/docs", docs)]
    pages += [("/careers", careers)] + [(u, blog / len(_BLOG)) for u in _BLOG]
    return Table(pages)


_URL_MIX = [
    _url_table(0.25, 0.48, 0.03, 0.07, 0.05, 0.12),
    _url_table(0.22, 0.42, 0.06, 0.12, 0.10, 0.08),
    _url_table(0.18, 0.34, 0.12, 0.16, 0.16, 0.04),
    _url_table(0.14, 0.26, 0.18, 0.18, 0.22, 0.02),
]
_CLICK_URLS = ["/blog/lead-scoring-101", "/pricing", "/features", "/webinars", "/docs"]

_BURST = 6.0  # a new lead is 1 + 6 times as active as its baseline, decaying ...
_BURST_TAU = 7 * DAY  # ... with this time constant
_MQL_AT_EVENT = 6  # score-based MQLs happen at the lead's 6th event


class Events:
    """The event simulation over a population: hidden intent, one-off events, hourly draws."""

    def __init__(self, people: list[Hidden], n_events: int, seed: int, start: int, days: int):
        self.seed = seed
        self.start = start
        self.end = start + days * DAY
        self.people = people
        self.rng = rng = random.Random(f"leadgate-demo/{seed}/events")
        n = len(people)
        self.intent: list[float] = []
        self.tier = bytearray(n)
        self.unsub_at = [self.end + 1] * n
        self.hand_at = [0] * n
        self.hand_type = bytearray(n)
        self.count = [0] * n
        self.kth_at = [0] * n
        base: list[float] = []
        burst: list[float] = []
        groups: list[list[tuple[int, int, int, Row]]] = []
        for i, p in enumerate(people):
            z = 0.8 * p.fit_z + SOURCE_BONUS[p.source] + rng.gauss(0.0, 1.0) - 1.3
            intent = 1.0 / (1.0 + math.exp(-z))
            self.intent.append(intent)
            self.tier[i] = min(3, int(intent * 4))
            rate = math.exp(rng.gauss(0.0, 1.0)) * (0.2 + 2.5 * intent)
            base.append(rate)
            burst.append(rate * _BURST * math.exp((p.created - start) / _BURST_TAU))
            group = self._one_offs(i, p, intent)
            if group:
                groups.append(group)
        self.cum_base = list(accumulate(base))
        self.cum_burst = list(accumulate(burst))

        total = sum(len(g) for g in groups)
        if total > n_events:
            # Too few events for the one-offs alone: keep whole leads, so no lead is left
            # with an attendance and no registration.
            rng.shuffle(groups)
            kept: list[list[tuple[int, int, int, Row]]] = []
            total = 0
            for g in groups:
                if total + len(g) <= n_events:
                    kept.append(g)
                    total += len(g)
            groups = kept
        self.budget = n_events - total
        self.scheduled: dict[int, list[tuple[int, int, int, int, Row | None]]] = {}
        seq = -1
        for g in groups:
            for t, i, code, props in g:
                if code == UNSUB:
                    self.unsub_at[i] = t
                elif code in (DEMO, CONTACT):
                    self.hand_at[i] = t
                    self.hand_type[i] = code
                # Negative sequence numbers: one-offs sort before draws at the same second.
                self.scheduled.setdefault((t - start) // HOUR, []).append((t, i, code, seq, props))
                seq -= 1

    def _one_offs(self, i: int, p: Hidden, intent: float) -> list[tuple[int, int, int, Row]]:
        """The lead's one-off events (time, lead, type, properties), those inside the window."""
        rng, r, end = self.rng, self.rng.random, self.end
        out: list[tuple[int, int, int, Row]] = []
        c = p.created

        def later(mean_days: float) -> int:
            return c + 1 + int(rng.expovariate(1.0 / (mean_days * DAY)))

        if p.source == "content_syndication":
            t = c + rng.randint(5, 120)
            out.append((t, i, WHITEPAPER, {"asset": ASSETS[rng.randrange(len(ASSETS))]}))
        if r() < 0.08 + 0.20 * intent:
            out.append((later(12), i, NEWSLETTER, {"list": "monthly"}))
        if p.source == "webinar" or r() < 0.04 + 0.16 * intent:
            t = c + rng.randint(60, 900) if p.source == "webinar" else later(30)
            webinar_day = t + rng.randint(1, 14) * DAY
            name = "webinar-" + datetime.fromtimestamp(webinar_day, UTC).strftime("%Y-%m-%d")
            out.append((t, i, WEBINAR_REG, {"webinar": name}))
            if r() < 0.35 + 0.3 * intent:
                out.append((webinar_day + rng.randint(0, 1800), i, WEBINAR_ATT, {"webinar": name}))
        if r() < 0.01 + 0.08 * intent * intent:
            out.append((later(20), i, TRIAL, {"plan": ("team", "pro")[rng.randrange(2)]}))
        if r() < 0.005 + 0.14 * intent * intent:
            if r() < 0.65:
                out.append((later(25), i, DEMO, {"form": "/demo"}))
            else:
                out.append((later(25), i, CONTACT, {"form": "/contact-sales"}))
        if r() < 0.07 * (1.0 - intent):
            out.append((later(45), i, UNSUB, {"list": "all"}))
        return [e for e in out if e[0] < end]

    def batches(self) -> Iterator[list[Row]]:
        """Events hour by hour, each hour's list in occurred_at order."""
        start, seed, rng = self.start, self.seed, self.rng
        r = rng.random
        created = [p.created for p in self.people]
        emails = [p.email for p in self.people]
        n_hours = (self.end - start) // HOUR
        cum_base, cum_burst = self.cum_base, self.cum_burst
        tier, unsub_at, count, kth_at = self.tier, self.unsub_at, self.count, self.kth_at
        clock = Clock()
        id_prefix = f"ev-{seed}-"
        # Normalised cumulative tables, inlined: the draw loop runs once per event.
        type_cum = [normalised(t.cum) for t in _TYPE_MIX]
        url_cum = [normalised(t.cum) for t in _URL_MIX]
        url_values = [t.values for t in _URL_MIX]
        hour, prefix, newsletter = -1, "", ""

        # Pass 1: each hour's share of the repeating events.
        active: list[int] = []
        decay: list[float] = []
        weight: list[float] = []
        for h in range(n_hours):
            hs = start + h * HOUR
            k = bisect_right(created, hs + HOUR - 2)  # created <= hour end - 2 leaves a second
            d = math.exp(-(hs + HOUR / 2 - start) / _BURST_TAU)
            active.append(k)
            decay.append(d)
            weight.append(hour_factor(hs) * (cum_base[k - 1] + d * cum_burst[k - 1]) if k else 0.0)
        cum_weight = list(accumulate(weight))
        total_weight = cum_weight[-1] if cum_weight else 0.0

        n = 0
        seq = 0
        placed = 0
        for h in range(n_hours):
            hs = start + h * HOUR
            he = hs + HOUR
            target = round(self.budget * cum_weight[h] / total_weight) if total_weight else 0
            draws = target - placed
            placed = target
            batch: list[tuple[int, int, int, int, Row | None]] = self.scheduled.pop(h, [])
            if draws:
                k = active[h]
                d = decay[h]
                b_total = cum_base[k - 1]
                both = b_total + d * cum_burst[k - 1]
                for _ in range(draws):
                    u = r() * both
                    if u < b_total:
                        i = bisect_right(cum_base, u, 0, k)
                    else:
                        i = bisect_right(cum_burst, (u - b_total) / d, 0, k)
                    if i >= k:
                        i = k - 1
                    t = hs + int(r() * HOUR)
                    c = created[i]
                    if t <= c:
                        t = c + 1 + int(r() * (he - 1 - c))
                    code = bisect_right(type_cum[tier[i]], r())
                    if code in (EMAIL_OPEN, EMAIL_CLICK) and unsub_at[i] < t:
                        code = PAGE_VIEW  # no mail reaches an unsubscribed lead
                    batch.append((t, i, code, seq, None))
                    seq += 1
            if not batch:
                continue
            batch.sort()
            out: list[Row] = []
            for t, i, code, _, props in batch:
                if t // HOUR != hour:
                    hour = t // HOUR
                    prefix = clock.prefix(t)
                    newsletter = "nl-" + prefix[:7]
                if props is None:
                    if code == PAGE_VIEW:
                        ti = tier[i]
                        props = {"url": url_values[ti][bisect_right(url_cum[ti], r())]}
                    elif code == WHITEPAPER:
                        props = {"asset": ASSETS[int(r() * len(ASSETS))]}
                    else:
                        props = {"campaign": newsletter}
                        if code == EMAIL_CLICK:
                            props["url"] = _CLICK_URLS[int(r() * len(_CLICK_URLS))]
                c = count[i] + 1
                count[i] = c
                if c == _MQL_AT_EVENT:
                    kth_at[i] = t
                out.append(
                    {
                        "id": f"{id_prefix}{n}",
                        "email": emails[i],
                        "type": TYPES[code],
                        "occurred_at": prefix + MMSS[t % HOUR],
                        "properties": props,
                    }
                )
                n += 1
            yield out
