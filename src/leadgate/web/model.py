"""The model: `/app/model`, the card of the conversion model whose probabilities the
leads carry (or the newest one trained, before any `leadgate predict`), and the list of
every model trained. Read-only, for everyone signed in.

The card is the one `leadgate train` stored (leadgate.predictive.card): the verdict
("usable" or "no signal: do not use") and its statement, what it was trained on, how it
was validated, its metrics against the baselines, and the calibration by decile.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.web.base import host, page, router, signed_in

r = router()


def _models(db: Database) -> tuple[list[dict[str, Any]], str | None]:
    from leadgate.predictive.store_models import list_models, scoring_model_id

    models = list_models(db)
    with db.read() as conn:
        scoring = scoring_model_id(Repository(db, conn))
    return models, scoring


@r.get("/app/model")
async def model_page(request: Request) -> Response:
    """The model card (`?id=` another model's)."""
    viewer = await signed_in(request)
    h = host(request)
    models, scoring = await h.read(_models, h.db)
    want = request.query_params.get("id") or scoring
    chosen = next((m for m in models if m["id"] == want), models[-1] if models else None)
    return page(
        "model.html",
        viewer,
        models=list(reversed(models)),
        chosen=chosen,
        card=chosen["card"].to_dict() if chosen else None,
        scoring=scoring,
    )
