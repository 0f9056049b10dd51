"""Seeded synthetic CRM data: leads, their marketing events and sales outcomes.

The data imitates the inbound funnel of a mid-market B2B SaaS vendor selling to
Europe and North America. It is random but *shaped*: every distribution below is
there because real marketing data has it, and scoring, routing and funnel reports
only get exercised by data that has it.

Determinism: everything is drawn from `random.Random` instances seeded with strings
derived from `seed` (string seeds are hashed with SHA-512, so they do not depend on
PYTHONHASHSEED or on the platform). Leads, events and actions use three separate
streams, so `iter_leads` need not simulate events and `iter_events` need not build
lead dicts, yet both give exactly what `generate` gives for the same arguments.
No numpy: the stdlib `random` stream is stable across Python releases for the
calls used here (`random`, `gauss`, `expovariate`, `randint`), numpy's legacy
global state is not a contract we want to lean on.

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
"""

from __future__ import annotations

import math
import random
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

__all__ = ["DEFAULT_START", "DemoData", "generate", "iter_events", "iter_leads"]

#: The default window start: fixed (not "now") so one seed always gives one data set.
#: 2025-11-03 + 180 days ends on 2026-05-02, in the past for the test clock and today.
DEFAULT_START = datetime(2025, 11, 3, tzinfo=UTC)

HOUR = 3600
DAY = 86400
MAX_DAYS = 3650  # the burst weights are exp(age / 7 days): past ~13 years they overflow

Row = dict[str, Any]


@dataclass
class DemoData:
    """A generated data set: leads (by created_at), events (by occurred_at), actions (by at)."""

    leads: list[Row]
    events: list[Row]
    actions: list[Row]
    #: The sales team the actions' actors belong to: `Sales.add_rep` keyword arguments.
    reps: list[Row] = field(default_factory=lambda: [dict(r) for r in TEAM])


# --- small helpers ------------------------------------------------------------------------


class _Table:
    """A weighted choice table: pick(u) for u uniform in [0, 1)."""

    __slots__ = ("cum", "total", "values")

    def __init__(self, pairs: Sequence[tuple[Any, float]]):
        self.values = [v for v, _ in pairs]
        self.cum = list(accumulate(float(w) for _, w in pairs))
        self.total = self.cum[-1]

    def pick(self, u: float) -> Any:
        i = bisect_right(self.cum, u * self.total)
        return self.values[i if i < len(self.values) else -1]


_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l", "đ": "d"})


def _ascii(name: str) -> str:
    """A name as an email local-part fragment: accents folded, only a-z."""
    text = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z")


def _words(text: str) -> list[str]:
    """Split a word list; an underscore joins particles ("van_den_Berg" is one surname)."""
    return [w.replace("_", " ") for w in text.split()]


class _Clock:
    """ISO 8601 UTC formatting with a per-hour prefix cache (formatting is the hot path)."""

    __slots__ = ("_hours",)

    def __init__(self) -> None:
        self._hours: dict[int, str] = {}

    def prefix(self, ts: int) -> str:
        h = ts // HOUR
        p = self._hours.get(h)
        if p is None:
            p = datetime.fromtimestamp(h * HOUR, UTC).strftime("%Y-%m-%dT%H:")
            self._hours[h] = p
        return p

    def iso(self, ts: int) -> str:
        return self.prefix(ts) + _MMSS[ts % HOUR]


_MMSS = [f"{s // 60:02d}:{s % 60:02d}Z" for s in range(HOUR)]


def _normalised(cum: list[float]) -> list[float]:
    """Cumulative weights scaled to end at exactly 1.0, for bisect with a bare random()."""
    return [c / cum[-1] for c in cum[:-1]] + [1.0]


def _resolve(start: datetime | None, days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}, got {days}")
    when = DEFAULT_START if start is None else start
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return math.floor(when.timestamp())


def _check_counts(n_leads: int, n_events: int) -> None:
    if n_leads < 0 or n_events < 0:
        raise ValueError("n_leads and n_events must not be negative")
    if n_leads == 0 and n_events > 0:
        raise ValueError("events need leads: n_leads is 0 but n_events is not")


