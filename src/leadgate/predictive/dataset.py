"""Loading a lead table: robust CSV reading, target, id and time columns, column types.

The functions here turn an arbitrary CSV (or a DataFrame the store side builds) into a
:class:`Dataset`: a feature frame whose columns are typed numeric or categorical, a binary
0/1 target, optional ids and an optional time column used only to order rows.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["numeric", "categorical"]

#: Text that means "no answer" in exported lead forms (``Select`` is a form placeholder).
PLACEHOLDERS: tuple[str, ...] = ("", "Select", "select", "NA", "N/A", "n/a", "null", "NULL", "None")

#: Target labels read as the positive class (compared lower-cased).
POSITIVE_LABELS = frozenset({"1", "1.0", "yes", "y", "true", "t", "won", "win", "converted"})
#: Target labels read as the negative class.
NEGATIVE_LABELS = frozenset({"0", "0.0", "no", "n", "false", "f", "lost", "lose", "not converted"})

COERCED = "leadgate_coerced"
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
DELIMITERS = ",;\t|"


class DatasetError(ValueError):
    """Input the user must fix: missing file, unknown column, target not binary..."""


@dataclass
class Dataset:
    """A lead table split into features, a binary target, ids and an optional time order."""

    X: pd.DataFrame
    y: np.ndarray
    target: str
    positive_label: str
    kinds: dict[str, ColumnKind]
    ids: pd.Series | None = None
    id_column: str | None = None
    time: pd.Series | None = None
    time_column: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of rows (leads)."""
        return len(self.y)

    @property
    def positive_rate(self) -> float:
        """Share of positive rows."""
        return float(np.mean(self.y)) if len(self.y) else float("nan")

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same data set restricted to the given row positions."""
        return Dataset(
            X=self.X.iloc[rows].reset_index(drop=True),
            y=self.y[rows],
            target=self.target,
            positive_label=self.positive_label,
            kinds=dict(self.kinds),
            ids=None if self.ids is None else self.ids.iloc[rows].reset_index(drop=True),
            id_column=self.id_column,
            time=None if self.time is None else self.time.iloc[rows].reset_index(drop=True),
            time_column=self.time_column,
            dropped=dict(self.dropped),
        )


def _read_head(path: Path, size: int = 65536) -> bytes:
    opener: Any = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        return bytes(fh.read(size))


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def sniff_encoding(head: bytes) -> str:
    """The first of utf-8 (BOM tolerated), cp1252, latin-1 that decodes the sample."""
    for enc in ENCODINGS:
        try:
            # A multi-byte character cut at the end of the sample is not an error.
            head.decode(enc) if enc != "utf-8-sig" else head[:-4].decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV sample: csv.Sniffer, else the most frequent in the header line."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:20]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def read_csv(
    path: str | Path,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    placeholders: tuple[str, ...] = PLACEHOLDERS,
) -> pd.DataFrame:
    """Read a CSV file (optionally gzip-compressed) into strings-or-numbers columns.

    The delimiter is sniffed (``, ; tab |``), the encoding falls back from UTF-8 to cp1252 and
    latin-1, surrounding whitespace is stripped from text, and ``placeholders`` (empty,
    ``Select``, ``NA``...) become missing values. Raises :class:`DatasetError` when the file
    is missing, empty or unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"file not found: {p}")
    try:
        head = _read_head(p)
    except OSError as exc:
        raise DatasetError(f"cannot read {p}: {exc}") from None
    if not head.strip():
        raise DatasetError(f"empty file: {p}")
    enc = encoding or sniff_encoding(head)
    sep = delimiter or sniff_delimiter(head.decode(enc, errors="replace"))
    try:
        raw = gzip.decompress(p.read_bytes()) if _is_gzip(p) else p.read_bytes()
        text = raw.decode(enc)
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        if encoding is None and enc != "latin-1":
            return read_csv(p, delimiter=sep, encoding="latin-1", placeholders=placeholders)
        raise DatasetError(f"cannot decode {p} as {enc}: {exc}") from None
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            na_values=list(placeholders),
            keep_default_na=True,
            skipinitialspace=True,
            low_memory=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"cannot parse {p}: {exc}") from None
    df.columns = [str(c).strip() for c in df.columns]
    return clean_frame(df, placeholders)


