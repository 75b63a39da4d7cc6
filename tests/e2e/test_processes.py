"""The real console script: `golive serve` (gunicorn) and `golive socket`, against the stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine, select

from sandbox.harness import BOT_TOKEN, CHANNEL, LEAD, SIGNING_SECRET, start_standin
from sandbox.harness.processes import free_port, spawn, spawn_serve, stop, wait_http
from standin import SlackDriver
from storage.models import Engagement
from tests.e2e.helpers import blocks_text

APP_TOKEN = "xapp-1-standin"


@pytest.fixture
def standin():
    s = start_standin(app_token=APP_TOKEN)
    yield s
    assert not s.invalid_block_responses()
    s.stop()


def engagements(db: Path) -> list[Engagement]:
    engine = create_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        rows = list(session.exec(select(Engagement)).all())
    engine.dispose()
    return rows


def test_serve_answers_a_signed_start_and_stops_on_sigterm(standin, tmp_path):
    db = tmp_path / "serve.sqlite3"
    proc, port = spawn_serve(standin, tmp_path, f"sqlite:///{db}", LOG_LEVEL="INFO")
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz", proc) == 200
        driver = SlackDriver(standin, bot_url=f"http://127.0.0.1:{port}/slack/events")
        r = driver.command("/golive", "start Acme Corp size=medium", user=LEAD.user_id, channel=CHANNEL)
        assert r.status == 200
        welcome = standin.wait_for(lambda: standin.messages(CHANNEL), timeout=15)[0]
        assert "Acme Corp implementation kicked off" in blocks_text(welcome["blocks"])
        [e] = engagements(db)
        assert (e.customer_name, e.size, e.created_by) == ("Acme Corp", "medium", LEAD.user_id)
        bad = driver.command("/golive", "status", user=LEAD.user_id, channel=CHANNEL, signature="v0=bad")
        assert bad.status == 401
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "gunicorn" in out.lower() or "Booting worker" in out
    assert "Traceback" not in out


def test_serve_sends_what_it_queued_before_it_exits(standin, tmp_path):
    """SIGTERM right after the ack: the worker finishes the listener, then drains the outbox."""
    port = free_port()
    proc = spawn(
        ["serve", "--host", "127.0.0.1", "--port", str(port)],
        {
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'drain.sqlite3'}",
        },
        tmp_path,
    )
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz", proc) == 200
        standin.set_latency("chat.postMessage", 0.7)  # the welcome and the checklist take a while
        driver = SlackDriver(standin, bot_url=f"http://127.0.0.1:{port}/slack/events")
        assert driver.command("/golive", "start Acme Corp", user=LEAD.user_id, channel=CHANNEL).status == 200
        assert standin.messages(CHANNEL) == []  # acked before anything was posted
    finally:
        code, out = stop(proc)
    assert code == 0, out
    texts = [m["text"] for m in standin.messages(CHANNEL)]
    assert any("kicked off" in t for t in texts) and any("checklist:" in t for t in texts), texts
    assert "unsent" not in out and "Traceback" not in out


def test_socket_mode_connects_and_handles_a_command(standin, tmp_path):
    db = tmp_path / "socket.sqlite3"
    proc = spawn(
        ["socket"],
        {
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "DATABASE_URL": f"sqlite:///{db}",
        },
        tmp_path,
    )
    try:
        standin.wait_for(standin.socket_connected, timeout=30, message="socket mode connection")
        ack = standin.socket_send_command("/golive", "status", LEAD.user_id, CHANNEL, timeout=10)
        assert "No engagement runs in this channel yet" in (ack.get("text") or "")
        standin.socket_send_command("/golive", "start Acme Corp", LEAD.user_id, CHANNEL, timeout=10)
        welcome = standin.wait_for(lambda: standin.messages(CHANNEL), timeout=15)[0]
        assert "Acme Corp implementation kicked off" in blocks_text(welcome["blocks"])
        assert [e.customer_name for e in engagements(db)] == ["Acme Corp"]
        # Work after the ack goes through the inbox in Socket Mode too (the payload, as JSON).
        checklists = lambda: [m for m in standin.messages(CHANNEL) if "checklist:" in m["text"]]  # noqa: E731
        posted = len(standin.wait_for(checklists, timeout=15))
        standin.socket_send_command("/golive", "checklist", LEAD.user_id, CHANNEL, timeout=10)
        standin.wait_for(lambda: len(checklists()) > posted, timeout=15, message="the checklist posted again")
        engine = create_engine(f"sqlite:///{tmp_path / 'socket.inbox.sqlite3'}")
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT kind, outcome, body FROM inbox").all()
        engine.dispose()
        assert [(k, o) for k, o, b in rows if '"text": "checklist"' in b] == [("command", "done")]
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "Traceback" not in out


def test_serve_refuses_to_start_with_a_template_that_does_not_compile(standin, tmp_path):
    """Every template is compiled before the workers fork (they inherit them compiled): a broken
    override stops `serve` at once with the template's name, instead of failing one command later."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "status.json.j2").write_text('{"text": "{{ engagement.name ", "blocks": []}')
    proc = spawn(
        ["serve", "--host", "127.0.0.1", "--port", str(free_port())],
        {
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
            "GOLIVE_TEMPLATE_DIR": str(templates),
        },
        tmp_path,
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "a message template does not compile" in out and "status.json.j2" in out
    assert "Traceback" not in out


def _said(standin, user: str) -> list[str]:
    return [
        (e.get("text") or "") + "\n" + blocks_text(e.get("blocks") or [])
        for e in standin.ephemerals(user=user)
    ]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_killed_serve_forgets_no_acked_tick(standin, tmp_path, database, request):
    """SIGKILL of `golive serve` and everything it started in the middle of a burst of ticks, then
    a restart on the same database: every tick that had its 200 is recorded, once. The items'
    writer is held through the burst (PostgreSQL: their rows locked; SQLite: its writer lock, which
    the inbox, in a file of its own, does not share), so every acked tick's work is still to do when
    the processes die, and is done by the restarted bot from the inbox."""
    import fcntl

    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    from sandbox.harness.killing import prepare, trial

    path = tmp_path / "k.sqlite3"
    url = request.getfixturevalue("pg_url") if database == "postgresql" else f"sqlite:///{path}"
    env = {"GOLIVE_INBOX_LEASE_SECONDS": "2", "LOG_LEVEL": "INFO"}
    bodies = prepare(standin, url, tmp_path, 12, **env)

    def hold():  # type: ignore[no-untyped-def]
        if database == "sqlite":
            fd = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            return lambda: os.close(fd)
        engine = create_engine(url)
        conn = engine.connect()
        conn.execute(sql("SELECT id FROM item WHERE title LIKE 'Burst item %' FOR UPDATE")).all()

        def release() -> None:
            conn.rollback()
            conn.close()
            engine.dispose()

        return release

    result = trial(
        standin, url, tmp_path, bodies, clients=4, kill_after=15.0, kill_at_acks=12, hold=hold, **env
    )
    assert result.acked == 12, result.log  # the writer held does not hold the acks up
    assert result.lost == [] and result.doubled == [], (result, result.log[-3000:])
    # With the writer held, none of their work could be done before the processes died: all 12
    # were done after the restart (the rows the inbox process had taken are replayed, the others
    # taken like any other).
    assert "inbox process ready" in result.log
