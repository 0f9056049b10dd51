"""Application layer: the use cases (ingest, stage moves, playbook activation...) over the store."""

from leadgate.engine.engine import Engine, ItemResult

__all__ = ["Engine", "ItemResult"]
