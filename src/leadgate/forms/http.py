"""Forms over HTTP: the embeddable snippet and the JSON it talks (the hosted page,
`GET`/`POST /f/{form}`, is `pages.py`).

    GET  /f/{form}.js        the snippet: <script src=".../f/demo.js" data-target="#id">
    GET  /f/{form}/start     JSON: a ticket and the first step (the snippet starts here)
    POST /f/{form}/next      JSON: check a step, get the next one (null: ready to send)
    POST /f/{form}/submit    JSON: the submission
    OPTIONS …/start|next|submit   CORS preflight

Public, no key: a browser on another site calls them, so every JSON answer carries CORS
headers for the form's `allowed_origins` only, and a call from any other origin is
refused (403) and counted as a rejection. Errors are problem+json naming the field
(`errors[0].pointer` is `#/answers/<field>`).

`install(app)` mounts both (the API app calls it, as it does the web app's).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from leadgate.engine.engine import NoPlaybook
from leadgate.forms.answers import FormError
from leadgate.forms.flow import StepView
from leadgate.forms.service import FormNotFound, FormRefused, Forms
from leadgate.forms.service import install as install_forms
from leadgate.forms.submissions import Visit
from leadgate.playbook.forms_section import Form, FormField
from leadgate.ratelimit import RateLimit, client_key

HERE = Path(__file__).resolve().parent
MEDIA_PROBLEM = "application/problem+json"
ASSETS = "/f-assets"
SCRIPT = (HERE / "static" / "form.js").read_bytes()
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
REFUSAL_STATUS = {"honeypot": 403, "origin": 403, "too_fast": 422, "disposable": 422}
_TITLES = {403: "Forbidden", 404: "Not found", 422: "Invalid input", 429: "Too many requests"}
# Step checks (start, next, the hosted page's steps) per client address per minute, per
# process. A step check with a typed email tells which questions the store already knows
# of that address, so unbounded it is an oracle to list who is a lead; a person filling a
# form makes one check a step. Submissions have their own rules (the form's spam.per_ip).
STEP_RATE = int(os.environ.get("LEADGATE_FORM_STEPS_PER_MINUTE", "60"))
STEP_LIMITED = "too many form steps from this address: try again in a minute"

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
        status = REFUSAL_STATUS.get(exc.reason, 429)
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


def origin_ok(request: Request, form: Form) -> bool:
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
        if not origin_ok(request, form):
            refused = await ctx.write(
                forms.refuse_origin, name, request.headers.get("origin", ""), client_ip(request)
            )
            # No CORS headers: the page that asked cannot even read the refusal.
            return _problem(_of(refused), {"Vary": "Origin"})
        result = await body(form, forms)
    except (FormError, FormRefused, FormNotFound, NoPlaybook) as exc:
        return _problem(_of(exc), _cors(request))
    except Problem as exc:
        headers = _cors(request)
        if exc.status == 429:
            headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return _problem(exc, headers)
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
    return _no_nul(v[:limit], key) if isinstance(v, str) and v else None


def _no_nul(text: str, key: str) -> str:
    # Stored and looked up as text: PostgreSQL's text refuses U+0000.
    if "\x00" in text:
        raise FormError(key, "contains a NUL character")
    return text


def utm_of(landing: str | None) -> dict[str, str]:
    if not landing:
        return {}
    return {k: v for k, v in parse_qsl(urlsplit(landing).query) if k.startswith("utm_")}


def _visit(request: Request, data: dict[str, Any], lead_id: int | None = None) -> Visit:
    landing = _text(data, "landing_page")
    return Visit(
        ip=client_ip(request),
        visitor_id=_text(data, "visitor_id", 100),
        lead_id=lead_id,
        referrer=_text(data, "referrer"),
        landing_page=landing,
        utm=utm_of(landing),
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


def client_ip(request: Request) -> str:
    """The client address as the step limit and the spam rules' `per_ip` count it (an IPv6
    client by its /64: leadgate.ratelimit.client_key)."""
    return client_key(request.client.host if request.client else "unknown")


def step_wait(request: Request) -> float | None:
    """Count one step check from this client address: None to go on, else seconds to wait
    (the limiter is the app's, made on first use on the engine's clock)."""
    state = request.app.state
    limit: RateLimit | None = getattr(state, "form_step_limit", None)
    if limit is None:
        limit = RateLimit(STEP_RATE, 60.0, state.leadgate.engine.clock)
        state.form_step_limit = limit
    return limit.retry_after(client_ip(request))


def _limited(request: Request) -> None:
    wait = step_wait(request)
    if wait is not None:
        raise Problem(429, STEP_LIMITED, "rate-limited", retry_after=int(wait))


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
        _limited(request)
        ctx = request.app.state.leadgate
        visit = Visit(visitor_id=_no_nul(visitor_id or "", "visitor_id")[:100] or None)
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
        _limited(request)
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


def install(app: FastAPI) -> None:
    """Mount the forms' public routes on `app` (the API app); leads show their consents."""
    from leadgate.forms import pages

    install_forms(app.state.leadgate.engine)
    app.include_router(router)  # first: /f/{form}.js before the page's /f/{form}
    app.include_router(pages.router)


__all__ = ["install", "router"]
