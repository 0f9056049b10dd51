"""Amounts as CRMs export them: `$1,200,000`, `1.2M`, `€1,2 Mio`, `EUR 500k`, `2 Mrd. CHF`.

`split_money` takes a cell apart into its digits (separators still in: which one is the
decimal mark is decided per column, see `leadgate.ingest.formats`), its currency (ISO
4217, from a symbol or a code) and its multiplier. Example:
`split_money("€1,2 Mio") == ("1,2", "EUR", 1_000_000.0)`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

# Symbols (and prefixed symbols) → ISO 4217. A bare "kr" or "$" variant not listed
# here is left without a currency rather than guessed.
SYMBOLS = {
    "US$": "USD",
    "USD$": "USD",
    "$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "R$": "BRL",
    "₩": "KRW",
    "₽": "RUB",
    "zł": "PLN",
    "Fr.": "CHF",
    "SFr.": "CHF",
}
MULTIPLIERS = {
    "k": 1e3,
    "K": 1e3,
    "tsd": 1e3,
    "Tsd": 1e3,
    "Tsd.": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "M": 1e6,
    "mm": 1e6,
    "MM": 1e6,
    "mn": 1e6,
    "mio": 1e6,
    "Mio": 1e6,
    "Mio.": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "b": 1e9,
    "B": 1e9,
    "bn": 1e9,
    "Bn": 1e9,
    "mrd": 1e9,
    "Mrd": 1e9,
    "Mrd.": 1e9,
    "billion": 1e9,
    "billions": 1e9,
}
_SYM = "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True))
_MULT = "|".join(re.escape(s) for s in sorted(MULTIPLIERS, key=len, reverse=True))
_MONEY = re.compile(
    rf"^(?P<pre>{_SYM}|[A-Za-z]{{3}})?\s*"
    r"(?P<num>\d[\d.,'\u00a0\u202f ]*\d|\d)\s*"
    rf"(?P<mult>{_MULT})?\s*"
    rf"(?P<post>{_SYM}|[A-Za-z]{{3}})?\+?$"
)


@lru_cache(maxsize=512)
def currency_code(token: str | None) -> str | None:
    """'€' → 'EUR', 'usd' → 'USD', 'xyz' → None."""
    if not token:
        return None
    if token in SYMBOLS:
        return SYMBOLS[token]
    found = pycountry.currencies.get(alpha_3=token.upper())
    return found.alpha_3 if found else None


def split_money(value: str) -> tuple[str, str | None, float] | None:
    """(digits with separators, currency or None, multiplier), or None if not an amount."""
    if value.isdigit() and value.isascii():
        return value, None, 1.0  # the common case, without the expression
    m = _MONEY.match(value.strip())
    if not m:
        return None
    pre, post = m.group("pre"), m.group("post")
    currency = None
    for token in (pre, post):
        if token:
            code = currency_code(token)
            if code is None:
                return None  # "abc 12": not an amount
            currency = code
    digits = re.sub(r"['\u00a0\u202f ]", "", m.group("num"))
    mult = MULTIPLIERS.get(m.group("mult") or "", 1.0)
    return digits, currency, mult
