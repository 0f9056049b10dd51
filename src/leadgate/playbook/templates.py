"""Message templates for nurture steps: Jinja2 in its sandbox, over the lead's fields.

Templates come from the playbook, so they are treated as untrusted: the sandbox
refuses attribute tricks (`__class__`, `mro`, ...), and rendering is plain text
(no HTML escaping: the messages are sent as text/plain).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

# A missing field renders as "" (leads rarely have every attribute); use
# `{{ first_name | default("there") }}` for a fallback.
_ENV = SandboxedEnvironment(autoescape=False, undefined=Undefined, keep_trailing_newline=True)


class TemplateProblem(ValueError):
    """A template that does not parse or does not render."""


def check_template(text: str) -> str:
    """Parse `text` now, so a playbook with a broken template is refused at load time."""
    try:
        _compiled(text)
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    return text


@lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    return _ENV.from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render one template; TemplateProblem when the sandbox or Jinja refuses it."""
    try:
        return str(_compiled(text).render(dict(context)))
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}") from None
