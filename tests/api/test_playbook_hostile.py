"""Hostile playbooks over HTTP: a 422 problem naming the line, checked before the write
queue (an alias bomb must not hold the store's write lock), and the store unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from leadgate.engine.engine import Engine

from .conftest import Api

V1 = "/api/v1"
PROBLEM = "application/problem+json"
MQL = "stages: {mql: {hand_raisers: [demo_request]}}\n"


def _bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join(f"*a{i - 1}" for _ in range(9)) + "]")
    return "name: t\n" + "\n".join(lines) + "\n" + MQL


NAN = "name: t\nfit:\n  rules:\n    - {name: a, if: {field: c, op: eq, value: x}, points: .nan}\n"


@pytest.fixture
def no_activation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a refused playbook reaches the engine (and so the write queue)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an invalid playbook reached activate_playbook")

    monkeypatch.setattr(Engine, "activate_playbook", refuse)


@pytest.mark.parametrize(
    ("text", "line", "words"), [(_bomb(), 3, "alias"), (NAN + MQL, 4, "finite")]
)
def test_put_playbook_refuses_before_the_write_queue(
    api: Api, no_activation: None, text: str, line: int, words: str
) -> None:
    before = api.get(f"{V1}/playbook").json()
    r = api.put(
        f"{V1}/playbook", content=text.encode(), headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["errors"][0]["line"] == line
    assert words in body["detail"]
    assert api.get(f"{V1}/playbook").json() == before


def test_put_playbook_refuses_norway_as_a_boolean_flag(api: Api, no_activation: None) -> None:
    text = "name: t\nengagement: {adjustments: {decay: no}}\n" + MQL
    r = api.put(f"{V1}/playbook", json={"yaml": text})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "engagement.adjustments.decay"


@pytest.mark.parametrize(("text", "words"), [(_bomb(), "alias"), (NAN + MQL, "finite")])
def test_backtest_refuses_hostile_playbooks_with_their_line(
    api: Api, text: str, words: str
) -> None:
    r = api.post(f"{V1}/backtest", role="marketing", json={"playbook": text})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    detail = r.json()["detail"]
    assert words in detail and "new playbook:" in detail
