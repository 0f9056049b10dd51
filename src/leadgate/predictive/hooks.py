"""``predicted`` and its top factors in ``lead show`` and ``GET /api/v1/leads/{id}``.

``install(engine)`` adds a ``show_extras`` hook (idempotent). The hook adds

- ``predicted``: the conversion probability ``leadgate predict`` last stored on the lead
  (the value the MQL rule's ``{score: predicted}`` reads), or null;
- ``predicted_factors``: the model that produced it, and the features pushing this lead's
  probability up and down, computed now from the lead's current data (with
  ``probability``, the model's value as of now; null when no model has scored the leads).

This module imports nothing heavy: a store without a scoring model never loads pandas or
scikit-learn for ``lead show``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine
    from leadgate.store.repository import Repository

_ATTR = "_leadgate_predictive"
TOP_FACTORS = 3


class PredictedView:
    """The show hook over one engine, with the scoring model cached by id."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._model: tuple[str, Any] | None = None

    def model(self, repo: Repository, model_id: str) -> Any:
        """The stored model ``model_id`` (loaded once per engine)."""
        if self._model is None or self._model[0] != model_id:
            from leadgate.predictive.store_models import load_artifact

            self._model = (model_id, load_artifact(repo, model_id))
        return self._model[1]

    def __call__(self, repo: Repository, out: dict[str, Any]) -> None:
        from leadgate.playbook.conditions import as_number

        attrs = out.get("attributes") or {}
        out["predicted"] = as_number(attrs.get("predicted"))
        out["predicted_factors"] = None
        if out["predicted"] is None or out.get("id") is None:
            return
        from leadgate.predictive.store_models import scoring_model_id

        mid = scoring_model_id(repo)
        if mid is None:
            return
        out["predicted_factors"] = factors(
            self.model(repo, mid), repo, int(out["id"]), self.engine.clock()
        )


def factors(model: Any, repo: Repository, lead_id: int, now: float) -> dict[str, Any]:
    """The model's probability for one lead as of ``now`` and its top factors."""
    from leadgate.predictive.explain import explain
    from leadgate.predictive.store_data import read_tables_in, scoring_frame
    from leadgate.predictive.store_score import spec_of

    tables = read_tables_in(repo, [lead_id])
    row = scoring_frame(tables, spec_of(model), now)
    ex = explain(model, row.reset_index(drop=True), top=TOP_FACTORS)[0].to_dict()
    return {"model_id": model.card.model_id, "verdict": model.card.verdict, **ex}


def predicted_for(repo: Repository, lead_ids: list[int]) -> dict[int, float | None] | None:
    """The stored ``predicted`` of each lead (the web queue's column), or None when no
    model has scored the leads (the page then shows a dash, not a stale number)."""
    from leadgate.playbook.conditions import as_number
    from leadgate.predictive.store_models import scoring_model_id
    from leadgate.store.repository import loads

    if scoring_model_id(repo) is None:
        return None
    out: dict[int, float | None] = {i: None for i in lead_ids}
    for start in range(0, len(lead_ids), 500):
        part = lead_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for lid, raw in repo.execute(
            f"SELECT id, attributes FROM leads WHERE id IN ({marks})", part
        ).fetchall():
            attrs = loads(raw) if isinstance(raw, str | bytes) else (raw or {})
            out[int(lid)] = as_number(attrs.get("predicted"))
    return out


def install(engine: Engine) -> PredictedView:
    """Register the hook on ``engine`` once; return it."""
    existing: PredictedView | None = getattr(engine, _ATTR, None)
    if existing is not None:
        return existing
    view = PredictedView(engine)
    engine.show_extras.append(view)
    setattr(engine, _ATTR, view)
    return view
