"""The hosted form page `/f/{form}`: server-rendered, accessible, works without JavaScript.

Each step is a post of the whole form so far: earlier answers travel as hidden inputs
(the server keeps no state between steps), the ticket and the step index too. The server
checks the step with the same code as the snippet's JSON (`Forms.step`), shows the next
step, the same step with its error linked to the field (422), or the thank-you page
(with the booking link for a lead that just became an MQL). With JavaScript on, the page's
own `<script src="/f/{form}.js">` takes the form over and steps without reloading.

    GET  /f/demo?campaign=spring   the first step (hidden fields take ?name= values)
    POST /f/demo                   the next step, the step with its error, or thanks

A successful submission sets `lg_form_lead` (signed, HttpOnly, path /f): the next visit
from this browser is not asked what the store already knows.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from itsdangerous import BadSignature
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import HTMLResponse, Response

from leadgate.engine.engine import NoPlaybook
from leadgate.forms.answers import FormError
from leadgate.forms.flow import StepView
from leadgate.forms.http import (
    ASSETS,
    HERE,
    REFUSAL_STATUS,
    SECURITY,
    STEP_LIMITED,
    client_ip,
    origin_ok,
    service,
    step_wait,
    utm_of,
)
from leadgate.forms.service import FormNotFound, FormRefused, Forms
from leadgate.forms.submissions import Visit
from leadgate.playbook.forms_section import Form

LEAD_COOKIE = "lg_form_lead"
STYLE = (HERE / "static" / "form.css").read_bytes()
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # answers and labels render inert
    trim_blocks=True,
    lstrip_blocks=True,
)
# Pages, like the web app's: out of the OpenAPI document (their errors are HTML pages).
router = APIRouter(include_in_schema=False)


def _page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(template).render(assets=ASSETS, **values)
    return HTMLResponse(html, status, headers=SECURITY)


def _raw_of(form: Form, data: FormData) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for f in form.fields:
        if f.type == "multi-select":
            items = [v for v in data.getlist(f.name) if isinstance(v, str)]
            if items:
                raw[f.name] = items
        elif f.name in data:
            value = data.get(f.name)
            if isinstance(value, str):
                raw[f.name] = value
    trap = data.get(form.spam.honeypot)
    if isinstance(trap, str) and trap:
        raw[form.spam.honeypot] = trap
    return raw


def _carried(form: Form, raw: dict[str, Any], view: StepView | None) -> list[tuple[str, str]]:
    """Earlier answers, as hidden inputs (the page keeps no state on the server)."""
    shown = {f.name for f in view.asked} if view else set()
    out: list[tuple[str, str]] = []
    for f in form.fields:
        if f.name in shown or f.name not in raw:
            continue
        value = raw[f.name]
        for v in value if isinstance(value, list) else [value]:
            out.append((f.name, str(v)))
    return out


async def _lead_cookie(request: Request, forms: Forms) -> int | None:
    raw = request.cookies.get(LEAD_COOKIE)
    if not raw or len(raw) > 200:
        return None
    try:
        signer = await request.app.state.leadgate.write(forms.signer, "form-lead", small=True)
        value = signer.loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def _render_step(
    request: Request,
    name: str,
    form: Form,
    view: StepView,
    ticket: str,
    raw: dict[str, Any],
    meta: dict[str, str],
    error: FormError | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = {f.name: raw.get(f.name) for f in view.asked}
    for f in view.asked:
        if f.type == "hidden" and values.get(f.name) is None:
            values[f.name] = f.value
    return _page(
        "form.html",
        status,
        name=name,
        form=form,
        view=view,
        ticket=ticket,
        values=values,
        carried=_carried(form, raw, view),
        meta=meta,
        error=error,
        honeypot=form.spam.honeypot,
        script=f"/f/{name}.js",
    )


async def _hosted_form(request: Request, forms: Forms, name: str) -> Form | Response:
    """The form for a page, or the 404 page."""
    try:
        form: Form = await request.app.state.leadgate.read(forms.form, name, small=True)
    except (FormNotFound, NoPlaybook) as exc:
        return _page("message.html", 404, title="Not found", message=str(exc))
    return form


@router.get("/f/{form}")
async def hosted(request: Request, form: str) -> Response:
    """The form's first step as a page (with JavaScript, the snippet takes it over)."""
    forms = service(request)
    ctx = request.app.state.leadgate
    f = await _hosted_form(request, forms, form)
    if isinstance(f, Response):
        return f
    lead_id = await _lead_cookie(request, forms)
    ticket = await ctx.write(forms.ticket, form, small=True)
    view, _ = await ctx.read(forms.step, form, {}, -1, Visit(lead_id=lead_id))
    assert view is not None  # the first step always holds the email
    meta = {
        "lg_landing": str(request.url)[:2000],
        "lg_referrer": request.headers.get("referer", "")[:2000],
    }
    # Hidden fields take their values from the page's URL (?campaign=spring), carried
    # along until their step. A value with a NUL is left out: no store holds it, and the
    # visitor could not correct the refusal on a field she does not see.
    raw = {
        h.name: request.query_params[h.name][: h.max_length]
        for h in f.fields
        if h.type == "hidden"
        and request.query_params.get(h.name)
        and "\x00" not in request.query_params[h.name]
    }
    return _render_step(request, form, f, view, ticket, raw, meta)


