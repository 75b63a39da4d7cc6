"""Running a listener: the error policy every listener has, and work after the ack.

`listener(services, fn)` wraps a handler so that a `UserError` becomes its friendly ephemeral
message and any other exception a short apology with a reference id (the log holds the same id
with the traceback): the user never sees a raw error. `after_ack(req, work)` acks and runs the
rest on the process's few after-the-ack workers under the same policy, the request recorded in
the database first (`storage.inbox`), so no acked work is lost with its process.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import Ack, BoltContext, BoltRequest
from sqlalchemy.exc import OperationalError

from bot.errors import UserError, new_reference
from bot.people.sides import CUSTOMER_UNKNOWN, NoSide
from bot.services import Services
from handlers.base import FORM_NOT_OURS, Request, identify, learn_customer
from storage import inbox

log = logging.getLogger("golive.handlers")


Handler = Callable[[Request], None]


ACK_WAIT = 2.5
"""Seconds a listener's thread waits for its handler's ack before answering Slack without it (Slack
allows 3): the handler goes on, and answers the user through the response_url or a message."""


def listener(services: Services, fn: Handler) -> Callable[..., None]:
    """Adapt `fn(Request)` to a Bolt listener with the error policy above, answering Slack at its
    ack: the app runs listeners with `process_before_response=True` (Bolt answers when the
    listener returns), and the listener returns as soon as `fn` has acked, while `fn` goes on,
    on the process's listener pool, with what it does after its ack (opening a form, a reply).
    With Bolt's own dispatch (`process_before_response=False`) every answer waited for Bolt's
    next 10-ms poll after the ack: a tick whose listener took a little longer than a bare app's
    was answered 10 ms later, its p50 at ten clients 1.2-1.8x a bare Bolt app's against 1.0-1.3x
    (bench/ack_latency.py)."""

    def bolt_listener(ack: Ack, body: dict[str, Any], context: BoltContext, request: BoltRequest) -> None:
        req = Request(services, ack, body, context, raw=request)

        def run() -> None:
            try:
                reply = _guarded(req, _checked(fn))
                if reply is not None:
                    _logged(reply)
            finally:
                if not req.acked:
                    req.ack()
                if req.replaying is not None and req.inbox_row is None:
                    # Replayed, and refused before its work (the state changed meanwhile): done.
                    try:
                        inbox.finish(services.db, req.replaying, datetime.now(UTC))
                    except Exception:
                        log.exception("could not mark inbox row %s done", req.replaying)

        try:
            services.listeners.submit(run)
        except RuntimeError:  # the bot is stopping (its pool is shut): run it here
            run()
            return
        if not req.ack_given.wait(ACK_WAIT):
            log.warning("%s did not ack within %.1f s; answered without it", bolt_listener.__name__, ACK_WAIT)
            req.ack()

    bolt_listener.__name__ = getattr(fn, "__name__", "bolt_listener")
    return bolt_listener


def _checked(fn: Handler) -> Handler:
    """`fn`, for a form only when it carries the bot's seal, and with the clicker's organisation
    looked up first when the payload cannot tell it (`identify`)."""

    def checked(req: Request) -> None:
        if req.body.get("view") and req.sealed_metadata() is None:
            raise UserError(FORM_NOT_OURS)
        identify(req)
        fn(req)

    checked.__name__ = getattr(fn, "__name__", "listener")
    return checked


def _guarded(
    req: Request, fn: Callable[[Request], Any], *, database_errors: bool = True
) -> Callable[[], None] | None:
    """Run `fn(req)` under the error policy above: a UserError becomes its friendly message, any
    other exception an apology with a reference id. Returns what to answer (a Slack call, made by
    the caller) or fn's own follow-up (None when there is nothing). With `database_errors=False`
    the database being unreachable or locked (OperationalError) is raised, not apologised for:
    work from the inbox is then taken again later."""
    services = req.services
    try:
        try:
            return fn(req)
        except NoSide as exc:
            # Nothing was written; once the customer's organisation is learned, go again.
            if exc.reason != CUSTOMER_UNKNOWN or not learn_customer(req):
                raise
            return fn(req)
    except OperationalError:
        if not database_errors:
            raise
        return _apology(req, fn)
    except UserError as exc:
        message = services.error(exc.message, exc.usage)
        return lambda: req.reply(message)
    except Exception:
        return _apology(req, fn)


def _apology(req: Request, fn: Callable[[Request], Any]) -> Callable[[], None] | None:
    """For the exception being handled: logged with a reference id, and an apology carrying it."""
    ref = new_reference()
    log.exception("[ref %s] %s failed for user %s", ref, getattr(fn, "__name__", "listener"), req.user_id)
    try:
        apology = req.services.renderer.message("apology.json.j2", ref=ref)
    except Exception:
        log.exception("[ref %s] could not render the apology", ref)
        return None
    return lambda: req.reply(apology)


def after_ack(req: Request, work: Callable[[Request], Callable[[], object] | None], **ack: Any) -> None:
    """Record the request in the inbox (`storage.inbox`, committed), then ack; then run
    `work(req)` on the process's few after-the-ack workers (`Services.after_ack`) under the
    listener's error policy, make the Slack call it returns (a reply, its follow-up) on a listener
    thread, so a worker never waits on Slack, and mark the row done.

    Slack gets its 200 only once the request is in the database: if this process dies before the
    work is done, another bot process (or this one restarted) takes the row when its lease runs
    out and replays the request through the Bolt app (`golive.inbox`). Under `golive serve` the
    request processes only record and ack (`Services.runs_work` is False): the inbox process,
    at a lower priority, takes the row at once and replays it there, so no ack waits behind
    another request's work. The listener then runs
    again up to here and the work runs; so the part of a listener before `after_ack` only parses,
    reads and checks, and `work` is idempotent (a replayed tick leaves the same state, one audit
    row, one refresh). Call it before anything acks; `ack` is what the ack answers (e.g.
    `response_action="update", view=...` for a form that stays open), nothing by default.

    The listener's thread is given back at once: a burst of clicks queues for the workers, not in
    Bolt's listener pool, where a new request needs a free thread before it can be acked."""
    if req.acked:
        raise RuntimeError(f"{req.kind}: after_ack must come before the ack (the request is recorded first)")
    services = req.services
    row = req.replaying
    if row is None:
        row = record_request(req, taken=services.runs_work)
        if row is None or not services.runs_work:
            # Slack delivered it again (the first delivery's work runs, or ran); or the inbox
            # process runs it (`golive serve`).
            req.ack(**ack)
            return
    req.inbox_row = row
    req.ack(**ack)

    def finish() -> None:
        try:
            inbox.finish(services.db, row, datetime.now(UTC))
        except Exception:  # its lease runs out and it is replayed: the work is idempotent
            log.exception("could not mark inbox row %s done", row)

    def answer_and_finish(follow_up: Callable[[], None]) -> None:
        try:
            _logged(follow_up)
        finally:
            finish()

    def run() -> None:
        try:
            follow_up = _guarded(req, work, database_errors=False)
        except OperationalError:  # unreachable, or SQLite locked past its busy timeout
            log.warning(
                "inbox row %s: the database failed its work; taken again when its lease runs out", row
            )
            return
        if follow_up is None:
            finish()
            return
        try:
            services.listeners.submit(answer_and_finish, follow_up)
        except RuntimeError:  # the bot is stopping (its listener pool is shut): answer from here
            answer_and_finish(follow_up)

    services.after_ack.submit(run)


