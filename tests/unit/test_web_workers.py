"""How many server processes `golive serve` starts when GOLIVE_WEB_WORKERS is not set."""

from __future__ import annotations

import os

import pytest

from bot.config import load_settings
from golive.cli import web_workers


def settings(url: str, workers: int | None = None):  # type: ignore[no-untyped-def]
    extra = {"GOLIVE_WEB_WORKERS": str(workers)} if workers is not None else {}
    return load_settings(_env_file=None, DATABASE_URL=url, **extra)


@pytest.mark.parametrize(
    ("cores", "sqlite", "postgres"),
    [(1, 1, 1), (2, 2, 2), (8, 2, 8)],
)
def test_one_per_core_and_at_most_two_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, cores: int, sqlite: int, postgres: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert web_workers(settings("sqlite:////tmp/golive-workers.sqlite3")) == sqlite
    assert web_workers(settings("postgresql://golive@db/golive")) == postgres


def test_a_configured_number_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert web_workers(settings("sqlite:////tmp/golive-workers.sqlite3", workers=1)) == 1
    assert web_workers(settings("postgresql://golive@db/golive", workers=3)) == 3
