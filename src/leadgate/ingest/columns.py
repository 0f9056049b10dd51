"""CRM export headers → leadgate attribute names, and typed attribute values."""

from __future__ import annotations

import re
from typing import Any

from leadgate.ingest.countries import country_code
from leadgate.ingest.formats import ColumnFormat, number_vote, parse_number
from leadgate.ingest.money import split_money
from leadgate.ingest.validate import MAX_VALUE_CHARS, InputError

# Headers as HubSpot, Salesforce, Pipedrive and Marketo exports write them.
ALIASES: dict[str, str] = {
    "email": "email",
    "e_mail": "email",
    "email_address": "email",
    "work_email": "email",
    "first_name": "first_name",
    "firstname": "first_name",
    "given_name": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "company": "company",
    "company_name": "company",
    "account_name": "company",
    "organization": "company",
    "organisation": "company",
    "job_title": "job_title",
    "title": "job_title",
    "jobtitle": "job_title",
    "position": "job_title",
    "company_size": "company_size",
    "employees": "company_size",
    "number_of_employees": "company_size",
    "no_of_employees": "company_size",
    "num_employees": "company_size",
    "annual_revenue": "annual_revenue",
    "revenue": "annual_revenue",
    "industry": "industry",
    "country": "country",
    "country_region": "country",
    "country_code": "country",
    "state": "state",
    "state_region": "state",
    "city": "city",
    "phone": "phone",
    "phone_number": "phone",
    "mobile": "phone",
    "mobile_phone": "phone",
    "website": "website",
    "lead_source": "source",
    "source": "source",
    "original_source": "source",
    "campaign": "campaign",
    "created_at": "created_at",
    "create_date": "created_at",
    "created_date": "created_at",
    "created": "created_at",
    "seniority": "seniority",
}
INTEGER_FIELDS = {"company_size"}
NUMBER_FIELDS = {"annual_revenue"}


def canonical(header: str) -> str:
    """'Job Title' → 'job_title'; CRM aliases mapped ('Number of Employees' → company_size)."""
    key = re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")
    return ALIASES.get(key, key)


def typed_value(field: str, raw: str, country: str | None = None) -> Any:
    """A CSV cell as the attribute value it means. Raises InputError naming the field."""
    value = raw.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise InputError(field, f"value is {len(value):,} characters (limit {MAX_VALUE_CHARS:,})")
    if not value:
        return None
    if field in INTEGER_FIELDS or field in NUMBER_FIELDS:
        # One value alone: its own separators decide, else "," groups thousands (a file
        # import decides per column instead: leadgate.ingest.formats).
        money = split_money(value)
        mark = (number_vote(money[0]) if money else None) or "."
        fmt = ColumnFormat(field, field, "number", decimal=mark)
        n, _ = parse_number(value, fmt, field in INTEGER_FIELDS)
        return n
    if field == "country":
        return country_code(value) or value
    if field == "phone":
        # Imported when a phone is typed, not by every command that reads a lead.
        import phonenumbers

        try:
            region = country_code(country) if country else None
            num = phonenumbers.parse(value, region)
            if phonenumbers.is_possible_number(num):
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        return value
    return value
