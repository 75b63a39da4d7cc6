"""Building the bot: settings → database, Slack client, templates, Bolt app with listeners.

The outbox (the paced queue of the bot's posts and message updates) is built with the services
and its workers run with the bot: `build_bot` starts them, `Bot.close` drains and stops them
after the listeners have finished.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.clock import Clock
from bot.commands import build_commands
from bot.config import ConfigError, Settings
from bot.engagement.playbook import Playbook, PlaybookError, load_playbook
from bot.engagement.playbook_check import check_file, choice_problems, playbook_paths
from bot.events import emit as events_out
from bot.events.delivery import HookWorker
from bot.executor import TrackingExecutor
from bot.services import Services
from bot.slack.client import make_client
from bot.slack.gateway import SlackGateway
from bot.slack.outbox import Outbox, make_outbox_client
from messages import Renderer
from storage.db import Database

log = logging.getLogger("golive")

LISTENER_THREADS_MIN = 64
# Work a click or an item command does after its ack (the reads, the write, its audit row, the
# refresh it queues) runs on this many workers per process (`handlers.listening.after_ack`); a burst
# queues for them, where it does not compete for the GIL. Without them a burst of ticks left
# dozens of listener threads writing at once, and a new request's ack took its turn for the
# interpreter behind all of them: ten clients ticking, p50 2.0x a bare ack; with two, 1.3x, at
# the same CPU per tick (bench/ack_latency.py).
AFTER_ACK_SLOTS = 2
# How long a stopping bot keeps sending what is queued: under gunicorn's graceful_timeout (25 s).
OUTBOX_DRAIN_SECONDS = 15.0


@dataclass
class Bot:
    app: App
    services: Services
    executor: TrackingExecutor
    scheduler: Any = None
    inbox: Any = None  # golive.inbox.InboxWorker, when started (`start_runtime`)
    hooks: HookWorker | None = None  # the deliverer of events out, when targets are configured

    @property
    def outbox(self) -> Outbox:
        return self.services.outbox

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every listener has finished, with its work after the ack and what that handed
        back to a listener thread (replies), and the outbox has sent everything they queued."""
        deadline = time.monotonic() + timeout
        for pool in (self.executor, self.services.after_ack, self.executor):
            if not pool.wait_idle(max(0.0, deadline - time.monotonic())):
                return False
        return self.outbox.wait_idle(max(0.0, deadline - time.monotonic()))

    def close(self, drain_seconds: float = OUTBOX_DRAIN_SECONDS) -> None:
        """Finish the listeners and their work after the ack, then send what they queued (for up
        to `drain_seconds`)."""
        if self.inbox is not None:  # takes no more rows; what it replays finishes below
            self.inbox.stop()
        if self.hooks is not None:  # what it has not delivered stays queued in the database
            self.hooks.stop()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.services.after_ack.shutdown(wait=True, cancel_futures=False)
        self.outbox.stop(drain_seconds)
        self.services.db.dispose()


def seal_key(settings: Settings) -> bytes:
    """The key that seals modal metadata: the signing secret, or in Socket Mode (which has none)
    the bot token; never sent anywhere."""
    secret = settings.slack_signing_secret or settings.slack_bot_token or ""
    return hashlib.sha256(b"golive-seal:" + secret.encode("utf-8")).digest()


