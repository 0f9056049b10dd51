"""Plain text and flag parameters without pydantic: what Typer 0.29 would build for them.

Typer 0.29 converts every parameter's value through a pydantic TypeAdapter, built on
first use: `leadgate --db URL lead show EMAIL` built one for --db, EMAIL and each level's
--help, and imported `typer._adapters` and pydantic's validators to do so, ~0.03-0.06
CPU-s of a command whose target is 0.35 s (issue 17). For a `str` or a
`bool` parameter the adapter hands a value that already has that type back unchanged,
so `plain(command)` gives such parameters a converter that does the same without the
adapter, and falls back to Typer's own for anything else (bytes, a non-bool flag
value, a parser, a file, a choice). Every other type keeps Typer's converter.

    group = typer.main.get_command(app)
    plain(group)        # its own parameters and every subcommand's, recursively

It relies on two Typer internals (`_TyperParameter._runtime_param` and
`typer._coercion.RuntimeParam`); on a Typer without them it changes nothing, and
tests/cli/test_plain_params.py fails to say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
except ImportError:  # pragma: no cover - a Typer without the adapter layer
    RuntimeParam = None  # type: ignore[assignment,misc]

_PLAIN = (str, bool)


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Plain(RuntimeParam):
        """A str or bool value as is; anything else through Typer's adapter (built then)."""

        descriptor: TypeDescriptor | None = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, self.annotation):
                return value
            assert self.descriptor is not None
            fallback = build_runtime_param(self.descriptor)
            return fallback._coerce_value(value, param=param, ctx=ctx)


def _is_plain(param: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or not hasattr(param, "_runtime_param"):
        return False
    info = descriptor.parameter_info
    return (
        descriptor.annotation in _PLAIN
        and descriptor.file_annotation is None
        and getattr(info, "parser", None) is None
        and getattr(info, "click_type", None) is None
    )


def plain(command: Any, ctx: Any = None) -> Any:
    """Give `command`'s str and bool parameters (and its subcommands') the plain converter.

    With `ctx` (the parent's context: a subcommand's inherits its help option names from
    it) the `--help` option, which click makes on first use, is made now and included.
    """
    if RuntimeParam is None:  # pragma: no cover
        return command
    params = list(command.params)
    if ctx is not None:
        params.append(command.get_help_option(ctx))
    for param in params:
        if _is_plain(param) and param._runtime_param is None:
            d = param.type_descriptor
            param._runtime_param = _Plain(
                parameter_info=d.parameter_info, annotation=d.annotation, descriptor=d
            )
    for sub in getattr(command, "commands", {}).values():
        plain(sub, ctx)
    return command
