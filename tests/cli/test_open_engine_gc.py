"""`open_engine` pauses the cyclic collector while the engine opens (issue 17: start-up
objects live as long as the process) and always leaves it as it found it, on success and
on error; a process that opened the engine keeps collecting."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from leadgate.cli.common import open_engine
from leadgate.store.database import NoStore

from .firsthour import run


def test_opening_the_engine_leaves_the_collector_as_it_was(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert run("init", "--db", url)[0] == 0
    try:
        for enabled in (True, False, True):
            (gc.enable if enabled else gc.disable)()
            open_engine(url).db.dispose()
            assert gc.isenabled() is enabled
            with pytest.raises(NoStore):
                open_engine(f"sqlite:///{tmp_path / 'missing.db'}")
            assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_a_command_process_collects_after_opening_the_engine(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert run("init", "--db", url)[0] == 0
    probe = (
        "import gc\nfrom leadgate.cli.common import open_engine\n"
        f"open_engine({url!r})\nprint(gc.isenabled(), gc.get_freeze_count() > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True"]
