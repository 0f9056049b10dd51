"""Connecting, migrating, and transactions that behave the same on SQLite and PostgreSQL.

Opening never harms a store. `has_store()` looks without creating anything (a mistyped
`sqlite:///leadgate.bd` is not turned into a new empty file), and an SQLite file that
cannot be written (`chattr +i`, a read-only mount, a folder without write permission)
is opened read-only: `Database("sqlite:///ro/leadgate.db").read_only` is True, reads
work, and `write()` raises ReadOnlyStore naming the file before touching anything.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from leadgate.store import sqlfunctions, trouble

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

DEFAULT_URL = "sqlite:///leadgate.db"
# UPDATE … RETURNING (PostgreSQL; SQLite from 3.35): one round trip for the revision bump.
_SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
REVISION_KEY = "leadgate_revision"
# conn.info key: a callable that waits for work still running on the connection.
PENDING_KEY = "leadgate_pending"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A plain SQLite file URL (`sqlite:///leads.db`, `sqlite:////srv/leads.db`): its path is
# what follows the third slash, as SQLAlchemy's URL parser reads it (a property in
# tests/engine/test_read_raw.py holds the two to agree). Such a store opens without
# importing SQLAlchemy, a fifth of a read-only command's start-up (issue 17); anything
# else (a query string, %-escapes, PostgreSQL) goes through SQLAlchemy's parser.
_PLAIN_SQLITE = re.compile(r"sqlite:///([^?%@#]+)")


def plain_sqlite_path(url: str) -> Path | None:
    """The file of a plain SQLite file URL, else None (see `_PLAIN_SQLITE`)."""
    found = _PLAIN_SQLITE.fullmatch(url)
    if found is None or found.group(1) == ":memory:":
        return None
    return Path(found.group(1))


class DatabaseError(ValueError):
    """The database URL is wrong or the database cannot be used."""


class NoStore(DatabaseError):
    """The URL names no leadgate store (a missing file, or no leadgate tables in it)."""


class ReadOnlyStore(DatabaseError):
    """A write was asked of a store that cannot be written (file, directory or server)."""


class NewerStore(DatabaseError):
    """The store's schema is from a newer leadgate than this one (after a downgrade)."""


def first_line(error: object) -> str:
    """A driver's error on one line (psycopg adds hints on lines of their own)."""
    return next((x.strip() for x in str(error).splitlines() if x.strip()), type(error).__name__)


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL (None: in memory, or not SQLite)."""
    plain = plain_sqlite_path(url)
    if plain is not None:
        return plain
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def display_url(url: str) -> str:
    """The URL as a user typed it, without a password."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    return shown.replace("postgresql+psycopg://", "postgresql://", 1)


def _sqlite_unwritable(path: Path) -> bool:
    """True when a write cannot succeed: the file is read-only (for us: `chattr +i`, a
    read-only mount or permissions), or its directory is and the WAL files are missing."""
    if not os.access(path, os.W_OK):
        return True
    if os.access(path.parent, os.W_OK):
        return False
    wal, shm = (Path(f"{path}{s}") for s in ("-wal", "-shm"))
    return not (wal.exists() and shm.exists() and os.access(shm, os.W_OK))


