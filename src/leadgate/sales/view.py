"""What the sales workflow adds to a lead's view (`lead show`, GET /leads/{id}): owner's
SLA, qualification, opportunity, nurture, assignments; and the qualification policy of a
playbook, which the workflow's compiled settings (`config.build_config`) take from here.

This module needs only the playbook's framework and the store: a one-shot `lead show`
reads the extras through it without making the workflow (`leadgate.sales.service`, every
part of it: routing, the scheduler, nurture mail), a tenth of its start-up (issue 17).
`leadgate.sales.install` registers hooks that come here until the workflow is made, and
the workflow's own show extra calls `show_extra` too: one path.

    fw, policy = qualification_policy(playbook, playbook.frameworks)
    show_extra(repo, out, fw, policy, now)   # out["qualification"]["passed"], ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import iso
from leadgate.qualification.frameworks import BUNDLED, Criterion, Framework, Policy, evaluate

if TYPE_CHECKING:
    from leadgate.playbook.model import Playbook
    from leadgate.playbook.sales_sections import CustomFramework
    from leadgate.store.repository import Repository

SLA_KIND = "sla_accept"


def active_version(repo: Repository) -> int:
    """The newest stored playbook version (NoPlaybook without one)."""
    row = repo.execute("SELECT MAX(version) FROM playbooks").fetchone()
    version = row[0] if row else None
    if version is None:
        from leadgate.engine.engine import NoPlaybook

        raise NoPlaybook("no active playbook: run `leadgate init`")
    return int(version)


def qualification_policy(
    playbook: Playbook,
    frameworks: Mapping[str, CustomFramework],
    framework: str | None = None,
) -> tuple[Framework, Policy]:
    """The framework SAL → SQL is judged by (`framework`, else `stages.sql.framework`:
    bundled or one of `frameworks`) and its policy."""
    sql = playbook.stages.sql
    name = framework or sql.framework
    if name in BUNDLED:
        fw = BUNDLED[name]
    elif name in frameworks:
        d = frameworks[name]
        fw = Framework(
            name,
            d.label or name,
            tuple(
                Criterion(c.key, c.label or c.key.replace("_", " ").title(), c.prompt)
                for c in d.criteria
            ),
            d.min_criteria_met,
            tuple(d.required),
        )
    else:
        raise ValueError(f"stages.sql.framework: unknown framework '{name}'")
    # A custom framework's own minimum wins; else an explicit stages.sql.min_criteria_met;
    # else every criterion.
    explicit = "min_criteria_met" in sql.model_fields_set
    wanted = fw.min_criteria_met
    if wanted is None and explicit:
        wanted = sql.min_criteria_met
    policy = Policy.for_framework(fw, wanted, tuple(getattr(sql, "required", ()) or ()))
    return fw, policy


def show_extra(
    repo: Repository, out: dict[str, Any], fw: Framework, policy: Policy, now: float
) -> None:
    """Owner's SLA, qualification, opportunity, nurture and assignments into `out`."""
    lid = out["id"]
    due = None
    if out["stage"] == "mql":
        row = repo.execute(
            "SELECT due_at FROM sales_jobs WHERE lead_id = ? AND kind = ? AND "
            "(outcome IS NULL OR outcome = 'breached') ORDER BY id DESC LIMIT 1",
            [lid, SLA_KIND],
        ).fetchone()
        due = row[0] if row else None
    out["sla_due_at"] = iso(due)
    out["sla_overdue"] = due is not None and now > due
    out["qualification"] = qualification(repo, fw, policy, lid, history=False)
    out["opportunity"] = opportunity(repo, lid)
    out["nurture"] = nurture(repo, lid)
    out["assignments"] = [
        {
            "rep": r[0],
            "previous": r[1],
            "role": r[2],
            "explanation": r[3],
            "actor": r[4],
            "reason": r[5],
            "notes": r[6],
            "at": iso(r[7]),
        }
        for r in repo.execute(
            "SELECT rep, previous, role, explanation, actor, reason, notes, at "
            "FROM sales_assignments WHERE lead_id = ? ORDER BY at, id",
            [lid],
        ).fetchall()
    ]


