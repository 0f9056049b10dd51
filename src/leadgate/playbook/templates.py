"""Message templates for nurture steps: Jinja2 in its sandbox, over the lead's fields.

Templates come from the playbook, so they are treated as untrusted: the immutable
sandbox refuses attribute tricks (`__class__`, `mro`, ...) and changing lists or
dicts (`l.append`), and rendering is plain text (no HTML escaping: the messages are
sent as text/plain). On top of the sandbox, rendering is bounded, so no template can
hang a worker or fill its memory:

- a template is at most `MAX_TEMPLATE` characters, its output at most `MAX_OUTPUT`;
- `range()` gives at most `MAX_RANGE` numbers;
- loop iterations, macro calls and the filters map/select run are at most
  `MAX_STEPS` per render (nested loops multiply, recursive macros branch);
- `*`, `+`, `~`, `**`, `%`, `str.format`, every `{{ value }}` and the filters that
  take a width or a count or join (center, indent, batch, slice, replace, format,
  tojson, join, string, pprint) refuse a result over `MAX_VALUE` characters or items
  before building it, and all of those together stop at `MAX_ALLOC` per render
  (a list of 10,000 references to one long string is cheap to hold, not to join);
- `lipsum` is gone.

Anything refused is a `TemplateProblem`, as is every other error while rendering.

    >>> render("Hi {{ first_name | default('there') }}", {"first_name": "Ada"})
    'Hi Ada'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from leadgate.playbook.timebox import TimeUp, tick

MAX_TEMPLATE = 20_000  # characters of one template's source
MAX_OUTPUT = 100_000  # characters one render may produce
MAX_VALUE = 100_000  # characters (or items) of any one value built while rendering
MAX_RANGE = 10_000
MAX_ALLOC = 1_000_000  # characters (or items) of all sized values built, per render
MAX_STEPS = 10_000  # loop iterations, macro calls and filters run by map/select, per render
MAX_POWER = 1_000  # largest exponent of `**` (for a base other than -1, 0, 1)


class TemplateProblem(ValueError):
    """A template that does not parse, does not render, or oversteps a limit."""


class _Limit(Exception):
    """A limit was hit while rendering (turned into TemplateProblem by `render`)."""


# Per render: [steps taken, characters or items allocated].
_STEPS: ContextVar[list[int]] = ContextVar("template_steps")
# A %-format or str.format field whose width or precision is 5+ digits or given by `*`.
_WIDE_PERCENT = re.compile(r"%[-+ #0]*(?:\*|\d{5,})|%[-+ #0]*\d*\.(?:\*|\d{5,})")
_WIDE_BRACES = re.compile(r"\{[^{}]*(?:\d{5,}|\{)")


def _weight(v: Any) -> int:
    """Characters plus items in `v`, nested lists and mappings included, as far as
    MAX_VALUE + 1 (so it costs at most that much to find out). A list of 10,000
    references to one 100,000-character string weighs 10^9: it is cheap to hold, but
    joining or printing it is not."""
    total, stack = 0, [v]
    while stack and total <= MAX_VALUE:
        x = stack.pop()
        if isinstance(x, str | bytes):
            total += len(x)
        elif isinstance(x, list | tuple | set | frozenset):
            total += len(x)
            if total <= MAX_VALUE:
                stack.extend(x)
        elif isinstance(x, dict):
            total += len(x)
            if total <= MAX_VALUE:
                stack.extend(x.keys())
                stack.extend(x.values())
        else:
            total += 1
    return total


def _is_seq(v: Any) -> bool:
    return isinstance(v, str | bytes | list | tuple)


def _cap(n: int, what: str = "value") -> None:
    """Refuse a value over MAX_VALUE; charge it to the render's allocation budget."""
    if n > MAX_VALUE:
        raise _Limit(f"{what} over {MAX_VALUE} characters or items")
    budget = _STEPS.get(None)
    if budget is not None:  # None: Jinja folding constants while compiling
        budget[1] += n
        if budget[1] > MAX_ALLOC:
            raise _Limit(f"values built add up to over {MAX_ALLOC} characters or items")


def _light(*values: Any) -> None:
    """Refuse values that would make a string over MAX_VALUE when printed or joined."""
    _cap(sum(_weight(v) for v in values))


