"""Shared fixtures: the bot behind real HTTP with the Slack stand-in, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from bot.clock import Clock
from harness import Harness, sqlite_url
from storage.db import READ_ONLY

PG_ENV = "GOLIVE_TEST_POSTGRES_URL"
# A Monday morning in Berlin (08:00 UTC = 09:00 CET).
DEFAULT_NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


# Writes made in a read session (Database.read): on PostgreSQL it runs in autocommit, so such a
# write would be committed at once instead of rolled back. Every test's harnesses fail on any.
WRITES_IN_READ_SESSIONS: list[str] = []
_WRITES = ("INSERT", "UPDATE", "DELETE")


@event.listens_for(Engine, "before_cursor_execute")
def _no_write_in_a_read_session(conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
    if conn.get_execution_options().get(READ_ONLY) and statement.lstrip().upper().startswith(_WRITES):
        WRITES_IN_READ_SESSIONS.append(" ".join(statement.split())[:120])


@pytest.fixture
def clock() -> Clock:
    return Clock(DEFAULT_NOW)


def _check_no_invalid_blocks(h: Harness) -> None:
    bad = h.standin.invalid_block_responses()
    assert not bad, "the stand-in refused Block Kit: " + "; ".join(
        f"{c.method}: {c.response.get('errors') or c.response.get('response_metadata') or c.response.get('error')}"
        for c in bad
    )


def _check_no_write_in_a_read_session() -> None:
    written, WRITES_IN_READ_SESSIONS[:] = list(WRITES_IN_READ_SESSIONS), []
    assert not written, "a read session wrote: " + "; ".join(written)


def _check_no_missing_scope(h: Harness) -> None:
    bad = h.standin.missing_scope_responses()
    assert not bad, "the bot called Slack outside its manifest's scopes: " + "; ".join(
        f"{c.method} needs {c.response.get('needed')}" for c in bad
    )


@pytest.fixture
def _drops_last() -> Iterator[list[Callable[[], None]]]:
    """Clean-ups that must run after every harness of the test has stopped (a PostgreSQL database
    asked for inside a test or fixture is otherwise dropped first, under a bot still sending)."""
    drops: list[Callable[[], None]] = []
    yield drops
    for drop in reversed(drops):
        drop()


@pytest.fixture
def harness_factory(tmp_path, clock, _drops_last) -> Iterator:
    started: list[Harness] = []

    def make(database_url: str | None = None, **kw) -> Harness:
        h = Harness(database_url or sqlite_url(tmp_path), clock=kw.pop("clock", clock), **kw).start()
        started.append(h)
        return h

    yield make
    for h in started:
        try:
            _check_no_invalid_blocks(h)
            _check_no_missing_scope(h)
            _check_no_write_in_a_read_session()
        finally:
            h.stop()


@pytest.fixture
def harness(harness_factory) -> Harness:
    return harness_factory()


def _pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def pg_url(_drops_last) -> str:
    """A fresh PostgreSQL database for one test, dropped once the test's harnesses have stopped."""
    base = _pg_base_url()
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"golive_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    _drops_last.append(drop)
    return url.set(database=name).render_as_string(hide_password=False)
