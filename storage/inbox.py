"""The inbox: Slack requests acked with work still to do, in the database before their 200.

A listener whose work runs after its ack (`handlers.listening.after_ack`) records the request
here first — its body and headers as received, its kind, a key from Slack's ids — and commits;
only then does Slack get its answer. The process that recorded it holds a lease on it and runs
the work at once; when the work is done the row is marked done. A row whose lease runs out (its
process was killed, its host died) is taken again by any bot process on the same database
(`take`: `FOR UPDATE SKIP LOCKED` on PostgreSQL, under SQLite's single writer lock there), which
replays the request through the Bolt app (`golive.inbox`).

Every function takes the bot's `Database` and works in `Database.inbox`: the same database on
PostgreSQL, a file of its own beside it on SQLite (one writer per file: an ack must not wait for
the engagements' writers).

Leases and ages are wall-clock UTC (never the bot's settable clock): they measure real waiting.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database, rowcount
from storage.models import InboxRequest, table_of

log = logging.getLogger("golive.inbox")

LEASE = timedelta(seconds=30)
"""How long a process holds a row it took before another may take it. A request's work takes
well under a second; a lease that runs out while the work still runs only means it may run
twice, which every after-ack work allows (it is idempotent)."""
MAX_ATTEMPTS = 5
"""Takes of one row before it is given up (logged): a request that kills its process every time
must not kill every process after it."""
KEEP_DONE = timedelta(days=1)
"""Done rows are kept this long: a retried delivery of a request done meanwhile is still known."""

_T: Table = table_of(InboxRequest)


@dataclass(frozen=True)
class Taken:
    """A row a worker took, to replay."""

    id: int
    kind: str
    body: str
    headers: dict[str, Any]
    attempts: int
    received_at: datetime


def record(
    db: Database,
    *,
    key: str,
    kind: str,
    body: str,
    headers: dict[str, Any],
    now: datetime,
    lease: timedelta = LEASE,
    taken: bool = True,
) -> int | None:
    """Record an acked request; committed on return. `taken`: leased to the caller, who runs it
    now; else left for the inbox process (`take(fresh=True)`) and, should it not take it within
    the lease (it died; or a burst left it behind by that long), for any process. None when a request with this key is recorded already (Slack
    delivered it again)."""
    values = {
        "dedupe_key": key[:128],
        "kind": kind[:32],
        "body": body,
        "headers": json.dumps(headers),
        "received_at": now,
        "lease_until": now + lease,
        "attempts": 1 if taken else 0,
    }
    db = db.inbox
    with db.statement() as conn:
        row_id = conn.execute(_INSERT_SQLITE if db.is_sqlite else _INSERT_POSTGRESQL, values).scalar()
    return int(row_id) if row_id is not None else None


def _insert(dialect: Any) -> Any:
    """The insert `record` runs on every ack, built once: a statement built per call cost a third
    of `record`'s 380 us of CPU (cProfile), an ORM session most of the rest."""
    names = ("dedupe_key", "kind", "body", "headers", "received_at", "lease_until", "attempts")
    return (
        dialect.insert(_T)
        .values({name: bindparam(name, type_=_T.c[name].type) for name in names})
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(_T.c.id)
    )


_INSERT_SQLITE = _insert(sqlite)
_INSERT_POSTGRESQL = _insert(postgresql)


def take(
    db: Database, now: datetime, *, limit: int = 1, lease: timedelta = LEASE, fresh: bool = False
) -> list[Taken]:
    """Take up to `limit` rows whose work is not done and whose lease has run out (oldest first),
    leasing them to the caller; with `fresh` (the inbox process), also the rows nobody has taken
    yet. Rows taken `MAX_ATTEMPTS` times are given up instead (logged)."""
    db = db.inbox
    look, give_up, claim = _TAKE[(fresh, db.is_sqlite)]
    params = {"now": now, "until": now + lease, "limit": limit, "most": MAX_ATTEMPTS}
    with db.rows() as conn:  # the usual answer, nothing, without a write transaction
        if conn.execute(look, params).first() is None:
            return []
    with db.connection() as conn:
        for row_id, kind in conn.execute(give_up, params).all():
            log.error(
                "inbox row %s (%s) was taken %d times and never finished; given up",
                row_id,
                kind,
                MAX_ATTEMPTS,
            )
        rows = conn.execute(claim, params).all()
    return sorted(
        (
            Taken(int(r.id), r.kind, r.body, json.loads(r.headers), int(r.attempts), r.received_at)
            for r in rows
        ),
        key=lambda t: t.id,
    )


def _take_statements(fresh: bool, sqlite_db: bool) -> tuple[Any, Any, Any]:
    """`take`'s look, give-up and claim statements, built once (the inbox process takes every
    row: py-spy showed `take` at 15% of its time, much of it building them)."""
    now = bindparam("now", type_=_T.c.lease_until.type)
    expired = or_(_T.c.lease_until.is_(None), _T.c.lease_until < now)
    free = and_(_T.c.done_at.is_(None), or_(expired, _T.c.attempts == 0) if fresh else expired)
    look = select(_T.c.id).where(free).limit(1)
    give_up = (
        update(_T)
        .where(free, _T.c.attempts >= bindparam("most"))
        .values(done_at=now, outcome="abandoned")
        .returning(_T.c.id, _T.c.kind)
    )
    chosen = select(_T.c.id).where(free).order_by(_T.c.id).limit(bindparam("limit"))
    if not sqlite_db:  # SQLite's writer lock already keeps every other taker out
        chosen = chosen.with_for_update(skip_locked=True)
    claim = (
        update(_T)
        .where(_T.c.id.in_(chosen.scalar_subquery()))
        .values(lease_until=bindparam("until", type_=_T.c.lease_until.type), attempts=_T.c.attempts + 1)
        .returning(_T.c.id, _T.c.kind, _T.c.body, _T.c.headers, _T.c.attempts, _T.c.received_at)
    )
    return look, give_up, claim


_TAKE = {(fresh, lite): _take_statements(fresh, lite) for fresh in (False, True) for lite in (False, True)}


def finish(db: Database, row_id: int, now: datetime, outcome: str = "done") -> None:
    """The row's work is done."""
    with db.inbox.statement() as conn:
        conn.execute(
            update(_T).where(_T.c.id == row_id, _T.c.done_at.is_(None)).values(done_at=now, outcome=outcome)
        )


def backlog(db: Database, now: datetime) -> tuple[int, float]:
    """Rows whose work is not done, and the age in seconds of the oldest (0 when none)."""
    with db.inbox.read() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(_T.c.received_at, type_=_T.c.received_at.type)).where(
                _T.c.done_at.is_(None)
            )
        ).one()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, (now - oldest).total_seconds())


def purge(db: Database, now: datetime, keep: timedelta = KEEP_DONE) -> int:
    """Delete rows done more than `keep` ago; how many."""
    with db.inbox.session() as session:
        result = session.execute(_T.delete().where(_T.c.done_at.is_not(None), _T.c.done_at < now - keep))
    return rowcount(result)
