"""The sales script: what people do with the MQLs of the synthetic funnel.

Actions (`generate(...).actions`): ground-truth sales outcomes. A lead becomes MQL
when it raises its hand (a few minutes after the event) or, for ~70 % of leads with
intent ≥ 0.55 and a non-poor fit, at its 6th event; about 9-10 % of leads get
there. Sales then works the MQL: of MQLs that had time to finish, ~60 % are
accepted (SAL), ~35 % qualify (SQL), ~20 % become opportunities (SQO) and ~8 %
customers — the usual inbound B2B benchmarks (conversion rises with intent).
The rest leave to `nurture` (reasons "not now", "no budget", "lost: price", …) or
`disqualified` ("student", "competitor", "spam", "outside territory"). Delays:
accept/reject median 2 h (some past a 1 h SLA), discovery call median 4 days,
opportunity median 3 days, close median 35 days. Nothing happens after the window
ends, so MQLs of the last weeks are still open.

What the reps record with a move, as the sales workflow requires: an `sql` action
carries `qualification` (the BANT answers, all met), a SAL leaving for nurture the
answer behind its reason, an `sqo` action an `opportunity` (amount by company size,
currency by country, expected close). These are computed, not drawn, so they leave
the random streams alone. `DemoData.reps` is the team the actors belong to.

Example: `actions(sim, 42)` is a list such as
`[{"email": "…", "to": "sal", "at": "2026-01-05T10:12:00Z", "actor": "bdr:anna.rossi",
"reason": "accepted"}, …]` sorted by `at`.
"""

from __future__ import annotations

import math
import random

from leadgate.demo.base import DAY, HOUR, Clock, Row, Table
from leadgate.demo.events import TYPES, Events
from leadgate.demo.people import Hidden

#: A small inbound team: BDRs work the MQLs, AEs the SQLs (one EMEA, one North America
#: team, each in its own office hours).
TEAM: tuple[Row, ...] = (
    {"name": "anna.rossi", "role": "bdr", "team": "emea", "timezone": "Europe/Rome"},
    {"name": "mads.nielsen", "role": "bdr", "team": "emea", "timezone": "Europe/Copenhagen"},
    {"name": "emma.clark", "role": "bdr", "team": "na", "timezone": "America/New_York"},
    {"name": "lucas.martin", "role": "bdr", "team": "emea", "timezone": "Europe/Paris"},
    {"name": "giulia.bianchi", "role": "ae", "team": "emea", "timezone": "Europe/Rome"},
    {"name": "james.wright", "role": "ae", "team": "na", "timezone": "America/Chicago"},
    {"name": "sofie.jensen", "role": "ae", "team": "emea", "timezone": "Europe/Copenhagen"},
)
_BDRS = [f"bdr:{r['name']}" for r in TEAM if r["role"] == "bdr"]
_AES = [f"ae:{r['name']}" for r in TEAM if r["role"] == "ae"]
# Reasons as the bundled playbook lists them (`stages.reasons`); a detail goes after
# "reason:", which the playbook accepts as that reason.
_MQL_REJECT = Table([("not now", 40), ("no response", 30), ("no budget yet", 15), ("timing", 15)])
_MQL_DISQUALIFY = Table([("spam", 40), ("competitor", 30), ("outside territory", 30)])
_SAL_DROP = Table(
    [
        ("no budget yet", 35),
        ("not now: no authority", 20),
        ("not now: no need", 25),
        ("not now", 20),
    ]
)
_SQL_DROP = Table([("not now", 50), ("not now: no decision maker", 30), ("no budget yet", 20)])
# What discovery found out when a SAL leaves for nurture: the BANT answer behind the reason.
_SAL_DROP_ANSWERS = {
    "no budget yet": {"budget": "not_met", "need": "met"},
    "not now: no authority": {"authority": "not_met", "need": "met"},
    "not now: no need": {"need": "not_met"},
    "not now": {"timeline": "not_met", "need": "met"},
}
_BANT_MET = {"budget": "met", "authority": "met", "need": "met", "timeline": "met"}
_EUR = {"DE", "FR", "IT", "NL", "ES", "BE", "AT", "IE", "FI", "PT"}


def _opportunity(p: Hidden, close_at: int, clock: Clock) -> Row:
    """The deal an AE records at SQO: annual value grows with company size, sub-linearly
    (seats, not headcount), in the buyer's currency; the close date is the AE's forecast
    (here: when the deal really closes). No random draws, so the action stream is the one
    the rates were designed on."""
    amount = round(4800 * max(1, p.size) ** 0.35, -2)
    currency = "GBP" if p.country == "GB" else "EUR" if p.country in _EUR else "USD"
    return {"amount": amount, "currency": currency, "close_date": clock.iso(close_at)[:10]}


_LOST = Table(
    [("lost: price", 35), ("lost: competitor", 30), ("lost: no decision", 25), ("lost: timing", 10)]
)


