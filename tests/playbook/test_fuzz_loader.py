"""Fuzzing the playbook loader with hostile YAML (issue 13).

Whatever the text, `load_playbook` returns a Playbook or raises PlaybookError, whose
problems are one line each; `leadgate playbook check FILE` exits 0 or 2 and prints no
traceback. The inputs: the bundled playbook with hostile values spliced in, random
flow structures, aliases and anchors, huge numbers, NaN and infinity, deep nesting,
odd unicode, tabs, tags, directives, several documents.

The 2-second bound on one load is the loader's own time box (`TIME_LIMIT`, reported as
a PlaybookError); a watchdog here catches only a real hang (the time box not reached),
far above it, so that a loaded CI machine does not make the test flaky.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook

BUNDLED = bundled_playbook()[1]
LINES = BUNDLED.splitlines()
HANG = 30  # seconds: a watchdog for a real hang, not a timing assertion

HOSTILE = [
    "NO",
    "yes",
    "on",
    "off",
    "y",
    "~",
    "null",
    ".nan",
    ".NaN",
    "-.inf",
    ".inf",
    "+.inf",
    "nan",
    "inf",
    "1e400",
    "-1e400",
    "1e300",
    "0x1F",
    "0o17",
    "0755",
    "1:30",
    "2024-13-45",
    "2024-02-30",
    "true",
    "True",
    "0b101",
    "1_000",
    "'quoted'",
    '"\\ud800"',
    '"\\x00"',
    "!!python/object/apply:os.system ['true']",
    "!!binary AAAA",
    "!!timestamp 2024-01-01",
    "!!float nan",
    "!!int abc",
    "!!bool yes",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!custom x",
    "*a",
    "&a x",
    "&a [1, *a]",
    "<<: *a",
    "? [a]",
    "? {a: 1}",
    "- ",
    "\t",
    "\t- x",
    "{",
    "[",
    "]",
    "}",
    ",",
    ":",
    "#",
    "|",
    ">",
    "|-\n  x",
    "%YAML 1.1",
    "%TAG ! tag:x,2000:",
    "---",
    "...",
    "\ufeff",
    "\u2028",
    "\u0085",
    "\U0001f600",
    "\x7f",
    "\x1b",
    "é",
    "ß",
    "ǅ",
    "",
    "{field: c, op: in, value: [SE, NO]}",
    "{score: fit, op: gt, value: .nan}",
    "{not: {not: {not: {field: a, op: exists, value: yes}}}}",
    '"a\\nb"',
    '"x\\r\\ny": 1',
    '"\\u2028"',
    '"\\x85"',
    "'\\n'",
    "{{ range(10**9)|list }}",
    "{% for i in range(10**9) %}x{% endfor %}",
]


def _big_number(n: int) -> str:
    return "9" * n


def _deep(n: int, open_: str, close: str) -> str:
    return open_ * n + close * n


def _bomb(levels: int, width: int) -> str:
    lines = ["a0: &a0 [lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines)


fragments = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),  # any unicode, surrogates and controls included
    st.integers(min_value=20, max_value=6000).map(_big_number),
    st.integers(min_value=1, max_value=3000).map(lambda n: _deep(n, "[", "]")),
    st.integers(min_value=1, max_value=1500).map(lambda n: _deep(n, "{a: ", "}")),
    st.builds(_bomb, st.integers(1, 9), st.integers(1, 9)),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
)


def _flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, max_size=5).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(
            st.tuples(
                st.sampled_from(["name", "fit", "if", "op", "value", "points", "x"]), children
            ),
            max_size=5,
        ).map(lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
    )


structures = st.recursive(fragments, _flow, max_leaves=20)


@st.composite
def spliced(draw: st.DrawFn) -> str:
    """The bundled playbook with hostile text put in place of values, or between lines."""
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        frag = draw(st.one_of(fragments, structures))
        how = draw(st.sampled_from(["value", "insert", "replace", "indent"]))
        line = lines[i]
        if how == "value" and ":" in line:
            lines[i] = line[: line.index(":") + 1] + " " + frag
        elif how == "insert":
            lines.insert(i, frag)
        elif how == "indent":
            lines[i] = draw(st.sampled_from(["\t", " ", "   ", "\t "])) + line
        else:
            lines[i] = frag
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n", "\n---\n", "\n...\n"]))


hostile_yaml = st.one_of(
    spliced(),
    structures,
    st.builds(lambda s: "name: t\nstages: {mql: {hand_raisers: [x]}}\nfit: " + s, structures),
    st.text(
        alphabet=st.sampled_from(list("[]{}:,-?&*!|>'\"#%@` \t\n\\.0123456789aeNOyn~")),
        max_size=200,
    ),
)


@contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    def hung(signum: int, frame: Any) -> None:
        raise AssertionError(f"the loader hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


FUZZ = settings(
    max_examples=200,
    deadline=None,  # see the module docstring: the time box is the loader's own
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(hostile_yaml)
def test_the_loader_returns_a_playbook_or_raises_its_own_error(text: str) -> None:
    with watchdog(HANG):
        try:
            pb = load_playbook(text, "fuzz.yaml")
        except PlaybookError as exc:
            assert exc.problems
            for p in exc.problems:
                msg = str(p)
                assert msg.startswith("fuzz.yaml"), msg
                assert "\n" not in msg and "\r" not in msg, msg
            return
    assert isinstance(pb, Playbook)


runner = CliRunner()


@settings(FUZZ, max_examples=40)
@given(hostile_yaml)
def test_playbook_check_exits_0_or_2_with_one_line_per_problem(text: str) -> None:
    # Written as bytes: the CLI reads the file itself (surrogates become a UTF-8 error).
    # (tempfile, not tmp_path: Hypothesis runs many examples in one function-scoped test)
    fd, name = tempfile.mkstemp(suffix=".yaml", prefix="leadgate-fuzz-")
    path = Path(name)
    with os.fdopen(fd, "wb") as f:
        f.write(text.encode("utf-8", "surrogatepass"))
    try:
        with watchdog(HANG):
            result = runner.invoke(app, ["playbook", "check", str(path)])
    finally:
        path.unlink()
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert lines and all(ln.startswith("error: ") for ln in lines), result.stderr
    else:
        assert result.exception is None


@pytest.mark.parametrize("text", ["", "\n", "---", "~", "[]", "'x'", "a", "- a"])
def test_documents_that_are_not_a_mapping_are_one_located_error(text: str) -> None:
    with pytest.raises(PlaybookError) as exc:
        load_playbook(text, "fuzz.yaml")
    [p] = exc.value.problems
    assert "YAML mapping" in p.message
