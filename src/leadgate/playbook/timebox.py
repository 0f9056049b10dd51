"""The time box of playbook validation: validators call `tick()`, the loader sets the box.

    with time_box(now() + 3.0):
        Playbook.model_validate(data)   # a validator's tick() raises TimeUp once it is spent

Apart from `safe_yaml` (which re-exports it) so that importing the models imports no YAML
parser: a playbook read back from the store is not parsed (leadgate.playbook.plain).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class TimeUp(Exception):
    """The time box of `time_box` is spent. Not a ValueError, so that Pydantic lets it
    through a validator instead of reporting it as one more problem of the field."""


def now() -> float:
    """The clock of every playbook time box: CPU seconds of the calling thread. The box
    stops pathological input by the work it costs; wall time would also count the
    seconds a loaded machine (parallel tests, a busy host) keeps the thread waiting."""
    return time.thread_time()


_DEADLINE: ContextVar[float | None] = ContextVar("playbook_deadline", default=None)


@contextmanager
def time_box(deadline: float) -> Iterator[None]:
    """Within the block, `tick()` raises TimeUp once `now()` passes `deadline`."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def tick() -> None:
    """Called by validators (every field, every template, every regex): TimeUp when the
    enclosing `time_box` is spent; nothing outside one."""
    deadline = _DEADLINE.get()
    if deadline is not None and now() > deadline:
        raise TimeUp
