"""Lead lists with segments, search and seek pagination (leadgate.engine.listing), on SQLite
and PostgreSQL; `lead list --segment`, `report funnel --segment` and the HTTP funnel."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from leadgate.engine.engine import Engine
from leadgate.engine.listing import SORTS, LeadQuery, iter_pages, list_page
from leadgate.ingest.validate import InputError, parse_event
from leadgate.playbook.segments import compile_segments, lead_view

SIZES = [5, 20, 200, 1500, 4000, None, "12", "lots"]


def _fill(engine: Engine, n: int = 120) -> None:
    rng = random.Random(3)
    engine.upsert_leads(
        [
            (
                f"l{i:03d}@{rng.choice(['acme.io', 'gmail.com', 'big.co'])}",
                {
                    "company_size": rng.choice(SIZES),
                    "job_title": rng.choice(["VP Sales", "intern", "Manager", ""]),
                    "country": rng.choice(["DE", "US", "BR"]),
                    "source": rng.choice(["web", "Events", None]),
                    **({"predicted": rng.choice([0.1, 0.5, 0.9])} if i % 3 else {}),
                },
                None,
            )
            for i in range(n)
        ]
    )
    now = engine.clock()
    engine.ingest(
        [
            parse_event({"email": f"l{i:03d}@acme.io", "type": "demo_request", "id": f"d{i}"}, now)
            for i in range(0, n, 9)
            if f"l{i:03d}@acme.io"
        ],
    )


def test_old_and_new_lists_agree_in_order(engine: Engine) -> None:
    """`lead list` without a segment (reading.list_leads) and the seek pages list the same
    leads in the same order, for every sort they share."""
    _fill(engine)
    for sort in ("priority", "score", "recent", "predicted"):
        old = [r["id"] for r in engine.list_leads(limit=1000, sort=sort)]
        paged = [r["id"] for rows in iter_pages(engine, LeadQuery(sort=sort), 11) for r in rows]
        assert paged == old, sort


def test_pages_seek_through_ties_without_loss_or_repeat(engine: Engine) -> None:
    # Many leads with equal grades and scores: the cursor must still step through ties.
    engine.upsert_leads([(f"t{i:03d}@same.example", {"country": "DE"}, None) for i in range(60)])
    for sort in SORTS:
        whole = [r["id"] for r in list_page(engine, LeadQuery(sort=sort, limit=1000)).rows]
        for size in (1, 7, 59, 60):
            got = [r["id"] for rows in iter_pages(engine, LeadQuery(sort=sort), size) for r in rows]
            assert got == whole, (sort, size)


def test_a_segment_lists_what_the_python_segment_admits(engine: Engine) -> None:
    _fill(engine)
    text = engine_playbook_with(
        engine,
        "  big_non_free:\n    all:\n      - {field: company_size, op: gte, value: 200}\n"
        "      - {not: {field: email_domain, op: eq, value: gmail.com}}\n"
        "      - {any: [{score: predicted, op: gte, value: 0.5}, {field: stage, op: eq, "
        "value: mql}]}\n",
    )
    pb = engine.processor().playbook
    assert "big_non_free" in pb.segments, text
    test = compile_segments(pb.segments)["big_non_free"]
    listed = [
        r["email"] for r in engine.list_leads(limit=1000, sort="score", segment="big_non_free")
    ]
    everyone = list_page(engine, LeadQuery(sort="score", limit=1000)).rows
    expected = [
        r["email"]
        for r in everyone
        if test(
            *lead_view(
                r["email"],
                r["attributes"],
                stage=r["stage"],
                grade=r["grade"],
                owner=r["owner"],
                fit=r["fit"],
                engagement=r["engagement"],
                total=r["score"],
            )
        )
    ]
    assert listed == expected and 0 < len(listed) < len(everyone)
    funnel = engine.funnel("big_non_free")
    assert funnel["segment"] == "big_non_free" and funnel["total_leads"] == len(listed)
    assert funnel["reached"]["mql"] == sum(
        1 for r in everyone if r["email"] in listed and r["stage"] == "mql"
    )
    assert "segment" not in engine.funnel()
    with pytest.raises(InputError, match="no segment 'nope'"):
        engine.funnel("nope")
    with pytest.raises(InputError, match="no segment 'nope'"):
        engine.list_leads(segment="nope")


def engine_playbook_with(engine: Engine, segments: str) -> str:
    """Activate the bundled playbook with these segment lines added."""
    from leadgate.playbook.loader import bundled_playbook

    text = bundled_playbook()[1].replace("\nsegments:\n", "\nsegments:\n" + segments, 1)
    engine.activate_playbook(text, "test")
    return text


def test_bad_cursors_and_filters_are_input_errors(engine: Engine) -> None:
    _fill(engine, 20)
    page = list_page(engine, LeadQuery(limit=5))
    assert page.next is not None
    with pytest.raises(InputError, match="sort order"):
        list_page(engine, LeadQuery(sort="score", after=page.next))
    for bad in ("x", "W10", page.next[:-3] + "AAA"):
        with pytest.raises(InputError):
            list_page(engine, replace(LeadQuery(), after=bad))
    with pytest.raises(InputError, match="grade"):
        list_page(engine, LeadQuery(grade="E"))
    with pytest.raises(InputError, match="stage"):
        list_page(engine, LeadQuery(stage="won"))


def test_search_follows_changes_to_a_lead(engine: Engine) -> None:
    """The trigram index (SQLite: a table kept by triggers) follows edits."""
    engine.upsert_leads([("ann@x.example", {"company": "Oldname Labs", "first_name": "Ann"}, None)])
    engine.upsert_leads([("bo@x.example", {"company": "Other"}, None)])

    def found(text: str) -> list[str]:
        return [r["email"] for r in list_page(engine, LeadQuery(search=text, sort="email")).rows]

    assert found("OLDNAME") == ["ann@x.example"] and found("ann lab") == ["ann@x.example"]
    engine.upsert_leads([("ann@x.example", {"company": "Newname"}, None)])
    assert found("oldname") == [] and found("newname") == ["ann@x.example"]
    assert found("x.example") == ["ann@x.example", "bo@x.example"]
    assert found('"quoted" ann') == [] and found("a%") == []


def test_the_migration_indexes_the_text_search_reads() -> None:
    import importlib.util
    from pathlib import Path

    import leadgate.store.migrations as migrations
    from leadgate.engine.listing import SEARCH_FIELDS

    path = Path(migrations.__path__[0]) / "versions" / "0014_lead_search.py"
    spec = importlib.util.spec_from_file_location("m0014", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod._FIELDS == SEARCH_FIELDS
