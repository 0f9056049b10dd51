"""The architecture, checked: a pure core, adapters around it, dependencies pointing inward.

Read from the source with `ast` (no imports run), so a violation names its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "leadgate"
CORE = {"playbook", "scoring", "lifecycle", "leads", "routing", "sla", "qualification"}
# Libraries that do I/O or belong to a framework: the core uses none of them.
NOT_IN_CORE = {
    "sqlalchemy", "alembic", "psycopg", "sqlite3", "duckdb", "pandas", "pyarrow", "fastapi",
    "starlette", "uvicorn", "httpx", "requests", "urllib", "socket", "subprocess", "typer",
    "click", "rich", "smtplib", "asyncio", "threading",
}  # fmt: skip
# Adapters that must not import one another (the CLI is the composition root: `serve`
# starts the HTTP app, so only it may import the others).
ADAPTERS = {"api", "web", "cli"}


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


FILES = sorted(SRC.rglob("*.py"))


def _violations(rule: str) -> list[str]:
    bad: list[str] = []
    for path in FILES:
        pkg = _package(path)
        for line, module in _imports(path):
            top, _, rest = module.partition(".")
            target = rest.split(".")[0] if top == "leadgate" else None
            where = f"{path.relative_to(SRC.parent)}:{line}: imports {module}"
            outward = (target is not None and target not in CORE) or top in NOT_IN_CORE
            if rule == "core" and pkg in CORE and outward:
                bad.append(where)
            if rule == "adapters" and target in ADAPTERS and pkg not in (target, "cli"):
                bad.append(where)
    return bad


@pytest.mark.parametrize("rule", ["core", "adapters"])
def test_dependencies_point_inward(rule: str) -> None:
    assert _violations(rule) == []
