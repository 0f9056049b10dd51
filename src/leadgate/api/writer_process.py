"""The SQLite writer in a process of its own: `leadgate serve`'s event batches are stored
and scored there, while the server's process parses and answers HTTP.

Why: SQLite takes one writer, and in one Python process the writer shares the GIL with
everything else the server does (reading bodies, validating events, building answers):
at 8 requests in flight the writer waited for that work, so one core did both jobs and
the second did little (docs/benchmarks-api.md). Here the writer has a core and a GIL of
its own; the server's process keeps the group commit (batches that queue while a
transaction runs are sent together, answered each with its own items) and sends one
group at a time over a private socket pair.

The writer keeps the engine's lead cache between groups as before. Every other write of
the server (people's moves, the scheduler's tick, forms, webhooks' bookkeeping) stays in
the server's process: each write bumps the store revision, so whichever engine writes
next sees that someone else wrote and reads what it needs again (engine/txn.py).

    writer = WriterProcess(db_url)
    writer.start()                      # blocks until the writer has opened the store
    outcomes, grouped, outbox = writer.write([(events, now), ...])
    writer.stop()

If the writer dies, the requests of the group under way are answered 503 (their batch
may or may not have been stored: events carry ids, so sending again counts each once)
and the next group starts a new writer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from leadgate.engine.changes import ItemResult
from leadgate.ingest.validate import EventIn
from leadgate.store.trouble import StoreTrouble, Trouble

log = logging.getLogger("leadgate.api")

# How long `start` waits for a new writer to open the store (imports and migrations
# checks take ~1 s; a store another process holds may take up to its busy timeout).
START_TIMEOUT_S = 60.0
# How long `stop` lets the writer finish the group under way before killing it.
STOP_TIMEOUT_S = 30.0

# One request's batch as it crosses the pipe: the events as plain tuples (a tuple of a
# str, a float and a dict pickles several times faster than a slotted dataclass).
Batch = tuple[list[tuple[Any, ...]], float]
Outcome = list[ItemResult] | BaseException


class WriterGone(StoreTrouble):
    """The writer process stopped (crashed, was killed) with a group under way."""

    def __init__(self, why: str):
        super().__init__(
            Trouble(
                503,
                "writer-restarted",
                "the server's writer stopped while storing this batch "
                f"({why}): it may or may not have been stored; send it again (events "
                "with ids are counted once)",
                "1",
            )
        )


def _pack(events: Sequence[EventIn]) -> list[tuple[Any, ...]]:
    return [(e.id, e.email, e.type, e.at, e.properties, e.properties_json) for e in events]


def _unpack(rows: list[tuple[Any, ...]]) -> list[EventIn]:
    return [EventIn(i, m, t, a, p, j) for i, m, t, a, p, j in rows]


def _portable(exc: BaseException) -> BaseException:
    """`exc` as it can cross the pipe: store trouble keeps its meaning (503, 507...),
    anything else its type's name and message if it does not pickle."""
    from leadgate.store.trouble import trouble

    found = trouble(exc)
    if found is not None:
        return StoreTrouble(found)
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


