"""How many server processes `golive serve` starts when GOLIVE_WEB_WORKERS is not set."""

from __future__ import annotations

import os

import pytest

from bot.config import load_settings
from golive.cli import web_workers


def settings(url: str, workers: int | None = None, inbox: bool = True):  # type: ignore[no-untyped-def]
    extra = {"GOLIVE_WEB_WORKERS": str(workers)} if workers is not None else {}
    return load_settings(_env_file=None, DATABASE_URL=url, GOLIVE_INBOX_PROCESS=str(inbox).lower(), **extra)


@pytest.mark.parametrize(
    ("cores", "sqlite", "postgres"),
    [(1, 1, 1), (2, 2, 2), (8, 2, 8)],
)
def test_without_the_inbox_process_one_per_core_and_at_most_two_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, cores: int, sqlite: int, postgres: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert web_workers(settings("sqlite:////tmp/golive-workers.sqlite3", inbox=False)) == sqlite
    assert web_workers(settings("postgresql://golive@db/golive", inbox=False)) == postgres


@pytest.mark.parametrize(
    ("cores", "sqlite", "postgres"),
    [(1, 1, 1), (2, 1, 1), (3, 2, 2), (8, 2, 7)],
)
def test_with_the_inbox_process_one_core_is_left_to_it(
    monkeypatch: pytest.MonkeyPatch, cores: int, sqlite: int, postgres: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert web_workers(settings("sqlite:////tmp/golive-workers.sqlite3")) == sqlite
    assert web_workers(settings("postgresql://golive@db/golive")) == postgres


def test_a_configured_number_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert web_workers(settings("sqlite:////tmp/golive-workers.sqlite3", workers=1)) == 1
    assert web_workers(settings("postgresql://golive@db/golive", workers=3)) == 3
