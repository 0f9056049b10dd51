"""Small synthetic lead tables for the predictive tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def leads(n: int = 800, seed: int = 0, signal: bool = True) -> pd.DataFrame:
    """Leads with a source, a country, visits, time on site (some missing), a creation date
    and a `converted` outcome driven by source and visits (or pure noise)."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["ads", "organic", "referral", "event"], n, p=[0.4, 0.3, 0.2, 0.1])
    country = rng.choice(["DE", "FR", "US", "BR", "JP"], n)
    visits = rng.poisson(3, n).astype(float)
    time_on_site = rng.gamma(2.0, 60.0, n)
    time_on_site[rng.random(n) < 0.15] = np.nan
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    if signal:
        logit = (
            -1.5
            + 1.4 * (source == "referral")
            + 0.8 * (source == "event")
            - 0.6 * (source == "ads")
            + 0.35 * (visits - 3)
        )
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
    else:
        y = rng.random(n) < 0.3
    return pd.DataFrame(
        {
            "lead_id": [f"L{i:05d}" for i in range(n)],
            "created": created.strftime("%Y-%m-%d"),
            "source": source,
            "country": country,
            "visits": visits,
            "time_on_site": np.round(time_on_site, 1),
            "converted": np.where(y, "yes", "no"),
        }
    )
