"""Issue 27, part 4: events out. Each event of an implementation reaches a receiver (a small HTTP
server on loopback) signed as documented, once per target with that target's secret; an answer
that is not 2xx is retried with backoff, the same event (same id, same bytes) until it is
delivered, for 24 hours; the deliveries are kept (the log) and counted on /metrics.

End to end: signed requests into the bot through the stand-in, the bot's own deliverer posting.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import select

from bot.events.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignature, verify
from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD
from storage.models import HookDelivery
from tests.e2e.helpers import engagement, ephemeral_texts, mention, posts
from tests.e2e.test_lifecycle import walk_to_final_approval

SHARED_SECRET = "shared-hook-secret"
BILLING_SECRET = "billing-own-secret"


class Receiver:
    """Records every POST (path, headers, body) and answers each path's queued statuses, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append((self.path, dict(self.headers.items()), body))
                    queued = receiver.answers.get(self.path) or []
                    status = queued.pop(0) if queued else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[tuple[dict[str, str], dict[str, Any], bytes]]:
        with self._lock:
            return [(h, json.loads(b), b) for p, h, b in self.received if p == path]

    def wait(self, check: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver did not get what was expected: {self.received!r:.2000}")
            time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def hooked(
    harness_factory: Any, receiver: Receiver, *paths: str, database_url: str | None = None, **env: Any
) -> Any:
    """A harness whose events go to the receiver's paths; `/billing` with a secret of its own."""
    targets = [receiver.url(p) + (f"|{BILLING_SECRET}" if p == "/billing" else "") for p in paths]
    return harness_factory(
        database_url,
        env={"GOLIVE_HOOK_URLS": ",".join(targets), "GOLIVE_HOOK_SECRET": SHARED_SECRET, **env},
    )


def check_signed(headers: dict[str, str], body: bytes, secret: str) -> None:
    verify(secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body)


def events(receiver: Receiver, path: str) -> list[str]:
    return [doc["event"] for _h, doc, _b in receiver.at(path)]


def deliveries(h: Any) -> list[HookDelivery]:
    with h.services.db.read() as session:
        return list(session.exec(select(HookDelivery).order_by(HookDelivery.id)).all())


def metric(h: Any, name: str) -> float:
    """A sample's value on the bot's GET /metrics (0 when absent)."""
    with urllib.request.urlopen(h.server.url + "/metrics", timeout=5) as response:
        page = response.read().decode()
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_every_event_of_an_implementation_reaches_each_target_signed_with_its_secret(
    harness_factory, receiver
):
    receiver.answers["/billing"] = [500]  # billing's first answer: the first event is retried
    h = hooked(harness_factory, receiver, "/crm", "/billing")
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    receiver.wait(lambda: events(receiver, "/crm") == ["engagement.started"])
    [(headers, started, started_raw)] = receiver.at("/crm")
    check_signed(headers, started_raw, SHARED_SECRET)
    with pytest.raises(BadSignature):  # signed with the shared secret, not billing's
        check_signed(headers, started_raw, BILLING_SECRET)
    assert headers["X-Golive-Event"] == "engagement.started" and headers["X-Golive-Event-Id"] == started["id"]
    assert started["deal_id"] is None  # started by hand, not from a CRM deal
    assert started["engagement"]["customer"] == "Acme Corp"
    assert started["engagement"]["status"] == "active"
    assert started["engagement"]["channel_id"] == CHANNEL
    assert started["engagement"]["phase"]["number"] == 1
    assert started["change"]["started_by"]["user_id"] == LEAD.user_id
    assert [p["name"] for p in started["change"]["phases"]][-1] == "Go-Live"
    assert started["at"] == "2026-11-30T08:00:00Z"

    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(APPROVER)} approver")
    walk_to_final_approval(h)
    [cutover] = [m for m in posts(h) if "Final approval recorded" in m["text"]]
    h.driver.click(CHANNEL, cutover["ts"], "golive_confirm", user=LEAD.user_id)
    h.idle()
    [form] = [v for v in h.standin.open_views(LEAD.user_id) if v["view"]["callback_id"] == "golive_confirm"]
    h.driver.submit_view(form["id"], {}, user=LEAD.user_id)
    h.idle()
    assert engagement(h).status == "live"
    receiver.wait(lambda: "engagement.live" in events(receiver, "/crm"))

    got = events(receiver, "/crm")
    assert set(got) == {
        "engagement.started",
        "phase.started",
        "signoff.decided",
        "dryrun.outcome",
        "engagement.live",
    }
    assert got.count("engagement.started") == 1 and got.count("engagement.live") == 1
    crm = receiver.at("/crm")
    for headers, doc, raw in crm:
        check_signed(headers, raw, SHARED_SECRET)
        assert doc["engagement"]["id"] == started["engagement"]["id"] and doc["deal_id"] is None
    entered = [doc["change"]["phase"]["number"] for _h, doc, _b in crm if doc["event"] == "phase.started"]
    planned = [p["number"] for p in started["change"]["phases"]]
    assert sorted(entered) == planned[1:]  # each phase after the first entered once
    decided = [doc["change"] for _h, doc, _b in crm if doc["event"] == "signoff.decided"]
    assert decided and {d["decision"] for d in decided} == {"approved"}
    assert decided[-1]["gate"]["key"] == "final_golive" and decided[-1]["by"]["user_id"] == APPROVER.user_id
    [dry_run] = [doc["change"] for _h, doc, _b in crm if doc["event"] == "dryrun.outcome"]
    assert dry_run["outcome"] == "passed" and dry_run["recorded_by"]["user_id"] == APPROVER.user_id
    [live] = [doc for _h, doc, _b in crm if doc["event"] == "engagement.live"]
    assert live["engagement"]["status"] == "live" and live["change"]["by"]["user_id"] == LEAD.user_id

    # Billing got every event too, signed with its own secret; the first one twice (after its
    # 500), the same id and the same bytes.
    receiver.wait(lambda: len(receiver.at("/billing")) == len(crm) + 1)
    billing = receiver.at("/billing")
    for headers, _doc, raw in billing:
        check_signed(headers, raw, BILLING_SECRET)
    twice = [raw for _h, doc, raw in billing if doc["id"] == started["id"]]
    assert len(twice) == 2 and twice[0] == twice[1] == started_raw
    assert {doc["id"] for _h, doc, _b in billing} == {doc["id"] for _h, doc, _b in crm}
    rows = deliveries(h)
    assert {r.status for r in rows} == {"delivered"} and len(rows) == 2 * len(crm)
    [retried] = [r for r in rows if r.attempts > 1]
    assert (retried.target, retried.attempts, retried.last_status) == (receiver.url("/billing"), 2, 200)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_failed_delivery_is_retried_with_backoff_the_same_event_until_it_is_delivered(
    harness_factory, receiver, request, backend
):
    receiver.answers["/crm"] = [500, 503]
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = hooked(harness_factory, receiver, "/crm", database_url=url)
    retried_before = metric(h, 'golive_hook_deliveries_total{outcome="retried"}')
    delivered_before = metric(h, 'golive_hook_deliveries_total{outcome="delivered"}')
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    receiver.wait(lambda: len(receiver.at("/crm")) == 1)
    receiver.wait(lambda: deliveries(h)[0].attempts == 1)
    [row] = deliveries(h)
    assert (row.status, row.last_status) == ("pending", 500)
    assert row.next_attempt_at == row.created_at + timedelta(seconds=30)  # the first backoff
    h.run_sweep()  # not due yet: nothing is sent
    time.sleep(0.3)
    assert len(receiver.at("/crm")) == 1
    h.clock.advance(timedelta(seconds=30))
    h.run_sweep()
    receiver.wait(lambda: deliveries(h)[0].attempts == 2)
    [row] = deliveries(h)
    assert (row.status, row.attempts, row.last_status) == ("pending", 2, 503)
    assert row.next_attempt_at == h.clock.now() + timedelta(minutes=1)  # doubled
    assert metric(h, "golive_hook_deliveries_pending") == 1
    h.clock.advance(timedelta(minutes=1))
    h.run_sweep()
    receiver.wait(lambda: deliveries(h)[0].attempts == 3)
    [row] = deliveries(h)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 3, 200)
    assert row.delivered_at == h.clock.now()
    sent = receiver.at("/crm")
    assert (
        len(sent) == 3 and len({doc["id"] for _h, doc, _b in sent}) == 1 and len({b for *_x, b in sent}) == 1
    )
    for headers, _doc, raw in sent:  # each attempt signed anew, each valid
        check_signed(headers, raw, SHARED_SECRET)
    assert metric(h, 'golive_hook_deliveries_total{outcome="retried"}') == retried_before + 2
    assert metric(h, 'golive_hook_deliveries_total{outcome="delivered"}') == delivered_before + 1
    assert metric(h, "golive_hook_deliveries_pending") == 0


