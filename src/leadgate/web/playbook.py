"""The playbook: `/app/playbook` (marketing and admin; sales gets the 403 page).

    GET  /app/playbook              the active YAML, every version, a version's diff
                                    (`?diff=N`: N against N-1), and the editor
    POST /app/playbook              the editor's buttons, by `action`:
         check     validate: every problem with its line, or "valid" and the warnings
         whatif    the backtest against the active version (`analytics.service.backtest`):
                   MQLs per month before and after, the leads whose MQL moment changes
                   (the first CHANGED_LIMIT listed). While it runs, app.js shows a
                   progress indicator (the form's `data-progress`); without JavaScript the
                   form posts the same and the answer is the result
         activate  first a confirmation that says how many leads the backtest changes;
                   with confirm=1, `Engine.activate_playbook` as the signed-in person
                   (every lead is rescored under the new version). The confirmation
                   carries `base`, the version its backtest was against: if another was
                   activated since, it is asked again against that one

The text travels in the form (a textarea), so nothing is stored before Activate.
"""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from leadgate.ingest.validate import InputError
from leadgate.playbook.loader import PlaybookError, load_playbook
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.web.base import MARKETING, Viewer, check_form, host, page, router, signed_in, whole

r = router()
MAX_YAML = 1_000_000
CHANGED_LIMIT = 200  # leads listed under What if (the totals count them all)


def _versions(db: Database) -> tuple[list[dict[str, Any]], dict[int, str]]:
    with db.read() as conn:
        repo = Repository(db, conn)
        rows = repo.playbook_versions()
        texts = {int(v[0]): repo.playbook_version(int(v[0])) or "" for v in rows}
    versions = [
        {"version": v[0], "name": v[1], "sha256": v[2], "at": v[3], "by": v[4]} for v in rows
    ]
    return versions, texts


def _active(db: Database) -> tuple[int, str] | None:
    """The active version and who activated it."""
    with db.read() as conn:
        rows = Repository(db, conn).playbook_versions()
    return (int(rows[-1][0]), str(rows[-1][4])) if rows else None


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) pairs: kind is add, del, hunk or same."""
    out = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""
    ):
        kind = (
            "hunk"
            if line.startswith(("@@", "---", "+++"))
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "same"
        )
        out.append((kind, line))
    return out


async def _page(
    request: Request, viewer: Viewer, status: int = 200, text: str | None = None, **kw: Any
) -> Response:
    h = host(request)
    versions, texts = await h.read(_versions, h.db)
    active = versions[-1] if versions else None
    diff = None
    n = whole(request.query_params.get("diff"))
    if n is not None and n in texts:
        before = texts.get(n - 1, "")
        diff = {
            "version": n,
            "lines": diff_lines(before, texts[n], f"version {n - 1}", f"version {n}"),
        }
    return page(
        "playbook.html",
        viewer,
        status,
        active=active,
        active_yaml=texts.get(active["version"], "") if active else "",
        versions=list(reversed(versions)),
        changed_limit=CHANGED_LIMIT,
        diff=diff,
        text=text if text is not None else (texts.get(active["version"], "") if active else ""),
        **kw,
    )


@r.get("/app/playbook")
async def playbook_page(request: Request) -> Response:
    """The active version, the history, the editor."""
    viewer = await signed_in(request, MARKETING)
    activated = whole(request.query_params.get("activated"))
    rescored = whole(request.query_params.get("rescored"), 12)
    if activated is not None and rescored is not None:
        return await _page(request, viewer, activated=activated, rescored=rescored)
    return await _page(request, viewer)


@r.post("/app/playbook")
async def playbook_action(request: Request) -> Response:
    """Check, What if, or Activate the text in the editor."""
    viewer = await signed_in(request, MARKETING)
    form = await check_form(request, viewer)
    raw = form.get("yaml")
    text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
    if len(text) > MAX_YAML:
        return await _page(request, viewer, 413, "", problems=["the playbook is over 1 MB"])
    action = form.get("action")
    try:
        pb = load_playbook(text, "editor")
    except PlaybookError as exc:
        return await _page(request, viewer, 422, text, problems=[str(p) for p in exc.problems])
    h = host(request)
    if action == "check":
        return await _page(request, viewer, 200, text, valid=True, warnings=pb.warnings())
    confirmed = form.get("confirm") == "1"
    meanwhile = None
    base = form.get("base")  # the active version the confirmation's backtest was against
    if action == "activate" and confirmed and isinstance(base, str):
        now = await h.read(_active, h.db)
        if now is not None and str(now[0]) != base:
            # Someone activated another version since: the numbers confirmed are stale and
            # this text would silently replace theirs. Ask again, against theirs.
            confirmed = False
            meanwhile = f"Version {now[0]} was activated meanwhile by {now[1]}."
    if action in ("whatif", "activate") and not confirmed:
        from leadgate.analytics.service import VerificationFailed, backtest

        try:
            result = await h.read(backtest, h.engine, text)
        except InputError as exc:
            return await _page(request, viewer, 422, text, problems=[str(exc)])
        except VerificationFailed as exc:
            # The set-based answer disagreed with the exact replay on sampled leads: shown
            # as a problem, never as a result.
            return await _page(request, viewer, 500, text, problems=[str(exc)])
        return await _page(
            request,
            viewer,
            200,
            text,
            whatif=result.to_dict(),
            confirm=action == "activate",
            meanwhile=meanwhile,
            warnings=pb.warnings(),
        )
    if action == "activate":
        version, _, n = await h.write(
            h.engine.activate_playbook, text, "web editor", viewer.user.actor
        )
        return RedirectResponse(f"/app/playbook?activated={version}&rescored={n}", 303)
    return await _page(request, viewer, 400, text, problems=["unknown action"])
