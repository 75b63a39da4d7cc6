"""Engine and sessions. SQLite gets WAL, foreign keys and a busy timeout on every connection."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, CursorResult, Engine, Result, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 8
SQLITE_POOL_OVERFLOW = 56
READ_ONLY = "golive_read_only"
_STATEMENT_SNAPSHOTS = "golive_statement_snapshots"  # `Database.rows` on SQLite: no BEGIN


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched. `Session.execute` is annotated to return a
    `Result`; for those statements it is a `CursorResult`, which has the count."""
    return cast("CursorResult[Any]", result).rowcount


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def is_in_memory(url: str) -> bool:
    """A SQLite database that lives in one connection's memory: no other process can open it."""
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and u.database in (None, "", ":memory:")


def inbox_url(url: str) -> str:
    """On SQLite, the URL of the inbox's own file beside the database's (`Database.inbox`)."""
    u = make_url(normalise_url(url))
    database = u.database or ""
    if not database or database == ":memory:":
        return u.render_as_string(hide_password=False)
    path = Path(database)
    name = f"{path.stem}.inbox{path.suffix}" if path.suffix else f"{path.name}.inbox"
    return u.set(database=str(path.with_name(name))).render_as_string(hide_password=False)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Pooled connections with the PRAGMAs set once per connection: a new connection and
            # four PRAGMAs per session were 10-15% of an ack's CPU (py-spy). Every checkout ends
            # its transaction on return (reset_on_return), so none leaks between threads.
            poolclass=QueuePool,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_OVERFLOW,
            pool_timeout=30,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10)
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection is checked (SELECT 1) before use only when it has been idle this
# long: a server restart or a firewall's idle timeout leaves stale connections in the pool, and
# those are found then. SQLAlchemy's pool_pre_ping checked every checkout: a round trip and 0.13 ms
# of client CPU per session, several sessions per request, under a burst of clicks (measured).
IDLE_PING_SECONDS = 10.0
_IDLE_SINCE = "golive_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # Gone (restart, idle timeout): the pool drops its connections from before now and
            # hands out a new one; the request never sees the stale one.
            raise InvalidatePoolError() from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions start, so that
        # BEGIN IMMEDIATE below takes the write lock up front (no deadlock on upgrade).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A transaction that may write takes the write lock at BEGIN, so two writers queue on
        # busy_timeout instead of failing when a read lock cannot be upgraded. Read-only
        # sessions (Database.read) begin deferred: in WAL mode they never wait for writers.
        options = conn.get_execution_options()
        if options.get(_STATEMENT_SNAPSHOTS):
            return  # `Database.rows`: each statement reads in its own implicit transaction
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class WriterLock:
    """SQLite's writers queue here instead of in its busy handler, whose back-off sleeps make
    waits much longer than the transactions they wait for: threads of one process on a lock,
    processes sharing the file (several server workers, a `golive sweep` from cron) on an
    advisory lock file beside the database (`flock`, woken by the kernel when it is free).
    Re-entrant within a thread, like the RLock it replaces."""

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.RLock()
        self._depth = threading.local()
        self._path = f"{database}.writer-lock" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> WriterLock:
        self._thread_lock.acquire()
        depth = getattr(self._depth, "n", 0)
        if depth == 0 and self._path is not None:
            if self._fd is None or self._pid != os.getpid():
                # A forked child opens its own: flock belongs to the open file, which a fork shares.
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._depth.n = depth + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth.n -= 1
        if self._depth.n == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


class Database:
    """Owns the engine; hands out one session per request or per sweep."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self._is_sqlite = is_sqlite(self.url)
        self.engine = make_engine(self.url, echo=echo)
        read_options: dict[str, object] = {READ_ONLY: True}
        if not self.is_sqlite:
            # PostgreSQL reads in autocommit: no BEGIN before the first statement and no ROLLBACK
            # at the end, two round trips of a status request's four (about 200 us of client CPU
            # each, measured). Nothing is lost: under READ COMMITTED every statement of a
            # transaction took its own snapshot anyway, and a read session takes no locks. A read
            # session must not write (it would commit at once); the tests fail any that does.
            read_options["isolation_level"] = "AUTOCOMMIT"
        self._read_engine = self.engine.execution_options(**read_options)
        # On SQLite, `rows` sends no BEGIN (nor, then, a ROLLBACK): like PostgreSQL's reads,
        # each statement reads its own snapshot.
        self._rows_engine = (
            self._read_engine.execution_options(**{_STATEMENT_SNAPSHOTS: True})
            if self.is_sqlite
            else self._read_engine
        )
        self._writers: AbstractContextManager[object] = (
            WriterLock(make_url(self.url).database) if self.is_sqlite else nullcontext()
        )
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._inbox: Database | None = None
        self._inbox_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self._is_sqlite  # parsed once: the inbox process asks on every poll

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite, writers queue on a WriterLock (threads and processes alike) rather than in
        SQLite's busy handler. Keep write sessions short: no Slack call inside one."""
        with self._writers, Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (committed on success), for statements that
        need no ORM: the inbox's, written on every ack, where a session's set-up and flush cost
        about as much as the statement (`storage.inbox.record`). Writers queue as `session`'s do."""
        with self._writers, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A Core connection for one statement that writes and commits by itself: on PostgreSQL in
        autocommit (one round trip, not BEGIN, the statement and COMMIT: the inbox's insert on
        every ack), on SQLite as `connection` (the writer lock and BEGIN IMMEDIATE)."""
        if self.is_sqlite:
            with self.connection() as conn:
                yield conn
            return
        with self._autocommit_engine.connect() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only: it never takes SQLite's write lock. Closing it ends the
        transaction; the objects read stay usable, detached."""
        with Session(self._read_engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def rows(self) -> Iterator[Connection]:
        """A connection for reading rows with Core statements only (plain columns, no ORM
        objects), for the requests that must be answered fast: no ORM session around it, whose
        set-up and result processing cost about as much as the statement (one select of four
        columns: 431 us through a session against 246 us here on SQLite, 723 against 485 us on
        PostgreSQL; ORM objects, 627 and 945 us). Read-only like `read`; each statement reads
        its own snapshot, on SQLite as on PostgreSQL (no BEGIN and ROLLBACK around one statement:
        two more trips through the driver, each letting another thread take the interpreter)."""
        with self._rows_engine.connect() as conn:
            yield conn

    @property
    def inbox(self) -> Database:
        """The database that holds the inbox (`storage.inbox`): this one on PostgreSQL; on SQLite a
        file of its own beside this one (`golive.sqlite3` → `golive.inbox.sqlite3`), created on
        first use. SQLite has one writer per file: in the same file, recording an acked request
        would wait behind every write of the engagements' data (a burst of ticks' work, a sweep,
        a long transaction), and with it the ack. (The migrations create the table in this file
        too, where it stays empty on SQLite.)"""
        if not self.is_sqlite:
            return self
        with self._inbox_lock:
            if self._inbox is None:
                self._inbox = Database(inbox_url(self.url))
                from storage.models import InboxRequest, table_of

                table = table_of(InboxRequest)
                with self._inbox.engine.begin() as conn:  # several processes may start at once
                    conn.execute(CreateTable(table, if_not_exists=True))
                    for index in table.indexes:
                        conn.execute(CreateIndex(index, if_not_exists=True))
            return self._inbox

    def ping(self) -> bool:
        try:
            with self._read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self._inbox is not None:
            self._inbox.dispose()
