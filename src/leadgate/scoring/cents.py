"""Rounding to cents, as every score is shown and stored: `round(x, 2)`, fast for a value
already in cents.

Example:
    >>> round2(12.57), round2(0.1 + 0.2), round2(2.675)
    (12.57, 0.3, 2.67)
"""

from __future__ import annotations


def round2(x: float) -> float:
    """`round(x, 2)`, without its decimal conversion (~1,700 instructions: dtoa, then a
    libc snprintf and strtod) when `x` is already the double nearest a number of cents,
    as a score of fit and engagement mostly is.

    Exact: when `k / 100 == x` for an integer k, x is within half an ulp of k/100, far
    closer than the 0.005 to any other number of cents (|x| < 1e9: ulp < 1e-6), so
    rounding x to cents gives k/100, whose nearest double is x. -0.0 stays -0.0."""
    if -1e9 < x < 1e9:
        k = round(x * 100.0)
        if k / 100 == x:
            return x
    return round(x, 2)