def _step() -> str:
    """Injected at the start of every loop body and macro body (see `_Env._parse`)."""
    steps = _STEPS.get(None)
    if steps is None:  # Jinja folding constants while compiling: not a render
        return ""
    steps[0] += 1
    if steps[0] > MAX_STEPS:
        raise _Limit(f"more than {MAX_STEPS} loop steps or macro calls")
    return ""


def _concat(*parts: Any) -> str:
    """The `~` operator, sized before it is built."""
    _light(*parts)
    texts = [str(p) for p in parts]
    _cap(sum(len(t) for t in texts))
    return "".join(texts)


def _finalize(value: Any) -> Any:
    """Every `{{ value }}` passes here before Jinja turns it into text."""
    _light(value)
    return value


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise _Limit(f"range of {len(r)} numbers (at most {MAX_RANGE})")
    return r


def _percent_ok(fmt: Any, args: Any = None) -> None:
    if isinstance(fmt, str) and _WIDE_PERCENT.search(fmt):
        raise _Limit("a %-format width or precision over 4 digits")
    _light(fmt, args)


def _guard(name: str, check: Callable[..., None]) -> Callable[..., Any]:
    """Jinja's own filter `name`, run only once `check(*args)` accepts its arguments."""
    inner = FILTERS[name]
    # Filters marked to receive the eval context / environment get it as first argument.
    skip = 0 if getattr(inner, "jinja_pass_arg", None) is None else 1

    def run(*args: Any, **kwargs: Any) -> Any:
        check(*args[skip:], **kwargs)
        out = inner(*args, **kwargs)
        _cap(_weight(out))  # charged: many small results add up (map over a range)
        return out

    run.jinja_pass_arg = getattr(inner, "jinja_pass_arg", None)  # type: ignore[attr-defined]
    return run


def _width_arg(index: int, default: int = 0) -> Callable[..., None]:
    """A check that the `index`-th argument (a width or count) keeps the result small."""

    def check(*args: Any, **kwargs: Any) -> None:
        value = args[index] if len(args) > index else next(iter(kwargs.values()), default)
        if isinstance(value, int) and value > MAX_VALUE:
            raise _Limit(f"a width or count of {value} (at most {MAX_VALUE})")
        _light(*args, *kwargs.values())

    return check


def _indent_ok(*args: Any, **kwargs: Any) -> None:
    text = str(args[0]) if args else ""
    width = args[1] if len(args) > 1 else kwargs.get("width", 4)
    per_line = width if isinstance(width, int) else _weight(width)
    _cap(len(text) + (text.count("\n") + 1) * max(per_line, 0))


def _join_ok(*args: Any, **kwargs: Any) -> None:
    items = args[0] if args else ()
    sep = args[1] if len(args) > 1 else kwargs.get("d", "")
    n = len(items) if isinstance(items, list | tuple | set | dict | str) else 0
    _cap(_weight(items) + n * _weight(sep))


def _replace_ok(*args: Any, **kwargs: Any) -> None:
    s, old, new = (str(a) for a in args[-3:]) if len(args) >= 3 else ("", "", "")
    hits = len(s) + 1 if old == "" else s.count(old)
    _cap(len(s) + hits * len(new))


def _format_ok(*args: Any, **kwargs: Any) -> None:
    _percent_ok(args[0] if args else None, (args[1:], kwargs))