async def _read(request: Request) -> FormData | Response:
    """The posted form, or a 400 page: a body that is no form of this page (a file, too
    many fields, a field over 1 MB, broken multipart) or a field that is not Unicode (a
    multipart body names its own charset, and `unicode_escape` makes `\\ud800` a lone
    surrogate, which no page, store or JSON can hold)."""
    try:
        data = await request.form(max_files=0, max_fields=500)
    except (HTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        return _page(
            "message.html", 400, title="Not sent", message=f"The form could not be read: {detail}"
        )
    for name, value in data.multi_items():
        try:
            name.encode()
            if isinstance(value, str):
                value.encode()
        except UnicodeEncodeError:
            shown = name.encode("utf-8", "backslashreplace").decode()
            return _page(
                "message.html", 400, title="Not sent", message=f"{shown}: is not valid Unicode text"
            )
    return data


@router.post("/f/{form}")
async def hosted_post(request: Request, form: str) -> Response:
    """The hosted page's form: the next step, the same step with its error, or thanks."""
    forms = service(request)
    ctx = request.app.state.leadgate
    f = await _hosted_form(request, forms, form)
    if isinstance(f, Response):
        return f
    if not origin_ok(request, f):
        refused = await ctx.write(
            forms.refuse_origin, form, request.headers["origin"], client_ip(request)
        )
        return _page("message.html", 403, title="Not allowed", message=refused.detail)
    wait = step_wait(request)
    if wait is not None:
        page = _page("message.html", 429, title="Not sent", message=STEP_LIMITED)
        page.headers["Retry-After"] = str(int(wait))
        return page
    data = await _read(request)
    if isinstance(data, Response):
        return data
    raw = _raw_of(f, data)
    ticket = data.get("lg_ticket")
    ticket = ticket if isinstance(ticket, str) else ""
    try:
        current = int(str(data.get("lg_step", "0")))
    except ValueError:
        current = 0
    meta = {k: str(data.get(k, ""))[:2000] for k in ("lg_landing", "lg_referrer") if data.get(k)}
    lead_id = await _lead_cookie(request, forms)
    visit = Visit(
        ip=client_ip(request),
        lead_id=lead_id,
        referrer=meta.get("lg_referrer"),
        landing_page=meta.get("lg_landing"),
        utm=utm_of(meta.get("lg_landing")),
    )
    answers = {k: v for k, v in raw.items() if k != f.spam.honeypot}
    try:
        view, _ = await ctx.read(forms.step, form, answers, current, visit)
        if view is not None:
            return _render_step(request, form, f, view, ticket, raw, meta)
        out = await ctx.write(forms.submit, form, ticket, raw, visit)
    except FormError as exc:
        # Shown again on the step that asks the field in error: an answer carried from an
        # earlier step can turn bad there (the playbook renamed its options meanwhile),
        # and only on its own step can the visitor correct it.
        at = next(
            (i for i, s in enumerate(f.steps) if any(x.name == exc.field for x in s.fields)),
            current,
        )
        again = await ctx.read(forms.view_at, form, answers, at, visit)
        return _render_step(request, form, f, again, ticket, raw, meta, exc, 422)
    except FormRefused as exc:
        status = REFUSAL_STATUS.get(exc.reason, 429)
        return _page("message.html", status, title="Not sent", message=exc.detail)
    response = _page("thanks.html", name=form, form=f, result=out)
    lead = out.get("lead_id")
    if isinstance(lead, int):
        signer = await ctx.write(forms.signer, "form-lead", small=True)
        response.set_cookie(
            LEAD_COOKIE,
            str(signer.dumps(lead)),
            max_age=365 * 86400,
            path="/f",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


@router.get(ASSETS + "/form.css")
async def style() -> Response:
    return Response(STYLE, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})
