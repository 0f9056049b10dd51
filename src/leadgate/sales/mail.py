"""Sending nurture e-mail with the standard library's smtplib.

Every header value passes through `header_text`, which turns line breaks (CR, LF and the
other characters `str.splitlines` breaks on) and control characters into spaces: a lead
attribute "Ann\\rBcc: x@evil" in a subject becomes "Ann Bcc: x@evil", one header line, never
a new header. A message that still cannot be built fails alone, for good, with its reason
(`SendResult.permanent`); the others in the batch go.

Settings: the playbook's `nurture.smtp` section, each overridden by the environment
(LEADGATE_SMTP_HOST, _PORT, _FROM, _STARTTLS, _SSL, _TIMEOUT); the login only from the
environment (LEADGATE_SMTP_USER, LEADGATE_SMTP_PASSWORD). Retries: a failed message
waits base * 2^(attempt-1) seconds (capped), up to `max_attempts`, then is dead
(LEADGATE_SMTP_BACKOFF_BASE, _BACKOFF_CAP, _MAX_ATTEMPTS). The defaults (30 s doubling
to 1 h, 15 attempts) ride out an SMTP server that is down for more than eight hours.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leadgate.sales.playbook_sections import SmtpSettings

if TYPE_CHECKING:
    import smtplib
    from email.message import EmailMessage

# smtplib, ssl and email are imported by the functions that send: every command that
# opens the store loads this module (the sales workflow's settings), `lead show` too,
# and ssl alone is a good part of its start-up (issue 17).


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send, and how to retry."""

    host: str | None
    port: int
    sender: str | None
    starttls: bool
    use_ssl: bool
    timeout: float
    user: str | None
    password: str | None
    backoff_base: float
    backoff_cap: float
    max_attempts: int

    @property
    def configured(self) -> bool:
        """A host and a From address are known: messages can be sent."""
        return bool(self.host) and bool(self.sender)

    @property
    def lease(self) -> float:
        """How long a claim on a message lasts: longer than sending a batch can take."""
        return 4 * self.timeout + 60.0

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure."""
        return float(min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempts - 1)))


def _flag(raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def settings_from(section: SmtpSettings, env: Mapping[str, str] | None = None) -> MailSettings:
    """The playbook's SMTP section with the environment's overrides."""
    e = os.environ if env is None else env

    def get(name: str) -> str | None:
        v = e.get(f"LEADGATE_SMTP_{name}")
        return v if v not in (None, "") else None

    port = get("PORT")
    timeout = get("TIMEOUT")
    return MailSettings(
        host=get("HOST") or section.host,
        port=int(port) if port else section.port,
        sender=get("FROM") or section.from_,
        starttls=_flag(get("STARTTLS"), section.starttls),
        use_ssl=_flag(get("SSL"), section.ssl),
        timeout=float(timeout) if timeout else section.timeout,
        user=get("USER"),
        password=get("PASSWORD"),
        backoff_base=float(get("BACKOFF_BASE") or 30.0),
        backoff_cap=float(get("BACKOFF_CAP") or 3600.0),
        max_attempts=int(get("MAX_ATTEMPTS") or 15),
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send."""

    id: str
    to: str
    subject: str
    body: str
    lead_id: int


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt gave: sent, or an error and whether retrying can help."""

    id: str
    ok: bool
    error: str | None = None
    permanent: bool = False


# C0 controls but the tab, DEL, C1 controls (NEL among them), and the line and paragraph
# separators: what `str.splitlines` breaks on, and what no header should carry.
_BREAKS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """`value` as one header line: every line break or control character becomes a space.

    >>> header_text("Hi Ann\\rBcc: x@evil.example")
    'Hi Ann Bcc: x@evil.example'
    """
    return _BREAKS.sub(" ", value).strip()


def _message(s: MailSettings, m: Outgoing) -> EmailMessage:
    from email.message import EmailMessage
    from email.utils import formatdate

    msg = EmailMessage()
    msg["From"] = header_text(s.sender or "")
    msg["To"] = header_text(m.to)
    msg["Subject"] = header_text(m.subject)
    msg["Date"] = formatdate(localtime=False)
    # One id for the message's whole life: a resend after a crash (sent, but not yet
    # recorded) can be recognised by the receiving side.
    msg["Message-ID"] = f"<{m.id}@leadgate>"
    msg["X-Leadgate-Lead"] = str(m.lead_id)
    msg.set_content(m.body)
    return msg


def send_all(s: MailSettings, messages: Sequence[Outgoing]) -> list[SendResult]:
    """Send over one SMTP session. A connection failure fails every message (to retry);
    a 5xx refusal of one recipient fails that message for good."""
    import smtplib
    import ssl

    if not messages:
        return []
    try:
        if s.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host or "", s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host or "", s.port, timeout=s.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        err = f"cannot connect to {s.host}:{s.port}: {type(exc).__name__}: {exc}"[:500]
        return [SendResult(m.id, False, err) for m in messages]
    out: list[SendResult] = []
    try:
        with client:
            if s.starttls and not s.use_ssl:
                client.starttls(context=ssl.create_default_context())
            if s.user:
                client.login(s.user, s.password or "")
            for m in messages:
                out.append(_send_one(client, s, m))
    except (OSError, smtplib.SMTPException) as exc:
        err = f"{type(exc).__name__}: {exc}"[:500]
        done = {r.id for r in out}
        out += [SendResult(m.id, False, err) for m in messages if m.id not in done]
    return out


def _send_one(client: smtplib.SMTP, s: MailSettings, m: Outgoing) -> SendResult:
    import smtplib
    from email import errors

    try:
        message = _message(s, m)
    except (ValueError, TypeError, IndexError, errors.MessageError) as exc:
        # This message's data, not the server: it fails alone and for good, with the reason.
        return SendResult(
            m.id, False, f"cannot build the message: {type(exc).__name__}: {exc}"[:500], True
        )
    try:
        client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [c for c, _ in exc.recipients.values()]
        return SendResult(
            m.id,
            False,
            f"recipient refused: {exc.recipients}"[:500],
            permanent=all(c >= 500 for c in codes),
        )
    except (smtplib.SMTPNotSupportedError, ValueError, UnicodeError) as exc:
        # E.g. a non-ASCII address and a server without SMTPUTF8: this message's fault,
        # so it fails alone instead of failing (and retrying) the rest of the batch.
        return SendResult(m.id, False, f"cannot send: {type(exc).__name__}: {exc}"[:500], True)
    except smtplib.SMTPSenderRefused as exc:
        # Our From address: a setting to fix, not this message's fault; retry it later.
        return SendResult(m.id, False, f"sender refused: SMTP {exc.smtp_code}"[:500])
    except smtplib.SMTPResponseException as exc:
        msg = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return SendResult(
            m.id, False, f"SMTP {exc.smtp_code}: {msg}"[:500], permanent=exc.smtp_code >= 500
        )
    return SendResult(m.id, True)
