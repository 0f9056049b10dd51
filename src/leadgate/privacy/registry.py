"""Every place the store keeps something about a person, as one registry.

A `Source` answers two questions for one person: what it holds (`export`, for a
subject access request) and how to remove it (`erase`). `person export` and
`person erase` walk `SOURCES` in order, so a new place personal data is written
(a consent table, a form log) is one `register(Source(...))` call, usually with
`LeadTable` when the data is rows keyed by `lead_id`:

    register(LeadTable("consent", "form_consents", personal=("ip", "text"), erase="delete"))

A source whose table does not exist in this store (a plug-in not installed, a
migration not run) is skipped. `tests/privacy/test_registry.py` fails when a table
with a `lead_id` column is neither in the registry nor in `NOT_PERSONAL`.

What erasure keeps (see docs/privacy.md): the lead row, its stage history, its scores
and its events' types and times, under a pseudonymous id, so funnel counts, conversion
rates and backtests do not change; of the attributes and event properties only the
fields a stored playbook reads or that reports break down by, with the person's
identifiers cut out of any text that stays.
"""

from __future__ import annotations

from leadgate.privacy.person import ERASED, IDENTIFIERS, REPORTED, Person
from leadgate.privacy.places import (
    erase_audit,
    erase_events,
    erase_lead,
    erase_merges,
    erase_nurture,
    erase_rejections,
    erase_search,
    erase_webhooks,
    export_audit,
    export_events,
    export_lead,
    export_merges,
    export_nurture,
    export_rejections,
    export_search,
    export_webhooks,
)
from leadgate.privacy.source import LeadTable, Source, table_exists
from leadgate.store.repository import Repository

# Tables that hold nothing about a person (or only ids and times): checked by the tests.
NOT_PERSONAL = frozenset(
    {
        "sales_jobs",
        "time_repairs",
        # Browser events of visitors not identified yet: tied to no person (a visitor id
        # only); when a visitor is identified they move to `events` and are erased there.
        "visitor_events",
        # SQLite FTS5's own tables behind `lead_search` (the "search index" source).
        "lead_search_config",
        "lead_search_content",
        "lead_search_data",
        "lead_search_docsize",
        "lead_search_idx",
    }
)

SOURCES: list[Source] = [
    Source(
        "lead",
        ("leads",),
        export_lead,
        erase_lead,
        "attributes, scores, stage, owner; erased: address → pseudonym, attributes cut to "
        "the kept fields",
    ),
    Source(
        "events",
        ("events",),
        export_events,
        erase_events,
        "events with their properties; erased: properties cut to the kept fields, ids "
        "naming the person renamed",
    ),
    LeadTable(
        "history",
        "transitions",
        ("reason",),
        erase="scrub",
        describe="stage history; erased: the person's strings cut out of reasons",
    ),
    LeadTable(
        "assignments",
        "sales_assignments",
        ("explanation", "reason", "notes"),
        erase="scrub",
        describe="owners over time and why",
    ),
    LeadTable(
        "qualification",
        "sales_qualification",
        ("note",),
        erase="null",
        describe="qualification answers; erased: notes removed",
    ),
    LeadTable(
        "opportunities",
        "sales_opportunities",
        ("outcome_reason",),
        erase="scrub",
        times=("created_at", "closed_at"),
    ),
    LeadTable("accounts", "sales_accounts", (), erase="null"),
    LeadTable(
        "notices",
        "sales_notices",
        ("payload",),
        erase="scrub",
        times=("at", "delivered_at"),
    ),
    Source(
        "nurture",
        ("sales_nurture_enrolments", "sales_nurture_log"),
        export_nurture,
        erase_nurture,
        "nurture tracks; erased: active tracks ended, the person's strings cut out",
    ),
    LeadTable(
        "mail",
        "sales_mail_outbox",
        ("to_addr", "subject", "body"),
        erase="delete",
        times=("created_at", "sent_at", "next_attempt_at", "claimed_until"),
        describe="nurture mail sent or queued; erased: deleted",
    ),
    Source(
        "webhooks",
        ("webhook_outbox",),
        export_webhooks,
        erase_webhooks,
        "webhook deliveries about the person; erased: deleted",
    ),
    # Forms (leadgate.forms): what the person submitted and consented to. The answers
    # themselves are in the `form_submitted` events (cut like any event's properties).
    LeadTable(
        "form submissions",
        "form_submissions",
        ("visitor_id", "ip_hash", "email_hash"),
        erase="delete",
        describe="form submissions (hashed address and email, visitor id); erased: deleted",
    ),
    LeadTable(
        "consents",
        "form_consents",
        ("text", "ip_hash"),
        erase="delete",
        describe="consents given on forms (text shown, hashed address); erased: deleted",
    ),
    # Identity (leadgate.identity): the visitor ids and the other spellings of the address.
    LeadTable(
        "visitors",
        "visitors",
        ("id",),
        erase="delete",
        times=("identified_at",),
        describe="browser visitor ids tied to the person; erased: deleted",
    ),
    LeadTable(
        "addresses",
        "lead_identities",
        ("address",),
        erase="delete",
        describe="other spellings of the address (aliases after a merge); erased: deleted",
    ),
    Source(
        "merges",
        ("lead_merges",),
        export_merges,
        erase_merges,
        "leads merged into this one, with the merged lead as it was; erased: deleted",
    ),
    Source(
        "refused submissions",
        ("form_rejections",),
        export_rejections,
        erase_rejections,
        "form submissions refused as spam, filed under a keyed hash of the address; "
        "erased: deleted",
    ),
    # Imports (leadgate.ingest): the person's record ids in other systems.
    LeadTable(
        "external ids",
        "lead_external_ids",
        ("external_id",),
        erase="delete",
        times=("bound_at",),
        describe="the person's record ids in the CRMs imported from; erased: deleted",
    ),
    Source("privacy", ("privacy_audit",), export_audit, erase_audit, "erasures and exports"),
    # Last: after every change to the lead row, the search index is rewritten.
    Source(
        "search index",
        ("lead_search",),
        export_search,
        erase_search,
        "the lead's searchable text (leads list search); erased: rewritten from what stays",
    ),
]


def register(source: Source, before: str | None = None) -> None:
    """Add a place personal data lives (idempotent by name)."""
    global SOURCES
    SOURCES = [s for s in SOURCES if s.name != source.name]
    if before is None:
        SOURCES.append(source)
    else:
        i = next((k for k, s in enumerate(SOURCES) if s.name == before), len(SOURCES))
        SOURCES.insert(i, source)


def covered_tables() -> set[str]:
    """Tables some source (or NOT_PERSONAL) answers for."""
    return {t for s in SOURCES for t in s.tables} | set(NOT_PERSONAL)


def present(repo: Repository) -> list[Source]:
    """The sources whose tables this store has."""
    return [s for s in SOURCES if all(table_exists(repo, t) for t in s.tables)]


__all__ = [
    "ERASED",
    "IDENTIFIERS",
    "REPORTED",
    "SOURCES",
    "LeadTable",
    "Person",
    "Source",
    "covered_tables",
    "present",
    "register",
]
