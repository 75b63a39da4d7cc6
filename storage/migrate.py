"""Running Alembic migrations from code (`golive db upgrade`, and on `serve`/`socket` start)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import is_sqlite, make_engine, normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


# pg_advisory_lock key for migrations: the bytes of "golive-m" as a bigint.
MIGRATION_LOCK = int.from_bytes(b"golive-m", "big") & 0x7FFFFFFFFFFFFFFF


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations. Replicas that start together take turns (a PostgreSQL advisory lock, or
    a lock file beside a SQLite database): the first migrates, the others find nothing to do."""
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    if is_sqlite(url):
        database = make_url(normalise_url(url)).database
        if not database or database == ":memory:":
            yield
            return
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
