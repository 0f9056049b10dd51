"""HTTP API (FastAPI) under /api/v1: leads, events, stages, playbook, webhooks, keys."""

from leadgate.api.app import create_app

__all__ = ["create_app"]