class _Env(ImmutableSandboxedEnvironment):
    """The sandbox, with sized operators and a step budget compiled into the template."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if _is_seq(seq) and isinstance(n, int):
                    _cap(_weight(seq) * n)
            if isinstance(left, int) and isinstance(right, int):
                _cap((left.bit_length() + right.bit_length()) // 3, "number of digits")
        elif operator == "+":
            if _is_seq(left) and _is_seq(right):
                _light(left, right)
        elif operator == "**":
            if isinstance(right, int | float) and not (
                isinstance(left, int | float) and abs(left) <= 1
            ):
                bits = left.bit_length() if isinstance(left, int) else 1
                if abs(right) > MAX_POWER or bits * abs(right) > 3 * MAX_VALUE:
                    raise _Limit(f"a power too large ({right} as exponent)")
        elif operator == "%":
            _percent_ok(left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format / format_map: the sandbox checks the fields' attributes, not widths.
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and _WIDE_BRACES.search(owner):
            raise _Limit("a format width over 4 digits")
        inner = super().wrap_str_format(value)
        if inner is None:
            return None
        fmt: Callable[..., str] = inner

        def sized(*args: Any, **kwargs: Any) -> str:
            _light(owner, args, kwargs)
            return fmt(*args, **kwargs)

        return sized

    def call_filter(self, *args: Any, **kwargs: Any) -> Any:
        # map/select/reject run their filter or test once per item through these.
        _step()
        return super().call_filter(*args, **kwargs)

    def call_test(self, *args: Any, **kwargs: Any) -> Any:
        _step()
        return super().call_test(*args, **kwargs)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _instrument(tree)
        return tree


def _tick_node(lineno: int) -> nodes.Output:
    call = nodes.Call(nodes.EnvironmentAttribute("leadgate_step"), [], [], None, None)
    return nodes.Output([call], lineno=lineno)


def _instrument(node: nodes.Node) -> None:
    """Count every loop step and macro call; route `~` through the sized `_concat`.

    The calls go through `environment.<attribute>`, a name a template cannot rebind.
    """
    for child in list(node.iter_child_nodes()):
        _instrument(child)
    if isinstance(node, nodes.For | nodes.Macro | nodes.CallBlock):
        node.body.insert(0, _tick_node(node.lineno))
    for field in node.fields:
        value = getattr(node, field, None)
        if isinstance(value, nodes.Concat):
            setattr(node, field, _concat_call(value))
        elif isinstance(value, list):
            value[:] = [_concat_call(v) if isinstance(v, nodes.Concat) else v for v in value]


def _concat_call(node: nodes.Concat) -> nodes.Call:
    func = nodes.EnvironmentAttribute("leadgate_concat")
    return nodes.Call(func, list(node.nodes), [], None, None, lineno=node.lineno)


# A missing field renders as "" (leads rarely have every attribute); use
# `{{ first_name | default("there") }}` for a fallback.
_ENV = _Env(autoescape=False, undefined=Undefined, keep_trailing_newline=True, finalize=_finalize)
_ENV.leadgate_step = _step  # type: ignore[attr-defined]
_ENV.leadgate_concat = _concat  # type: ignore[attr-defined]
_ENV.globals["range"] = _range
_ENV.globals.pop("lipsum", None)
_ENV.filters.update(
    {
        "center": _guard("center", _width_arg(1, 80)),
        "indent": _guard("indent", _indent_ok),
        "join": _guard("join", _join_ok),
        "string": _guard("string", _light),
        "pprint": _guard("pprint", _light),
        "batch": _guard("batch", _width_arg(1)),
        "slice": _guard("slice", _width_arg(1)),
        "tojson": _guard("tojson", _width_arg(1)),
        "replace": _guard("replace", _replace_ok),
        "format": _guard("format", _format_ok),
    }
)


def check_template(text: str) -> str:
    """Parse `text` now, so a playbook with a broken template is refused at load time."""
    if len(text) > MAX_TEMPLATE:
        raise TemplateProblem(f"template too long: {len(text)} characters (at most {MAX_TEMPLATE})")
    tick()
    try:
        _compiled(text)
    except TimeUp:
        raise
    except RecursionError:
        raise TemplateProblem("template error: nested too deeply") from None
    except Exception as exc:  # Jinja's TemplateSyntaxError and whatever its compiler raises
        raise TemplateProblem(f"template error: {exc}") from None
    return text


@lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    return _ENV.from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render one template within the limits; TemplateProblem for anything that goes wrong."""
    token = _STEPS.set([0, 0])
    try:
        parts: list[str] = []
        size = 0
        chunks: Iterator[str] = _compiled(check_template(text)).generate(dict(context))
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem(f"template output over {MAX_OUTPUT} characters")
            parts.append(chunk)
        return "".join(parts)
    except TemplateProblem:
        raise
    except _Limit as exc:
        raise TemplateProblem(f"template refused: {exc}") from None
    except RecursionError:
        raise TemplateProblem("template error: recursion too deep") from None
    except Exception as exc:  # the sandbox's SecurityError, a filter's TypeError, ...
        raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None
    finally:
        _STEPS.reset(token)
