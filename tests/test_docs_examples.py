"""Every shell and HTTP example in README.md and docs/*.md runs as written (issue 19).

Each document's examples run in order, in a fresh directory with a fresh store
(the default `sqlite:///leadgate.db` there), as a reader following it would:

- fenced ``sh``/``bash``/``shell`` blocks and indented blocks, one command per line
  (`\\` continues a line, `&&` chains, `> FILE` writes stdout to a file, `# ...` is a
  comment);
- `leadgate ...` runs the CLI and must exit 0;
- `curl ... http://127.0.0.1:8000/...` is sent to the API app over the same store, with
  `$KEY` an admin key, and must answer below 400;
- a synopsis (`[--option]`, `a|b`) is not an example and is not run;
- a line, or a whole block from its first line on, marked `[not run: why]` in a comment
  is not run: the docs say so to the reader too (a server that runs until Ctrl-C, data
  the reader brings, a store with a year of history);
- any other command is an error here: an example must be run or marked.

The files an example names (`contacts.csv`, `events.jsonl`, `my.yaml`, `new.yaml`) are
made first, as small as will do.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.playbook.loader import bundled_playbook

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"\[not run: [^\]]+\]")
SETUP = {". .venv/bin/activate"}  # the test already runs in the environment
runner = CliRunner()


@dataclass
class Example:
    """One command line of a document, with where it is."""

    path: Path
    line: int
    text: str
    skip: bool


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each shell block: fenced sh/bash/shell, or indented."""
    out: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if m.group(1) in ("sh", "bash", "shell"):
                out.append((i + 2, lines[i + 1 : j]))
            i = j + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            block = [ln[4:] for ln in lines[i:j]]
            if block and re.match(r"(leadgate|curl) ", block[0]):
                out.append((i + 1, block))
            i = j
            continue
        i += 1
    return out


def examples(path: Path) -> list[Example]:
    """The command lines of one document, continuations joined."""
    out: list[Example] = []
    for start, block in _blocks(path.read_text(encoding="utf-8")):
        block_skip = (
            bool(block) and bool(NOT_RUN.search(block[0])) and block[0].lstrip().startswith("#")
        )
        k = 0
        while k < len(block):
            first = k
            line = block[k]
            while k + 1 < len(block):
                if line.rstrip().endswith("\\"):
                    k += 1
                    line = line.rstrip()[:-1].rstrip() + " " + block[k].strip()
                elif _open_quote(line):  # a quoted JSON body over several lines
                    k += 1
                    line = line + "\n" + block[k]
                else:
                    break
            k += 1
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out.append(
                Example(path, start + first, line.strip(), block_skip or bool(NOT_RUN.search(line)))
            )
    return out


def _open_quote(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return True
    return False


def _synopsis(tokens: list[str]) -> bool:
    return any(t.startswith("[") or ("|" in t and not t.startswith(("http", "{"))) for t in tokens)


def _runs_until_stopped(cmd: list[str]) -> bool:
    """`serve`, `worker` and `scheduler` (without --once) serve until Ctrl-C."""
    words = [t for t in cmd[1:] if not t.startswith("-")]
    return bool(words) and (
        words[0] in ("serve", "worker") or (words[0] == "scheduler" and "--once" not in cmd)
    )


def _starts_a_store(doc: Path) -> bool:
    """Whether the page makes its own store before its other examples."""
    for ex in examples(doc):
        if ex.skip or ex.text in SETUP:
            continue
        return ex.text.startswith(("leadgate init", "leadgate demo"))
    return True


def _fixtures(d: Path) -> None:
    _, text = bundled_playbook()
    (d / "my.yaml").write_text(text, encoding="utf-8")
    (d / "old.yaml").write_text(text, encoding="utf-8")
    (d / "new.yaml").write_text(
        text.replace(
            "{event: webinar_attended, points: 20}", "{event: webinar_attended, points: 25}"
        ),
        encoding="utf-8",
    )
    (d / "contacts.csv").write_text(
        "Email,First Name,Company,Job Title,Number of Employees,Country\n"
        "bo@beta.io,Bo,Beta,Head of Sales,120,DK\n"
        "cy@gamma.it,Cy,Gamma,Intern,8,IT\n",
        encoding="utf-8",
    )
    (d / "events.jsonl").write_text(
        '{"id": "e-1", "email": "bo@beta.io", "type": "webinar_attended", '
        '"occurred_at": "2026-05-01T10:00:00Z", "properties": {}}\n',
        encoding="utf-8",
    )


class _Api:
    """The API app over the document's store, started on the first curl example."""

    def __init__(self) -> None:
        self.client = None
        self.key = ""

    def send(self, tokens: list[str]) -> tuple[int, str]:
        from fastapi.testclient import TestClient

        from leadgate.api import create_app
        from leadgate.keys import create_key

        if self.client is None:
            api = create_app("sqlite:///leadgate.db")
            self.key = create_key(api.state.leadgate.engine.db, "admin", "docs-test")[1]
            self.client = TestClient(api).__enter__()
        method, url, headers, body = "GET", "", {}, None
        it = iter(tokens[1:])
        for t in it:
            if t in ("-X", "--request"):
                method = next(it)
            elif t in ("-H", "--header"):
                k, v = next(it).split(":", 1)
                headers[k.strip()] = v.strip().replace("$KEY", self.key)
            elif t in ("-d", "--data", "--data-binary", "--json"):
                body = next(it).encode()
                method = "POST" if method == "GET" else method
            elif t.startswith("http"):
                url = t
            # -s, -i, -f: how curl prints, nothing sent
        path = re.sub(r"^https?://[^/]+", "", url)
        r = self.client.request(method, path, headers=headers, content=body)
        return r.status_code, r.text

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)


