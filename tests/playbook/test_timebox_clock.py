"""The playbook time box counts the work spent on one playbook, not the wall clock.

A loaded machine (parallel test workers, a busy server host) can leave the loading
thread waiting for seconds: the bundled playbook (~0.03 s of work) was refused with
"took longer than 3 s to read" under `make test -n auto`. The box is there to stop
pathological input, so it measures the loading thread's CPU time.
"""

from __future__ import annotations

import time
from itertools import count

import pytest

from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook


def test_a_thread_kept_waiting_still_loads_the_bundled_playbook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = bundled_playbook()[1]
    ticks = count()
    # Each look at the wall clock finds 10 s more gone by: the thread was not scheduled.
    monkeypatch.setattr(time, "monotonic", lambda: 1_000.0 + 10.0 * next(ticks))
    pb = load_playbook(text, "default.yaml")
    assert pb.fit.rules


def test_work_past_the_box_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    text = bundled_playbook()[1]
    ticks = count()
    # Each look at the thread's CPU clock finds 10 s more spent: the box must close.
    monkeypatch.setattr(time, "thread_time", lambda: 1_000.0 + 10.0 * next(ticks))
    with pytest.raises(PlaybookError, match="took longer than 3 s"):
        load_playbook(text, "default.yaml")