def clean_frame(df: pd.DataFrame, placeholders: tuple[str, ...] = PLACEHOLDERS) -> pd.DataFrame:
    """Strip text cells and turn placeholder text into missing values (returns a copy)."""
    out = df.copy()
    marks = set(placeholders)
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out[col] = _clean_text(s, marks)
    return out


def _clean_text(series: pd.Series, marks: set[str]) -> np.ndarray:
    t = series.astype("string").str.strip()
    t = t.mask(t.isin(marks))
    return np.asarray(t.astype(object).where(t.notna(), None).to_numpy())


def binary_target(series: pd.Series, positive: str | None = None) -> tuple[np.ndarray, str]:
    """Map a two-valued column to 0/1 and name the positive label.

    ``positive`` names the positive value explicitly; otherwise yes/true/won/converted/1 are
    positive and, for two numbers, the larger is. Missing values must be removed first.
    Raises :class:`DatasetError` when the column does not hold exactly two values.
    """
    text = series.astype(str).str.strip()
    values = sorted(text.unique().tolist())
    if len(values) != 2:
        shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
        raise DatasetError(
            f"target {series.name!r} is not binary: {len(values)} distinct values ({shown})"
        )
    if positive is not None:
        if positive not in values:
            raise DatasetError(f"positive label {positive!r} not in target values {values}")
        pos = positive
    else:
        lowered = {v: v.lower() for v in values}
        hits = [v for v in values if lowered[v] in POSITIVE_LABELS]
        misses = [v for v in values if lowered[v] in NEGATIVE_LABELS]
        if len(hits) == 1:
            pos = hits[0]
        elif len(misses) == 1:
            pos = next(v for v in values if v not in misses)
        else:
            nums = pd.to_numeric(pd.Series(values), errors="coerce")
            if nums.notna().all():
                pos = values[int(np.argmax(nums.to_numpy()))]
            else:
                raise DatasetError(
                    f"target {series.name!r}: cannot tell which of {values} is the positive "
                    "outcome; name it explicitly"
                )
    return (text == pos).to_numpy(dtype=np.int8), pos


def column_kind(series: pd.Series) -> ColumnKind:
    """Numeric when every non-missing cell parses as a number (booleans count), else categorical."""
    if pd.api.types.is_bool_dtype(series):
        return "numeric"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    nonnull = series.dropna()
    if nonnull.empty:
        return "categorical"
    parsed = pd.to_numeric(nonnull.astype(str), errors="coerce")
    return "numeric" if parsed.notna().all() else "categorical"


def infer_kinds(df: pd.DataFrame) -> dict[str, ColumnKind]:
    """The kind (numeric or categorical) of every column."""
    return {str(c): column_kind(df[c]) for c in df.columns}


def useless_columns(df: pd.DataFrame, kinds: dict[str, ColumnKind]) -> dict[str, str]:
    """Columns no model can use, with the reason: empty, constant, or unique per row (id-like)."""
    out: dict[str, str] = {}
    n = len(df)
    for col in df.columns:
        s = df[col]
        nonnull = s.dropna()
        if nonnull.empty:
            out[col] = "always empty"
            continue
        distinct = nonnull.nunique()
        if distinct == 1 and len(nonnull) == n:
            out[col] = "constant"
        elif distinct == 1:
            continue  # constant where set: "set vs empty" may still carry signal
        elif n >= 50 and distinct >= 0.95 * n:
            is_float = kinds[col] == "numeric" and not _integral(nonnull)
            if not is_float:
                out[col] = "unique per row (id-like)"
    return out


def _integral(s: pd.Series) -> bool:
    vals = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
    return bool(np.all(np.mod(vals, 1) == 0))


