"""The bench scripts on a fresh clone (issue 19): `--help` prints usage, and a bench
creates the directory it writes to instead of failing with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHES = sorted(p.name for p in (REPO / "bench").glob("*.py") if not p.name.startswith("_"))


def _run(args: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "LEADGATE_BENCH_OUT": str(out)}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("script", BENCHES)
def test_every_bench_prints_usage_with_help(script: str, tmp_path: Path) -> None:
    r = _run([f"bench/{script}", "--help"], tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:"), r.stdout[:200]
    assert "Traceback" not in r.stderr


def test_rescore_bench_runs_on_a_fresh_clone(tmp_path: Path) -> None:
    out = tmp_path / "fresh" / "out"
    r = _run(["bench/rescore.py", "--leads", "30", "--events", "300"], out)
    assert r.returncode == 0, r.stderr
    assert "points only (state carried over)" in r.stdout
    assert out.is_dir()
