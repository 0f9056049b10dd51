"""Forms over HTTP: the hosted page, the embeddable snippet and the JSON they talk.

    GET  /f/{form}           the hosted page (server-rendered, works without JavaScript)
    POST /f/{form}           the hosted page's steps and submission (form-encoded)
    GET  /f/{form}.js        the snippet: <script src=".../f/demo.js" data-target="#id">
    GET  /f/{form}/start     JSON: a ticket and the first step (the snippet starts here)
    POST /f/{form}/next      JSON: check a step, get the next one (null: ready to send)
    POST /f/{form}/submit    JSON: the submission
    OPTIONS …/start|next|submit   CORS preflight

Public, no key: a browser on another site calls them, so every JSON answer carries CORS
headers for the form's `allowed_origins` only, and a call from any other origin is
refused (403) and counted as a rejection. Errors are problem+json naming the field
(`errors[0].pointer` is `#/answers/<field>`). The hosted page sends the web app's
security headers (CSP `default-src 'self'`, no inline script); with JavaScript on, the
snippet takes the page over and moves between steps without reloading.

`install(app)` mounts it (the API app calls it, as it does the web app's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request
from itsdangerous import BadSignature
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from leadgate.engine.engine import NoPlaybook
from leadgate.forms.answers import FormError
from leadgate.forms.flow import StepView
from leadgate.forms.service import FormNotFound, FormRefused, Forms, Visit
from leadgate.forms.service import install as install_forms
from leadgate.playbook.forms_section import Form, FormField

HERE = Path(__file__).resolve().parent
LEAD_COOKIE = "lg_form_lead"
MEDIA_PROBLEM = "application/problem+json"
ASSETS = "/f-assets"
SCRIPT = (HERE / "static" / "form.js").read_bytes()
STYLE = (HERE / "static" / "form.css").read_bytes()
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_STATUS = {"honeypot": 403, "origin": 403, "too_fast": 422, "disposable": 422}
_TITLES = {403: "Forbidden", 404: "Not found", 422: "Invalid input", 429: "Too many requests"}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # answers and labels render inert
    trim_blocks=True,
    lstrip_blocks=True,
)
router = APIRouter(tags=["forms"])


def service(request: Request) -> Forms:
    """The app's forms service (one per app, on the API's engine)."""
    return install_forms(request.app.state.leadgate.engine)


# -- problems and CORS ---------------------------------------------------------------


class Problem(Exception):
    def __init__(self, status: int, detail: str, kind: str, **extra: Any):
        self.status = status
        self.detail = detail
        self.kind = kind
        self.extra = extra
        super().__init__(detail)


def _problem(exc: Problem, headers: dict[str, str]) -> Response:
    body = {
        "type": "urn:leadgate:problem:" + exc.kind,
        "title": _TITLES.get(exc.status, "Error"),
        "status": exc.status,
        "detail": exc.detail,
        **exc.extra,
    }
    return Response(orjson.dumps(body), exc.status, headers=headers, media_type=MEDIA_PROBLEM)


def _of(exc: Exception) -> Problem:
    if isinstance(exc, FormError):
        return Problem(
            422,
            str(exc),
            "validation",
            field=exc.field,
            errors=[{"pointer": f"#/answers/{exc.field}", "detail": exc.message}],
        )
    if isinstance(exc, FormRefused):
        status = _STATUS.get(exc.reason, 429)
        extra: dict[str, Any] = {"reason": exc.reason}
        if exc.field:
            extra["field"] = exc.field
            extra["errors"] = [{"pointer": f"#/answers/{exc.field}", "detail": exc.detail}]
        return Problem(status, exc.detail, "form-refused", **extra)
    if isinstance(exc, FormNotFound):
        return Problem(404, str(exc), "not-found")
    if isinstance(exc, NoPlaybook):
        return Problem(404, str(exc), "no-playbook")
    raise exc


def _same_origin(request: Request, origin: str) -> bool:
    o = urlsplit(origin)
    return (o.scheme, o.netloc) == (request.url.scheme, request.url.netloc)


def _origin_ok(request: Request, form: Form) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site call: CORS does not apply
    origin = origin.lower().rstrip("/")
    return (
        _same_origin(request, origin)
        or origin in form.allowed_origins
        or ("*" in form.allowed_origins and origin != "null")
    )


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    headers = {"Vary": "Origin", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


async def _json_call(request: Request, name: str, body: Any) -> Response:
    """Run `body(form, forms)` for a JSON route: origin check, CORS, problems."""
    forms = service(request)
    ctx = request.app.state.leadgate
    try:
        form = await ctx.read(forms.form, name, small=True)
        if not _origin_ok(request, form):
            refused = await ctx.write(
                forms.refuse_origin, name, request.headers.get("origin", ""), _ip(request)
            )
            # No CORS headers: the page that asked cannot even read the refusal.
            return _problem(_of(refused), {"Vary": "Origin"})
        result = await body(form, forms)
    except (FormError, FormRefused, FormNotFound, NoPlaybook) as exc:
        return _problem(_of(exc), _cors(request))
    except Problem as exc:
        return _problem(exc, _cors(request))
    return Response(
        orjson.dumps(result), 200, headers=_cors(request), media_type="application/json"
    )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 256 * 1024:
        raise Problem(413, "the form is larger than 256 KB", "body-too-large")
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise Problem(400, "the body is not JSON", "bad-json") from None
    if not isinstance(data, dict):
        raise Problem(422, "the body must be a JSON object", "validation")
    answers = data.get("answers", {})
    if not isinstance(answers, dict):
        raise FormError("answers", "must be an object of field: answer")
    return data


def _text(data: dict[str, Any], key: str, limit: int = 2000) -> str | None:
    v = data.get(key)
    return v[:limit] if isinstance(v, str) and v else None


def _utm(landing: str | None) -> dict[str, str]:
    if not landing:
        return {}
    return {k: v for k, v in parse_qsl(urlsplit(landing).query) if k.startswith("utm_")}


def _visit(request: Request, data: dict[str, Any], lead_id: int | None = None) -> Visit:
    landing = _text(data, "landing_page")
    return Visit(
        ip=_ip(request),
        visitor_id=_text(data, "visitor_id", 100),
        lead_id=lead_id,
        referrer=_text(data, "referrer"),
        landing_page=landing,
        utm=_utm(landing),
    )


def _step_json(view: StepView | None, position: int | None = None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "index": view.index,
        "name": view.step.name,
        "title": view.step.title,
        "fields": [_field_json(f) for f in view.asked],
    }


def _field_json(f: FormField) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "type": f.type,
        "label": f.text,
        "required": f.required or f.type == "email",
    }
    for key in ("help", "placeholder", "min", "max", "value"):
        if getattr(f, key) is not None:
            out[key] = getattr(f, key)
    if f.type in ("text", "textarea", "hidden"):
        out["max_length"] = f.max_length
    if f.options:
        out["options"] = [{"value": o.value, "label": o.label or o.value} for o in f.choices]
    return out


# -- the JSON the snippet talks ------------------------------------------------------

_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


async def _preflight(request: Request, form: str) -> Response:
    async def ok(f: Form, forms: Forms) -> dict[str, Any]:
        return {}

    answer = await _json_call(request, form, ok)
    if answer.status_code != 200:
        return answer
    return Response(status_code=204, headers={**_cors(request), **_PREFLIGHT})


@router.options("/f/{form}/start", status_code=204, summary="CORS preflight")
async def start_preflight(request: Request, form: str) -> Response:
    """CORS preflight: allowed for the form's `allowed_origins`, else 403."""
    return await _preflight(request, form)


