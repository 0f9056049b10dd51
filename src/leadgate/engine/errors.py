"""What the engine's use cases raise for a caller to answer (404, exit 2)."""

from __future__ import annotations


class NotFound(LookupError):
    """No such lead (or other object)."""


class NoPlaybook(RuntimeError):
    """The store has no active playbook yet (run `leadgate init`)."""
