"""Building the bot: settings → database, Slack client, templates, Bolt app with listeners."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.commands import build_commands
from bot.engagement.playbook import PlaybookError, load_playbook
from bot.runtime.config import ConfigError, Settings
from bot.runtime.executor import TrackingExecutor
from bot.services import Services
from bot.slack.client import make_client
from bot.slack.gateway import SlackGateway
from messages import Renderer
from storage.db import Database

log = logging.getLogger("golive")

LISTENER_THREADS_MIN = 64


@dataclass
class Bot:
    app: App
    services: Services
    executor: TrackingExecutor
    scheduler: Any = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.executor.wait_idle(timeout)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.services.db.dispose()


def seal_key(settings: Settings) -> bytes:
    """The key that seals modal metadata: the signing secret, or in Socket Mode (which has none)
    the bot token; never sent anywhere."""
    secret = settings.slack_signing_secret or settings.slack_bot_token or ""
    return hashlib.sha256(b"golive-seal:" + secret.encode("utf-8")).digest()


def build_services(settings: Settings, *, clock: Clock | None = None, db: Database | None = None) -> Services:
    try:
        playbook = load_playbook(settings.golive_playbook)
    except PlaybookError as exc:
        raise ConfigError(
            f"GOLIVE_PLAYBOOK {exc.source} is not a valid playbook ({exc.problems[0]}); "
            f"run `golive playbook check {exc.source}`"
        ) from None
    except OSError as exc:
        raise ConfigError(f"GOLIVE_PLAYBOOK cannot be read ({exc.strerror}); check the path") from None
    if settings.golive_template_dir is not None and not settings.golive_template_dir.is_dir():
        raise ConfigError(f"GOLIVE_TEMPLATE_DIR {settings.golive_template_dir} is not a directory")
    clock = clock or Clock()
    db = db or Database(settings.effective_database_url)
    client = make_client(settings.slack_bot_token, settings.slack_api_url, timeout=settings.slack_timeout_seconds)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        renderer=Renderer(settings.golive_template_dir),
        slack=SlackGateway(client, db, clock, seal_key=seal_key(settings)),
        playbook=playbook,
        commands=build_commands(settings.golive_command),
    )


def build_bot(services: Services, *, socket_mode: bool = False) -> Bot:
    """The Bolt app with every listener registered. Calls auth.test once to check the token."""
    from handlers import register

    settings = services.settings
    # Listeners ack first, then wait on Slack (rate limits can make that seconds). The pool is
    # several times the HTTP threads so slow after-the-ack work never leaves a new request
    # waiting for a thread to ack it; the threads are I/O-bound and cheap.
    executor = TrackingExecutor(max_workers=max(LISTENER_THREADS_MIN, 4 * settings.golive_workers))
    try:
        app = App(
            client=services.slack.client,
            signing_secret=settings.slack_signing_secret or ("socket-mode" if socket_mode else None),
            process_before_response=False,
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
    return Bot(app=app, services=services, executor=executor)
