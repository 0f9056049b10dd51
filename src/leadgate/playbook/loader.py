"""Turn playbook YAML text into a validated `Playbook`, or errors that name file:line: field.

Pure: takes text and a display name; reading the file is the caller's business
(`load_playbook_file` is the one convenience that touches the disk).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from leadgate.playbook import safe_yaml
from leadgate.playbook.errors import PlaybookError as PlaybookError
from leadgate.playbook.errors import PlaybookProblem as PlaybookProblem
from leadgate.playbook.model import Playbook
from leadgate.playbook.safe_yaml import MAX_BYTES as MAX_BYTES
from leadgate.playbook.safe_yaml import TIME_LIMIT, TimeUp, YamlRefusal

_KNOWN_KEYS: set[str] = set()


def _collect_keys(model: Any) -> None:
    for name, f in model.model_fields.items():
        _KNOWN_KEYS.add(f.alias or name)
        ann = f.annotation
        for sub in getattr(ann, "__args__", ()) + (ann,):
            if hasattr(sub, "model_fields") and sub not in _SEEN:
                _SEEN.add(sub)
                _collect_keys(sub)


_SEEN: set[Any] = set()


class _DuplicateKey(Exception):
    pass


def _line_map(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise _DuplicateKey(
                    f"{_fmt_path(path + (key,))}: key appears twice (lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1})",
                    key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), out)


def _fmt_path(path: tuple[Any, ...]) -> str:
    s = ""
    for p in path:
        if isinstance(p, int):
            s += f"[{p}]"
        else:
            s += ("." if s else "") + str(p)
    return s


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union tags Pydantic puts in error locations; keep only real keys/indexes."""
    out: list[Any] = []
    cur = data
    for part in loc:
        if isinstance(part, str) and part.startswith("<"):
            continue  # a union tag, not a key
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if (isinstance(cur, dict) and part in cur) or in_list:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part.endswith("_"):
            # Python-side names such as `if_` for the YAML key `if`.
            if part[:-1] in cur:
                out.append(part[:-1])
                cur = cur[part[:-1]]
        elif isinstance(part, str) and not isinstance(cur, dict | list):
            break
        elif isinstance(cur, dict) and part not in cur and not isinstance(part, int):
            # A missing required key or an unknown key: name it, it is the useful part.
            out.append(part)
            break
    return tuple(out)


def _message(err: Any) -> str:
    kind = err["type"]
    msg: str = err["msg"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        if not _KNOWN_KEYS:
            _collect_keys(Playbook)
        import difflib

        if key in _KNOWN_KEYS:
            # Spelled right, placed wrong: suggesting the same word would not help.
            return f"unknown key '{key}' here (it is a key of another section)"
        close = difflib.get_close_matches(key, sorted(_KNOWN_KEYS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return "required key is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


_MSG_PATH = re.compile(r"^([A-Za-z_]\w*|\[\d+\])((?:\.[A-Za-z_]\w*|\[\d+\])*): (.+)$", re.S)
_PATH_PART = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")


def _narrow(data: Any, path: tuple[Any, ...], msg: str) -> tuple[tuple[Any, ...], str]:
    """Move a key path that opens a cross-field message (`rules[0].pool: ...`) into the path.

    A validator that checks several fields of its model can only fail the model, so it
    names the offending key at the start of its message; when that key exists in the
    YAML under `path`, the error is located at it (its own line) instead.
    """
    m = _MSG_PATH.match(msg)
    if not m:
        return path, msg
    cur: Any = data
    for p in path:
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            return path, msg
    extra: list[Any] = []
    for name, index in _PATH_PART.findall(m.group(1) + m.group(2)):
        part: Any = int(index) if index else name
        in_dict = isinstance(cur, dict) and isinstance(part, str) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if not (in_dict or in_list):
            return path, msg
        cur = cur[part]
        extra.append(part)
    return path + tuple(extra), m.group(3)


def load_playbook(text: str, source: str = "<playbook>") -> Playbook:
    """Parse and validate playbook YAML. Raises PlaybookError listing every located problem.

    Untrusted text is fine: the limits of `safe_yaml` (size, depth, no aliases, YAML 1.2
    core schema, a time box) apply, and PlaybookError is the only exception it raises.
    """
    deadline = safe_yaml.now() + TIME_LIMIT
    try:
        node, data = safe_yaml.parse(text, deadline)
    except YamlRefusal as exc:
        raise PlaybookError([PlaybookProblem(source, exc.line, "", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PlaybookError(
            [PlaybookProblem(source, line, "", f"malformed YAML: {exc.problem or exc}")]
        ) from None
    except yaml.YAMLError as exc:
        raise PlaybookError([PlaybookProblem(source, None, "", f"malformed YAML: {exc}")]) from None
    if node is None or not isinstance(data, dict):
        raise PlaybookError(
            [PlaybookProblem(source, 1, "", "a playbook is a YAML mapping (name:, fit:, ...)")]
        )
    lines: dict[tuple[Any, ...], int] = {}
    try:
        _line_map(node, (), lines)
    except _DuplicateKey as exc:
        raise PlaybookError([PlaybookProblem(source, exc.args[1], "", exc.args[0])]) from None
    try:
        with safe_yaml.time_box(deadline):
            return Playbook.model_validate(data)
    except TimeUp:
        raise PlaybookError(
            [PlaybookProblem(source, None, "", f"took longer than {TIME_LIMIT:g} s to validate")]
        ) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path, msg = _narrow(data, _data_path(data, tuple(err["loc"])), _message(err))
            line = None
            for n in range(len(path), -1, -1):
                if path[:n] in lines:
                    line = lines[path[:n]]
                    break
            problems.append(PlaybookProblem(source, line, _fmt_path(path), msg))
        raise PlaybookError(problems) from None


def load_playbook_file(path: str | Path) -> Playbook:
    """Read and validate a playbook file; errors name the file's path."""
    p = Path(path)
    try:
        # Never more than the limit: the path may be huge, or endless (/dev/zero, a pipe).
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PlaybookError([PlaybookProblem(str(p), None, "", exc.strerror or str(exc))]) from None
    if len(raw) > MAX_BYTES:
        raise PlaybookError(
            [PlaybookProblem(str(p), None, "", f"too large: over {MAX_BYTES} bytes")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookError(
            [PlaybookProblem(str(p), None, "", f"not UTF-8 text (byte {exc.start})")]
        ) from None
    return load_playbook(text, p.name if p.is_absolute() is False else str(p))


def bundled_playbook_path() -> Path:
    """The default playbook shipped with leadgate."""
    return Path(__file__).resolve().parent.parent / "playbooks" / "default.yaml"


def bundled_playbook() -> tuple[Playbook, str]:
    """The default playbook and its YAML text."""
    path = bundled_playbook_path()
    text = path.read_text(encoding="utf-8")
    return load_playbook(text, path.name), text
