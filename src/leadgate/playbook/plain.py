"""A validated playbook as plain JSON, and back to the same objects without validating again.

A playbook is validated once, when it is activated (`load_playbook`: YAML, then pydantic).
The store keeps, next to its YAML, this plain form of the result; reading a version back
(every command, `lead show` first) rebuilds the same objects with `model_construct`: no
YAML parser to import, no validator to build, ~a quarter of `lead show`'s start-up
(issue 17).

    >>> text = dumps(playbook, yaml_text, schema)        # when the version is stored
    >>> loads(text, yaml_text, schema) == playbook       # on every read
    True

The plain form is only trusted for what it was made from: `loads` returns None (the caller
then validates the YAML, as before) when the YAML is not the one it was made from, when the
schema changed since (`schema`: the store's `schema_fingerprint`, a digest of SCHEMA_MODULES'
source and the versions; reading files is the adapter's business), or when it is not this
module's format. Only what JSON
holds exactly is written: None, bools, ints, floats (also inf), strings, lists, tuples,
dates, dicts with string keys and the playbook's models (tagged with their class, one of
`_Strict`'s subclasses, never any other); anything else raises `Unplain` and the version is
stored without a plain form. tests/playbook/test_plain.py compares rebuilt objects with
validated ones, for the bundled playbook and hostile ones.

This module imports neither pydantic nor YAML: `leadgate.playbook.model` (pydantic) is
imported by `loads` when it rebuilds.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadgate.playbook.model import Playbook

FORMAT = 1
# The modules whose code decides what a valid playbook validates to (fields, defaults,
# validators that normalise values): the store's fingerprint hashes their source.
# tests/playbook/test_plain.py checks that importing
# leadgate.playbook.model loads no other leadgate module, so the list cannot fall behind.
SCHEMA_MODULES = (
    "playbook/base.py",
    "playbook/conditions.py",
    "playbook/domains.py",
    "playbook/forms_section.py",
    "playbook/identity_sections.py",
    "playbook/model.py",
    "playbook/regex.py",
    "playbook/sales_sections.py",
    "playbook/segments.py",
    "playbook/timebox.py",
    "playbook/plain.py",
    "qualification/frameworks.py",
    "qualification/__init__.py",
    "routing/strategies.py",
    "routing/__init__.py",
    "sla/calendar.py",
    "sla/__init__.py",
)


class Unplain(ValueError):
    """A value the plain form cannot hold exactly."""


def yaml_digest(yaml_text: str) -> str:
    return hashlib.sha256(yaml_text.encode("utf-8", "surrogatepass")).hexdigest()


def dumps(playbook: Playbook, yaml_text: str, schema: str) -> str:
    """The plain form of a validated playbook made from `yaml_text` by the code `schema`
    names (the store's `schema_fingerprint`); raises Unplain."""
    return json.dumps(
        {
            "format": FORMAT,
            "schema": schema,
            "yaml": yaml_digest(yaml_text),
            "playbook": _dump(playbook),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _dump(v: Any) -> Any:
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | float) and type(v) in (int, float):
        return v
    if isinstance(v, list) and type(v) is list:
        return [_dump(x) for x in v]
    if type(v) is tuple:
        return {"$t": [_dump(x) for x in v]}
    if type(v) is dict:
        if not all(type(k) is str for k in v):
            raise Unplain("a mapping with keys that are not text")
        return {"$o": {k: _dump(x) for k, x in v.items()}}
    if type(v) is datetime.date:
        return {"$d": v.isoformat()}
    cls = type(v)
    if _models_by_name().get(_name(cls)) is cls:
        if v.__pydantic_extra__ or v.__pydantic_private__:
            raise Unplain(f"{cls.__name__} holds more than its fields")
        return {
            "$m": _name(cls),
            "f": {k: _dump(x) for k, x in v.__dict__.items()},
            "s": sorted(v.model_fields_set),
        }
    raise Unplain(f"a {type(v).__name__} value")


def _current(data: Any, yaml_text: str, schema: str) -> bool:
    return (
        isinstance(data, dict)
        and data.get("format") == FORMAT
        and data.get("yaml") == yaml_digest(yaml_text)
        and data.get("schema") == schema
    )


def is_current(text: str | None, yaml_text: str, schema: str) -> bool:
    """Whether `text` was made from `yaml_text` by the code `schema` names (its header
    only: nothing is rebuilt)."""
    try:
        return bool(text) and _current(json.loads(text or ""), yaml_text, schema)
    except ValueError:
        return False


def loads(text: str | None, yaml_text: str, schema: str) -> Playbook | None:
    """The playbook `dumps` wrote, or None when `text` is missing, malformed, or made from
    other YAML or by other code than `schema` names."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if not _current(data, yaml_text, schema):
            return None
        from leadgate.playbook.model import Playbook

        pb = _load(data["playbook"])
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    return pb if type(pb) is Playbook else None


def _load(v: Any) -> Any:
    if isinstance(v, list):
        return [_load(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "$m" in v:
        cls = _models_by_name()[v["$m"]]  # KeyError: not a playbook model
        fields = {k: _load(x) for k, x in v["f"].items()}
        if set(fields) != set(cls.model_fields) or not set(v["s"]) <= set(fields):
            raise KeyError(v["$m"])
        return cls.model_construct(set(v["s"]), **fields)
    if "$o" in v:
        return {k: _load(x) for k, x in v["$o"].items()}
    if "$t" in v:
        return tuple(_load(x) for x in v["$t"])
    if "$d" in v:
        return datetime.date.fromisoformat(v["$d"])
    raise KeyError(next(iter(v), ""))


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_registry: dict[str, Any] = {}


def _models_by_name() -> dict[str, Any]:
    """Every playbook model class by module:qualname: the only classes `loads` makes."""
    if not _registry:
        import leadgate.playbook.model  # noqa: F401  (defines every section's models)

        base = sys.modules["leadgate.playbook.base"]
        todo = list(base._Strict.__subclasses__())
        while todo:
            cls = todo.pop()
            _registry[_name(cls)] = cls
            todo.extend(cls.__subclasses__())
    return _registry