def answers(repo: Repository, lead_id: int, framework: str) -> dict[str, dict[str, Any]]:
    """The lead's latest answer per criterion of `framework`."""
    out: dict[str, dict[str, Any]] = {}
    cur = repo.execute(
        "SELECT criterion, status, note, actor, at, version FROM sales_qualification "
        "WHERE lead_id = ? AND framework = ? ORDER BY version, id",
        [lead_id, framework],
    )
    for crit, status, note, actor, at, version in cur.fetchall():
        out[crit] = {
            "status": status,
            "note": note,
            "by": actor,
            "at": iso(at),
            "version": version,
        }
    return out


def qualification(
    repo: Repository, fw: Framework, policy: Policy, lead_id: int, history: bool
) -> dict[str, Any]:
    """The lead's answers, the policy's verdict and (with `history`) every version."""
    ans = answers(repo, lead_id, fw.name)
    ev = evaluate(fw, policy, {k: v["status"] for k, v in ans.items()})
    out: dict[str, Any] = {
        "framework": fw.name,
        "label": fw.label,
        "passed": ev.passed,
        "summary": ev.message(fw.label),
        "min_criteria_met": policy.min_criteria_met,
        "required": list(policy.required),
        "missing": list(ev.missing),
        "criteria": [
            {
                "key": c.key,
                "label": c.label,
                "prompt": c.prompt,
                "status": ans.get(c.key, {}).get("status", "unknown"),
                "note": ans.get(c.key, {}).get("note"),
                "by": ans.get(c.key, {}).get("by"),
                "at": ans.get(c.key, {}).get("at"),
            }
            for c in fw.criteria
        ],
    }
    if history:
        cur = repo.execute(
            "SELECT version, criterion, status, note, actor, at FROM sales_qualification "
            "WHERE lead_id = ? ORDER BY version, id",
            [lead_id],
        )
        out["history"] = [
            {
                "version": r[0],
                "criterion": r[1],
                "status": r[2],
                "note": r[3],
                "by": r[4],
                "at": iso(r[5]),
            }
            for r in cur.fetchall()
        ]
    return out


def opportunity(repo: Repository, lead_id: int) -> dict[str, Any] | None:
    """The lead's latest opportunity, or None."""
    row = repo.execute(
        "SELECT amount, currency, expected_close, ae, actor, created_at, outcome, "
        "outcome_reason, closed_at FROM sales_opportunities WHERE lead_id = ? "
        "ORDER BY id DESC LIMIT 1",
        [lead_id],
    ).fetchone()
    if row is None:
        return None
    return {
        "amount": row[0],
        "currency": row[1],
        "expected_close": row[2],
        "ae": row[3],
        "by": row[4],
        "created_at": iso(row[5]),
        "outcome": row[6] or "open",
        "outcome_reason": row[7],
        "closed_at": iso(row[8]),
    }


def nurture(repo: Repository, lead_id: int) -> dict[str, Any] | None:
    """The lead's latest enrolment and its nurture timeline."""
    row = repo.execute(
        "SELECT id, track, status, step, next_due_at, reason, entered_at, end_reason "
        "FROM sales_nurture_enrolments WHERE lead_id = ? ORDER BY id DESC LIMIT 1",
        [lead_id],
    ).fetchone()
    if row is None:
        return None
    timeline = repo.execute(
        "SELECT at, track, step, kind, detail FROM sales_nurture_log WHERE lead_id = ? "
        "ORDER BY id DESC LIMIT 100",
        [lead_id],
    ).fetchall()
    return {
        "track": row[1],
        "status": row[2],
        "step": row[3],
        "next_step_at": iso(row[4]),
        "reason": row[5],
        "entered_at": iso(row[6]),
        "end_reason": row[7],
        "timeline": [
            {"at": iso(t[0]), "track": t[1], "step": t[2], "kind": t[3], "detail": t[4]}
            for t in reversed(timeline)
        ],
    }
