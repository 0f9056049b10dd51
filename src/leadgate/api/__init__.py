"""HTTP API (FastAPI) under /api/v1: leads, events, stages, playbook, webhooks, keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadgate.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # On first use, not on import of the package: `leadgate worker` (api.background)
    # and the benches (api.gc_policy) import parts of it that need none of FastAPI.
    if name == "create_app":
        from leadgate.api.app import create_app

        return create_app
    raise AttributeError(f"module 'leadgate.api' has no attribute {name!r}")
