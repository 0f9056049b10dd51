"""Admin: `/app/admin`, the people who sign in (admin users only; anyone else gets the
403 page).

    GET  /app/admin                               users and the add-user form
    POST /app/admin/users                         add (a generated password is shown once)
    POST /app/admin/users/{name}/disable          sign-in refused, sessions ended
    POST /app/admin/users/{name}/reset-password   a new password, shown once
    POST /app/admin/users/{name}/sign-out         end every session of the user

The same operations as `leadgate users ...` and `/api/v1/users`, through the same
`leadgate.users.Users`, audited as the signed-in admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from starlette.responses import Response

from leadgate.ingest.validate import InputError
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
)

r = router()
Name = Annotated[str, Path(min_length=1, max_length=64)]


async def _page(request: Request, viewer: Viewer, status: int = 200, **kw: Any) -> Response:
    h = host(request)
    people = await h.read(users(request).list_users)
    reps = await h.read(sales_of(h.engine).reps)
    return page(
        "admin.html",
        viewer,
        status,
        people=people,
        reps=[x["name"] for x in reps],
        roles=ROLES,
        **kw,
    )


@r.get("/app/admin")
async def admin_page(request: Request) -> Response:
    """Users, with their actions."""
    viewer = await signed_in(request, ADMIN)
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
