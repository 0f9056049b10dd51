"""Scoring rows with a trained model: a frame or CSV in, ids and probabilities out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadgate import csvout
from leadgate.predictive.dataset import read_csv


def score_frame(model: Any, frame: pd.DataFrame, chunk_rows: int = 250_000) -> pd.DataFrame:
    """Score every row of ``frame`` with ``model`` (a ``LeadModel``).

    Returns a frame with the model's id column (or ``row``, the 1-based row number when the
    id column is absent) and ``predicted`` (0-1). Big frames are scored in chunks to bound
    memory. The target column, if present, is ignored.
    """
    id_col = model.id_column if model.id_column and model.id_column in frame.columns else None
    parts = [
        model.predict_proba(frame.iloc[i : i + chunk_rows])
        for i in range(0, len(frame), chunk_rows)
    ]
    p = np.concatenate(parts) if parts else np.zeros(0)
    key = id_col or "row"
    ids = frame[id_col].to_numpy() if id_col else np.arange(1, len(frame) + 1)
    return pd.DataFrame({key: ids, "predicted": np.round(p, 6)})


def score_csv(model: Any, source: str | Path, out: str | Path) -> pd.DataFrame:
    """Read ``source``, score it with :func:`score_frame` and write ``out`` as CSV."""
    scored = score_frame(model, read_csv(source))
    out_path = Path(out)
    if out_path.parent and not out_path.parent.exists():
        out_path.parent.mkdir(parents=True, exist_ok=True)
    # The id column is the input's text: neutralised like every CSV leadgate writes.
    csvout.safe_frame(scored).to_csv(out_path, index=False)
    return scored
