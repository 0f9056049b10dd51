"""The server's garbage-collector policy (issue 17): what a write leaves alive is frozen so
young collections stop walking it, and frozen cyclic garbage is still swept in time."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadgate.api.app import app_from_env, create_app
from leadgate.api.gc_policy import GC_THRESHOLDS, FreezeAfterWrites, tune_gc


class _Node:
    """Weak-referenceable, so a test sees when the collector frees it."""

    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    old = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*old)


def _young() -> set[int]:
    return {id(o) for o in gc.get_objects()}


def test_what_a_write_leaves_alive_is_frozen() -> None:
    policy = FreezeAfterWrites(sweep_seconds=600, clock=_Clock())
    cached = [{"lead": i} for i in range(10)]  # like the engine's lead cache after a batch
    assert id(cached) in _young()

    policy.after_write()

    assert id(cached) not in _young()  # in the permanent generation: no collection walks it
    assert gc.get_count()[0] == 0


def test_cyclic_garbage_frozen_by_a_write_is_swept_after_sweep_seconds() -> None:
    clock = _Clock()
    policy = FreezeAfterWrites(sweep_seconds=600, clock=clock)
    node = _Node()
    ref = weakref.ref(node)
    del node
    policy.after_write()  # the unreachable cycle was frozen with everything else
    gc.collect()
    assert ref() is not None, "a frozen cycle survives a full collection"

    clock.now += 599
    policy.after_write()
    assert ref() is not None

    clock.now += 1
    policy.after_write()
    assert ref() is None, "the sweep unfreezes and collects"
    # ... and freezes again what is still alive.
    survivor = []
    assert id(survivor) in _young()
    policy.after_write()
    assert id(survivor) not in _young()


def test_a_sweep_keeps_live_objects() -> None:
    clock = _Clock()
    policy = FreezeAfterWrites(sweep_seconds=1, clock=clock)
    kept = _Node()
    policy.after_write()
    clock.now += 5
    policy.after_write()
    assert kept.me is kept


def test_tune_gc_raises_the_young_threshold_and_freezes_the_start_up_objects() -> None:
    made_at_start = [object()]
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert id(made_at_start) not in _young()
    # Above what 8 requests of 1,000 events hold alive at once (~5,000 tracked containers
    # each): a young collection that would only walk them and free nothing.
    assert GC_THRESHOLDS[0] >= 8 * 5_000


def test_the_server_freezes_after_writes_and_an_embedded_app_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("LEADGATE_DB", url)
    monkeypatch.setenv("LEADGATE_DELIVERY", "0")
    monkeypatch.setenv("LEADGATE_TICK", "0")
    served = app_from_env()
    embedded = create_app(url)
    try:
        assert isinstance(served.state.leadgate.gc_policy, FreezeAfterWrites)
        assert embedded.state.leadgate.gc_policy is None
    finally:
        served.state.leadgate.engine.db.dispose()
        embedded.state.leadgate.engine.db.dispose()
