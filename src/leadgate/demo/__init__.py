"""Demo data: a seeded synthetic B2B SaaS marketing data set (see `leadgate.demo.generator`)."""

from __future__ import annotations

from leadgate.demo.generator import DEFAULT_START, DemoData, generate, iter_events, iter_leads

__all__ = ["DEFAULT_START", "DemoData", "generate", "iter_events", "iter_leads"]
