"""Every table that can hold something about a person is in the privacy registry (or
listed as holding nothing personal): a new table keyed by lead must say how it is
exported and erased."""

from __future__ import annotations

from sqlalchemy import inspect

from leadgate.privacy import registry
from leadgate.store.database import Database

# Tables about the product itself, not about a lead or a person.
NOT_ABOUT_LEADS = {
    "alembic_version",
    "playbooks",
    "store_revision",
    "api_keys",
    "webhook_subscriptions",
    "sales_teams",
    "sales_reps",
    "sales_pool_state",
    "predictive_models",  # checked by erasure against the person's strings (erase.py)
    "users",
    "user_sessions",
    "login_failures",
    "app_secrets",
    "privacy_suppressions",  # keyed hashes only
}


def test_every_table_is_in_the_registry_or_known_not_personal(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.read() as conn:
        tables = set(inspect(conn).get_table_names())
        keyed = {
            t for t in tables if "lead_id" in {c["name"] for c in inspect(conn).get_columns(t)}
        }
    covered = registry.covered_tables()
    missing = sorted(keyed - covered)
    assert not missing, f"tables keyed by lead_id with no privacy source: {missing}"
    unknown = sorted(tables - covered - NOT_ABOUT_LEADS)
    assert not unknown, f"tables neither in the privacy registry nor known: {unknown}"


def test_a_new_source_is_one_registration(sqlite_url: str) -> None:
    src = registry.LeadTable("consent", "form_consents", ("ip",), erase="delete")
    before = list(registry.SOURCES)
    try:
        registry.register(src)
        assert "form_consents" in registry.covered_tables()
        registry.register(src)  # idempotent by name
        assert [s.name for s in registry.SOURCES].count("consent") == 1
    finally:
        registry.SOURCES[:] = before
