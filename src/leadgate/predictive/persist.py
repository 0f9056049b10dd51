"""Saving and loading trained models as versioned artifacts.

Each model is a directory ``<models dir>/<model id>/`` holding ``model.joblib`` (the
``LeadModel``) and ``card.json`` (its model card, readable without Python). A model id is
``m-<UTC timestamp>-<first 8 hex of the artifact's SHA-256>``, e.g.
``m-20260101T120000Z-1a2b3c4d``. The models directory is the ``models_dir`` argument, else
``$LEADGATE_MODELS``, else ``./.leadgate/models``.

Artifacts are pickles: load only models you (or your leadgate) wrote.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import orjson

from leadgate.predictive.card import ModelCard

DEFAULT_DIR = Path(".leadgate") / "models"
ID_PATTERN = re.compile(r"^m-\d{8}T\d{6}Z-[0-9a-f]{8}$")
MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"


class ModelNotFound(LookupError):
    """No model with that id (or no model at all) in the models directory."""


def models_dir(path: str | Path | None = None) -> Path:
    """The models directory: ``path``, else ``$LEADGATE_MODELS``, else ``./.leadgate/models``."""
    return Path(path or os.environ.get("LEADGATE_MODELS") or DEFAULT_DIR)


def save_model(model: Any, directory: str | Path | None = None, now: datetime | None = None) -> str:
    """Write ``model`` (a ``LeadModel``) and its card; set ``model.card.model_id`` and
    ``created_at``; return the new model id. The write is atomic (temp dir + rename)."""
    root = models_dir(directory)
    root.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    model.card.created_at = stamp.isoformat(timespec="seconds")
    model.card.model_id = ""
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    digest = hashlib.sha256(buf.getvalue()).hexdigest()[:8]
    model_id = f"m-{stamp.strftime('%Y%m%dT%H%M%SZ')}-{digest}"
    model.card.model_id = model_id
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        joblib.dump(model, tmp / MODEL_FILE, compress=3)
        (tmp / CARD_FILE).write_bytes(
            orjson.dumps(model.card.to_dict(), option=orjson.OPT_INDENT_2)
        )
        target = root / model_id
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model_id


def list_models(directory: str | Path | None = None) -> list[ModelCard]:
    """Cards of the saved models, oldest first (by creation time, then id)."""
    root = models_dir(directory)
    if not root.is_dir():
        return []
    cards = []
    for d in root.iterdir():
        if d.is_dir() and ID_PATTERN.match(d.name) and (d / MODEL_FILE).is_file():
            try:
                cards.append(ModelCard.from_dict(orjson.loads((d / CARD_FILE).read_bytes())))
            except (OSError, orjson.JSONDecodeError, TypeError):
                continue
    return sorted(cards, key=lambda c: (c.created_at, c.model_id))


def latest_model_id(directory: str | Path | None = None) -> str:
    """Id of the most recently saved model; :class:`ModelNotFound` when there is none."""
    cards = list_models(directory)
    if not cards:
        raise ModelNotFound(f"no trained model in {models_dir(directory)} (run train first)")
    return cards[-1].model_id


def load_model(model_id: str | None = None, directory: str | Path | None = None) -> Any:
    """Load a saved ``LeadModel`` (the latest when ``model_id`` is None)."""
    root = models_dir(directory)
    mid = model_id or latest_model_id(root)
    if not ID_PATTERN.match(mid) or not (root / mid / MODEL_FILE).is_file():
        raise ModelNotFound(f"unknown model id {mid!r} in {root}")
    return joblib.load(root / mid / MODEL_FILE)


def load_card(model_id: str | None = None, directory: str | Path | None = None) -> ModelCard:
    """The card of a saved model (the latest when ``model_id`` is None), without unpickling."""
    root = models_dir(directory)
    mid = model_id or latest_model_id(root)
    path = root / mid / CARD_FILE
    if not ID_PATTERN.match(mid) or not path.is_file():
        raise ModelNotFound(f"unknown model id {mid!r} in {root}")
    return ModelCard.from_dict(orjson.loads(path.read_bytes()))
