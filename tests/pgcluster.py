"""A throwaway PostgreSQL cluster for one test (or bench) run.

    cluster = PgCluster()
    cluster.start()                      # raises if the server does not come up
    url = cluster.create_database("lg_x")  # SQLAlchemy URL of a fresh database
    ...
    cluster.stop()                       # pg_ctl stop -m immediate, directory removed

or `with PgCluster() as cluster: ...`. Run `python tests/pgcluster.py` for a self-check.

Why it is built this way:

* Its own data directory and its own unix-socket directory, no TCP listener
  (`listen_addresses=''`). A second cluster started on a port another one already
  holds silently talks to the first (one run's tables were dropped by another run's
  client on this machine): a private socket directory makes that impossible, and
  `start()` checks that the server answering is the one whose data directory it
  created before anything else happens.
* PostgreSQL refuses to run as root. As root, initdb/pg_ctl run as the `postgres`
  OS user (`runuser`, else `su`) in a directory chowned to it; the directory's group
  is ours with search permission so we can reach the socket. Not root: as ourselves.
* fsync, synchronous_commit and full_page_writes are off: a crash only loses a
  throwaway cluster, and tests run several times faster.
* Authentication is `trust` on the socket only, for the `postgres` superuser.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

SERVER_USER = "postgres"
DEFAULT_DB = "leadgate_test"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def find_bindir() -> Path | None:
    """The PostgreSQL server binaries: `pg_config --bindir`, else the newest Debian layout."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass

    # Debian's pg_config belongs to libpq-dev and may name a directory without initdb.
    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version)[::-1]
    ]
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    return None


