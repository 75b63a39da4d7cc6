"""Running a listener: the error policy every listener has, and work after the ack.

`listener(services, fn)` wraps a handler so that a `UserError` becomes its friendly ephemeral
message and any other exception a short apology with a reference id (the log holds the same id
with the traceback): the user never sees a raw error. `after_ack(req, work)` acks and runs the
rest on the process's few after-the-ack workers under the same policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext, BoltRequest

from bot.errors import UserError, new_reference
from bot.people.sides import CUSTOMER_UNKNOWN, NoSide
from bot.services import Services
from handlers.base import FORM_NOT_OURS, RAW_BODY, Request, identify, learn_customer

log = logging.getLogger("golive.handlers")


Handler = Callable[[Request], None]


def listener(services: Services, fn: Handler) -> Callable[..., None]:
    """Adapt `fn(Request)` to a Bolt listener with the error policy above."""

    def bolt_listener(ack: Ack, body: dict[str, Any], context: BoltContext, request: BoltRequest) -> None:
        req = Request(services, ack, body, context, raw=request)
        try:
            reply = _guarded(req, _checked(fn))
            if reply is not None:
                _logged(reply)
        finally:
            if not req.acked:
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


def _guarded(req: Request, fn: Callable[[Request], Any]) -> Callable[[], None] | None:
    """Run `fn(req)` under the error policy above: a UserError becomes its friendly message, any
    other exception an apology with a reference id. Returns what to answer (a Slack call, made by
    the caller) or fn's own follow-up (None when there is nothing)."""
    services = req.services
    try:
        try:
            return fn(req)
        except NoSide as exc:
            # Nothing was written; once the customer's organisation is learned, go again.
            if exc.reason != CUSTOMER_UNKNOWN or not learn_customer(req):
                raise
            return fn(req)
    except UserError as exc:
        message = services.error(exc.message, exc.usage)
        return lambda: req.reply(message)
    except Exception:
        ref = new_reference()
        log.exception("[ref %s] %s failed for user %s", ref, getattr(fn, "__name__", "listener"), req.user_id)
        try:
            apology = services.renderer.message("apology.json.j2", ref=ref)
        except Exception:
            log.exception("[ref %s] could not render the apology", ref)
            return None
        return lambda: req.reply(apology)


def after_ack(req: Request, work: Callable[[Request], Callable[[], None] | None]) -> None:
    """Ack now; run `work(req)` on the process's few after-the-ack workers
    (`Services.after_ack`), under the listener's error policy; then make the Slack call it returns
    (a reply, its follow-up) on a listener thread, so a worker never waits on Slack.

    The listener's thread is given back at once: a burst of clicks queues for the workers, not in
    Bolt's listener pool, where a new request needs a free thread before it can be acked. (With
    the work held on a semaphore in the listener's thread, 50 clients ticking filled the pool of
    64 threads per process, and the last ticks of each burst waited 300-400 ms for their ack.)"""
    req.ack()
    services = req.services

    def run() -> None:
        follow_up = _guarded(req, work)
        if follow_up is None:
            return
        try:
            services.listeners.submit(_logged, follow_up)
        except RuntimeError:  # the bot is stopping (its listener pool is shut): answer from here
            _logged(follow_up)

    body = req.context.get(RAW_BODY)  # set by the HTTP server: under `golive serve`, always
    if services.forwarder is not None and req.raw is not None and isinstance(body, bytes):
        # Under `golive serve`: the deferred-work process runs it (`golive.deferred`); if it
        # cannot be reached, the forwarder hands `run` back to this process's workers.
        services.forwarder.send(body, dict(req.raw.headers), run)
        return
    services.after_ack.submit(run)


def _logged(call: Callable[[], None]) -> None:
    try:
        call()
    except Exception:
        log.exception("a reply after the ack failed")
