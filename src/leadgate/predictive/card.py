"""The model card: what a trained model was fed, how it was tested, and whether to use it.

A card is a plain JSON-ready record stored next to the model. Its ``verdict`` follows
from the chosen model's own out-of-sample numbers, which are also its "auto" row:

- ``"no signal: do not use"`` when the ROC AUC is below 0.55 or its bootstrap 95%
  confidence interval includes 0.5;
- ``"unstable"`` when the evaluation folds (later time slices, with time order) disagree
  with that: usable overall but a fold below 0.55, or no signal overall but a fold clearly
  above chance on its own: the model works in some periods and not in others (see
  docs/predictive.md for what to do);
- ``"usable"`` otherwise.

Example::

    verdict(0.71, (0.68, 0.74), [{"auc": 0.52, "positives": 90, "negatives": 900}])
    # -> ("unstable", "Unstable: ...")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NO_SIGNAL = "no signal: do not use"
UNSTABLE = "unstable"
USABLE = "usable"
MIN_AUC = 0.55


@dataclass
class ModelCard:
    """Everything a reader needs to judge a model (JSON-ready)."""

    model_id: str = ""
    created_at: str = ""
    kind: str = ""
    seed: int = 0
    leadgate_version: str = ""
    source: str = ""
    target: str = ""
    positive_label: str = ""
    id_column: str | None = None
    time_column: str | None = None
    rows: int = 0
    positive_rate: float = 0.0
    data_range: dict[str, str] = field(default_factory=dict)
    features: dict[str, str] = field(default_factory=dict)
    excluded_leaky: dict[str, list[str]] = field(default_factory=dict)
    included_leaky: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    validation: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    auc_ci: tuple[float, float] = (float("nan"), float("nan"))
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    calibration: list[dict[str, float]] = field(default_factory=list)
    gains: list[dict[str, float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""
    statement: str = ""
    #: How ``auto`` chose: rule, per-fold ROC AUC of every candidate, gaps, noise.
    choice: dict[str, Any] = field(default_factory=dict)
    #: Drift between the oldest and newest rows (empty without time order).
    drift: dict[str, Any] = field(default_factory=dict)
    #: Features left out by ``--exclude-drifting``, with the reasons.
    excluded_drifting: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        out: dict[str, Any] = _clean(asdict(self))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Rebuild a card from :meth:`to_dict` output (unknown keys ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if known.get("auc_ci") is not None:
            known["auc_ci"] = tuple(
                float("nan") if v is None else float(v) for v in known["auc_ci"]
            )
        return cls(**known)

    def to_markdown(self) -> str:
        """A short human-readable card."""
        m = self.metrics
        lines = [
            f"# Model {self.model_id} ({self.kind})",
            "",
            f"**Verdict: {self.verdict}.** {self.statement}",
            "",
            f"- target: `{self.target}` = `{self.positive_label}` "
            f"({self.rows:,} rows, {100 * self.positive_rate:.1f}% positive)",
            f"- data: {', '.join(f'{k} {v}' for k, v in self.data_range.items()) or 'n/a'}",
            f"- validation: {self.validation}",
            f"- ROC AUC {_f(m.get('roc_auc'))} (95% CI {_f(self.auc_ci[0])}-"
            f"{_f(self.auc_ci[1])}), PR AUC {_f(m.get('pr_auc'))}, lift@10% "
            f"{_f(m.get('lift_10'), 2)}, Brier {_f(m.get('brier'))}",
            f"- features ({len(self.features)}): "
            + ", ".join(f"{k} ({v})" for k, v in self.features.items()),
        ]
        if self.excluded_leaky:
            lines.append("- excluded as leaky:")
            lines += [f"  - `{c}`: {'; '.join(r)}" for c, r in self.excluded_leaky.items()]
        if self.included_leaky:
            lines.append("- flagged as leaky but kept on request:")
            lines += [f"  - `{c}`: {'; '.join(r)}" for c, r in self.included_leaky.items()]
        if self.dropped:
            lines.append("- dropped: " + ", ".join(f"`{c}` ({r})" for c, r in self.dropped.items()))
        if self.choice:
            fa = self.choice.get("fold_auc", {})
            lines.append(
                f"- chosen: {self.choice.get('chosen')} (best {self.choice.get('best')}, noise "
                f"{_f(self.choice.get('noise'), 4)}); ROC AUC per fold:"
            )
            lines += [f"  - {k}: {', '.join(_f(a) for a in v)}" for k, v in fa.items()]
        if self.drift.get("flagged"):
            cost = self.drift.get("auc_lost_without_flagged", {})
            lines.append(
                f"- drifting or time-like ({self.drift.get('slices')}); the model loses "
                f"{_f(cost.get('lost'))} ROC AUC without them:"
            )
            lines += [
                f"  - `{c}`: {'; '.join(self.drift['features'][c]['reasons'])}"
                for c in self.drift["flagged"]
            ]
        if self.excluded_drifting:
            lines.append("- excluded as drifting: " + ", ".join(self.excluded_drifting))
        if self.baselines:
            lines.append("- baselines on the same split:")
            lines += [
                f"  - {name}: ROC AUC {_f(b.get('roc_auc'))}, lift@10% {_f(b.get('lift_10'), 2)}"
                for name, b in self.baselines.items()
            ]
        if self.calibration:
            lines += ["", "| decile | n | mean predicted | observed |", "|---|---|---|---|"]
            lines += [
                f"| {int(r['bin'])} | {int(r['n'])} | {r['mean_predicted']:.3f} | "
                f"{r['observed_rate']:.3f} |"
                for r in self.calibration
            ]
        return "\n".join(lines) + "\n"


def _f(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if obj != obj else obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        return _clean(obj.item())
    return obj


def fold_is_strong(auc: float, positives: int, negatives: int) -> bool:
    """A fold that beats chance on its own: AUC ≥ 0.55 and its 95% interval (Hanley-McNeil
    standard error) above 0.5."""
    if auc != auc or positives < 1 or negatives < 1:
        return False
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return auc >= MIN_AUC and auc - 1.96 * max(var, 0.0) ** 0.5 > 0.5


def verdict(
    auc: float,
    ci: tuple[float, float],
    folds: list[dict[str, float]] | None = None,
) -> tuple[str, str]:
    """``(verdict, statement)`` from the out-of-sample AUC, its 95% CI and the same model's
    evaluation folds (``{"auc", "positives", "negatives"}`` each).

    Unstable: the folds disagree with the overall figure — usable overall but some fold
    below 0.55, or no signal overall but some fold clearly above chance on its own."""
    lo, hi = ci
    if auc != auc:
        return NO_SIGNAL, "The AUC could not be computed (one class only in the test data)."
    ok = [f for f in (folds or []) if f["auc"] == f["auc"]]
    per_fold = ", ".join(f"{f['auc']:.3f}" for f in ok)
    no_signal = auc < MIN_AUC or (lo == lo and lo <= 0.5 <= hi)
    weak = [f for f in ok if f["auc"] < MIN_AUC]
    strong = [f for f in ok if fold_is_strong(f["auc"], int(f["positives"]), int(f["negatives"]))]
    if (no_signal and strong) or (not no_signal and weak):
        return (
            UNSTABLE,
            f"Unstable: out-of-sample ROC AUC {auc:.3f} (95% CI {lo:.3f}-{hi:.3f}) overall, but "
            f"the evaluation folds disagree (per fold: {per_fold}; {len(weak)} of {len(ok)} "
            f"below {MIN_AUC}): it ranks leads in some periods and not in others. Read the "
            "drift report and the per-fold AUCs before use (docs/predictive.md).",
        )
    if no_signal:
        return (
            NO_SIGNAL,
            f"No signal: do not use. Out-of-sample ROC AUC {auc:.3f} (95% CI {lo:.3f}-{hi:.3f})"
            " does not beat chance (AUC 0.5) reliably; the features do not predict the outcome.",
        )
    return (
        USABLE,
        f"Ranks leads better than chance: out-of-sample ROC AUC {auc:.3f} "
        f"(95% CI {lo:.3f}-{hi:.3f}).",
    )


def beats(card: ModelCard) -> dict[str, bool]:
    """For each baseline on the card, whether the model's ROC AUC is at or above it."""
    ours = card.metrics.get("roc_auc", float("nan"))
    return {name: ours >= b.get("roc_auc", float("nan")) for name, b in card.baselines.items()}