def _run(ex: Example, api: _Api) -> str | None:
    """None when the example ran as written, else why not."""
    tokens = shlex.split(ex.text.replace("$KEY", "KEY_PLACEHOLDER"), comments=True)
    tokens = [t.replace("KEY_PLACEHOLDER", "$KEY") for t in tokens]
    if _synopsis(tokens):
        return None
    commands: list[list[str]] = [[]]
    for t in tokens:
        if t == "&&":
            commands.append([])
        else:
            commands[-1].append(t)
    for cmd in commands:
        target = None
        if ">" in cmd:
            target = cmd[cmd.index(">") + 1]
            cmd = cmd[: cmd.index(">")]
        if cmd[0] == "leadgate" and _runs_until_stopped(cmd):
            return "runs until stopped: mark it [not run: why]"
        if cmd[0] == "leadgate":
            r = runner.invoke(app, cmd[1:])
            if r.exit_code != 0:
                return f"exit {r.exit_code}: {(r.stderr or r.stdout).strip()[-300:]}"
            if target:
                Path(target).write_text(r.stdout, encoding="utf-8")
        elif cmd[0] == "curl":
            status, text = api.send(cmd)
            if status >= 400:
                return f"HTTP {status}: {text[:300]}"
        else:
            return f"'{cmd[0]}' is not run by this test: run it here or mark it [not run: why]"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_examples_run_as_written(
    doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADGATE_DB", raising=False)
    # The examples' webhook hosts (example.com) cannot be resolved without a network:
    # the intranet switch lets them through unresolved (docs/api.md, Webhook targets).
    monkeypatch.setenv("LEADGATE_ALLOW_PRIVATE_WEBHOOKS", "1")
    _fixtures(tmp_path)
    if not _starts_a_store(doc):
        # Pages that assume the store README's first steps made (`leadgate init`).
        assert runner.invoke(app, ["init"]).exit_code == 0
    api = _Api()
    failures = []
    try:
        for ex in examples(doc):
            if ex.skip or ex.text in SETUP:
                continue
            why = _run(ex, api)
            if why:
                failures.append(f"{doc.name}:{ex.line}: {ex.text}\n    {why}")
    finally:
        api.close()
    assert not failures, "\n".join(failures)


def test_the_extractor_sees_every_kind_of_example(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "Text.\n\n```sh\nleadgate init   # a comment\nleadgate lead add \\\n  --email a@b.co\n"
        "make run   # [not run: serves until Ctrl-C]\n```\n\nMore.\n\n"
        "    leadgate report funnel\n\n```json\n{}\n```\n",
        encoding="utf-8",
    )
    got = [(e.line, e.text, e.skip) for e in examples(doc)]
    assert got == [
        (4, "leadgate init   # a comment", False),
        (5, "leadgate lead add --email a@b.co", False),
        (7, "make run   # [not run: serves until Ctrl-C]", True),
        (12, "leadgate report funnel", False),
    ]


def test_a_broken_or_unmarked_example_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    api = _Api()
    try:
        assert _run(Example(tmp_path, 1, "leadgate init", False), api) is None
        why = _run(Example(tmp_path, 2, "leadgate lead show nobody@acme.com", False), api)
        assert why is not None and why.startswith("exit 2: error: no lead")
        why = _run(Example(tmp_path, 3, "make run", False), api)
        assert why is not None and "[not run: why]" in why
        why = _run(Example(tmp_path, 4, "leadgate serve --port 8001", False), api)
        assert why == "runs until stopped: mark it [not run: why]"
        why = _run(
            Example(tmp_path, 5, "curl -s http://127.0.0.1:8000/api/v1/leads/999", False), api
        )
        assert why is not None and why.startswith("HTTP 401")
        ok = 'curl -s http://127.0.0.1:8000/api/v1/leads -H "Authorization: Bearer $KEY"'
        assert _run(Example(tmp_path, 6, ok, False), api) is None
    finally:
        api.close()