def record_request(req: Request, *, taken: bool = True) -> int | None:
    """Put the request in the inbox: its body as received over HTTP (in Socket Mode, which has
    none, the payload as JSON), its headers and a key from Slack's ids; `taken` by this process
    (which runs it now) or left for the inbox process. The row's id, or None when this delivery
    is recorded already."""
    raw = req.raw
    body = raw.raw_body if raw is not None else ""
    headers: dict[str, Any] = dict(raw.headers) if raw is not None else {}
    if not body:
        body = json.dumps(req.body)
        headers = {"content-type": ["application/json"]}
    return inbox.record(
        req.services.db,
        key=dedupe_key(req.kind, req.body, body),
        kind=req.kind,
        body=body,
        headers=headers,
        now=datetime.now(UTC),
        lease=timedelta(seconds=req.services.settings.golive_inbox_lease_seconds),
        taken=taken,
    )


def dedupe_key(kind: str, body: dict[str, Any], raw: str) -> str:
    """The same for every delivery of one request: an event's event_id, an interaction's or a
    command's trigger_id (with the action's time: one trigger can carry several actions), else a
    digest of the body."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    trigger = body.get("trigger_id")
    if trigger:
        actions = body.get("actions") or [{}]
        stamp = actions[0].get("action_ts") if isinstance(actions[0], dict) else None
        return f"{kind}:{trigger}:{stamp or ''}"
    return f"{kind}:sha256:{hashlib.sha256(raw.encode('utf-8')).hexdigest()}"


def _logged(call: Callable[[], None]) -> None:
    try:
        call()
    except Exception:
        log.exception("a reply after the ack failed")
