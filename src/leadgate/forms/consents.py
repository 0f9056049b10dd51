"""A lead's consents given on forms, in its view (`lead show`, GET /leads/{id}).

The engine's show extra for forms reads one table; `install` registers it without the
forms' use cases (`leadgate.forms.service`: tickets, spam rules, submissions), which a
one-shot `lead show` does not need (issue 17). `Forms` registers the same hook.

    install(engine)
    engine.show("ann@acme.com")["consents"]  # [{"form": "demo", "field": "consent", ...}]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import iso

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine
    from leadgate.store.repository import Repository


def consents(repo: Repository, lead_id: int) -> list[dict[str, Any]]:
    """The consents a lead gave on forms (form, field, text version, time)."""
    rows = repo.execute(
        "SELECT form, field, text_version, at FROM form_consents WHERE lead_id = ? ORDER BY at, id",
        [lead_id],
    ).fetchall()
    return [{"form": f, "field": fld, "text_version": v, "at": iso(at)} for f, fld, v, at in rows]


def show_extra(repo: Repository, out: dict[str, Any]) -> None:
    """`consents` in a lead's view (an engine `show_extras` hook)."""
    if isinstance(out.get("id"), int):
        out["consents"] = consents(repo, out["id"])


def install(engine: Engine) -> None:
    """Register the hook on `engine` once."""
    if show_extra not in engine.show_extras:
        engine.show_extras.append(show_extra)