def coerce_features(df: pd.DataFrame, kinds: dict[str, ColumnKind]) -> pd.DataFrame:
    """A frame with numeric columns as float64 and categorical ones as text (missing kept).

    Columns in ``kinds`` but absent from ``df`` are added as all-missing, so scoring data
    lacking an optional column still works.
    """
    if df.attrs.get(COERCED) == list(kinds) and list(df.columns) == list(kinds):
        return df  # already done (the flag survives row slicing)
    out: dict[str, Any] = {}
    marks = set(PLACEHOLDERS)
    for col, kind in kinds.items():
        if col not in df.columns:
            out[col] = (
                np.full(len(df), np.nan)
                if kind == "numeric"
                else pd.Series([None] * len(df), dtype=object)
            )
            continue
        s = df[col]
        if kind == "numeric":
            if pd.api.types.is_bool_dtype(s):
                out[col] = s.astype(float).to_numpy()
            else:
                out[col] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        else:
            out[col] = _clean_text(s, marks)
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    frame.attrs[COERCED] = list(kinds)
    return frame


def parse_time(series: pd.Series) -> pd.Series:
    """A time column as datetimes (numbers are kept as an ordinal order)."""
    if pd.api.types.is_numeric_dtype(series):
        return pd.Series(series.to_numpy(dtype=float))
    parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    if parsed.notna().sum() == 0:
        raise DatasetError(f"time column {series.name!r} holds no dates")
    return parsed.reset_index(drop=True)


def load_frame(
    df: pd.DataFrame,
    target: str,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: str | None = None,
    exclude: tuple[str, ...] | list[str] = (),
) -> Dataset:
    """Build a :class:`Dataset` from a frame of closed leads.

    Rows with an empty target are dropped. The id and time columns are not features; the
    columns in ``exclude`` are dropped (reason "excluded by caller"), and so are empty,
    constant and id-like columns (see :func:`useless_columns`).
    """
    for name, col in (("target", target), ("id", id_column), ("time", time_column)):
        if col is not None and col not in df.columns:
            raise DatasetError(f"unknown {name} column {col!r} (columns: {_names(df)})")
    unknown = [c for c in exclude if c not in df.columns]
    if unknown:
        raise DatasetError(f"unknown column(s) to exclude: {', '.join(unknown)}")
    df = clean_frame(df)
    keep = df[target].notna().to_numpy()
    if not keep.any():
        raise DatasetError(f"target {target!r} is empty in every row")
    df = df.loc[keep].reset_index(drop=True)
    y, pos = binary_target(df[target], positive)
    special = {target, id_column, time_column}
    feature_cols = [c for c in df.columns if c not in special]
    dropped = {c: "excluded by caller" for c in exclude if c in feature_cols}
    feature_cols = [c for c in feature_cols if c not in dropped]
    kinds = infer_kinds(df[feature_cols])
    for col, why in useless_columns(df[feature_cols], kinds).items():
        dropped[col] = why
    kinds = {c: k for c, k in kinds.items() if c not in dropped}
    X = coerce_features(df, kinds)
    return Dataset(
        X=X,
        y=y,
        target=target,
        positive_label=pos,
        kinds=kinds,
        ids=None if id_column is None else df[id_column].reset_index(drop=True),
        id_column=id_column,
        time=None if time_column is None else parse_time(df[time_column]),
        time_column=time_column,
        dropped=dropped,
    )


def load_csv(
    path: str | Path,
    target: str,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: str | None = None,
    exclude: tuple[str, ...] | list[str] = (),
) -> Dataset:
    """:func:`read_csv` then :func:`load_frame`."""
    return load_frame(
        read_csv(path),
        target,
        id_column=id_column,
        time_column=time_column,
        positive=positive,
        exclude=exclude,
    )


def _names(df: pd.DataFrame, limit: int = 12) -> str:
    cols = [str(c) for c in df.columns]
    return ", ".join(cols[:limit]) + (", ..." if len(cols) > limit else "")
