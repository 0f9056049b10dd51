"""Synthetic people and their companies, in `created_at` order.

Leads (`iter_leads`), in `created_at` order:

* Intake over time: hourly weights = hour-of-day (UTC; the European working day
  plus the US morning, lowest at night) × weekday (B2B forms are filled on
  workdays: Saturday and Sunday ~30 % of a Tuesday) × a linear 1.0→1.3 growth over
  the window (marketing spend usually ramps). Leads are placed by drawing sorted
  uniform order statistics through the inverse of that curve, so they stream in
  time order without sorting. No lead is created in the window's last hour, so
  every lead has room for events.
* Accounts: about one per three leads. Company size is log-normal (median ~60
  employees, σ 1.7: mostly SMBs, a long tail of enterprises up to 250k). Bigger
  accounts send more leads (weight ∝ size^0.35 × log-normal noise), so company
  domains are shared by several leads. Industry and country are skewed as in a
  typical EU/US SaaS CRM: US ~34 %, GB 11 %, DE 9 %, IN 7 %, FR 6 %, …
* Job titles by seniority class: C-level 3 %, VP 5 %, Head 6 %, Director 10 %,
  Manager 24 %, individual contributors 33 %, other (founder, consultant,
  freelancer) 6 %, students 5 %, interns 3 % (webinars and whitepapers attract
  students; a playbook must cope with them). Some C-levels are written "CEO"/"CTO".
* Email: ~22 % of employees sign up with a free-mail address (gmail.com,
  yahoo.com, hotmail.com, outlook.com and a few national providers), students and
  freelancers ~75 %. Company addresses follow one pattern per account
  (first.last, flast, first, first_last), as real mail servers do. Emails are
  unique, lowercase ASCII (accents folded), no stray whitespace.
* Source: organic 28 %, paid_search 17 %, linkedin 12 %, webinar 8 %, event 7 %,
  content_syndication 6 %, referral 6 %, partner 5 %, email 4 %, direct 4 %.
  Campaign names carry the quarter or month, as ad platforms' naming conventions do.

Example: `next(lead_stream(1, 42, start, 180))` is a (lead dict, Hidden) pair: the
lead as a CRM exports it, and what the event and sales simulation needs about it.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from leadgate.demo.base import HOUR, Clock, Row, Table, hour_factor
from leadgate.demo.names import (
    CORE_COUNTRIES,
    CORE_INDUSTRIES,
    COUNTRIES,
    FOLDED,
    FREE_MAIL,
    FREE_MAIL_LOCAL,
    INDUSTRIES,
    INDUSTRY_SUFFIX,
    LOCALE,
    LOCALES,
    NAMES,
    SOURCES,
    STEM_A,
    STEM_B,
    STEM_C,
    STEMS,
    TITLE_CLASS,
    TITLES,
    TLD,
    UNIVERSITIES,
    campaign,
)


@dataclass(slots=True)
class _Account:
    name: str
    domain: str
    size: int
    industry: str
    country: str
    pattern: int  # the mail server's local-part convention


def _accounts(n_leads: int, seed: int) -> tuple[list[_Account], Table]:
    """About one account per three leads, and a table picking an account for a lead."""
    rng = random.Random(f"leadgate-demo/{seed}/accounts")
    r = rng.random
    n = max(1, n_leads // 3)
    offset = rng.randrange(STEMS)
    accounts: list[_Account] = []
    weights: list[tuple[int, float]] = []
    for a in range(n):
        # 7919 is prime and coprime to STEMS: consecutive accounts get unrelated names.
        combo = (a * 7919 + offset) % STEMS
        ia, rest = divmod(combo, len(STEM_B) * len(STEM_C))
        ib, ic = divmod(rest, len(STEM_C))
        stem = STEM_A[ia] + STEM_B[ib] + STEM_C[ic]
        if a >= STEMS:
            stem += str(a // STEMS + 1)
        industry = INDUSTRIES.pick(r())
        country = COUNTRIES.pick(r())
        suffixes = INDUSTRY_SUFFIX[industry]
        size = min(250_000, max(1, round(math.exp(rng.gauss(math.log(60), 1.7)))))
        # A third of non-US companies use .com anyway.
        tld = ".com" if country != "US" and r() < 0.33 else TLD[country]
        accounts.append(
            _Account(
                name=f"{stem} {suffixes[rng.randrange(len(suffixes))]}",
                domain=stem.lower() + tld,
                size=size,
                industry=industry,
                country=country,
                pattern=rng.randrange(4),
            )
        )
        weights.append((a, size**0.35 * math.exp(rng.gauss(0, 0.6))))
    return accounts, Table(weights)


def hidden_fit(title_class: str, size: int, free_mail: bool, industry: str, country: str) -> float:
    """Hidden fit in roughly [-4, 5]: what a sensible playbook would reward."""
    points = TITLES[title_class][1]
    if 50 <= size <= 5000:
        points += 1.5
    elif size > 5000:
        points += 1.0
    elif size <= 10:
        points -= 0.5
    if free_mail:
        points -= 1.0
    if industry in CORE_INDUSTRIES:
        points += 0.5
    if country in CORE_COUNTRIES:
        points += 0.3
    return points


@dataclass(slots=True)
class Hidden:
    """What the event and action simulation needs to know about a lead."""

    email: str
    created: int
    fit_z: float
    source: str
    student: bool
    size: int = 0
    country: str = ""


def lead_stream(n_leads: int, seed: int, start: int, days: int) -> Iterator[tuple[Row, Hidden]]:
    """Leads in created_at order, each with its hidden attributes."""
    rng = random.Random(f"leadgate-demo/{seed}/leads")
    r = rng.random
    clock = Clock()
    accounts, account_table = _accounts(n_leads, seed)
    n_hours = days * 24
    growth = 0.3 / max(1, n_hours - 1)
    # Intake curve over every hour but the last (leads need room for events).
    intake = list(
        accumulate(hour_factor(start + h * HOUR) * (1.0 + growth * h) for h in range(n_hours - 1))
    )
    intake_total = intake[-1] if intake else 0.0
    seen: set[str] = set()
    next_suffix: dict[str, int] = {}
    x = 0.0
    for i in range(n_leads):
        # Sequential uniform order statistics: the i-th smallest of n_leads uniforms.
        x += (1.0 - x) * (1.0 - (1.0 - r()) ** (1.0 / (n_leads - i)))
        if n_hours > 1:
            target = min(x, 0.999999999) * intake_total
            h = min(bisect_right(intake, target), n_hours - 2)
            before = intake[h - 1] if h else 0.0
            frac = (target - before) / (intake[h] - before)
            created = start + h * HOUR + min(HOUR - 1, int(frac * HOUR))
        else:
            created = start + int(x * (HOUR - 2))

        cls = TITLE_CLASS.pick(r())
        titles = TITLES[cls][2]
        title = titles[rng.randrange(len(titles))]
        if cls in ("student", "intern"):
            company, uni_domain, country, size = UNIVERSITIES[rng.randrange(len(UNIVERSITIES))]
            industry = "Education"
            company_domain = uni_domain
            pattern = 0
            free_share = 0.75
        else:
            acc = accounts[account_table.pick(r())]
            company, company_domain, country = acc.name, acc.domain, acc.country
            size, industry, pattern = acc.size, acc.industry, acc.pattern
            free_share = 0.75 if cls == "other" else 0.22
        # US staff is diverse: a quarter of names come from any locale.
        locale = LOCALE[country]
        if locale == "en" and r() < 0.25:
            locale = LOCALES[rng.randrange(len(LOCALES))]
        firsts, lasts = NAMES[locale]
        first = firsts[rng.randrange(len(firsts))]
        last = lasts[rng.randrange(len(lasts))]
        f, la = FOLDED[first], FOLDED[last]

        free_mail = r() < free_share
        if free_mail:
            local_extra = FREE_MAIL_LOCAL.get(country)
            domain = local_extra[0] if local_extra and r() < local_extra[1] else FREE_MAIL.pick(r())
            style = rng.randrange(5)
            if style == 0:
                local = f"{f}.{la}"
            elif style == 1:
                local = f"{f}{la}"
            elif style == 2:
                local = f"{f}.{la}{rng.randint(1, 99)}"
            elif style == 3:
                local = f"{f}_{la}"
            else:
                local = f"{f[0]}{la}{rng.randint(1960, 2005)}"
        else:
            domain = company_domain
            local = (f"{f}.{la}", f"{f[0]}{la}", f, f"{f}_{la}")[pattern]
        email = f"{local}@{domain}"
        if email in seen:
            # Real systems disambiguate namesakes with a number: john.smith2@.
            n = next_suffix.get(email, 1)
            while True:
                n += 1
                candidate = f"{local}{n}@{domain}"
                if candidate not in seen:
                    break
            next_suffix[email] = n
            email = candidate
        seen.add(email)

        source = SOURCES.pick(r())
        created_at = clock.iso(created)
        lead: Row = {
            "email": email,
            "first_name": first,
            "last_name": last,
            "company": company,
            "job_title": title,
            "company_size": size,
            "industry": industry,
            "country": country,
            "source": source,
            "campaign": campaign(source, rng, created_at),
            "created_at": created_at,
        }
        fit_z = (hidden_fit(cls, size, free_mail, industry, country) - 2.3) / 1.5
        yield (
            lead,
            Hidden(email, created, fit_z, source, cls in ("student", "intern"), size, country),
        )