def _sqlite_readonly_uri(path: Path) -> str:
    """How to open a file we cannot write: `mode=ro` reads through a live writer's WAL;
    with no WAL file (nobody has the store open for writing) `immutable=1`, which needs
    no -wal/-shm either, so a read leaves nothing behind in the folder."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        uri += "&immutable=1"
    return uri


def resolve_url(url: str | None) -> str:
    """--db, else LEADGATE_DB, else ./leadgate.db; `postgresql://` means psycopg 3."""
    url = url or os.environ.get("LEADGATE_DB") or DEFAULT_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if plain_sqlite_path(url) is not None:
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"--db: cannot parse database URL {url!r}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"--db: unsupported database '{parsed.get_backend_name()}' (use sqlite:/// or postgresql://)"
        )
    return url


class Database:
    """One store. `write()` gives a transaction that is the only writer on SQLite."""

    def __init__(self, url: str | None = None, echo: bool = False):
        self.url = resolve_url(url)
        # Whether the store has the revision counter (a store not migrated yet has not).
        self._has_revision = False
        self._echo = echo
        if plain_sqlite_path(self.url) is not None:
            self.dialect = "sqlite"
        else:
            from sqlalchemy.engine import make_url

            self.dialect = make_url(self.url).get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        self.path = sqlite_path(self.url) if self.is_sqlite else None
        # Decided once, at opening: a store that cannot be written is opened read-only,
        # so reads work and a write is refused in one line (see `write`).
        self.read_only = (
            self.path is not None and self.path.exists() and _sqlite_unwritable(self.path)
        )

    @functools.cached_property
    def engine(self) -> Engine:
        """SQLAlchemy's engine (its pool), made on first use: `lead show` on an SQLite
        file reads through `read_raw` and never needs it."""
        from sqlalchemy import create_engine

        kwargs: dict[str, Any] = {"echo": self._echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": trouble.BUSY_TIMEOUT_S}
            if self.read_only and self.path is not None:
                uri = _sqlite_readonly_uri(self.path)
                kwargs["creator"] = lambda: sqlite3.connect(
                    uri, uri=True, check_same_thread=False, timeout=trouble.BUSY_TIMEOUT_S
                )
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(engine, read_only=self.read_only)
        return engine

    @property
    def shown(self) -> str:
        """The store as users name it: the SQLite file, else the URL without password."""
        return str(self.path) if self.path is not None else display_url(self.url)

    def has_store(self) -> bool:
        """True when leadgate's tables are there. Changes nothing: a missing SQLite file is
        not created, and an existing one is only read."""
        if self.is_sqlite and self.path is not None:
            names, _ = self._peek()
            return {"leads", "alembic_version"} <= names
        from sqlalchemy import inspect
        from sqlalchemy.exc import OperationalError

        try:
            with self.engine.connect() as conn:
                found = inspect(conn)
                return found.has_table("leads") and found.has_table("alembic_version")
        except OperationalError as exc:
            raise DatabaseError(f"--db: cannot open {self.shown}: {first_line(exc.orig)}") from None

    def _peek(self) -> tuple[set[str], set[str]]:
        """An SQLite file's table names and migration revisions, read without writing
        (nor creating) anything and without SQLAlchemy. A missing file has neither."""
        assert self.path is not None
        if not self.path.exists():
            return set(), set()
        if self.path.is_dir():  # SQLite says only "disk I/O error"
            raise DatabaseError(f"--db: {self.path} is a folder, not a store file")
        try:
            con = sqlite3.connect(_sqlite_readonly_uri(self.path), uri=True)
            try:
                names = {
                    r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                versions = (
                    {r[0] for r in con.execute("SELECT version_num FROM alembic_version")}
                    if "alembic_version" in names
                    else set()
                )
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"--db: cannot open {self.path}: {exc}") from None
        return names, versions

    def require_store(self) -> None:
        """Raise NoStore unless leadgate's tables are there (only `init` creates them)."""
        if not self.has_store():
            raise NoStore(
                f"no store at {self.shown}; run `leadgate init --db {display_url(self.url)}`"
            )

    def require_writable(self) -> None:
        """Raise ReadOnlyStore unless writes can succeed (for what always writes: serve)."""
        if self.read_only:
            raise self._refuse_write()

    def _refuse_write(self) -> ReadOnlyStore:
        return ReadOnlyStore(
            f"the store {self.shown} is read-only (the file or its folder cannot be "
            "written): this command changes it"
        )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success (BEGIN IMMEDIATE on SQLite)."""
        if self.read_only:
            raise self._refuse_write()
        with self.engine.connect() as conn:
            conn = conn.execution_options(leadgate_write=True)
            with conn.begin():
                conn.info[REVISION_KEY] = self._bump_revision(conn)
                try:
                    yield conn
                    # Work still running on the connection (the events COPY a repository
                    # runs in the background) ends before the commit; its error fails it.
                    _settle(conn)
                except BaseException:
                    # ...and before the rollback, whose error matters less than this one.
                    with suppress(Exception):
                        _settle(conn)
                    raise
                finally:
                    conn.info.pop(REVISION_KEY, None)

    def _bump_revision(self, conn: Connection) -> int | None:
        """Count this write transaction (first, so every writer takes the same lock first).

        Every writer goes through here, in any process, so a transaction that finds the
        revision one past the one it last committed knows nobody else wrote meanwhile.
        SQLite only: there writers are serialised anyway (`BEGIN IMMEDIATE`), so the
        counter costs one row write. On PostgreSQL the row lock would serialise every
        write transaction of every process, and several writers are the point of running
        there, so PostgreSQL stores keep no lead cache (None: read the leads each time).
        """
        if not self.is_sqlite:
            return None
        if not self._has_revision:
            from sqlalchemy import inspect

            if not inspect(conn).has_table("store_revision"):
                return None
            self._has_revision = True
        raw = conn.connection.driver_connection
        cur = raw.cursor()  # type: ignore[union-attr]
        if _SQLITE_RETURNING:
            cur.execute("UPDATE store_revision SET rev = rev + 1 WHERE id = 1 RETURNING rev")
        else:
            cur.execute("UPDATE store_revision SET rev = rev + 1 WHERE id = 1")
            cur.execute("SELECT rev FROM store_revision WHERE id = 1")
        row = cur.fetchone()
        cur.close()
        return int(row[0]) if row else None

    @staticmethod
    def revision(conn: Connection) -> int | None:
        """The store revision this write transaction made (None: the store has no counter)."""
        rev = conn.info.get(REVISION_KEY)
        return rev if isinstance(rev, int) else None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read_raw(self) -> Iterator[Any]:
        """A read transaction on the driver's own connection (`?` placeholders through
        `param`), for readers that need nothing of SQLAlchemy's (`lead show`).

        An SQLite file whose engine is not made yet gets a connection of its own, set up
        as the pool's are, and closed after: a one-shot command (`leadgate lead show`)
        then never imports SQLAlchemy. Otherwise (a server, PostgreSQL, memory) it is
        one of the pool's connections.
        """
        if not self.is_sqlite or self.path is None or "engine" in self.__dict__:
            with self.read() as conn:
                yield conn.connection.driver_connection
            return
        if self.read_only:
            con = sqlite3.connect(
                _sqlite_readonly_uri(self.path),
                uri=True,
                check_same_thread=False,
                timeout=trouble.BUSY_TIMEOUT_S,
            )
        else:
            con = sqlite3.connect(
                self.path, check_same_thread=False, timeout=trouble.BUSY_TIMEOUT_S
            )
        try:
            _sqlite_configure(con, self.read_only)
            con.execute("BEGIN")
            try:
                yield con
            finally:
                con.execute("ROLLBACK")
        finally:
            con.close()

    def param(self, sql: str) -> str:
        """Write raw SQL with `?` placeholders; this gives the driver's style."""
        return sql if self.is_sqlite else sql.replace("?", "%s")

    # -- migrations -----------------------------------------------------------

    def _alembic(self, conn: Connection) -> Any:
        # Alembic (and Mako, Pygments with it) is imported when a store is migrated, not to
        # open one: a third of a command's start-up otherwise.
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["connection"] = conn
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent).

        A store whose schema names a migration this version does not have was written by
        a newer leadgate (the package was downgraded, or two versions share the store):
        NewerStore, with nothing changed, instead of Alembic's "Can't locate revision"
        trace. Its schema may not be read by this version, so neither reads nor writes go on.
        """
        from alembic import command

        with self.engine.begin() as conn:
            self._refuse_newer(conn)
            if self.read_only:
                raise self._refuse_write()
            command.upgrade(self._alembic(conn), "heads")

    def _refuse_newer(self, conn: Connection) -> None:
        from sqlalchemy import inspect, text

        if not inspect(conn).has_table("alembic_version"):
            return
        current = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        unknown = sorted(current - known_revisions())
        if unknown:
            newest = ", ".join(sorted(migration_heads()))
            raise NewerStore(
                f"the store {self.shown} was written by a newer leadgate (its schema is at "
                f"{', '.join(unknown)}; this version knows up to {newest}): run the leadgate "
                "version that wrote it, or a newer one. Nothing was changed."
            )

    def schema_current(self) -> bool:
        """True when every migration has run."""
        if self.path is not None:
            _, current = self._peek()
            return current == migration_heads()
        from sqlalchemy import inspect, text

        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return False
            rows = conn.execute(text("SELECT version_num FROM alembic_version"))
            current = {row[0] for row in rows}
        return current == migration_heads()

    def dispose(self) -> None:
        """Close every pooled connection."""
        if "engine" in self.__dict__:
            self.engine.dispose()


def migration_heads() -> frozenset[str]:
    """The newest migration(s): revisions no other migration names as its down_revision."""
    revisions, parents = _migrations()
    return revisions - parents


def known_revisions() -> frozenset[str]:
    """Every migration this version has."""
    return _migrations()[0]


@functools.cache
def _migrations() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision, every revision named as a down_revision), read from the migration
    files' `revision = "..."` / `down_revision = ...` lines instead of asking Alembic's
    script directory, which is slow to import (tests/store checks the two agree)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = re.search(r"^revision(?:\s*:[^=]+)?\s*=\s*[\"']([^\"']+)[\"']", source, re.M)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = re.search(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(.+)$", source, re.M)
        if down is not None:
            parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    return frozenset(revisions), frozenset(parents)


def _settle(conn: Connection) -> None:
    pending = conn.info.pop(PENDING_KEY, None)
    if pending is not None:
        pending()


def _null(value: None) -> None:
    return None


def _sqlite_adapters() -> None:
    """None and bools bound without the sqlite3 module's failed adapter lookup (set once,
    when this module is imported).

    sqlite3 binds an int, float or str at once, but a None (NULL: a lead's timers, its
    stage reason) or a bool first looks for an adapter, and the lookup's miss raises an
    AttributeError with a formatted message, cleared at once: ~2,000 instructions a
    parameter, ~1% of ingest. Adapters for them store what sqlite3 stored without one
    (NULL; the integers 0/1). Process-wide, as sqlite3's adapters are.
    """
    sqlite3.register_adapter(type(None), _null)
    sqlite3.register_adapter(bool, int)


_sqlite_adapters()


def _sqlite_configure(dbapi_conn: Any, read_only: bool) -> None:
    """Every SQLite connection of ours: the pool's, and `read_raw`'s own."""
    # Let SQLAlchemy (or `read_raw`), not the sqlite3 module, decide when transactions begin.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    if not read_only:  # the mode is stored in the file: a reader does not set it
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(trouble.BUSY_TIMEOUT_S * 1000)}")
    # A bigger page cache than the 2 MB default: a batch touches lead rows all over
    # the table, and re-reading those pages from the OS cost ~1 us per row.
    cur.execute("PRAGMA cache_size=-65536")
    # Checkpoint every ~40 MB of WAL instead of ~4 MB: a batch dirties pages all over
    # the leads table, and copying them back after every commit cost ~15% of ingest.
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.execute("PRAGMA journal_size_limit=67108864")
    cur.close()
    # The functions segment filters need on SQLite (leadgate.store.sqlfunctions).
    sqlfunctions.register(dbapi_conn)


def _sqlite_setup(engine: Engine, read_only: bool = False) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        _sqlite_configure(dbapi_conn, read_only)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # One writer at a time, decided at BEGIN: no deadlock-prone lock upgrades.
        if conn.get_execution_options().get("leadgate_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def open_database(url: str | None = None, migrate: bool = True) -> Database:
    """Open (and by default migrate) the store at `url`."""
    db = Database(url)
    if migrate:
        db.migrate()
    return db
