"""Events out (`bot.events`): the backoff and the 24-hour rule, a delivery's signature, the outbox
(an event is queued with its change or not at all), the targets' configuration and `golive hooks`."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.config import ConfigError, HookTarget, load_settings
from bot.events import emit as events_out
from bot.events.delivery import (
    BACKOFF_MAX,
    GIVE_UP_AFTER,
    backoff,
    deliver_due,
    next_attempt,
    post,
)
from bot.events.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignature, verify
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Deal, Engagement, HookDelivery

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


# -- the backoff and the 24 hours ----------------------------------------------------------------
def test_the_wait_doubles_from_30_seconds_and_stays_at_an_hour() -> None:
    waits = [backoff(n).total_seconds() for n in range(1, 11)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert backoff(40) == BACKOFF_MAX


def test_a_failing_event_is_tried_until_the_24th_hour_then_given_up() -> None:
    tries, now, attempts = [T0], T0, 1
    while (again := next_attempt(T0, attempts, now)) is not None:
        assert again > now
        tries.append(again)
        now, attempts = again, attempts + 1
    assert tries[-1] == T0 + GIVE_UP_AFTER  # the last try at the 24th hour, not after it
    assert all(b - a <= BACKOFF_MAX for a, b in itertools.pairwise(tries))
    assert tries[1] - tries[0] == timedelta(seconds=30)
    assert 28 <= len(tries) <= 32  # a dozen quick tries, then one an hour
    assert next_attempt(T0, 3, T0 + timedelta(hours=24, seconds=1)) is None
    assert next_attempt(T0, 9, T0 + timedelta(hours=23, minutes=30)) == T0 + GIVE_UP_AFTER


# -- a local receiver --------------------------------------------------------------------------
class Receiver:
    def __init__(self, statuses: list[int] | None = None) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.got.append((self.path, dict(self.headers.items()), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"nope" if status >= 300 else b"fine")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/in") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_a_delivery_is_signed_with_the_targets_secret_over_the_exact_body(receiver: Receiver) -> None:
    body = b'{"id":"evt_1","event":"phase.started"}'
    answer = post(receiver.url(), "s3cret", body, event="phase.started", event_id="evt_1")
    assert answer.ok and answer.status == 200 and answer.error is None
    [(_path, headers, got)] = receiver.got
    assert got == body
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Golive-Event"] == "phase.started" and headers["X-Golive-Event-Id"] == "evt_1"
    verify("s3cret", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], got)
    with pytest.raises(BadSignature):
        verify("another", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], got)
    with pytest.raises(BadSignature):
        verify("s3cret", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], got + b" ")


def test_an_answer_other_than_2xx_is_not_a_delivery_and_says_why(receiver: Receiver) -> None:
    receiver.statuses = [500, 302]
    failed = post(receiver.url(), "s", b"{}", event="golive.test", event_id="evt_2")
    assert not failed.ok and failed.status == 500 and failed.error == "HTTP 500: nope"
    moved = post(receiver.url(), "s", b"{}", event="golive.test", event_id="evt_3")
    assert not moved.ok and moved.status == 302  # a signed POST is not re-sent elsewhere
    assert [p for p, _h, _b in receiver.got] == ["/in", "/in"]
    receiver.server.shutdown()
    receiver.server.server_close()
    gone = post(receiver.url(), "s", b"{}", event="golive.test", event_id="evt_4", timeout=2)
    assert not gone.ok and gone.status is None and gone.error


# -- the outbox ---------------------------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Any) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path}/hooks.sqlite3"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def add_engagement(db: Database) -> Engagement:
    with db.session() as session:
        e = Engagement(
            team_id="T0",
            channel_id="C0",
            customer_name="Acme Corp",
            size="small",
            kickoff_on=date(2026, 12, 7),
            timezone="Europe/Berlin",
            created_by="U0LEAD",
            created_at=T0,
            updated_at=T0,
        )
        session.add(e)
        session.flush()
        return e


def rows(db: Database) -> list[HookDelivery]:
    with db.read() as session:
        return list(session.exec(select(HookDelivery).order_by(col(HookDelivery.id))).all())


def test_an_event_is_queued_with_its_change_or_not_at_all(db: Database) -> None:
    engagement = add_engagement(db)
    events_out.configure(db, [HookTarget("http://a.example/in", "x"), HookTarget("http://b.example/in", "y")])
    with pytest.raises(RuntimeError), db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        events_out.emit(session, "health.changed", e, {"level": "late"}, now=T0)
        raise RuntimeError("the change fails after the event was queued")
    assert rows(db) == []  # rolled back with it
    with db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        event_id = events_out.emit(session, "health.changed", e, {"level": "late", "was": None}, now=T0)
    queued = rows(db)
    assert [r.target for r in queued] == ["http://a.example/in", "http://b.example/in"]
    assert {r.event_id for r in queued} == {event_id} and len({r.body for r in queued}) == 1
    assert {(r.status, r.attempts, r.next_attempt_at) for r in queued} == {("pending", 0, T0)}
    doc = json.loads(queued[0].body)
    assert doc["event"] == "health.changed" and doc["id"] == event_id and doc["at"] == "2026-12-07T09:00:00Z"
    assert doc["engagement"]["customer"] == "Acme Corp" and doc["change"] == {"level": "late", "was": None}
    with pytest.raises(ValueError), db.session() as session:
        events_out.emit(session, "item.done", engagement, {}, now=T0)  # not an event golive sends


def test_a_database_without_targets_queues_nothing(db: Database) -> None:
    engagement = add_engagement(db)
    with db.session() as session:
        assert events_out.emit(session, "engagement.live", engagement, {}, now=T0) is None
    assert rows(db) == []
    events_out.configure(db, [])
    with db.session() as session:
        assert events_out.emit(session, "engagement.live", engagement, {}, now=T0) is None
    assert rows(db) == []


def test_an_engagement_made_from_a_deal_carries_the_deals_id(db: Database, receiver: Receiver) -> None:
    engagement = add_engagement(db)
    events_out.configure(db, [HookTarget(receiver.url(), "k")])
    with db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        events_out.emit(session, "engagement.started", e, {"status": "preparing"}, now=T0)
        # The deal is linked to its engagement after the engagement is made, in the same transaction.
        session.add(
            Deal(
                deal_id="D-1042",
                source="golive",
                payload="{}",
                engagement_id=e.id,
                received_at=T0,
                updated_at=T0,
            )
        )
    report = deliver_due(db, lambda: T0)
    assert len(report.delivered) == 1
    [(_p, headers, body)] = receiver.got
    assert json.loads(body)["deal_id"] == "D-1042"
    verify("k", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body)
    assert rows(db)[0].body == body.decode()  # what was sent is what the log keeps


def test_a_target_no_longer_configured_is_given_up(db: Database, receiver: Receiver) -> None:
    engagement = add_engagement(db)
    events_out.configure(db, [HookTarget(receiver.url("/old"), "k")])
    with db.session() as session:
        events_out.emit(session, "engagement.live", engagement, {}, now=T0)
    report = deliver_due(db, lambda: T0, {receiver.url("/new"): "k"})
    assert len(report.failed) == 1 and receiver.got == []
    [row] = rows(db)
    assert row.status == "failed" and "no longer in GOLIVE_HOOK_URLS" in (row.last_error or "")


# -- configuration ------------------------------------------------------------------------------
def test_targets_are_urls_each_with_the_shared_secret_or_its_own() -> None:
    s = load_settings(
        _env_file=None,
        GOLIVE_HOOK_URLS=" https://crm.example/golive , https://bill.example/in|own-secret ",
        GOLIVE_HOOK_SECRET="shared",
    )
    assert s.hook_targets == (
        HookTarget("https://crm.example/golive", "shared"),
        HookTarget("https://bill.example/in", "own-secret"),
    )
    assert load_settings(_env_file=None).hook_targets == ()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("crm.example/golive", "is not an http(s) URL"),
        ("https://crm.example/in|", "has a | but no secret after it"),
        ("https://crm.example/in,https://crm.example/in", "is listed twice"),
    ],
)
def test_a_bad_target_list_is_one_line_that_never_shows_a_secret(value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, GOLIVE_HOOK_URLS=value + ",https://x.example/in|hush-hush")
    assert says in str(caught.value) and "GOLIVE_HOOK_URLS" in str(caught.value)
    assert "hush-hush" not in str(caught.value)


def test_a_target_without_a_secret_needs_the_shared_one() -> None:
    s = load_settings(_env_file=None, GOLIVE_HOOK_URLS="https://crm.example/golive")
    with pytest.raises(ConfigError, match="GOLIVE_HOOK_SECRET is not set"):
        _ = s.hook_targets


# -- golive hooks --------------------------------------------------------------------------------
def test_hooks_test_sends_a_signed_test_event_and_exits_1_when_it_is_not_taken(
    receiver: Receiver, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from golive.cli import app

    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    env = {"GOLIVE_HOOK_SECRET": "shared", "GOLIVE_HOOK_URLS": f"{receiver.url('/own')}|own"}
    ok = CliRunner().invoke(app, ["hooks", "test", receiver.url("/plain")], env=env)
    assert ok.exit_code == 0, ok.output
    assert "HTTP 200" in ok.output and "delivered" in ok.output
    own = CliRunner().invoke(app, ["hooks", "test", receiver.url("/own")], env=env)
    assert own.exit_code == 0, own.output
    (_p1, h1, b1), (_p2, h2, b2) = receiver.got
    assert json.loads(b1)["event"] == "golive.test"
    verify("shared", h1[TIMESTAMP_HEADER], h1[SIGNATURE_HEADER], b1)
    verify("own", h2[TIMESTAMP_HEADER], h2[SIGNATURE_HEADER], b2)  # the URL's own secret
    receiver.statuses = [500]
    refused = CliRunner().invoke(app, ["hooks", "test", receiver.url("/plain")], env=env)
    assert refused.exit_code == 1 and "HTTP 500" in refused.output


def test_hooks_log_lists_the_latest_deliveries(
    db: Database, receiver: Receiver, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from golive.cli import app

    monkeypatch.chdir(tmp_path)
    engagement = add_engagement(db)
    receiver.statuses = [503]
    events_out.configure(db, [HookTarget(receiver.url(), "k")])
    with db.session() as session:
        events_out.emit(session, "engagement.live", engagement, {}, now=T0)
        events_out.emit(session, "health.changed", engagement, {"level": "late"}, now=T0)
    deliver_due(db, lambda: T0)
    shown = CliRunner().invoke(app, ["hooks", "log", "--limit", "5"], env={"DATABASE_URL": db.url})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert len(lines) == 2 and "health.changed" in lines[0] and "engagement.live" in lines[1]
    assert "to retry after 1 attempt: HTTP 503" in lines[1] and "delivered (HTTP 200, attempt 1)" in lines[0]


def test_the_delivery_log_keeps_30_days_of_finished_rows_and_every_pending_one(db: Database) -> None:
    from bot.events import delivery
    from storage import hook_deliveries

    engagement = add_engagement(db)
    events_out.configure(db, [HookTarget("http://a.example/in", "x")])
    for days_ago in (40, 31, 29):
        with db.session() as session:
            e = session.get(Engagement, engagement.id)
            assert e is not None
            events_out.emit(
                session, "health.changed", e, {"level": "late"}, now=T0 - timedelta(days=days_ago)
            )
    with db.session() as session:
        made = list(session.exec(select(HookDelivery).order_by(col(HookDelivery.id))).all())
        made[0].status = "delivered"  # 40 days old
        made[1].status = "failed"  # 31 days old
        made[2].status = "delivered"  # 29 days old
        session.add_all(made)
    with db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        events_out.emit(
            session, "health.changed", e, {"level": "late"}, now=T0 - timedelta(days=60)
        )  # pending
    assert hook_deliveries.purge(db, T0 - delivery.KEEP_LOG) == 2
    left = sorted((r.status, (T0 - r.created_at).days) for r in rows(db))
    assert left == [("delivered", 29), ("pending", 60)]


def test_the_deliverer_is_woken_when_the_whole_transaction_commits_not_at_a_savepoint(db: Database) -> None:
    """A savepoint released inside the change's transaction (begin_nested: a rating's ask at the
    go-live) fires after_commit too; a wake then found the event not committed yet."""
    engagement = add_engagement(db)
    outlet = events_out.configure(db, [HookTarget("http://a.example/in", "x")])
    seen: list[int] = []
    outlet.wakers.append(lambda: seen.append(len(rows(db))))
    try:
        with db.session() as session:
            e = session.get(Engagement, engagement.id)
            assert e is not None
            events_out.emit(session, "health.changed", e, {"level": "late"}, now=T0)
            events_out.emit(session, "health.changed", e, {"level": "late"}, now=T0)
            with session.begin_nested():
                session.flush()
            assert seen == []  # not at the savepoint
        assert seen == [2]  # once, after the commit, with both events visible
    finally:
        outlet.wakers.clear()
