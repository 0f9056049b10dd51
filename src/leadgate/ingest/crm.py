"""CRM export columns that are not lead fields: stage, owner, record id, creation time.

HubSpot, Salesforce, Pipedrive and Zoho exports carry a contact's funnel position
(`Lifecycle Stage`, `Lead Status`), its owner (`Contact owner`, `Lead Owner`), its id in
that system (`Record ID`, `Lead ID`, `Person - ID`) and when it was created there
(`Create Date`, `Created Time`). Kept as plain fields they were lost: customers and SQLs
restarted at `lead`, without owners, and a second import of the same export could not
tell a changed email from a new person. Here they are recognised (`crm_field`), the
exporting system is named from the header (`detect_system`), and a stage value is
mapped to a leadgate stage (`stage_for`).

Example: a HubSpot row `Lifecycle Stage = Sales Qualified Lead` is stage `sql`
(recorded as an `imported` move by `import:contacts.csv`); `Lead Status = Unqualified`
with `Lifecycle Stage = Lead` is `disqualified`; `Lifecycle Stage = Other` moves nothing
and is listed in the summary.
"""

from __future__ import annotations

import re

from leadgate.ingest.columns import canonical

# Header (canonical form) → the import's own field. `canonical` maps the lead fields.
CRM_COLUMNS: dict[str, str] = {
    # stage
    "lifecycle_stage": "lifecycle_stage",
    "lifecyclestage": "lifecycle_stage",
    "stage": "lifecycle_stage",
    "lead_stage": "lifecycle_stage",
    "contact_stage": "lifecycle_stage",
    "lead_status": "lead_status",
    "hs_lead_status": "lead_status",
    "status": "lead_status",
    "person_lead_status": "lead_status",
    # owner
    "owner": "owner",
    "contact_owner": "owner",
    "lead_owner": "owner",
    "hubspot_owner": "owner",
    "record_owner": "owner",
    "person_owner": "owner",
    "lead_owner_name": "owner",
    # id in the exporting system
    "record_id": "external_id",
    "hubspot_id": "external_id",
    "contact_id": "external_id",
    "lead_id": "external_id",
    "person_id": "external_id",
    "lead_id_18": "external_id",
    # creation there
    "created_time": "created_at",
    "person_created": "created_at",
    "person_person_created": "created_at",
    "lead_created": "created_at",
    "created_on": "created_at",
    "date_created": "created_at",
    "create_date_time": "created_at",
    # Pipedrive writes "Person - Email - Work" and the like
    "person_email_work": "email",
    "person_email_home": "email",
    "person_email_other": "email",
    "person_email": "email",
    "email_work": "email",
    "email_home": "email",
    "person_name": "name",
    "person_first_name": "first_name",
    "person_last_name": "last_name",
    "person_organization": "company",
    "organization_name": "company",
    "person_job_title": "job_title",
    "person_phone_work": "phone",
    "person_phone": "phone",
    "phone_work": "phone",
    "mailing_country": "country",
    "company_account": "company",
    "no_of_employees": "company_size",
}
CONSUMED = {"lifecycle_stage", "owner", "external_id"}
# What leadgate computes, never a field: a file exported from leadgate (or a CRM's own
# scores) carries these columns, and importing them as fields would shadow nothing but
# confuse every reader. They are left out and named in the summary.
COMPUTED = {
    "score",
    "fit",
    "engagement",
    "grade",
    "fit_grade",
    "engagement_grade",
    "email_domain",
    "stage_since",
    "updated_at",
}

# Lifecycle stage values (compared without case, spaces or punctuation) → stage.
# None: a value that means "nothing decided yet" here (the rules decide).
LIFECYCLE: dict[str, str | None] = {
    "subscriber": None,
    "lead": None,
    "new": None,
    "other": None,
    "marketingqualifiedlead": "mql",
    "mql": "mql",
    "salesacceptedlead": "sal",
    "sal": "sal",
    "salesqualifiedlead": "sql",
    "sql": "sql",
    "opportunity": "sqo",
    "salesqualifiedopportunity": "sqo",
    "sqo": "sqo",
    "customer": "customer",
    "evangelist": "customer",
    "nurture": "nurture",
    "disqualified": "disqualified",
}
# Lead status values (HubSpot, Salesforce, Zoho defaults) → stage.
STATUS: dict[str, str | None] = {
    "new": None,
    "open": None,
    "opennotcontacted": None,
    "notcontacted": None,
    "attemptedtocontact": "sal",
    "inprogress": "sal",
    "connected": "sal",
    "contacted": "sal",
    "working": "sal",
    "workingcontacted": "sal",
    "opendeal": "sqo",
    "prequalified": "mql",
    "qualified": "sql",
    "closedconverted": "sql",
    "converted": "sql",
    "unqualified": "disqualified",
    "notqualified": "disqualified",
    "closednotconverted": "disqualified",
    "junklead": "disqualified",
    "lostlead": "disqualified",
    "badtiming": "nurture",
    "contactinfuture": "nurture",
    "nurturing": "nurture",
    "nurture": "nurture",
}
SYSTEMS = ("hubspot", "salesforce", "pipedrive", "zoho")


def crm_field(header: str) -> str:
    """The import field a header means: a CRM column first, then a lead field."""
    key = re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")
    return CRM_COLUMNS.get(key, canonical(header))


def _key(value: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", value.casefold())


def detect_system(headers: list[str], first_id: str | None = None) -> str:
    """Which CRM wrote an export, from its header (and its first record id); 'csv' when
    none is recognised. Record ids are kept per system, so the name must be stable."""
    keys = {re.sub(r"[^0-9a-z]+", "_", h.strip().lower()).strip("_") for h in headers}
    if any(k.startswith("person_") or k.startswith("organization_") for k in keys):
        return "pipedrive"
    if first_id and first_id.strip().lower().startswith("zcrm_"):
        return "zoho"
    if keys & {"created_time", "modified_time", "lead_owner_id"} or (
        "record_id" in keys and "lead_owner" in keys
    ):
        return "zoho"
    if keys & {"lifecycle_stage", "contact_owner", "country_region", "hubspot_id"}:
        return "hubspot"
    if keys & {"lead_id", "contact_id", "lead_owner", "account_name", "lead_id_18"}:
        return "salesforce"
    return "csv"


def stage_for(lifecycle: str | None, status: str | None) -> tuple[str | None, str | None]:
    """(leadgate stage or None, the value not understood or None).

    The lifecycle stage says where the person is; a status that puts them out
    (disqualified, nurture) or further (worked by sales) wins while the lifecycle says
    no more than `lead`/`mql`.
    """
    unknown = None
    stage = None
    if lifecycle and lifecycle.strip():
        k = _key(lifecycle)
        if k in LIFECYCLE:
            stage = LIFECYCLE[k]
            if k == "other":
                unknown = lifecycle.strip()
        else:
            unknown = lifecycle.strip()
    by_status = None
    if status and status.strip():
        k = _key(status)
        by_status = STATUS.get(k)
        if k not in STATUS and unknown is None and stage is None:
            unknown = status.strip()
    if by_status and stage in (None, "mql"):
        order = ("mql", "sal", "sql", "sqo")
        if (
            by_status in ("disqualified", "nurture")
            or stage is None
            or order.index(by_status) > order.index(stage)
        ):
            stage = by_status
    return stage, unknown
