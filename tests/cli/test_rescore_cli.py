"""`leadgate rescore` and `playbook activate` say what the set-based rescore did and how
many of its leads were checked against the per-lead path (issue 17, item 3)."""

from __future__ import annotations

from pathlib import Path

import orjson

from .firsthour import run


def _store(db: list[str], tmp_path: Path) -> Path:
    """Five leads, two of them past MQL (only a person moves them), and a playbook file
    whose webinar points changed."""
    from leadgate.playbook.loader import bundled_playbook_path

    for i in range(5):
        run("lead", "add", "--email", f"p{i}@acme.com", "--set", "job_title=Engineer", *db)
    for i in range(2):
        assert (
            run("stage", "set", f"p{i}@acme.com", "disqualified", "--reason", "spam", *db)[0] == 0
        )
    text = Path(bundled_playbook_path()).read_text(encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        text.replace(
            "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 25}"
        ),
        encoding="utf-8",
    )
    return changed


def test_activate_reports_the_set_based_leads_and_their_check(
    db: list[str], tmp_path: Path
) -> None:
    changed = _store(db, tmp_path)
    code, out, err = run("playbook", "activate", str(changed), *db)
    assert code == 0, err
    assert out.strip().endswith(
        "; 5 set-based, 5 of them checked against the per-lead path: 0 disagreements"
    ), out
    code, out, err = run("rescore", "--json", *db)
    assert code == 0, err
    data = orjson.loads(out)
    # Already under the active version: every lead goes through the lifecycle.
    assert data["rescored"] == 5 and data["method"] == "set" and data["per_lead"] == 5


def test_rescore_can_be_asked_per_lead_and_to_check_fewer(db: list[str], tmp_path: Path) -> None:
    changed = _store(db, tmp_path)
    data = orjson.loads(run("playbook", "activate", str(changed), "--json", *db)[1])
    assert data["rescore"]["set_based"] == 5 and data["rescore"]["disagreements"] == 0
    code, out, _ = run("rescore", "--per-lead", *db)
    assert code == 0 and out.strip() == "rescored 5 leads"
    code, out, _ = run("rescore", "--verify", "0", *db)
    assert code == 0
    assert out.strip() == (
        "rescored 5 leads (0 set-based, 5 through the lifecycle); verified 0: 0 disagreements"
    )
    code, _, err = run("rescore", "--verify", "-1", *db)
    assert code == 2 and "--verify" in err