@router.options("/f/{form}/next", status_code=204, summary="CORS preflight")
async def next_preflight(request: Request, form: str) -> Response:
    """CORS preflight: allowed for the form's `allowed_origins`, else 403."""
    return await _preflight(request, form)


@router.options("/f/{form}/submit", status_code=204, summary="CORS preflight")
async def submit_preflight(request: Request, form: str) -> Response:
    """CORS preflight: allowed for the form's `allowed_origins`, else 403."""
    return await _preflight(request, form)


@router.get("/f/{form}.js", summary="The embeddable snippet", response_class=Response)
async def snippet(request: Request, form: str) -> Response:
    """The script that renders form `form` into `data-target` on any page."""
    try:
        await request.app.state.leadgate.read(service(request).form, form, small=True)
    except (FormNotFound, NoPlaybook) as exc:
        return _problem(_of(exc), {"X-Content-Type-Options": "nosniff"})
    return Response(
        SCRIPT,
        media_type="text/javascript",
        headers={
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.get("/f/{form}/start", summary="A ticket and the form's first step")
async def start(request: Request, form: str, visitor_id: str | None = None) -> Response:
    """Begin filling form `form`: its texts, a ticket to send back, the first step."""

    async def run(f: Form, forms: Forms) -> dict[str, Any]:
        ctx = request.app.state.leadgate
        visit = Visit(visitor_id=(visitor_id or "")[:100] or None)
        ticket = await ctx.write(forms.ticket, form, small=True)
        view, _ = await ctx.read(forms.step, form, {}, -1, visit)
        return {
            "form": form,
            "title": f.title,
            "description": f.description,
            "submit_label": f.submit_label,
            "honeypot": f.spam.honeypot,
            "ticket": ticket,
            "step": _step_json(view),
        }

    return await _json_call(request, form, run)


@router.post("/f/{form}/next", summary="Check a step; the next one")
async def next_(request: Request, form: str) -> Response:
    """`{step, answers, visitor_id?}`: the step's answers checked (422 names a bad one);
    `{"step": …}` the next step, or `{"step": null}` when the form is ready to send."""

    async def run(f: Form, forms: Forms) -> dict[str, Any]:
        data = await _body(request)
        current = data.get("step")
        if not isinstance(current, int) or isinstance(current, bool):
            raise FormError("step", "the index of the step answered")
        answers = (
            {k: v for k, v in data["answers"].items() if k != f.spam.honeypot}
            if ("answers" in data)
            else {}
        )
        view, _ = await request.app.state.leadgate.read(
            forms.step, form, answers, current, _visit(request, data)
        )
        return {"step": _step_json(view)}

    return await _json_call(request, form, run)


@router.post("/f/{form}/submit", summary="Send a filled form")
async def submit(request: Request, form: str) -> Response:
    """`{ticket, answers, visitor_id?, referrer?, landing_page?}`: the lead is upserted,
    the answers recorded; `{status: accepted|duplicate, thank_you, booking_url?}`."""

    async def run(f: Form, forms: Forms) -> dict[str, Any]:
        data = await _body(request)
        out: dict[str, Any] = await request.app.state.leadgate.write(
            forms.submit,
            form,
            data.get("ticket"),
            dict(data.get("answers", {})),
            _visit(request, data),
        )
        out.pop("lead_id", None)  # an anonymous caller learns nothing of the lead
        return out

    return await _json_call(request, form, run)


# -- the hosted page -----------------------------------------------------------------


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


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# Pages, like the web app's: out of the OpenAPI document (their errors are HTML pages).
@router.get("/f/{form}", include_in_schema=False)
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
    # along until their step.
    raw = {
        h.name: request.query_params[h.name][: h.max_length]
        for h in f.fields
        if h.type == "hidden" and request.query_params.get(h.name)
    }
    return _render_step(request, form, f, view, ticket, raw, meta)


@router.post("/f/{form}", include_in_schema=False)
async def hosted_post(request: Request, form: str) -> Response:
    """The hosted page's form: the next step, the same step with its error, or thanks."""
    forms = service(request)
    ctx = request.app.state.leadgate
    f = await _hosted_form(request, forms, form)
    if isinstance(f, Response):
        return f
    if not _origin_ok(request, f):
        refused = await ctx.write(
            forms.refuse_origin, form, request.headers["origin"], _ip(request)
        )
        return _page("message.html", 403, title="Not allowed", message=refused.detail)
    data = await request.form(max_files=0, max_fields=500)
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
        ip=_ip(request),
        lead_id=lead_id,
        referrer=meta.get("lg_referrer"),
        landing_page=meta.get("lg_landing"),
        utm=_utm(meta.get("lg_landing")),
    )
    answers = {k: v for k, v in raw.items() if k != f.spam.honeypot}
    try:
        view, _ = await ctx.read(forms.step, form, answers, current, visit)
        if view is not None:
            return _render_step(request, form, f, view, ticket, raw, meta)
        out = await ctx.write(forms.submit, form, ticket, raw, visit)
    except FormError as exc:
        again = await ctx.read(forms.view_at, form, answers, current, visit)
        return _render_step(request, form, f, again, ticket, raw, meta, exc, 422)
    except FormRefused as exc:
        status = _STATUS.get(exc.reason, 429)
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


@router.get(ASSETS + "/form.css", include_in_schema=False)
async def style() -> Response:
    return Response(STYLE, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})


def install(app: FastAPI) -> None:
    """Mount the forms' public routes on `app` (the API app); leads show their consents."""
    install_forms(app.state.leadgate.engine)
    app.include_router(router)


__all__ = ["install", "router"]
