"""Admin: `/app/admin` (admin users only; anyone else gets the 403 page): the people
who sign in, the sales reps, API keys and webhooks.

    GET  /app/admin                               everything below, with its forms
    POST /app/admin/users                         add (a generated password is shown once)
    POST /app/admin/users/{name}/disable          sign-in refused, sessions ended
    POST /app/admin/users/{name}/reset-password   a new password, shown once
    POST /app/admin/users/{name}/sign-out         end every session of the user
    POST /app/admin/reps                          add a sales rep (role, team, zone, hours,
                                                  days, capacity)
    POST /app/admin/reps/{name}                   change a rep's time zone, hours, days,
                                                  capacity (`Sales.update_rep`)
    POST /app/admin/reps/{name}/away              away until a date (`until`), or back now
                                                  (`back=1`), as `leadgate reps away`
    (both answer with a redirect to /app/admin?saved=NAME, which says what the rep is now)
    POST /app/admin/keys                          a new API key, shown once
    POST /app/admin/keys/{id}/revoke              refused from now on
    POST /app/admin/webhooks/retry                one delivery again (`delivery`), or every
                                                  dead one (`dead=1`)

The same operations as `leadgate users|keys|webhooks ...` and the admin API, through the
same functions (`leadgate.users`, `leadgate.keys`, `leadgate.webhooks`), audited as the
signed-in admin. Reps are listed with their capacity, time zone, hours, load and
whether they are away, added through `Sales.add_rep` (as `leadgate reps add`), changed
through `Sales.update_rep` and `Sales.set_away`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Path, Request
from starlette.responses import RedirectResponse, Response

from leadgate.engine.engine import NotFound
from leadgate.ingest.validate import InputError
from leadgate.keys import ROLES as KEY_ROLES
from leadgate.keys import KeyNotFound, create_key, list_keys, revoke_key
from leadgate.sales import sales_of
from leadgate.users import ROLES, UserNotFound
from leadgate.web.base import (
    ADMIN,
    Viewer,
    WebError,
    check_form,
    field,
    host,
    page,
    router,
    signed_in,
    users,
    whole,
)
from leadgate.webhooks import (
    SubscriptionNotFound,
    list_deliveries,
    list_subscriptions,
    outbox_counts,
    replay,
)

r = router()
Name = Annotated[str, Path(min_length=1, max_length=64)]
RepName = Annotated[str, Path(min_length=1, max_length=100)]


async def _page(request: Request, viewer: Viewer, status: int = 200, **kw: Any) -> Response:
    h = host(request)
    people = await h.read(users(request).list_users)
    reps = await h.read(sales_of(h.engine).reps)
    return page(
        "admin.html",
        viewer,
        status,
        people=people,
        reps=reps,
        roles=ROLES,
        key_roles=KEY_ROLES,
        keys=await h.read(list_keys, h.db),
        hooks=await h.read(list_subscriptions, h.db),
        deliveries=await h.read(list_deliveries, h.db, None, 20),
        counts=await h.read(outbox_counts, h.db),
        **kw,
    )


def _rep_saved(rep: dict[str, Any]) -> str:
    away = f"away until {rep['away_until']}" if rep["away"] else "not away"
    cap = rep["capacity"] if rep["capacity"] is not None else "no limit"
    return (
        f"Rep {rep['name']} saved: {rep['timezone'] or 'UTC'}, "
        f"{rep['hours'] or '09:00-17:00'} {rep['days'] or 'mon-fri'}, capacity {cap}; {away}."
    )


@r.get("/app/admin")
async def admin_page(request: Request) -> Response:
    """Users, with their actions (`?saved=REP`: after a rep was changed, what it is now)."""
    viewer = await signed_in(request, ADMIN)
    saved = request.query_params.get("saved")
    if saved:
        h = host(request)
        try:
            rep = await h.read(sales_of(h.engine).rep, saved)
        except NotFound:
            return await _page(request, viewer)
        return await _page(request, viewer, done=_rep_saved(rep))
    return await _page(request, viewer)


@r.post("/app/admin/users")
async def add_user(request: Request) -> Response:
    """Add a user; the generated password is on the answer page only."""
    viewer = await signed_in(request, ADMIN)
    form = await check_form(request, viewer)
    name, role, rep = field(form, "name", 64), field(form, "role", 20), field(form, "rep", 200)
    password = field(form, "password", 1024) or None
    try:
        user, made = await host(request).write(
            users(request).add, name, role, rep or None, password, viewer.user.actor
        )
    except InputError as exc:
        return await _page(request, viewer, 422, error=str(exc))
    return await _page(
        request, viewer, done=f"User {user.name} added.", password=made, who=user.name
    )


async def _on_user(request: Request, name: str, what: str) -> Response:
    viewer = await signed_in(request, ADMIN)
    await check_form(request, viewer)
    h = host(request)
    u = users(request)
    try:
        if what == "disable":
            user = await h.write(u.disable, name)
            return await _page(request, viewer, done=f"User {user.name} disabled.")
        if what == "reset":
            user, made = await h.write(u.reset_password, name, None)
            return await _page(
                request,
                viewer,
                done=f"New password for {user.name}; their sessions are ended.",
                password=made,
                who=user.name,
            )
        user = await h.read(u.get, name)
        n = await h.write(u.end_all_sessions, user.id)
        return await _page(request, viewer, done=f"{n} session(s) of {user.name} ended.")
    except (UserNotFound, InputError) as exc:
        raise WebError(404, "Not found", str(exc)) from None


@r.post("/app/admin/users/{name}/disable")
async def disable_user(request: Request, name: Name) -> Response:
    """Disable a user."""
    return await _on_user(request, name, "disable")


@r.post("/app/admin/users/{name}/reset-password")
async def reset_password(request: Request, name: Name) -> Response:
    """A new generated password."""
    return await _on_user(request, name, "reset")


@r.post("/app/admin/users/{name}/sign-out")
async def sign_out_user(request: Request, name: Name) -> Response:
    """End every session of a user."""
    return await _on_user(request, name, "sign-out")


@r.post("/app/admin/keys")
async def add_key(request: Request) -> Response:
    """A new API key; its secret is on the answer page only."""
    viewer = await signed_in(request, ADMIN)
    form = await check_form(request, viewer)
    h = host(request)
    try:
        key, secret = await h.write(
            create_key,
            h.db,
            field(form, "role", 20),
            field(form, "name", 200),
            viewer.user.actor,
            # A browser key's origins, separated by spaces (other roles leave it empty).
            field(form, "origins", 2000).split(),
        )
    except InputError as exc:
        return await _page(request, viewer, 422, error=str(exc))
    return await _page(request, viewer, done=f"API key {key.name} created.", api_key=secret)


@r.post("/app/admin/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """Revoke a key at once."""
    viewer = await signed_in(request, ADMIN)
    await check_form(request, viewer)
    h = host(request)
    try:
        key = await h.write(revoke_key, h.db, str(key_id))
    except (KeyNotFound, InputError) as exc:
        raise WebError(404, "Not found", str(exc)) from None
    return await _page(request, viewer, done=f"API key {key.name} revoked.")


@r.post("/app/admin/webhooks/retry")
async def retry(request: Request) -> Response:
    """Queue one delivery again, or every dead-lettered one."""
    viewer = await signed_in(request, ADMIN)
    form = await check_form(request, viewer)
    h = host(request)
    delivery = field(form, "delivery", 64) or None
    dead = field(form, "dead") == "1"
    try:
        n = await h.write(replay, h.db, delivery, dead and delivery is None)
    except (SubscriptionNotFound, InputError) as exc:
        return await _page(request, viewer, 422, error=str(exc))
    return await _page(request, viewer, done=f"{n} webhook deliveries queued again.")


@r.post("/app/admin/reps")
async def add_rep(request: Request) -> Response:
    """Add a sales rep (their team too, if new)."""
    viewer = await signed_in(request, ADMIN)
    form = await check_form(request, viewer)
    h = host(request)
    cap = field(form, "capacity", 10)
    if cap and whole(cap, 10) is None:
        return await _page(request, viewer, 422, error=f"capacity: '{cap}' is not a whole number")
    try:
        rep = await h.write(
            sales_of(h.engine).add_rep,
            field(form, "name", 100),
            field(form, "role", 20),
            field(form, "team", 200) or None,
            field(form, "email", 320) or None,
            field(form, "timezone", 100) or None,
            whole(cap, 10),
            field(form, "hours", 40) or None,
            field(form, "days", 100) or None,
        )
    except InputError as exc:
        return await _page(request, viewer, 422, error=str(exc))
    return await _page(request, viewer, done=f"Rep {rep['name']} added.")


@r.post("/app/admin/reps/{name}")
async def update_rep(request: Request, name: RepName) -> Response:
    """Change a rep's time zone, working hours and days, and capacity (blank: no limit)."""
    viewer = await signed_in(request, ADMIN)
    form = await check_form(request, viewer)
    h = host(request)
    cap = field(form, "capacity", 10)
    if cap and whole(cap, 10) is None:
        return await _page(request, viewer, 422, error=f"capacity: '{cap}' is not a whole number")
    try:
        rep = await h.write(
            sales_of(h.engine).update_rep,
            name,
            field(form, "timezone", 100) or None,
            whole(cap, 10),
            field(form, "hours", 40) or None,
            field(form, "days", 100) or None,
        )
    except NotFound as exc:
        raise WebError(404, "Not found", str(exc)) from None
    except InputError as exc:
        return await _page(request, viewer, 422, error=f"Rep {name}: {exc}")
    return _saved(rep["name"])


@r.post("/app/admin/reps/{name}/away")
async def rep_away(request: Request, name: RepName) -> Response:
    """Away until a date (back at the start of that day in the rep's zone), or back now."""
    viewer = await signed_in(request, ADMIN)
    form = await check_form(request, viewer)
    h = host(request)
    back = field(form, "back") == "1"
    until = field(form, "until", 40)
    if not back and not until:
        return await _page(
            request, viewer, 422, error=f"Rep {name}: until: give the date they are back"
        )
    try:
        rep = await h.write(sales_of(h.engine).set_away, name, None if back else until)
    except NotFound as exc:
        raise WebError(404, "Not found", str(exc)) from None
    except InputError as exc:
        return await _page(request, viewer, 422, error=f"Rep {name}: {exc}")
    return _saved(rep["name"])


def _saved(name: str) -> Response:
    """After a rep change: back to the page (a reload posts nothing again)."""
    return RedirectResponse(f"/app/admin?saved={quote(name, safe='')}#reps-h", 303)