def load_playbook_dir(directory: Path | None) -> dict[str, Playbook]:
    """GOLIVE_PLAYBOOKS_DIR's playbooks by key, each valid and no two fitting a deal equally well
    (what `golive playbook check DIR` reports); ConfigError otherwise."""
    if directory is None:
        return {}
    if not directory.is_dir():
        raise ConfigError(f"GOLIVE_PLAYBOOKS_DIR {directory} is not a directory")
    try:
        reports = [check_file(path) for path in playbook_paths([directory])]
    except OSError as exc:
        raise ConfigError(f"GOLIVE_PLAYBOOKS_DIR cannot be read ({exc.strerror}); check the path") from None
    bad = [(r.path, p) for r in reports for p in r.problems] + choice_problems(reports)
    if bad:
        path, problem = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ConfigError(
            f"GOLIVE_PLAYBOOKS_DIR: {path.name} is not valid ({problem}){more}; "
            f"run `golive playbook check {directory}`"
        )
    return {r.path.stem: r.playbook for r in reports if r.playbook is not None}


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    renderer: Renderer | None = None,
) -> Services:
    try:
        playbook = load_playbook(settings.golive_playbook)
    except PlaybookError as exc:
        raise ConfigError(
            f"GOLIVE_PLAYBOOK {exc.source} is not a valid playbook ({exc.problems[0]}); "
            f"run `golive playbook check {exc.source}`"
        ) from None
    except OSError as exc:
        raise ConfigError(f"GOLIVE_PLAYBOOK cannot be read ({exc.strerror}); check the path") from None
    playbooks = load_playbook_dir(settings.golive_playbooks_dir)
    if settings.golive_template_dir is not None and not settings.golive_template_dir.is_dir():
        raise ConfigError(f"GOLIVE_TEMPLATE_DIR {settings.golive_template_dir} is not a directory")
    clock = clock or Clock()
    hook_targets = settings.hook_targets  # a ConfigError before anything is opened
    db = db or Database(settings.effective_database_url)
    events_out.configure(db, hook_targets)  # the events its changes queue go there
    timeout = settings.slack_timeout_seconds
    client = make_client(settings.slack_bot_token, settings.slack_api_url, timeout=timeout)
    key = seal_key(settings)
    outbox_client = make_outbox_client(settings.slack_bot_token, settings.slack_api_url, timeout=timeout)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        renderer=renderer or Renderer(settings.golive_template_dir),
        slack=SlackGateway(client, db, clock, seal_key=key),
        playbook=playbook,
        playbooks=playbooks,
        commands=build_commands(settings.golive_command),
        outbox=Outbox(SlackGateway(outbox_client, db, clock, seal_key=key)),  # started by build_bot
        # Listeners ack first, then wait on Slack (rate limits can make that seconds). The pool is
        # several times the HTTP threads so slow after-the-ack work never leaves a new request
        # waiting for a thread to ack it; the threads are I/O-bound and cheap. (Threads start only
        # when work comes: a `golive sweep` starts none.)
        listeners=TrackingExecutor(max_workers=max(LISTENER_THREADS_MIN, 4 * settings.golive_workers)),
        after_ack=TrackingExecutor(
            max_workers=AFTER_ACK_SLOTS, name="golive-after-ack", gauge=metrics.AFTER_ACK_PENDING
        ),
    )


def build_bot(services: Services) -> Bot:
    """The Bolt app with every listener registered. Calls auth.test once to check the token."""
    from handlers import register

    settings = services.settings
    executor = services.listeners
    try:
        app = App(
            client=services.slack.client,
            signing_secret=settings.slack_signing_secret or "",
            # HTTP requests are verified by the gate before Bolt sees them (`golive.server`); in
            # Socket Mode there is no signature; a replayed request (`golive.inbox`) was verified
            # when it arrived, minutes or hours before its timestamp would pass a check again.
            request_verification_enabled=False,
            # Bolt answers when a listener returns; golive's listeners return at their ack and go
            # on on the listener pool (`handlers.listening.listener`). Lazy listeners run after.
            process_before_response=True,
            listener_executor=executor,
            logger=logging.getLogger("golive.bolt"),
        )
    except SlackApiError as exc:
        executor.shutdown()
        error = exc.response.get("error") if exc.response is not None else "no answer"
        raise ConfigError(
            f"SLACK_BOT_TOKEN was refused by Slack at {settings.slack_api_url} ({error}); "
            "copy the current Bot User OAuth Token from the app's OAuth & Permissions page"
        ) from None
    except Exception as exc:  # connection refused, DNS, TLS
        executor.shutdown()
        raise ConfigError(
            f"SLACK_API_URL {settings.slack_api_url} did not answer ({type(exc).__name__}: {exc}); "
            "check the URL and the network"
        ) from None
    register(app, services)
    services.outbox.start()
    targets = settings.hook_targets
    hooks = (
        HookWorker(
            services.db, services.clock.now, targets, poll_seconds=settings.golive_sweep_seconds
        ).start()
        if targets
        else None
    )
    return Bot(app=app, services=services, executor=executor, hooks=hooks)
