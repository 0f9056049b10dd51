"""What is wrong with a playbook: located problems, and the error that lists them.

    raise PlaybookError([PlaybookProblem("p.yaml", 3, "fit.rules[0].points", "not a number")])
    # str(): p.yaml:3: fit.rules[0].points: not a number

Apart from the loader (which raises them, and re-exports them) so that modules that only
catch them import no YAML parser (issue 17: `lead show`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PlaybookProblem:
    """One thing wrong with a playbook, located."""

    source: str
    line: int | None
    path: str
    message: str

    def __post_init__(self) -> None:
        # Keys and values from the YAML end up in messages: a newline in one must not
        # split the one-line `file:line: field: reason` (the CLI prints one per problem).
        for name in ("source", "path", "message"):
            text = _one_line(getattr(self, name))
            if len(text) > _MAX_TEXT:  # a 100 KB unknown key is not worth echoing whole
                text = text[: _MAX_TEXT - 3] + "..."
            object.__setattr__(self, name, text)

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


_MAX_TEXT = 500
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    """`text` with control characters and line breaks written as escapes (\\n, \\x85)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class PlaybookError(ValueError):
    """The playbook is not valid. `problems` lists every error found, each located."""

    def __init__(self, problems: list[PlaybookProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
