"""Persistence adapter: SQLAlchemy 2 Core over SQLite (default) or PostgreSQL."""

from leadgate.store.database import Database, open_database

__all__ = ["Database", "open_database"]
