"""Country names as people and CRMs write them → ISO 3166-1 alpha-2 codes.

The playbook says `country in [US, GB, DE]`; exports say `Germany`, `United States`,
`UK`, `Deutschland`, `USA`. pycountry knows the ISO names and codes (alpha-2, alpha-3,
official and common names); the aliases below are the everyday names it does not.
Example: `country_code("UK") == "GB"`, `country_code("Deutschland") == "DE"`,
`country_code("Atlantis") is None` (kept as written by the caller).
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

ALIASES = {
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united kingdom": "GB",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "us": "US",
    "america": "US",
    "united states": "US",
    "united states of america": "US",
    "deutschland": "DE",
    "germany": "DE",
    "allemagne": "DE",
    "alemania": "DE",
    "germania": "DE",
    "österreich": "AT",
    "oesterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "france": "FR",
    "frankreich": "FR",
    "españa": "ES",
    "espana": "ES",
    "spanien": "ES",
    "italia": "IT",
    "italien": "IT",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "niederlande": "NL",
    "belgië": "BE",
    "belgique": "BE",
    "belgien": "BE",
    "sverige": "SE",
    "schweden": "SE",
    "danmark": "DK",
    "dänemark": "DK",
    "norge": "NO",
    "suomi": "FI",
    "polska": "PL",
    "polen": "PL",
    "česko": "CZ",
    "czech republic": "CZ",
    "brasil": "BR",
    "méxico": "MX",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "vietnam": "VN",
    "taiwan": "TW",
    "iran": "IR",
    "turkey": "TR",
    "türkiye": "TR",
    "uae": "AE",
    "emirates": "AE",
    "hong kong": "HK",
    "ivory coast": "CI",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "syria": "SY",
    "laos": "LA",
    "moldova": "MD",
    "macedonia": "MK",
    "kosovo": "XK",
}


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code a country name or code means, or None."""
    text = re.sub(r"\s+", " ", value.strip())
    if not text:
        return None
    key = text.casefold()
    if key in ALIASES:
        return ALIASES[key]
    try:
        found = pycountry.countries.lookup(text)
    except LookupError:
        return None
    code: str = found.alpha_2
    return code
