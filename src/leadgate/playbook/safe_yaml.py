"""Parse untrusted playbook YAML into a node tree and plain data, within fixed limits.

Playbooks arrive over HTTP (`PUT /playbook`, `POST /backtest`), so the parser is
treated as an attack surface:

- YAML 1.2 core schema: only `true`/`false` are booleans (so `NO`, `yes`, `on`, `y`
  stay text: "the Norway problem"), `0755` is decimal, `1:30` is text, dates stay text;
  `.inf`/`.nan` are floats, which the playbook model then refuses with their field.
- No aliases (`*name`, and so no `<<: *name` merge keys): one 381-byte alias bomb
  expands to hundreds of millions of nodes.
- No explicit tags beyond the core ones (`!!str`, `!!int`, ...): no `!!python/...`,
  no `!!timestamp`, no application tags.
- Caps on size (`MAX_BYTES`), nesting (`MAX_DEPTH`), node count (`MAX_NODES`),
  integer length (`MAX_DIGITS`) and time (`TIME_LIMIT` seconds), checked as events
  stream in, before any tree is built.

Every refusal is a `YamlRefusal(line, message)`; everything else PyYAML raises is a
`yaml.YAMLError`. Example:

    >>> node, data = parse("in: [SE, NO]\\n")
    >>> data
    {'in': ['SE', 'NO']}
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError

# The validators' time box lives apart from the parser: the models import it, and a
# playbook read back from the store needs no YAML parser (issue 17).
from leadgate.playbook.timebox import TimeUp as TimeUp
from leadgate.playbook.timebox import now as now
from leadgate.playbook.timebox import tick as tick
from leadgate.playbook.timebox import time_box as time_box

MAX_BYTES = 256 * 1024  # the bundled playbook is ~5 KB
MAX_DEPTH = 48  # nested mappings/sequences; a deep condition tree needs ~20
MAX_NODES = 50_000  # scalars and collections
MAX_DIGITS = 30  # an integer's digits (the model then bounds its value)
TIME_LIMIT = 3.0  # seconds for parsing and validating one playbook (the bundled one: ~0.03)

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    None,
    "!",
    *(_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq")),
}
# What YAML 1.2 calls printable (c-printable), as PyYAML's own reader checks it.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


class YamlRefusal(Exception):
    """The text is refused before or while parsing: (line or None, message)."""

    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CoreLoader(_Base):  # type: ignore[misc]
    """PyYAML's safe loader with the YAML 1.2 core schema's resolvers and constructors."""

    yaml_implicit_resolvers: dict[Any, Any] = {}
    yaml_constructors = dict(yaml.SafeLoader.yaml_constructors)

    def construct_core_bool(self, node: yaml.Node) -> bool:
        value = self.construct_scalar(node)
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        raise ConstructorError(None, None, f"not a boolean: {value!r}", node.start_mark)

    def construct_core_int(self, node: yaml.Node) -> int:
        value = str(self.construct_scalar(node))
        digits = value.lstrip("+-")
        if len(digits) > MAX_DIGITS:
            raise ConstructorError(
                None, None, f"number too large ({len(digits)} digits)", node.start_mark
            )
        try:
            if digits.startswith("0x"):
                n = int(digits[2:], 16)
            elif digits.startswith("0o"):
                n = int(digits[2:], 8)
            else:
                n = int(digits, 10)
        except ValueError:
            raise ConstructorError(
                None, None, f"not an integer: {value!r}", node.start_mark
            ) from None
        return -n if value.startswith("-") else n

    def construct_core_float(self, node: yaml.Node) -> float:
        value = str(self.construct_scalar(node))
        low = value.lower()
        if low in (".inf", "+.inf"):
            return math.inf
        if low == "-.inf":
            return -math.inf
        if low == ".nan":
            return math.nan
        if len(value) > 100:
            raise ConstructorError(None, None, "number too long", node.start_mark)
        try:
            return float(value)
        except ValueError:
            raise ConstructorError(
                None, None, f"not a number: {value!r}", node.start_mark
            ) from None


CoreLoader.add_constructor(_CORE + "bool", CoreLoader.construct_core_bool)
CoreLoader.add_constructor(_CORE + "int", CoreLoader.construct_core_int)
CoreLoader.add_constructor(_CORE + "float", CoreLoader.construct_core_float)
# YAML 1.2.2, 10.3.2 (tag resolution of the core schema); ints before floats.
for _tag, _rx, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$",
        list("-+.0123456789"),
    ),
):
    CoreLoader.add_implicit_resolver(_CORE + _tag, re.compile(_rx), _first)


def check_text(text: str) -> None:
    """Size and character checks that need no parser."""
    if len(text) > MAX_BYTES:
        raise YamlRefusal(None, f"too large: {len(text)} characters (at most {MAX_BYTES} bytes)")
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise YamlRefusal(line, f"character U+{ord(bad.group()):04X} is not allowed in YAML")
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise YamlRefusal(None, f"too large: {size} bytes (at most {MAX_BYTES})")


def _scan(text: str, deadline: float) -> None:
    """Walk the event stream once, refusing aliases, odd tags, depth, count and time."""
    loader = CoreLoader(text)
    try:
        _events(loader, deadline)
    except yaml.MarkedYAMLError as exc:
        # libyaml has a nesting limit of its own, which its scanner may reach first.
        if "nesting depth" in str(exc.problem):
            mark = exc.problem_mark
            raise YamlRefusal(
                mark.line + 1 if mark else None, f"nested more than {MAX_DEPTH} levels deep"
            ) from None
        raise
    finally:
        loader.dispose()


def _events(loader: Any, deadline: float) -> None:
    """Refuse aliases, odd tags, too deep or too many nodes, or too slow, event by event."""
    depth = nodes = documents = 0
    while loader.check_event():
        ev = loader.get_event()
        line = ev.start_mark.line + 1
        if isinstance(ev, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise YamlRefusal(
                    line, "a playbook is one YAML document (a second one starts here)"
                )
        elif isinstance(ev, yaml.AliasEvent):
            raise YamlRefusal(
                line,
                f"aliases (*{ev.anchor}) are not allowed in a playbook: write the value out",
            )
        elif isinstance(ev, yaml.NodeEvent):
            nodes += 1
            tag = getattr(ev, "tag", None)
            if tag not in _ALLOWED_TAGS:
                raise YamlRefusal(line, f"tag {tag} is not allowed in a playbook")
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlRefusal(line, f"nested more than {MAX_DEPTH} levels deep")
            if nodes > MAX_NODES:
                raise YamlRefusal(line, f"more than {MAX_NODES} values")
            if nodes % 1024 == 0:
                check_deadline(deadline, line)
        elif isinstance(ev, yaml.CollectionEndEvent):
            depth -= 1


def check_deadline(deadline: float, line: int | None = None) -> None:
    """Refuse when the time box is spent (checked between steps: parsing never hangs)."""
    if now() > deadline:
        raise YamlRefusal(line, f"took longer than {TIME_LIMIT:g} s to read: too complex")


def parse(text: str, deadline: float | None = None) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of one document, or YamlRefusal / yaml.YAMLError.

    Non-scalar mapping keys are left for the caller to refuse with their line (it walks
    the tree for line numbers anyway); construction refuses them too.
    """
    if deadline is None:
        deadline = now() + TIME_LIMIT
    check_text(text)
    _scan(text, deadline)
    loader = CoreLoader(text)
    try:
        node = loader.get_single_node()
        check_deadline(deadline)
        if node is None:
            return None, None
        _keys_are_scalars(node)
        data = loader.construct_document(node)
        check_deadline(deadline)
        return node, data
    finally:
        loader.dispose()


def _keys_are_scalars(node: yaml.Node) -> None:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise YamlRefusal(
                        k.start_mark.line + 1, "a key must be plain text, not a list or mapping"
                    )
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