class WriterProcess:
    """The parent's handle on the writer process (one group in flight at a time)."""

    def __init__(self, db_url: str, *, server_gc: bool = True):
        self.db_url = db_url
        self.server_gc = server_gc
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Start the writer (or a new one) and wait until it has opened the store."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        self._close()
        # A new interpreter running `main` below, not a fork: the
        # server's process has threads and open store connections a forked child must not
        # inherit; and not multiprocessing's spawn, which runs the parent's main script
        # again in the child. The two ends of a private socket pair carry the messages.
        mine, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno())]
                + (["--server-gc"] if self.server_gc else []),
                pass_fds=[theirs.fileno()],
                env={**os.environ, "LEADGATE_WRITER_DB": self.db_url},
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._proc, self._conn = proc, Connection(mine.detach())
        self.starts += 1
        conn = self._conn
        if not conn.poll(START_TIMEOUT_S):
            self._close()
            raise RuntimeError(f"the writer process did not start in {START_TIMEOUT_S:g} s")
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError) as exc:
            self._close()
            raise RuntimeError("the writer process stopped while starting") from exc
        if kind != "ready":
            self._close()
            raise detail if isinstance(detail, BaseException) else RuntimeError(str(detail))

    def write(
        self, batches: Sequence[tuple[Sequence[EventIn], float]]
    ) -> tuple[list[Outcome], bool, bool]:
        """Store the batches (as `write_batches` does, in the writer): each batch's items
        or the exception that refused it, whether they shared one transaction, and
        whether webhook outbox rows were written. Blocks; raises `WriterGone`."""
        payload = [(_pack(events), now) for events, now in batches]
        with self._lock:
            if self._conn is None or self._proc is None or self._proc.poll() is not None:
                self._start()
            conn = self._conn
            assert conn is not None
            try:
                conn.send(payload)
                outcomes, grouped, outbox = conn.recv()
            except (EOFError, OSError) as exc:
                code = None if self._proc is None else self._proc.poll()
                self._close()
                why = "it exited" if code is None else f"exit status {code}"
                log.error("the writer process stopped mid-write (%s); a new one starts", why)
                raise WriterGone(why) from exc
        out: list[Outcome] = []
        for o in outcomes:
            if isinstance(o, BaseException):
                out.append(o)
            else:
                out.append([ItemResult(*r) for r in o])
        return out, grouped, outbox

    def stop(self) -> None:
        """Let the writer finish the group under way, then end it."""
        with self._lock:
            conn, proc = self._conn, self._proc
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(STOP_TIMEOUT_S)
            self._close()

    def _close(self) -> None:
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.poll() is None:
                # It ignores SIGTERM (see serve_writes): only a kill stops a stuck writer.
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


def serve_writes(conn: Connection, db_url: str, server_gc: bool) -> None:
    """The writer process: open the store, then store each group it is sent until told
    to stop (None) or the server's end closes (the server exited, however it did)."""
    # Ctrl-C and a SIGTERM to the server's process group are the server's to handle: it
    # finishes its requests (some waiting on this process), then sends None.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Named in `ps` and `top` (Linux; elsewhere it keeps the interpreter's name).
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as fh:
        fh.write("leadgate-writer")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        from leadgate.api.gc_policy import FreezeAfterWrites, tune_gc
        from leadgate.api.group_commit import write_batches
        from leadgate.api.plugins import prepare_engine
        from leadgate.engine.engine import Engine
        from leadgate.store.database import Database

        engine = Engine(Database(db_url))
        outbox = [False]

        def mark() -> None:
            outbox[0] = True

        prepare_engine(engine, mark)
        # Ready to write before saying so, not at the first request's expense (~0.6 s):
        # the active playbook compiled, the store's SQLAlchemy engine (dialect imports)
        # made. A store without a playbook yet is the first batch's to report.
        with contextlib.suppress(Exception):
            engine.processor()
        with engine.db.read() as first:
            first.exec_driver_sql("SELECT 1")
        policy = None
        if server_gc:
            tune_gc()
            policy = FreezeAfterWrites()
    except BaseException as exc:
        conn.send(("failed", _portable(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if msg is None:
            return
        batches = [(_unpack(rows), now) for rows, now in msg]
        outbox[0] = False
        try:
            outcomes, grouped = write_batches(engine, batches)
        finally:
            if policy is not None:
                policy.after_write()
        sent: list[Any] = []
        for o in outcomes:
            if isinstance(o, BaseException):
                if not isinstance(o, StoreTrouble):
                    log.error("unhandled error in the writer", exc_info=o)
                sent.append(_portable(o))
            else:
                sent.append([(r.index, r.id, r.status, r.error, r.lead_id) for r in o])
        try:
            conn.send((sent, grouped, outbox[0]))
        except (EOFError, OSError):
            return


def main(argv: list[str]) -> None:
    """The writer's entry point (`_CHILD`): `FD [--server-gc]`, the store's URL in
    $LEADGATE_WRITER_DB, FD its end of the socket pair."""
    serve_writes(Connection(int(argv[0])), os.environ["LEADGATE_WRITER_DB"], "--server-gc" in argv)


# Run by `python -c` (`-m` would import this module twice: the package imports it too).
_CHILD = "import sys; from leadgate.api.writer_process import main; main(sys.argv[1:])"
