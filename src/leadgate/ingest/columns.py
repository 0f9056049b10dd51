"""CRM export headers → leadgate attribute names, and typed attribute values."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

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
        cleaned = value.replace(",", "").replace(" ", "")
        # "51-200" style size bands: take the middle, as CRMs do for segmenting.
        band = re.fullmatch(r"(\d+)\s*-\s*(\d+)", cleaned)
        if band:
            n = (int(band.group(1)) + int(band.group(2))) / 2
        else:
            cleaned = cleaned.rstrip("+")
            try:
                n = float(cleaned)
            except ValueError:
                raise InputError(field, f"'{value}' is not a number") from None
        if n < 0:
            raise InputError(field, f"'{value}' is negative")
        return int(n) if field in INTEGER_FIELDS else n
    if field == "country" and len(value) == 2:
        return value.upper()
    if field == "phone":
        try:
            num = phonenumbers.parse(value, country if country and len(country) == 2 else None)
            if phonenumbers.is_possible_number(num):
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        return value
    return value
