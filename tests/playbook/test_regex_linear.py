"""`matches` takes time linear in the text, whatever the pattern.

A backtracking engine (Python's `re`) takes exponential time on patterns such as
`(\\w+\\s?)+$` and polynomial time on `\\d+\\d+\\d+!` when the text almost matches: a
job title of 40 letters and a `!` (one form post) held the scorer for hours, and with
it every write. The playbook's time box bounds the check, not the rules it lets
through; so the real-time engine runs the same RE2 engine DuckDB does.

The hostile searches run in a child process: without the fix they would not finish,
so the watchdog (minutes, for work of microseconds) is what fails.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from leadgate.playbook.loader import PlaybookError, load_playbook
from leadgate.playbook.regex import RegexError, check, compile_python

HOSTILE = [
    # (pattern, a text that almost matches it, whether it matches)
    (r"(a+)+$", "a" * 60 + "!", False),
    (r"(a|a)*b", "a" * 60, False),
    (r"(?i)^(\w+\s?)+$", "Head of Growth " * 5 + "!", False),
    (r"\d+\d+\d+!", "1" * 5000, False),
    (r"\s*\w*\s*\w*\s*x$", "a" * 5000, False),
    (r"(a+)+$", "a" * 60, True),
]


def _run(code: str) -> str:
    """What `code` prints in a child process, which must end within two minutes."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a regex search on a hostile text did not finish in 2 minutes")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_hostile_patterns_answer_on_hostile_texts_at_once() -> None:
    code = textwrap.dedent(
        f"""
        from leadgate.playbook.regex import compile_python
        for pattern, text, _ in {HOSTILE!r}:
            print(compile_python(pattern).search(text) is not None)
        """
    )
    assert _run(code).split() == [str(m) for _, _, m in HOSTILE]


def test_a_fit_rule_scores_a_hostile_job_title_at_once() -> None:
    code = textwrap.dedent(
        """
        from leadgate.playbook.loader import load_playbook
        from leadgate.scoring.fit import FitRules
        pb = load_playbook('''
        name: t
        fit:
          rules:
            - {name: words, if: {field: job_title, op: matches, value: '^(\\\\w+\\\\s?)+$'}, points: 5}
        stages: {mql: {hand_raisers: [demo_request]}}
        ''')
        rules = FitRules(pb.fit)
        print(rules.lines({"job_title": "Chief Revenue Officer"}))
        print(rules.lines({"job_title": "a" * 50 + "!"}))
        """
    )
    assert _run(code).splitlines() == ["[('words', 5.0)]", "[]"]


@pytest.mark.parametrize("pattern", [r"(a{255}){255}", r"((a{100}){100}){100}", r"(x{200}){6}"])
def test_a_repeat_too_large_for_re2_is_refused_at_check(pattern: str) -> None:
    # DuckDB runs RE2, which refuses repeats whose counts multiply past 1,000: such a
    # pattern passed `playbook check` and then failed every SQL rescore.
    with pytest.raises(RegexError, match="invalid repetition size"):
        check(pattern)
    text = PLAYBOOK.format(pattern=pattern)
    with pytest.raises(PlaybookError, match=r"pb.yaml:5: fit.rules\[0\].if: bad regular"):
        load_playbook(text, "pb.yaml")


def test_a_text_with_a_lone_surrogate_is_searched_not_a_crash() -> None:
    # No store keeps one, but a caller in Python may pass one: RE2 reads UTF-8.
    assert compile_python("a").search("\udc00a") is not None
    assert compile_python("^b").search("\udc00a") is None


PLAYBOOK = """\
name: t
fit:
  rules:
    - name: odd
      if: {{field: job_title, op: matches, value: '{pattern}'}}
      points: 20
stages:
  mql:
    hand_raisers: [demo_request]
"""