def test_a_target_that_never_answers_2xx_is_given_up_24_hours_after_the_event(harness_factory, receiver):
    receiver.answers["/crm"] = [500] * 10
    h = hooked(harness_factory, receiver, "/crm")
    failed_before = metric(h, 'golive_hook_deliveries_total{outcome="failed"}')
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    receiver.wait(lambda: len(deliveries(h)) == 1 and deliveries(h)[0].attempts == 1)
    created = deliveries(h)[0].created_at
    h.clock.set(created + timedelta(hours=23, minutes=59))
    h.run_sweep()
    receiver.wait(lambda: deliveries(h)[0].attempts == 2)
    [row] = deliveries(h)
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at == created + timedelta(hours=24)  # the last try, at the 24th hour
    h.clock.set(created + timedelta(hours=24))
    h.run_sweep()
    receiver.wait(lambda: deliveries(h)[0].attempts == 3)
    [row] = deliveries(h)
    assert (row.status, row.attempts, row.last_status) == ("failed", 3, 500)
    assert "HTTP 500" in (row.last_error or "")
    h.clock.advance(timedelta(hours=2))
    h.run_sweep()
    assert len(receiver.at("/crm")) == 3  # given up: never sent again
    assert metric(h, 'golive_hook_deliveries_total{outcome="failed"}') == failed_before + 1


