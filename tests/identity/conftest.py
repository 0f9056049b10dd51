"""The sales fixtures (a small team, a hand-raiser helper) for identity tests."""

from tests.sales.conftest import raise_hand, sales

__all__ = ["raise_hand", "sales"]