def _run_as_prefix() -> list[str]:
    """How to run a command as the server's OS user: nothing unless we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--"]
    su = shutil.which("su")
    if su:
        # su takes a shell command line: _run quotes every argument for it.
        return [su, SERVER_USER, "-s", "/bin/sh", "-c"]
    raise RuntimeError("running as root but neither runuser nor su is available")


def pg_available() -> tuple[bool, str]:
    """Whether a private cluster can be started here, and why (not)."""
    bindir = find_bindir()
    if bindir is None:
        return False, (
            "no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config or "
            "/usr/lib/postgresql/*/bin; install the `postgresql` package"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return False, f"running as root and there is no '{SERVER_USER}' OS user to run it as"
        if not (shutil.which("runuser") or shutil.which("su")):
            return False, "running as root and neither runuser nor su is available"
    return True, f"PostgreSQL binaries in {bindir}"


def _free_port() -> int:
    """A port number nobody listens on (it only names the socket file, but be tidy)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A private PostgreSQL cluster in a temporary directory, started and stopped by us."""

    def __init__(self, bindir: Path | str | None = None, start_timeout: float = 60.0):
        found = Path(bindir) if bindir else find_bindir()
        if found is None:
            raise RuntimeError(pg_available()[1])
        self.bindir = found
        self.start_timeout = start_timeout
        self.base: Path | None = None
        self.port = 0
        self._running = False

    # --- paths and URLs ---------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        """The private directory holding the server's unix socket."""
        return self._base() / "sock"

    @property
    def logfile(self) -> Path:
        """The server log (read it when something fails)."""
        return self._base() / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database `leadgate_test`."""
        return self.url_for(DEFAULT_DB)

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of a database on this cluster."""
        return (
            f"postgresql+psycopg://{SERVER_USER}@/{dbname}?host={self.socket_dir}&port={self.port}"
        )

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string for psycopg.connect()."""
        return f"host={self.socket_dir} port={self.port} user={SERVER_USER} dbname={dbname}"

    def _base(self) -> Path:
        if self.base is None:
            raise RuntimeError("the cluster has not been started")
        return self.base

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> PgCluster:
        """initdb + pg_ctl start in a fresh directory; raises RuntimeError if it does not come up."""
        if self._running:
            return self
        prefix = _run_as_prefix()
        self.base = Path(tempfile.mkdtemp(prefix="leadgate-pg-"))
        self.port = _free_port()
        try:
            self._prepare_dirs(as_server_user=bool(prefix))
            self._run(
                prefix,
                [
                    str(self.bindir / "initdb"),
                    "-D", str(self.datadir),
                    "-U", SERVER_USER,
                    "-A", "trust",
                    "-E", "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                "initdb",
            )  # fmt: skip
            self._configure()
            self._run(
                prefix,
                [
                    str(self.bindir / "pg_ctl"),
                    "-D", str(self.datadir),
                    "-l", str(self.logfile),
                    "-w", "-t", str(int(self.start_timeout)),
                    "start",
                ],
                "pg_ctl start",
            )  # fmt: skip
            self._running = True
            atexit.register(self.stop)
            self._check_identity()
            self._create(DEFAULT_DB, None)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (nothing here is worth a clean shutdown) and remove it all."""
        base = self.base
        if base is None:
            return
        if self._running or (base / "data" / "postmaster.pid").exists():
            pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(base / "data")]
            argv = self._wrap(_run_as_prefix(), [*pg_ctl, "-m", "immediate", "-w", "stop"])
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(argv, capture_output=True, timeout=60, check=False)
        self._running = False
        atexit.unregister(self.stop)
        shutil.rmtree(base, ignore_errors=True)
        self.base = None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- databases ------------------------------------------------------------------------

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (optionally copied from `template`); its SQLAlchemy URL."""
        if not self._running:
            raise RuntimeError("the cluster is not running")
        self._create(name, template)
        return self.url_for(name)

    def _create(self, name: str, template: str | None) -> None:
        import psycopg
        from psycopg import sql

        for n in (name, template):
            if n is not None and not _NAME.match(n):
                raise ValueError(f"bad database name {n!r}")
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(stmt)

    # --- internals ------------------------------------------------------------------------

    def _prepare_dirs(self, as_server_user: bool) -> None:
        base = self._base()
        self.socket_dir.mkdir()
        if as_server_user:
            server = pwd.getpwnam(SERVER_USER)
            # The server owns everything; our group may only traverse to the socket.
            for d in (base, self.socket_dir):
                os.chown(d, server.pw_uid, os.getgid())
                d.chmod(0o710)
        else:
            base.chmod(0o700)
            self.socket_dir.chmod(0o700)

    def _configure(self) -> None:
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "port": str(self.port),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "log_min_messages": "warning",
        }
        conf = self.datadir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# leadgate throwaway test cluster\n")
            for key, value in settings.items():
                fh.write(f"{key} = {value}\n")

    def _check_identity(self) -> None:
        """Make sure the server on our socket is the one we created, before any use."""
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10) as conn:
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        found = Path(str(row[0] if row else "")).resolve()
        if found != self.datadir.resolve():
            raise RuntimeError(
                f"the server on {self.socket_dir} port {self.port} serves {found}, "
                f"not our {self.datadir}: refusing to use it"
            )

    @staticmethod
    def _wrap(prefix: list[str], argv: list[str]) -> list[str]:
        if prefix and prefix[-1] == "-c":  # su: one shell command line
            import shlex

            return [*prefix, shlex.join(argv)]
        return [*prefix, *argv]

    def _run(self, prefix: list[str], argv: list[str], what: str) -> None:
        try:
            proc = subprocess.run(
                self._wrap(prefix, argv),
                capture_output=True,
                text=True,
                timeout=self.start_timeout + 30,
                check=False,
                cwd=self._base(),  # the server user must be able to stat its working dir
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"{what} timed out after {exc.timeout:.0f} s{self._log_tail()}"
            ) from None
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()
            raise RuntimeError(
                f"{what} failed (exit {proc.returncode}): {out[-2000:]}{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            text = self.logfile.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"\n--- server log ---\n{text[-2000:]}" if text else ""


def _self_check() -> int:
    """Start a cluster, connect, print the version, create a database, stop."""
    import psycopg

    ok, why = pg_available()
    print(f"pg_available: {ok} ({why})")
    if not ok:
        return 1
    t0 = time.perf_counter()
    with PgCluster() as cluster:
        t1 = time.perf_counter()
        print(f"started in {t1 - t0:.2f} s; url {cluster.url}")
        with psycopg.connect(cluster.conninfo(DEFAULT_DB)) as conn:
            row = conn.execute("select version()").fetchone()
            print(row[0] if row else "?")
        url = cluster.create_database("lg_selfcheck", template=DEFAULT_DB)
        print(f"created {url}")
        base = cluster.base
    gone = base is not None and not base.exists()
    print(f"stopped in {time.perf_counter() - t1:.2f} s; directory removed: {gone}")
    return 0 if gone else 1


if __name__ == "__main__":
    sys.exit(_self_check())