def test_a_health_change_told_to_the_lead_is_an_event(harness_factory, receiver):
    h = hooked(harness_factory, receiver, "/crm")
    # Two weeks for an enterprise implementation: at risk from the start.
    h.command("start Acme Corp size=enterprise kickoff=2026-11-30 target=2026-12-11 tz=Europe/Berlin")
    h.run_sweep()  # Monday 09:00 in Berlin: working hours, the lead is told
    receiver.wait(lambda: "health.changed" in events(receiver, "/crm"))
    [(headers, doc, raw)] = [x for x in receiver.at("/crm") if x[1]["event"] == "health.changed"]
    check_signed(headers, raw, SHARED_SECRET)
    assert doc["change"]["level"] == "at_risk" and doc["change"]["was"] is None
    assert doc["change"]["reason"] and doc["engagement"]["health"] == "at_risk"
    h.run_sweep()  # nothing changed: no second event
    time.sleep(0.3)
    assert events(receiver, "/crm").count("health.changed") == 1


def test_a_refused_start_sends_nothing(harness_factory, receiver):
    h = hooked(harness_factory, receiver, "/crm")
    h.command("start Acme Corp size=medium kickoff=2026-11-30 target=2026-12-01 tz=Europe/Berlin")
    assert "The earliest target go-live" in ephemeral_texts(h, LEAD.user_id)[-1]  # refused, rolled back
    h.run_sweep()
    time.sleep(0.3)
    assert receiver.at("/crm") == [] and deliveries(h) == []


def test_an_engagement_made_from_a_crm_deal_starts_preparing_with_the_deals_id(harness_factory, receiver):
    from tests.e2e.test_deals import ENV, SECRET, deal, send_deal

    h = hooked(harness_factory, receiver, "/crm", **ENV)  # the deal hook's secret signs the events too
    status, answer = send_deal(h, deal())
    assert status == 202, answer
    receiver.wait(lambda: "engagement.started" in events(receiver, "/crm"))
    [(headers, doc, raw)] = [x for x in receiver.at("/crm") if x[1]["event"] == "engagement.started"]
    check_signed(headers, raw, SECRET)
    assert doc["deal_id"] == "D-1042" and doc["engagement"]["id"] == answer["engagement_id"]
    assert doc["engagement"]["status"] == doc["change"]["status"] == "preparing"  # the customer is not in yet
    assert doc["engagement"]["customer"] == "Globex Corp"
    assert send_deal(h, deal())[0] == 202  # the CRM sends it again: no second engagement, no second event
    h.run_sweep()
    time.sleep(0.3)
    assert events(receiver, "/crm").count("engagement.started") == 1