def actions(ev: Events, seed: int) -> list[Row]:
    """Ground-truth stage changes, in time order; see the module docstring for the rates."""
    rng = random.Random(f"leadgate-demo/{seed}/actions")
    r = rng.random
    clock = Clock()
    out: list[_Move] = []
    for i, p in enumerate(ev.people):
        intent = ev.intent[i]
        if ev.hand_at[i]:
            at = ev.hand_at[i] + rng.randint(30, 600)
            why = f"hand raiser: {TYPES[ev.hand_type[i]]}"
            boost = 1.1  # a demo request converts better than a score
        elif ev.kth_at[i] and intent >= 0.55 and p.fit_z > -0.5 and r() < 0.7:
            at = ev.kth_at[i] + rng.randint(60, 3600)
            why = "fit and engagement over the MQL threshold"
            boost = 1.0
        else:
            continue
        if at >= ev.end:
            continue
        _walk(rng, clock, p, intent, at, why, boost, ev.end, out)
    return _rows(out, clock)


def reactions(ev: Events, seed: int, scripted: set[str]) -> list[Row]:
    """What the team would do with each other lead if the playbook made it an MQL: a walk
    as `actions` draws one, dated from an MQL at the epoch (1970-01-01T00:00:00Z), for
    `timeline.anchor` to move to the playbook's real MQL. Leads in `scripted` (which have
    a walk in `actions`) get none. Its own random stream: `actions` is unchanged."""
    rng = random.Random(f"leadgate-demo/{seed}/reactions")
    clock = Clock()
    out: list[_Move] = []
    for i, p in enumerate(ev.people):
        if p.email in scripted:
            continue
        if ev.hand_at[i]:
            why, boost = f"hand raiser: {TYPES[ev.hand_type[i]]}", 1.1
        else:
            why, boost = "fit and engagement over the MQL threshold", 1.0
        _walk(rng, clock, p, ev.intent[i], 0, why, boost, math.inf, out)
    return _rows(out, clock)


# (at, tie-break, email, to, actor, reason, what the rep records with the move)
_Move = tuple[int, int, str, str, str, str, Row]


def _walk(
    rng: random.Random,
    clock: Clock,
    p: Hidden,
    intent: float,
    at: int,
    why: str,
    boost: float,
    end: float,
    out: list[_Move],
) -> None:
    """One lead's walk from its MQL at `at`: mql → sal → sql → sqo → customer, or out to
    nurture or disqualified at one step; nothing at or after `end`."""
    r = rng.random

    def lognormal(median: float, sigma: float) -> int:
        return max(60, int(median * math.exp(rng.gauss(0.0, sigma))))

    m = min(1.4, max(0.6, 1.0 + 0.8 * (intent - 0.65))) * boost
    bdr = _BDRS[rng.randrange(len(_BDRS))]
    ae = _AES[rng.randrange(len(_AES))]
    # (stage, who records it, reason, delay to the next decision, P(next), drop reasons)
    chain: list[tuple[str, str, str, int, float, Table | None]] = [
        ("mql", "rule:mql", why, lognormal(2 * HOUR, 1.3), 0.60 * m, None),
        ("sal", bdr, "accepted", lognormal(4 * DAY, 0.6), 0.583 * m, _SAL_DROP),
        ("sql", bdr, "BANT 4/4", lognormal(3 * DAY, 0.6), 0.571 * m, _SQL_DROP),
        ("sqo", ae, "opportunity accepted", lognormal(35 * DAY, 0.5), 0.40 * m, _LOST),
        ("customer", ae, "closed won", 0, 0.0, None),
    ]
    for step, (stage, actor, reason, delay, p_next, drop) in enumerate(chain):
        extra: Row = {}
        if stage == "sql":
            extra = {"qualification": dict(_BANT_MET)}  # discovery passed BANT 4/4
        elif stage == "sqo":
            extra = {"opportunity": _opportunity(p, at + delay, clock)}
        out.append((at, len(out), p.email, stage, actor, reason, extra))
        if stage == "customer":
            break
        at += delay
        if at >= end:
            break  # still open when the window closes
        decider = bdr if step < 2 else ae
        if step == 0 and p.student:
            out.append((at, len(out), p.email, "disqualified", bdr, "student", {}))
            break
        if r() >= p_next:
            if drop is None:  # a rejected MQL: a quarter are no fit at all
                if r() < 0.25:
                    to, why_drop = "disqualified", _MQL_DISQUALIFY.pick(r())
                else:
                    to, why_drop = "nurture", _MQL_REJECT.pick(r())
            else:
                to, why_drop = "nurture", drop.pick(r())
            extra = {}
            if step == 1 and why_drop in _SAL_DROP_ANSWERS:
                extra = {"qualification": dict(_SAL_DROP_ANSWERS[why_drop])}
            out.append((at, len(out), p.email, to, decider, why_drop, extra))
            break


def _rows(out: list[_Move], clock: Clock) -> list[Row]:
    out.sort()
    return [
        {"email": email, "to": to, "at": clock.iso(at), "actor": actor, "reason": reason, **extra}
        for at, _, email, to, actor, reason, extra in out
    ]
