"""Trained models kept in the store (table ``predictive_models``), versioned with their cards.

A model saved here has the same id format as a file-based one (``m-<UTC>-<sha8>``) and a
version number (1, 2, ...). The card is JSON text, readable with SQL; the artifact is the
joblib pickle of the ``LeadModel``. ``scored_at`` marks the model whose scores
``leadgate predict`` last wrote on the leads: ``lead show`` explains that one.

Artifacts are pickles: load only models your leadgate wrote.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import joblib
import orjson

from leadgate.predictive.card import ModelCard
from leadgate.predictive.persist import ModelNotFound
from leadgate.store.database import Database
from leadgate.store.repository import Repository


def save_model(db: Database, model: Any, now: float) -> tuple[str, int]:
    """Store ``model`` (a ``LeadModel``) and its card; return (model id, version)."""
    stamp = datetime.fromtimestamp(now, UTC)
    model.card.created_at = stamp.isoformat(timespec="seconds")
    model.card.model_id = ""
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    digest = hashlib.sha256(buf.getvalue()).hexdigest()[:8]
    model_id = f"m-{stamp.strftime('%Y%m%dT%H%M%SZ')}-{digest}"
    model.card.model_id = model_id
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    card = orjson.dumps(model.card.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    with db.write() as conn:
        repo = Repository(db, conn)
        # The same artifact saved in the same second is the same model: keep one row.
        same = repo.execute(
            "SELECT version FROM predictive_models WHERE id = ?", [model_id]
        ).fetchone()
        if same is not None:
            return model_id, int(same[0])
        version = int(
            repo.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM predictive_models").fetchone()[
                0
            ]
        )
        repo.execute(
            "INSERT INTO predictive_models (id, version, created_at, kind, source, card, "
            "artifact) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [model_id, version, now, model.card.kind, model.card.source, card, buf.getvalue()],
        )
    return model_id, version


def _resolve(repo: Repository, model_id: str | None) -> str:
    if model_id:
        row = repo.execute("SELECT id FROM predictive_models WHERE id = ?", [model_id]).fetchone()
        if row is None:
            raise ModelNotFound(f"unknown model id {model_id!r} in the store")
        return str(row[0])
    row = repo.execute("SELECT id FROM predictive_models ORDER BY version DESC LIMIT 1").fetchone()
    if row is None:
        raise ModelNotFound("no trained model in the store (run `leadgate train` first)")
    return str(row[0])


def load_model(db: Database, model_id: str | None = None) -> Any:
    """The stored ``LeadModel`` (the latest version when ``model_id`` is None)."""
    with db.read() as conn:
        repo = Repository(db, conn)
        mid = _resolve(repo, model_id)
        blob = repo.execute(
            "SELECT artifact FROM predictive_models WHERE id = ?", [mid]
        ).fetchone()[0]
    return joblib.load(io.BytesIO(bytes(blob)))


def list_models(db: Database) -> list[dict[str, Any]]:
    """Every stored model, oldest first: id, version, created_at, kind, scored_at, card."""
    with db.read() as conn:
        rows = (
            Repository(db, conn)
            .execute(
                "SELECT id, version, created_at, kind, scored_at, card FROM predictive_models "
                "ORDER BY version"
            )
            .fetchall()
        )
    return [
        {
            "id": r[0],
            "version": r[1],
            "created_at": r[2],
            "kind": r[3],
            "scored_at": r[4],
            "card": ModelCard.from_dict(orjson.loads(r[5])),
        }
        for r in rows
    ]


def mark_scored(db: Database, model_id: str, now: float) -> None:
    """Record that ``model_id``'s scores are the ones now stored on the leads."""
    with db.write() as conn:
        Repository(db, conn).execute(
            "UPDATE predictive_models SET scored_at = ? WHERE id = ?", [now, model_id]
        )


def scoring_model_id(repo: Repository) -> str | None:
    """Id of the model whose scores the leads carry (None before any `leadgate predict`)."""
    row = repo.execute(
        "SELECT id FROM predictive_models WHERE scored_at IS NOT NULL "
        "ORDER BY scored_at DESC, version DESC LIMIT 1"
    ).fetchone()
    return None if row is None else str(row[0])


def load_artifact(repo: Repository, model_id: str) -> Any:
    """Unpickle one stored model through an open connection."""
    row = repo.execute("SELECT artifact FROM predictive_models WHERE id = ?", [model_id]).fetchone()
    if row is None:
        raise ModelNotFound(f"unknown model id {model_id!r} in the store")
    return joblib.load(io.BytesIO(bytes(row[0])))