# Hour of day in UTC: 07-16 is the European working day, 13-21 the US one.
_HOUR_OF_DAY = [
    0.15, 0.12, 0.10, 0.10, 0.12, 0.18, 0.30, 0.55, 0.85, 1.00, 1.05, 1.05,
    1.00, 1.15, 1.25, 1.25, 1.15, 0.95, 0.80, 0.70, 0.55, 0.40, 0.28, 0.20,
]  # fmt: skip
# Monday..Sunday: B2B forms are filled at work; Friday afternoons and weekends are quiet.
_WEEKDAY = [1.05, 1.10, 1.10, 1.00, 0.80, 0.30, 0.28]


def _hour_factor(ts: int) -> float:
    # 1970-01-01 was a Thursday, hence the +3 to get Monday = 0.
    return _HOUR_OF_DAY[(ts // HOUR) % 24] * _WEEKDAY[(ts // DAY + 3) % 7]


# --- lead attributes ----------------------------------------------------------------------

_COUNTRIES = _Table(
    [
        ("US", 34), ("GB", 11), ("DE", 9), ("IN", 7), ("FR", 6), ("NL", 4.5), ("IT", 4.5),
        ("ES", 4), ("BR", 4), ("DK", 3.5), ("CA", 3), ("AU", 2.5), ("SE", 2), ("IE", 1.5),
        ("CH", 1.5), ("PL", 1.5), ("SG", 1),
    ]
)  # fmt: skip
_TLD = {
    "US": ".com", "GB": ".co.uk", "DE": ".de", "IN": ".in", "FR": ".fr", "NL": ".nl",
    "IT": ".it", "ES": ".es", "BR": ".com.br", "DK": ".dk", "CA": ".ca", "AU": ".com.au",
    "SE": ".se", "IE": ".ie", "CH": ".ch", "PL": ".pl", "SG": ".sg",
}  # fmt: skip
_CORE_COUNTRIES = frozenset({"US", "GB", "DE", "FR", "IT", "DK", "NL", "SE", "ES"})

_INDUSTRIES = _Table(
    [
        ("Software", 22), ("Financial Services", 12), ("Professional Services", 11),
        ("Manufacturing", 10), ("Healthcare", 8), ("Retail & E-commerce", 8),
        ("Media & Marketing", 7), ("Education", 5), ("Telecommunications", 4),
        ("Logistics", 4), ("Energy", 3), ("Government", 3), ("Non-profit", 3),
    ]
)  # fmt: skip
_CORE_INDUSTRIES = frozenset(
    {"Software", "Financial Services", "Professional Services", "Media & Marketing"}
)
_INDUSTRY_SUFFIX = {
    "Software": ["Software", "Labs", "Technologies", "Systems", "AI"],
    "Financial Services": ["Capital", "Financial", "Payments", "Insurance", "Bank"],
    "Professional Services": ["Consulting", "Partners", "Advisory", "Group"],
    "Manufacturing": ["Industries", "Manufacturing", "Components", "Works"],
    "Healthcare": ["Health", "Medical", "Care", "Diagnostics"],
    "Retail & E-commerce": ["Retail", "Commerce", "Stores", "Brands"],
    "Media & Marketing": ["Media", "Studios", "Agency", "Digital"],
    "Education": ["Learning", "Academy", "Education"],
    "Telecommunications": ["Telecom", "Networks", "Communications"],
    "Logistics": ["Logistics", "Freight", "Shipping"],
    "Energy": ["Energy", "Power", "Renewables"],
    "Government": ["Agency", "Authority", "Services"],
    "Non-profit": ["Foundation", "Trust", "Initiative"],
}
_STEM_A = _words(
    "Nord Blue Bright Silver Iron Oak Swift Clear True Red North Stone Sun Cloud Data Lumen "
    "Vela Terra Aqua Quant Vertex Nimbus Orbit Pixel Helix Cobalt Ember Falcon Granite Harbor "
    "Indigo Juniper Kite Lark Maple Nova Opal Pine Quartz Raven Sage Tide Umber Vivid Willow "
    "Zephyr Alto Birch Cedar Delta"
)
_STEM_B = _words(
    "wave field point bridge works stack gate line path forge leaf peak light mark shift loop "
    "core sphere scale craft hub link mind ware yard port ridge spring vale wing"
)
_STEM_C = ["", "ia", "io", "ix", "ly", "on", "ar", "el", "um", "era"]
_STEMS = len(_STEM_A) * len(_STEM_B) * len(_STEM_C)

_UNIVERSITIES = [
    ("Technical University of Munich", "tum.de", "DE", 50000),
    ("University of Copenhagen", "ku.dk", "DK", 37000),
    ("Politecnico di Milano", "polimi.it", "IT", 47000),
    ("University of Manchester", "manchester.ac.uk", "GB", 46000),
    ("Sorbonne Université", "sorbonne-universite.fr", "FR", 55000),
    ("Delft University of Technology", "tudelft.nl", "NL", 27000),
    ("Universidad Complutense de Madrid", "ucm.es", "ES", 60000),
    ("University of Texas at Austin", "utexas.edu", "US", 52000),
    ("Arizona State University", "asu.edu", "US", 80000),
    ("Indian Institute of Technology Bombay", "iitb.ac.in", "IN", 13000),
    ("Universidade de São Paulo", "usp.br", "BR", 90000),
    ("University of Toronto", "utoronto.ca", "CA", 97000),
]

# Names by locale, so a Danish account is staffed mostly by Danish names.
_NAMES: dict[str, tuple[list[str], list[str]]] = {
    "en": (
        _words(
            "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Sarah "
            "Emily Daniel Jessica Thomas Olivia Matthew Emma Andrew Sophie Ryan Chloe Kevin"
        ),
        _words(
            "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Clark Walker Wright "
            "Hughes Evans Roberts Turner Cooper Murphy O'Brien Kelly Bennett Foster Hayes Price"
        ),
    ),
    "de": (
        _words(
            "Lukas Anna Jonas Lea Felix Hannah Maximilian Laura Paul Julia Leon Katharina Jürgen "
            "Sabine Tobias Miriam Stefan Claudia Matthias Anja"
        ),
        _words(
            "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
            "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger"
        ),
    ),
    "fr": (
        _words(
            "Louis Camille Hugo Léa Lucas Manon Jules Chloé Gabriel Inès Arthur Élodie Antoine "
            "Juliette Nicolas Margaux Théo Pauline"
        ),
        _words(
            "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
            "Lefèvre Michel Garcia Fournier Girard Rousseau"
        ),
    ),
    "it": (
        _words(
            "Giulia Marco Francesca Luca Chiara Alessandro Sara Matteo Valentina Lorenzo Federica "
            "Andrea Martina Davide Elisa Simone Giorgia Niccolò"
        ),
        _words(
            "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo "
            "Conti De_Luca Mancini Costa Giordano Rizzo Lombardi"
        ),
    ),
    "nordic": (
        _words(
            "Mads Sofie Frederik Ida Mikkel Freja Søren Anne Rasmus Mette Emil Astrid Jesper Line "
            "Anders Karin Erik Ingrid Lars Maja"
        ),
        _words(
            "Nielsen Jensen Hansen Pedersen Andersen Christensen Larsen Sørensen Rasmussen "
            "Jørgensen Madsen Kristensen Olsen Thomsen Johansson Lindqvist Berg Holm"
        ),
    ),
    "nl": (
        _words(
            "Daan Emma Sem Julia Lars Sanne Bram Fleur Thijs Lotte Ruben Anouk Jeroen Marieke "
            "Pieter Femke"
        ),
        _words(
            "de_Jong Jansen de_Vries van_den_Berg van_Dijk Bakker Visser Smit Meijer de_Boer "
            "Mulder Bos Vos Peters Hendriks Dekker"
        ),
    ),
    "es": (
        _words(
            "Lucía Hugo Martina Pablo María Alejandro Paula Daniel Carmen Javier Elena Sergio "
            "Laura Diego Marta Álvaro"
        ),
        _words(
            "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín "
            "Jiménez Ruiz Hernández Díaz Moreno Muñoz"
        ),
    ),
    "in": (
        _words(
            "Aarav Ananya Vivaan Diya Arjun Priya Rohan Isha Aditya Kavya Rahul Neha Vikram Pooja "
            "Sanjay Meera Karthik Lakshmi"
        ),
        _words(
            "Sharma Patel Singh Kumar Gupta Reddy Iyer Nair Rao Mehta Joshi Shah Desai Menon "
            "Chatterjee Banerjee Pillai Verma"
        ),
    ),
    "pt": (
        _words(
            "João Maria Pedro Ana Lucas Beatriz Gabriel Juliana Rafael Larissa Thiago Camila "
            "Matheus Fernanda Bruno Letícia"
        ),
        _words(
            "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa "
            "Ribeiro Martins Carvalho Almeida Araújo"
        ),
    ),
    "pl": (
        _words(
            "Jakub Zofia Kacper Julia Szymon Maja Michał Zuzanna Piotr Katarzyna Tomasz Agnieszka"
        ),
        _words(
            "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński "
            "Szymański Woźniak"
        ),
    ),
}
_LOCALE = {
    "US": "en", "GB": "en", "CA": "en", "AU": "en", "IE": "en", "SG": "en", "DE": "de",
    "CH": "de", "FR": "fr", "IT": "it", "DK": "nordic", "SE": "nordic", "NL": "nl",
    "ES": "es", "IN": "in", "BR": "pt", "PL": "pl",
}  # fmt: skip
_LOCALES = sorted(_NAMES)
_FOLDED = {n: _ascii(n) for pair in _NAMES.values() for names in pair for n in names}

# Seniority class: (weight, hidden fit points, titles).
_TITLES: dict[str, tuple[float, float, list[str]]] = {
    "chief": (3, 3.0, [
        "Chief Marketing Officer", "Chief Technology Officer", "Chief Revenue Officer",
        "Chief Executive Officer", "Chief Operating Officer", "CEO", "CTO", "CMO",
    ]),
    "vp": (5, 3.0, [
        "VP of Marketing", "VP Sales", "Vice President, Engineering", "VP Revenue Operations",
        "SVP Growth", "VP Product",
    ]),
    "head": (6, 2.5, [
        "Head of Growth", "Head of Marketing Operations", "Head of Data", "Head of Sales",
        "Head of Demand Generation", "Head of IT",
    ]),
    "director": (10, 2.0, [
        "Director of Demand Generation", "Marketing Director", "Sales Director", "IT Director",
        "Director, Revenue Operations", "Director of Engineering", "Director of Customer Success",
    ]),
    "manager": (24, 1.0, [
        "Marketing Manager", "Product Manager", "Engineering Manager", "Sales Manager",
        "Marketing Operations Manager", "Account Manager", "Project Manager",
        "Demand Generation Manager", "CRM Manager",
    ]),
    "ic": (33, 0.3, [
        "Software Engineer", "Senior Software Engineer", "Data Analyst", "Marketing Specialist",
        "Sales Development Representative", "Business Analyst", "Data Engineer", "Designer",
        "Developer", "Marketing Coordinator", "Content Writer", "Solutions Architect",
    ]),
    "other": (6, 0.5, ["Founder", "Co-founder", "Owner", "Consultant", "Freelancer"]),
    "student": (5, -2.5, ["Student", "MBA Student", "PhD Student"]),
    "intern": (3, -2.5, ["Intern", "Marketing Intern", "Software Engineering Intern"]),
}  # fmt: skip
_TITLE_CLASS = _Table([(k, v[0]) for k, v in _TITLES.items()])

_FREE_MAIL = _Table(
    [("gmail.com", 60), ("yahoo.com", 11), ("hotmail.com", 11), ("outlook.com", 10)]
)
_FREE_MAIL_LOCAL = {
    "DE": ("gmx.de", 0.25),
    "IT": ("libero.it", 0.2),
    "FR": ("orange.fr", 0.15),
    "GB": ("hotmail.co.uk", 0.15),
}

_SOURCES = _Table(
    [
        ("organic", 28), ("paid_search", 17), ("linkedin", 12), ("webinar", 8), ("event", 7),
        ("content_syndication", 6), ("referral", 6), ("partner", 5), ("email", 4),
        ("direct", 4),
    ]
)  # fmt: skip
# Intent bonus by source: warm introductions buy, gated-content downloads mostly read.
_SOURCE_BONUS = {
    "referral": 0.7, "partner": 0.4, "webinar": 0.3, "event": 0.2, "direct": 0.2,
    "paid_search": 0.1, "organic": 0.0, "email": 0.0, "linkedin": -0.1,
    "content_syndication": -0.5,
}  # fmt: skip
_ASSETS = [
    "state-of-lead-scoring-2026",
    "mql-to-sql-playbook",
    "bant-vs-meddic",
    "b2b-funnel-benchmarks",
    "marketing-ops-salary-guide",
    "intent-data-buyers-guide",
]
_EVENTS_NAMED = ["web-summit", "saastr-europa", "dmexco", "inbound", "mwc"]
_PARTNERS = ["hubspot-marketplace", "salesforce-appexchange", "agency-network"]


def _campaign(source: str, rng: random.Random, date: str) -> str | None:
    """A campaign name in the naming conventions of the channel; date is 'YYYY-MM-DD'."""
    year, month = date[:4], date[5:7]
    quarter = f"{year}q{(int(month) - 1) // 3 + 1}"
    if source == "paid_search":
        return f"gads-{('brand', 'generic', 'generic', 'competitor')[rng.randrange(4)]}-{quarter}"
    if source == "linkedin":
        theme = ("abm", "lead-gen-form", "thought-leadership")[rng.randrange(3)]
        return f"li-{theme}-{quarter}"
    if source == "webinar":
        return f"webinar-{year}-{month}"
    if source == "event":
        return f"event-{_EVENTS_NAMED[rng.randrange(len(_EVENTS_NAMED))]}-{year}"
    if source == "partner":
        return f"partner-{_PARTNERS[rng.randrange(len(_PARTNERS))]}"
    if source == "content_syndication":
        return f"synd-{_ASSETS[rng.randrange(len(_ASSETS))]}"
    if source == "email":
        return f"nl-{year}-{month}"
    return None


@dataclass(slots=True)
class _Account:
    name: str
    domain: str
    size: int
    industry: str
    country: str
    pattern: int  # the mail server's local-part convention


def _accounts(n_leads: int, seed: int) -> tuple[list[_Account], _Table]:
    """About one account per three leads, and a table picking an account for a lead."""
    rng = random.Random(f"leadgate-demo/{seed}/accounts")
    r = rng.random
    n = max(1, n_leads // 3)
    offset = rng.randrange(_STEMS)
    accounts: list[_Account] = []
    weights: list[tuple[int, float]] = []
    for a in range(n):
        # 7919 is prime and coprime to _STEMS: consecutive accounts get unrelated names.
        combo = (a * 7919 + offset) % _STEMS
        ia, rest = divmod(combo, len(_STEM_B) * len(_STEM_C))
        ib, ic = divmod(rest, len(_STEM_C))
        stem = _STEM_A[ia] + _STEM_B[ib] + _STEM_C[ic]
        if a >= _STEMS:
            stem += str(a // _STEMS + 1)
        industry = _INDUSTRIES.pick(r())
        country = _COUNTRIES.pick(r())
        suffixes = _INDUSTRY_SUFFIX[industry]
        size = min(250_000, max(1, round(math.exp(rng.gauss(math.log(60), 1.7)))))
        # A third of non-US companies use .com anyway.
        tld = ".com" if country != "US" and r() < 0.33 else _TLD[country]
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
    return accounts, _Table(weights)


def _fit(title_class: str, size: int, free_mail: bool, industry: str, country: str) -> float:
    """Hidden fit in roughly [-4, 5]: what a sensible playbook would reward."""
    points = _TITLES[title_class][1]
    if 50 <= size <= 5000:
        points += 1.5
    elif size > 5000:
        points += 1.0
    elif size <= 10:
        points -= 0.5
    if free_mail:
        points -= 1.0
    if industry in _CORE_INDUSTRIES:
        points += 0.5
    if country in _CORE_COUNTRIES:
        points += 0.3
    return points


@dataclass(slots=True)
class _Hidden:
    """What the event and action simulation needs to know about a lead."""

    email: str
    created: int
    fit_z: float
    source: str
    student: bool
    size: int = 0
    country: str = ""


def _lead_stream(n_leads: int, seed: int, start: int, days: int) -> Iterator[tuple[Row, _Hidden]]:
    """Leads in created_at order, each with its hidden attributes."""
    rng = random.Random(f"leadgate-demo/{seed}/leads")
    r = rng.random
    clock = _Clock()
    accounts, account_table = _accounts(n_leads, seed)
    n_hours = days * 24
    growth = 0.3 / max(1, n_hours - 1)
    # Intake curve over every hour but the last (leads need room for events).
    intake = list(
        accumulate(_hour_factor(start + h * HOUR) * (1.0 + growth * h) for h in range(n_hours - 1))
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

        cls = _TITLE_CLASS.pick(r())
        titles = _TITLES[cls][2]
        title = titles[rng.randrange(len(titles))]
        if cls in ("student", "intern"):
            company, uni_domain, country, size = _UNIVERSITIES[rng.randrange(len(_UNIVERSITIES))]
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
        locale = _LOCALE[country]
        if locale == "en" and r() < 0.25:
            locale = _LOCALES[rng.randrange(len(_LOCALES))]
        firsts, lasts = _NAMES[locale]
        first = firsts[rng.randrange(len(firsts))]
        last = lasts[rng.randrange(len(lasts))]
        f, la = _FOLDED[first], _FOLDED[last]

        free_mail = r() < free_share
        if free_mail:
            local_extra = _FREE_MAIL_LOCAL.get(country)
            if local_extra and r() < local_extra[1]:
                domain = local_extra[0]
            else:
                domain = _FREE_MAIL.pick(r())
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

        source = _SOURCES.pick(r())
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
            "campaign": _campaign(source, rng, created_at),
            "created_at": created_at,
        }
        fit_z = (_fit(cls, size, free_mail, industry, country) - 2.3) / 1.5
        yield (
            lead,
            _Hidden(email, created, fit_z, source, cls in ("student", "intern"), size, country),
        )


# --- events -------------------------------------------------------------------------------

_TYPES = [
    "page_view", "email_open", "email_click", "whitepaper_download",  # repeating
    "newsletter_signup", "webinar_registered", "webinar_attended", "trial_signup",
    "demo_request", "contact_sales", "unsubscribe",  # one-off
]  # fmt: skip
PAGE_VIEW, EMAIL_OPEN, EMAIL_CLICK, WHITEPAPER = 0, 1, 2, 3
NEWSLETTER, WEBINAR_REG, WEBINAR_ATT, TRIAL, DEMO, CONTACT, UNSUB = 4, 5, 6, 7, 8, 9, 10

# Four intent tiers (intent quartiles of the (0, 1) scale): the higher, the more clicks,
# downloads and bottom-of-funnel pages.
_TYPE_MIX = [
    _Table([(PAGE_VIEW, 0.55), (EMAIL_OPEN, 0.35), (EMAIL_CLICK, 0.06), (WHITEPAPER, 0.02)]),
    _Table([(PAGE_VIEW, 0.56), (EMAIL_OPEN, 0.30), (EMAIL_CLICK, 0.09), (WHITEPAPER, 0.05)]),
    _Table([(PAGE_VIEW, 0.58), (EMAIL_OPEN, 0.25), (EMAIL_CLICK, 0.11), (WHITEPAPER, 0.06)]),
    _Table([(PAGE_VIEW, 0.60), (EMAIL_OPEN, 0.20), (EMAIL_CLICK, 0.13), (WHITEPAPER, 0.07)]),
]
_BLOG = [
    "/blog/what-is-an-mql", "/blog/lead-scoring-101", "/blog/bant-is-not-dead",
    "/blog/speed-to-lead", "/blog/b2b-funnel-metrics", "/blog/nurture-that-works",
    "/blog/fit-vs-engagement", "/blog/sdr-playbook",
]  # fmt: skip


def _url_table(*shares: float) -> _Table:
    """Page-view URLs for shares of (/, all blog posts, /pricing, /features, /docs, /careers)."""
    home, blog, pricing, features, docs, careers = shares
    pages = [("/", home), ("/pricing", pricing), ("/features", features), ("/docs", docs)]
    pages += [("/careers", careers)] + [(u, blog / len(_BLOG)) for u in _BLOG]
    return _Table(pages)


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


class _Events:
    """The event simulation over a population: hidden intent, one-off events, hourly draws."""

    def __init__(self, people: list[_Hidden], n_events: int, seed: int, start: int, days: int):
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
            z = 0.8 * p.fit_z + _SOURCE_BONUS[p.source] + rng.gauss(0.0, 1.0) - 1.3
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

    def _one_offs(self, i: int, p: _Hidden, intent: float) -> list[tuple[int, int, int, Row]]:
        """The lead's one-off events (time, lead, type, properties), those inside the window."""
        rng, r, end = self.rng, self.rng.random, self.end
        out: list[tuple[int, int, int, Row]] = []
        c = p.created

        def later(mean_days: float) -> int:
            return c + 1 + int(rng.expovariate(1.0 / (mean_days * DAY)))

        if p.source == "content_syndication":
            t = c + rng.randint(5, 120)
            out.append((t, i, WHITEPAPER, {"asset": _ASSETS[rng.randrange(len(_ASSETS))]}))
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
        clock = _Clock()
        id_prefix = f"ev-{seed}-"
        # Normalised cumulative tables, inlined: the draw loop runs once per event.
        type_cum = [_normalised(t.cum) for t in _TYPE_MIX]
        url_cum = [_normalised(t.cum) for t in _URL_MIX]
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
            weight.append(_hour_factor(hs) * (cum_base[k - 1] + d * cum_burst[k - 1]) if k else 0.0)
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
                        props = {"asset": _ASSETS[int(r() * len(_ASSETS))]}
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
                        "type": _TYPES[code],
                        "occurred_at": prefix + _MMSS[t % HOUR],
                        "properties": props,
                    }
                )
                n += 1
            yield out


# --- actions ------------------------------------------------------------------------------

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
_MQL_REJECT = _Table([("not now", 40), ("no response", 30), ("no budget yet", 15), ("timing", 15)])
_MQL_DISQUALIFY = _Table([("spam", 40), ("competitor", 30), ("outside territory", 30)])
_SAL_DROP = _Table(
    [
        ("no budget yet", 35),
        ("not now: no authority", 20),
        ("not now: no need", 25),
        ("not now", 20),
    ]
)
_SQL_DROP = _Table([("not now", 50), ("not now: no decision maker", 30), ("no budget yet", 20)])
# What discovery found out when a SAL leaves for nurture: the BANT answer behind the reason.
_SAL_DROP_ANSWERS = {
    "no budget yet": {"budget": "not_met", "need": "met"},
    "not now: no authority": {"authority": "not_met", "need": "met"},
    "not now: no need": {"need": "not_met"},
    "not now": {"timeline": "not_met", "need": "met"},
}
_BANT_MET = {"budget": "met", "authority": "met", "need": "met", "timeline": "met"}
_EUR = {"DE", "FR", "IT", "NL", "ES", "BE", "AT", "IE", "FI", "PT"}


def _opportunity(p: _Hidden, close_at: int, clock: _Clock) -> Row:
    """The deal an AE records at SQO: annual value grows with company size, sub-linearly
    (seats, not headcount), in the buyer's currency; the close date is the AE's forecast
    (here: when the deal really closes). No random draws, so the action stream is the one
    the rates were designed on."""
    amount = round(4800 * max(1, p.size) ** 0.35, -2)
    currency = "GBP" if p.country == "GB" else "EUR" if p.country in _EUR else "USD"
    return {"amount": amount, "currency": currency, "close_date": clock.iso(close_at)[:10]}


_LOST = _Table(
    [("lost: price", 35), ("lost: competitor", 30), ("lost: no decision", 25), ("lost: timing", 10)]
)


def _actions(ev: _Events, seed: int) -> list[Row]:
    """Ground-truth stage changes, in time order; see the module docstring for the rates."""
    rng = random.Random(f"leadgate-demo/{seed}/actions")
    r = rng.random
    clock = _Clock()
    end = ev.end
    # (at, tie-break, email, to, actor, reason, what the rep records with the move)
    out: list[tuple[int, int, str, str, str, str, Row]] = []

    def lognormal(median: float, sigma: float) -> int:
        return max(60, int(median * math.exp(rng.gauss(0.0, sigma))))

    for i, p in enumerate(ev.people):
        intent = ev.intent[i]
        if ev.hand_at[i]:
            at = ev.hand_at[i] + rng.randint(30, 600)
            why = f"hand raiser: {_TYPES[ev.hand_type[i]]}"
            boost = 1.1  # a demo request converts better than a score
        elif ev.kth_at[i] and intent >= 0.55 and p.fit_z > -0.5 and r() < 0.7:
            at = ev.kth_at[i] + rng.randint(60, 3600)
            why = "fit and engagement over the MQL threshold"
            boost = 1.0
        else:
            continue
        if at >= end:
            continue
        m = min(1.4, max(0.6, 1.0 + 0.8 * (intent - 0.65))) * boost
        bdr = _BDRS[rng.randrange(len(_BDRS))]
        ae = _AES[rng.randrange(len(_AES))]
        # (stage, who records it, reason, delay to the next decision, P(next), drop reasons)
        chain: list[tuple[str, str, str, int, float, _Table | None]] = [
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
    out.sort()
    return [
        {"email": email, "to": to, "at": clock.iso(at), "actor": actor, "reason": reason, **extra}
        for at, _, email, to, actor, reason, extra in out
    ]


# --- public API ---------------------------------------------------------------------------


def iter_leads(
    n_leads: int = 5000, seed: int = 42, start: datetime | None = None, days: int = 180
) -> Iterator[Row]:
    """Stream the leads of `generate(n_leads, ..., seed, start, days)`, in created_at order.

    Lead dicts: email, first_name, last_name, company, job_title, company_size (int),
    industry, country (ISO 3166-1 alpha-2), source, campaign (None for organic, referral
    and direct), created_at (ISO 8601 UTC, "Z"). Memory: the account table and the set of
    emails (for uniqueness), not the leads.
    """
    _check_counts(n_leads, 0)
    start_ts = _resolve(start, days)
    for lead, _ in _lead_stream(n_leads, seed, start_ts, days):
        yield lead


def iter_events(
    n_leads: int = 5000,
    n_events: int = 100_000,
    seed: int = 42,
    start: datetime | None = None,
    days: int = 180,
) -> Iterator[Row]:
    """Stream the events of `generate(...)` with the same arguments, in occurred_at order.

    Event dicts: id ("ev-<seed>-<n>"), email, type, occurred_at (ISO 8601 UTC, "Z"),
    properties (a fresh dict per event). Memory: a few numbers per lead plus one hour of
    events, so 1M+ events stream in constant memory per hour.
    """
    _check_counts(n_leads, n_events)
    start_ts = _resolve(start, days)
    people = [h for _, h in _lead_stream(n_leads, seed, start_ts, days)]
    for batch in _Events(people, n_events, seed, start_ts, days).batches():
        yield from batch


def generate(
    n_leads: int = 5000,
    n_events: int = 100_000,
    seed: int = 42,
    start: datetime | None = None,
    days: int = 180,
) -> DemoData:
    """Leads, events and ground-truth sales actions for one seed (see the module docstring).

    `start` (default `DEFAULT_START`; naive means UTC) opens a window of `days` days;
    every timestamp lies inside it. Exactly `n_leads` leads and `n_events` events.
    Actions are dicts {email, to, at, actor, reason}, per lead a walk mql → sal → sql →
    sqo → customer that may leave to nurture or disqualified, sorted by `at`; `sql` and
    SAL-exit actions add `qualification` ({criterion: met|not_met}), `sqo` actions
    `opportunity` ({amount, currency, close_date}).
    """
    _check_counts(n_leads, n_events)
    start_ts = _resolve(start, days)
    leads: list[Row] = []
    people: list[_Hidden] = []
    for lead, hidden in _lead_stream(n_leads, seed, start_ts, days):
        leads.append(lead)
        people.append(hidden)
    sim = _Events(people, n_events, seed, start_ts, days)
    events: list[Row] = []
    for batch in sim.batches():
        events.extend(batch)
    return DemoData(leads=leads, events=events, actions=_actions(sim, seed))
