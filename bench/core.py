"""The pure core alone: events through `LeadProcessor` in memory, no store, no HTTP.

    .venv/bin/python bench/core.py [--leads 5000] [--events 100000] [--repeat 3] [--bare]
        [--profile FILE]

Data: the demo generator's leads (with their attributes; `--bare` gives them none, as
the API's leads created by their first event have) and events (seed 7, as bench/ingest.py),
parsed beforehand. Measured, each the best of `--repeat` runs, in CPU time:
- (a) API batches: the events in time order, 1,000 at a time; per batch, each lead's
  events through `apply_events(lead, evs, now)` (timers, stage moves, the rescore) with
  `now` the batch's last event, as the HTTP batch path calls it after parsing;
- (b) full replay: each lead's whole history through `derive` (as a backtest's exact
  replay and a re-derivation do), from a fresh state;
- the floor: a plain Python loop over the same events, one dict update each
  (`last[email] = at`): what any per-event Python costs at the least.
A digest of every lead's result (scores, grades, stage history, timers, floats by their
`repr`) is printed: two versions of the core that print the same digest behaved the same
on this data. Run it against another checkout with `PYTHONPATH=OTHER/src`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This checkout's core, unless PYTHONPATH names another (to compare two versions).
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import load_average, machine


def _data(n_leads: int, n_events: int, seed: int, bare: bool) -> tuple[list, dict]:  # type: ignore[type-arg]
    from leadgate.demo.generator import iter_events, iter_leads
    from leadgate.ingest.validate import parse_event

    attrs: dict[str, dict[str, object]] = {}
    for row in iter_leads(n_leads=n_leads, seed=seed):
        email = str(row["email"]).strip().lower()
        attrs[email] = (
            {}
            if bare
            else {
                k: v for k, v in row.items() if k not in ("email", "created_at") and v is not None
            }
        )
    events = [parse_event(ev, 2e9) for ev in iter_events(n_leads, n_events, seed=seed)]
    events.sort(key=lambda e: (e.at, e.id))
    return events, attrs


def _digest(leads: dict, transitions: dict) -> str:  # type: ignore[type-arg]
    h = hashlib.sha256()
    for email in sorted(leads):
        lead = leads[email]
        c = lead.card
        h.update(
            repr(
                (
                    email,
                    lead.stage,
                    lead.stage_at,
                    lead.stage_reason,
                    lead.exit_armed,
                    lead.next_due_at,
                    lead.timer_spent_at,
                    None
                    if c is None
                    else (c.fit, c.engagement, c.fit_grade, c.engagement_grade, c.as_of),
                    lead.engagement_state.to_json(),
                    [
                        (t.from_stage, t.to_stage, t.at, t.actor, t.reason)
                        for t in transitions.get(email, [])
                    ],
                )
            ).encode()
        )
    return h.hexdigest()[:16]


def run_batches(proc, events, attrs, batch: int) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    """(a): CPU seconds and the digest."""
    from leadgate.leads import LeadState

    leads: dict[str, LeadState] = {}
    trans: dict[str, list] = {}  # type: ignore[type-arg]
    c0 = time.process_time()
    for i in range(0, len(events), batch):
        chunk = events[i : i + batch]
        now = chunk[-1].at
        per: dict[str, list] = {}  # type: ignore[type-arg]
        for ev in chunk:
            per.setdefault(ev.email, []).append(ev)
        for email, evs in per.items():
            lead = leads.get(email)
            if lead is None:
                lead = leads[email] = LeadState(
                    email, dict(attrs.get(email, {})), created_at=evs[0].at
                )
            ts = proc.apply_events(lead, evs, now)
            if ts:
                trans.setdefault(email, []).extend(ts)
    cpu = time.process_time() - c0
    return cpu, _digest(leads, trans)


def run_replay(proc, events, attrs) -> tuple[float, int, str]:  # type: ignore[no-untyped-def]
    """(b): CPU seconds, leads and the digest."""
    from leadgate.leads import LeadState
    from leadgate.leads.derivation import Era, derive

    per: dict[str, list] = {}  # type: ignore[type-arg]
    for ev in events:
        per.setdefault(ev.email, []).append(ev)
    now = events[-1].at
    leads = {
        e: LeadState(e, dict(attrs.get(e, {})), created_at=evs[0].at) for e, evs in per.items()
    }
    trans: dict[str, list] = {}  # type: ignore[type-arg]
    eras = [Era(-math.inf, proc)]
    c0 = time.process_time()
    for email, evs in per.items():
        trans[email] = derive(leads[email], evs, (), eras, now)
    cpu = time.process_time() - c0
    return cpu, len(per), _digest(leads, trans)


def run_floor(events, batch: int) -> float:  # type: ignore[no-untyped-def]
    last: dict[str, float] = {}
    c0 = time.process_time()
    for i in range(0, len(events), batch):
        for ev in events[i : i + batch]:
            last[ev.email] = ev.at
    return time.process_time() - c0


def best(n: int, f: Callable[[], tuple]) -> tuple:  # type: ignore[type-arg]
    out = None
    for _ in range(n):
        gc.collect()
        r = f()
        if out is None or r[0] < out[0]:
            out = r
    assert out is not None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leads", type=int, default=5000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bare", action="store_true", help="leads without attributes (as the API's)")
    ap.add_argument("--profile", help="write a cProfile of one (a) and one (b) run to FILE")
    args = ap.parse_args()

    from leadgate.leads import LeadProcessor
    from leadgate.playbook.loader import bundled_playbook

    pb, _ = bundled_playbook()
    proc = LeadProcessor(pb)
    events, attrs = _data(args.leads, args.events, args.seed, args.bare)
    n = len(events)
    print(f"core per-lead path | {machine()}")
    print(
        f"data: {n:,} demo events over {args.leads:,} leads (seed {args.seed}"
        f"{', no attributes' if args.bare else ''}), bundled playbook, "
        f"batches of {args.batch:,}; {load_average()}; pid {os.getpid()}; "
        f"core from {Path(sys.modules['leadgate'].__file__ or '').parent}"
    )
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(run_batches, proc, events, attrs, args.batch)
        prof.runcall(run_replay, proc, events, attrs)
        prof.dump_stats(args.profile)
        print(f"profile written to {args.profile}")
        return
    fl = min(run_floor(events, args.batch) for _ in range(args.repeat))
    a_cpu, a_dig = best(args.repeat, lambda: run_batches(proc, events, attrs, args.batch))
    b_cpu, b_leads, b_dig = best(args.repeat, lambda: run_replay(proc, events, attrs))
    print(f"floor (one dict update an event)  {fl / n * 1e6:8.3f} µs/event")
    print(
        f"(a) API batches, apply_events     {a_cpu / n * 1e6:8.3f} µs/event  "
        f"{a_cpu:6.3f} CPU-s  {fl / a_cpu:6.1%} of floor  digest {a_dig}"
    )
    print(
        f"(b) full replay, derive           {b_cpu / n * 1e6:8.3f} µs/event  "
        f"{b_cpu / b_leads * 1e6:8.1f} µs/lead ({b_leads:,} leads)  digest {b_dig}"
    )
    print(load_average())


if __name__ == "__main__":
    main()
