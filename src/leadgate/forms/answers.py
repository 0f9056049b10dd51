"""One answer of a form, as typed, to the value leadgate keeps (or a FormError naming it).

Each field type has one parser: an email is checked by email-validator and lower-cased,
a phone becomes E.164 through phonenumbers (read in the country answered on the form,
when there is one), a country becomes its ISO 3166 alpha-2 code through pycountry, a
select keeps the option as the playbook spells it:

    >>> field = FormField(name="country", type="country")
    >>> parse_answer(field, "germany")
    'DE'

An empty answer is None (absent); whether it was required is the flow's business.
Pure: no I/O (deliverability, a DNS lookup, is the adapter's option).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from leadgate.ingest.validate import InputError, check_email
from leadgate.playbook.conditions import as_number
from leadgate.playbook.forms_section import FormField

_TRUE = {"on", "true", "yes", "1", "y"}
_FALSE = {"off", "false", "no", "0", "n", ""}
MAX_CHOICES = 100


class FormError(InputError):
    """A bad answer: `field` names it (as the form's field name), `message` says why."""


def _text(field: FormField, raw: Any) -> str | None:
    if isinstance(raw, list):
        if len(raw) != 1:
            raise FormError(field.name, "takes one value")
        raw = raw[0]
    if isinstance(raw, bool) or raw is None:
        return None if raw is None else str(raw).lower()
    if isinstance(raw, int | float):
        raw = str(raw)
    if not isinstance(raw, str):
        raise FormError(field.name, "takes text")
    text = raw.strip()
    if "\x00" in text:
        raise FormError(field.name, "contains a NUL character")
    if len(text) > field.max_length:
        raise FormError(field.name, f"longer than {field.max_length} characters")
    return text or None


def _flag(field: FormField, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = (_text(field, raw) or "").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FormError(field.name, f"'{text}' is not yes or no")


def _option(field: FormField, value: str) -> str:
    for o in field.choices:
        if o.value.lower() == value.lower():
            return o.value
    shown = ", ".join(o.value for o in field.choices[:10])
    raise FormError(field.name, f"'{value}' is not one of the options ({shown})")


def _country(field: FormField, value: str) -> str:
    code = _country_code(value.lower())
    if code is None:
        raise FormError(field.name, f"'{value}' is not a country")
    return code


@lru_cache(maxsize=4096)
def _country_code(value: str) -> str | None:
    # pycountry's lookup scans every name: the same few answers repeat, so remember them.
    # Imported here, as phonenumbers below: `lead show` loads this module and reads no
    # answer (start-up time, issue 17).
    import pycountry

    try:
        return str(pycountry.countries.lookup(value).alpha_2)
    except LookupError:
        return None


def _phone(field: FormField, value: str, region: str | None) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        hint = "" if region else " (start with + and the country code)"
        raise FormError(field.name, f"'{value}' is not a phone number{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise FormError(field.name, f"'{value}' is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_answer(field: FormField, raw: Any, region: str | None = None) -> Any:
    """The kept value of one answer, None when empty. `region` is the country answered
    on the form (ISO alpha-2), in which a phone number without + is read."""
    t = field.type
    if t in ("checkbox", "consent"):
        return _flag(field, raw) if raw is not None else False
    if t == "multi-select":
        items = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
        if len(items) > MAX_CHOICES:
            raise FormError(field.name, f"more than {MAX_CHOICES} choices")
        out: list[str] = []
        for item in items:
            text = _text(field, item)
            if text is not None:
                value = _option(field, text)
                if value not in out:
                    out.append(value)
        return out or None
    text = _text(field, raw)
    if text is None:
        return None
    if t == "email":
        try:
            return check_email(text)
        except InputError as exc:
            raise FormError(field.name, exc.message) from None
    if t == "number":
        n = as_number(text)
        if n is None or n != n or n in (float("inf"), float("-inf")):
            raise FormError(field.name, f"'{text}' is not a number")
        if field.min is not None and n < field.min:
            raise FormError(field.name, f"{text} is below the minimum {field.min:g}")
        if field.max is not None and n > field.max:
            raise FormError(field.name, f"{text} is above the maximum {field.max:g}")
        return int(n) if n.is_integer() and abs(n) < 2**53 else n
    if t == "select":
        return _option(field, text)
    if t == "country":
        return _country(field, text)
    if t == "phone":
        return _phone(field, text, region)
    return text  # text, textarea, hidden


def qualification_of(field: FormField, value: Any) -> tuple[str, str] | None:
    """(status, note) an answer records for its criterion, or None (an unlisted answer)."""
    q = field.qualification
    if q is None or value is None:
        return None
    chosen = value if isinstance(value, list) else [value]
    statuses = {k.lower(): v for k, v in q.answers.items()}
    found = [statuses[str(c).lower()] for c in chosen if str(c).lower() in statuses]
    if not found:
        return None
    # Several choices (a multi-select): the strongest answer wins.
    best = min(found, key=("met", "not_met", "unknown").index)
    note = ", ".join(str(c) for c in chosen)
    return best, note
