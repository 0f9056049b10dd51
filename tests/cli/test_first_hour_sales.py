"""A newcomer's first hour (issue 19), stages and sales: the stage graph from the CLI,
opportunity close dates and `opportunity update`, enrolling leads already in nurture."""

from __future__ import annotations

from pathlib import Path

import orjson

from .firsthour import run

# 12. the stage graph: sal → mql with a reason


def test_sales_returns_a_sal_to_marketing_with_a_reason(db: list[str]) -> None:
    run("lead", "add", "--email", "ann@acme.com", *db)
    run("stage", "set", "ann@acme.com", "mql", *db)
    run("stage", "set", "ann@acme.com", "sal", *db)
    code, _, err = run("stage", "set", "ann@acme.com", "mql", *db)
    assert code == 2 and "needs a reason" in err
    code, out, err = run("stage", "set", "ann@acme.com", "mql", "--reason", "wrong persona", *db)
    assert code == 0, err
    assert "sal → mql" in out and out.strip().endswith(": wrong persona)")


# 13. opportunities: no past close date unless --backfill; `opportunity update`


def _to_sql(db: list[str], email: str) -> None:
    for name, role in (("anna", "bdr"), ("eve", "ae")):
        r = run(
            "reps", "add", name, "--role", role, "--hours", "00:00-24:00", "--days", "mon-sun", *db
        )
        assert r[0] == 0, r
    run("lead", "add", "--email", email, *db)
    assert run("stage", "set", email, "mql", *db)[0] == 0
    assert run("stage", "set", email, "sal", *db)[0] == 0
    sets = [x for k in ("budget", "authority", "need", "timeline") for x in ("--set", f"{k}=met")]
    assert run("qualify", email, *sets, *db)[0] == 0
    code, _, err = run("handoff", email, "--ae", "eve", *db)
    assert code == 0, err


def test_opportunity_close_date_in_the_past_needs_backfill_and_can_be_updated(
    db: list[str],
) -> None:
    from datetime import date, timedelta

    _to_sql(db, "ann@acme.com")
    past = (date.today() - timedelta(days=10)).isoformat()
    future = (date.today() + timedelta(days=30)).isoformat()
    later = (date.today() + timedelta(days=60)).isoformat()
    opp = ["--amount", "12000", "--currency", "EUR"]
    code, _, err = run("opportunity", "ann@acme.com", *opp, "--close-date", past, *db)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: close_date: {past} is in the past") and "--backfill" in line
    assert orjson.loads(run("lead", "show", "ann@acme.com", "--json", *db)[1])["stage"] == "sql"

    code, out, err = run("opportunity", "ann@acme.com", *opp, "--close-date", future, *db)
    assert code == 0, err
    assert f"sqo, 12000 EUR, closing {future}" in out

    code, out, err = run(
        "opportunity", "update", "ann@acme.com", "--amount", "15000", "--close-date", later, *db
    )
    assert code == 0, err
    assert f"sqo, 15000 EUR, closing {later}" in out
    code, _, err = run("opportunity", "update", "ann@acme.com", "--close-date", past, *db)
    assert code == 2 and "--backfill" in err
    code, out, _ = run(
        "opportunity", "update", "ann@acme.com", "--close-date", past, "--backfill", "--json", *db
    )
    data = orjson.loads(out)
    assert data["opportunity"]["expected_close"] == past and data["opportunity"]["amount"] == 15000
    audit = [e for e in data["recent_events"] if e["type"] == "opportunity_updated"]
    assert len(audit) == 2
    assert {"was": 12000.0, "now": 15000.0} in [
        e["properties"]["changes"].get("amount") for e in audit
    ]
    code, _, err = run("opportunity", "update", "ann@acme.com", *db)
    assert code == 2 and "nothing to change" in err


def test_opportunity_backfill_records_a_past_deal(db: list[str]) -> None:
    _to_sql(db, "bob@acme.com")
    code, out, err = run(
        "opportunity",
        "create",
        "bob@acme.com",
        "--amount",
        "5000",
        "--currency",
        "usd",
        "--close-date",
        "2024-03-31",
        "--backfill",
        *db,
    )
    assert code == 0, err
    assert "sqo, 5000 USD, closing 2024-03-31" in out


# 14. leads already in nurture: `nurture enrol`, and `retroactive: true` tracks


def _with_tracks(tmp_path: Path, retroactive: bool) -> Path:
    from leadgate.playbook.loader import bundled_playbook

    _, text = bundled_playbook()
    tracks = (
        "nurture:\n  tracks:\n"
        "    - name: win-back\n"
        "      if: {field: nurture_reason, op: eq, value: lost}\n"
        f"      retroactive: {'true' if retroactive else 'false'}\n"
        "      steps: [{wait_days: 3}, {send: {channel: webhook, subject: hi, body: back}}]\n"
    )
    start = text.index("nurture:") if "\nnurture:" in text else None
    assert start is None or text[start - 1] == "\n"
    body = text if start is None else text[:start] + text[text.index("\nstages:", start) + 1 :]
    path = tmp_path / ("retro.yaml" if retroactive else "tracks.yaml")
    path.write_text(body.replace("\nstages:", "\n" + tracks + "stages:", 1), encoding="utf-8")
    return path


def _nurtured(db: list[str], email: str, reason: str) -> None:
    run("lead", "add", "--email", email, "--set", "country=DE", *db)
    assert run("stage", "set", email, "nurture", "--reason", reason, *db)[0] == 0


def test_nurture_enrol_puts_leads_already_in_nurture_on_a_track(
    db: list[str], tmp_path: Path
) -> None:
    _nurtured(db, "a@acme.com", "lost: price")
    _nurtured(db, "b@acme.com", "not now")
    _nurtured(db, "c@beta.io", "lost")
    code, out, err = run("playbook", "activate", str(_with_tracks(tmp_path, False)), *db)
    assert code == 0, err
    assert "retroactive" not in out
    # A track added later does not pick up leads already in nurture by itself.
    assert orjson.loads(run("nurture", "show", "c@beta.io", "--json", *db)[1])["nurture"] is None
    code, out, err = run("nurture", "enrol", "--track", "win-back", "--dry-run", *db)
    assert code == 0, err
    assert out.strip() == "would enrol 1 leads already in nurture in track 'win-back'"
    code, out, _ = run(
        "nurture", "enrol", "--track", "win-back", "--segment", "Country=de", "--json", *db
    )
    assert orjson.loads(out)["enrolled"] == 1
    assert "win-back" in run("nurture", "show", "c@beta.io", *db)[1]
    # Enrolled once: a second run finds nobody.
    assert (
        orjson.loads(run("nurture", "enrol", "--track", "win-back", "--json", *db)[1])["enrolled"]
        == 0
    )
    code, _, err = run("nurture", "enrol", "--track", "winback", *db)
    assert code == 2 and "no nurture track 'winback' (tracks: win-back)" in err
    code, _, err = run("nurture", "enrol", "--track", "win-back", "--segment", "country", *db)
    assert code == 2 and "field=value" in err


def test_a_retroactive_track_enrols_on_activation(db: list[str], tmp_path: Path) -> None:
    _nurtured(db, "c@beta.io", "lost")
    _nurtured(db, "d@beta.io", "timing")
    code, out, err = run("playbook", "activate", str(_with_tracks(tmp_path, True)), *db)
    assert code == 0, err
    assert out.strip().endswith(
        "; enrolled 1 leads already in nurture in track 'win-back' (retroactive)"
    )
    assert "win-back" in run("nurture", "show", "c@beta.io", *db)[1]
    assert "win-back" not in run("nurture", "show", "d@beta.io", *db)[1]
