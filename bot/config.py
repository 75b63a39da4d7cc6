"""Configuration from the environment and an optional `.env` file.

Every problem becomes a `ConfigError` whose message is one line naming the variable and
what to do; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
DEFAULT_SQLITE_NAME = "golive.sqlite3"


class ConfigError(Exception):
    """A configuration problem the user must fix; the message is one line."""


class HookTarget(NamedTuple):
    """A webhook target of the events golive sends out, and the secret that signs them."""

    url: str
    secret: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    golive_data_dir: Path = Field(default=DEFAULT_DATA_DIR, alias="GOLIVE_DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    golive_command: str = Field(default="/golive", alias="GOLIVE_COMMAND")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", alias="LOG_LEVEL"
    )
    golive_default_timezone: str = Field(default="UTC", alias="GOLIVE_DEFAULT_TIMEZONE")
    golive_template_dir: Path | None = Field(default=None, alias="GOLIVE_TEMPLATE_DIR")
    golive_playbook: Path | None = Field(default=None, alias="GOLIVE_PLAYBOOK")
    # Several playbooks, chosen by a deal's fields (their `when:`, docs/playbooks.md); GOLIVE_PLAYBOOK
    # (or the built-in one) stays the default, for engagements started by hand.
    golive_playbooks_dir: Path | None = Field(default=None, alias="GOLIVE_PLAYBOOKS_DIR")
    golive_sweep_seconds: int = Field(default=60, ge=1, le=3600, alias="GOLIVE_SWEEP_SECONDS")
    golive_workers: int = Field(default=8, ge=1, le=64, alias="GOLIVE_WORKERS")
    # Server processes of `golive serve` (gunicorn workers); 0 = one per CPU core (on SQLite at
    # most two).
    golive_web_workers: int = Field(default=0, ge=0, le=32, alias="GOLIVE_WEB_WORKERS")
    # `golive serve` runs the work of acked requests (ticks, item commands, form saves) in a
    # process of its own at a lower priority, taken from the inbox, so acks never wait behind it.
    golive_inbox_process: bool = Field(default=True, alias="GOLIVE_INBOX_PROCESS")
    # Its niceness: 10 gives it about a tenth of a request process's share of a busy core.
    golive_inbox_nice: int = Field(default=10, ge=0, le=19, alias="GOLIVE_INBOX_NICE")
    # How long a bot process holds an acked request's work (`storage.inbox`) before another may
    # take it: how soon a restarted or surviving process finishes what a killed one acked.
    golive_inbox_lease_seconds: int = Field(default=30, ge=2, le=3600, alias="GOLIVE_INBOX_LEASE_SECONDS")
    # GET /metrics (Prometheus). Route only /slack/events from the internet to the bot.
    golive_metrics: bool = Field(default=True, alias="GOLIVE_METRICS")
    slack_timeout_seconds: int = Field(default=15, ge=1, le=120, alias="GOLIVE_SLACK_TIMEOUT")
    # The vendor's golive admins: they see every engagement in App Home, also those whose channel
    # they are not in. Comma-separated user ids (U…, W…) and user groups (S…, e.g. the
    # implementation leads; needs the usergroups:read scope).
    golive_admins_raw: str = Field(default="", alias="GOLIVE_ADMINS")
    # Deals from the CRM (`POST /hooks/deal`, `bot.deals`): the secret golive's own hook is signed
    # with (and the events golive sends out); HubSpot's app secret (`POST /hooks/hubspot`);
    # Salesforce's organisation id (`POST /hooks/salesforce`); optional mapping files.
    golive_hook_secret: str | None = Field(default=None, alias="GOLIVE_HOOK_SECRET")
    golive_hubspot_secret: str | None = Field(default=None, alias="GOLIVE_HUBSPOT_SECRET")
    golive_hubspot_mapping: Path | None = Field(default=None, alias="GOLIVE_HUBSPOT_MAPPING")
    golive_salesforce_org_id: str | None = Field(default=None, alias="GOLIVE_SALESFORCE_ORG_ID")
    golive_salesforce_mapping: Path | None = Field(default=None, alias="GOLIVE_SALESFORCE_MAPPING")
    # A deal's channel: created by the bot (needs the channels:manage, groups:write and
    # conversations.connect:write scopes, in the manifest only when this is on), named from the
    # template ({customer}: the customer's name as a channel name), private unless set false.
    golive_create_channels: bool = Field(default=False, alias="GOLIVE_CREATE_CHANNELS")
    # The project page (issue 28): a canvas tab in each engagement's channel (paid plans; scopes
    # canvases:write and pins:write, in the manifest only when this is on), a pinned message
    # where canvases are refused.
    golive_project_canvas: bool = Field(default=False, alias="GOLIVE_PROJECT_CANVAS")
    # Socket Mode has no HTTP server: the deal hooks listen here when a port is given.
    golive_hook_port: int | None = Field(default=None, ge=1, le=65535, alias="GOLIVE_HOOK_PORT")
    golive_hook_host: str = Field(default="0.0.0.0", alias="GOLIVE_HOOK_HOST")
    golive_channel_name: str = Field(default="ext-{customer}-implementation", alias="GOLIVE_CHANNEL_NAME")
    golive_channel_private: bool = Field(default=True, alias="GOLIVE_CHANNEL_PRIVATE")
    # The vendor's people invited to every deal's channel besides its lead (user ids, comma-separated).
    golive_deal_team_raw: str = Field(default="", alias="GOLIVE_DEAL_TEAM")
    # Events out (`bot.events`): the webhook targets, comma-separated, each `URL` (signed with
    # GOLIVE_HOOK_SECRET) or `URL|secret` (signed with its own secret).
    golive_hook_urls_raw: str = Field(default="", alias="GOLIVE_HOOK_URLS")
    # Consultant capacity (`bot.engagement.capacity`): weighted units one person carries (small 1,
    # medium 2, enterprise 3) before starting another engagement for them warns and names the least
    # loaded consultant; App Home marks whoever is over it. Unset: no warning.
    golive_capacity: int | None = Field(default=None, ge=1, le=1000, alias="GOLIVE_CAPACITY")
    # Ratings (`bot.engagement.ratings`) anonymous to the consultant: a low rating's alert to the
    # lead and the audit row do not name the person who gave it.
    golive_ratings_anonymous: bool = Field(default=False, alias="GOLIVE_RATINGS_ANONYMOUS")
    # The share (0 to 1) of gates whose approver is asked to rate them, chosen by a hash of the
    # engagement and gate (`ratings.sampled`); the go-live is always asked unless it is 0 (off).
    golive_ratings_sample: float = Field(default=1.0, ge=0.0, le=1.0, alias="GOLIVE_RATINGS_SAMPLE")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("golive_capacity", mode="before")
    @classmethod
    def _capacity(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("golive_admins_raw")
    @classmethod
    def _admins(cls, v: str) -> str:
        for token in (t.strip() for t in v.split(",")):
            if token and not re.fullmatch(r"[UWS][A-Z0-9]{2,31}", token):
                raise ValueError(
                    f"{token!r} is not a Slack user id (U…/W…) or user group id (S…); "
                    "list them comma-separated, e.g. U012AB3CD,S0LEADS"
                )
        return v

    @field_validator("golive_deal_team_raw")
    @classmethod
    def _deal_team(cls, v: str) -> str:
        for token in (t.strip() for t in v.split(",")):
            if token and not re.fullmatch(r"[UW][A-Z0-9]{2,31}", token):
                raise ValueError(f"{token!r} is not a Slack user id (U…/W…); list them comma-separated")
        return v

    @field_validator("golive_channel_name")
    @classmethod
    def _channel_name(cls, v: str) -> str:
        if "{customer}" not in v:
            raise ValueError("must contain {customer}, e.g. ext-{customer}-implementation")
        return v

    @field_validator("golive_hook_urls_raw")
    @classmethod
    def _hook_urls(cls, v: str) -> str:
        seen: set[str] = set()
        for entry in (e.strip() for e in v.split(",")):
            if not entry:
                continue
            url, bar, secret = entry.partition("|")
            url = url.strip()
            if not re.fullmatch(r"https?://[^\s/|]+(/\S*)?", url) or len(url) > 500:
                raise ValueError(
                    f"{url[:80]!r} is not an http(s) URL; list the targets comma-separated, each "
                    "URL or URL|secret, e.g. https://crm.example/golive,https://bill.example/in|s3cret"
                )
            if bar and not secret.strip():
                raise ValueError(
                    f"{url[:80]!r} has a | but no secret after it; write URL|secret, or the URL alone"
                )
            if url in seen:
                raise ValueError(f"{url[:80]!r} is listed twice; list each target once")
            seen.add(url)
        return v

    @property
    def hook_targets(self) -> tuple[HookTarget, ...]:
        """GOLIVE_HOOK_URLS read: each target with the secret its events are signed with. Raises
        ConfigError when a target has no secret of its own and GOLIVE_HOOK_SECRET is not set."""
        targets = []
        for entry in (e.strip() for e in self.golive_hook_urls_raw.split(",")):
            if not entry:
                continue
            url, _bar, own = entry.partition("|")
            secret = own.strip() or self.golive_hook_secret
            if not secret:
                raise ConfigError(
                    f"GOLIVE_HOOK_URLS names {url.strip()[:80]} without a secret of its own and "
                    "GOLIVE_HOOK_SECRET is not set: set GOLIVE_HOOK_SECRET, or write URL|secret"
                )
            targets.append(HookTarget(url.strip(), secret))
        return tuple(targets)

    @property
    def golive_deal_team(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.strip() for t in self.golive_deal_team_raw.split(",") if t.strip()))

    @property
    def golive_admins(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.golive_admins_raw.split(",") if t.strip())

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return v if v.endswith("/") else v + "/"

    @field_validator("golive_command")
    @classmethod
    def _command(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith("/") or len(v) < 2 or " " in v or len(v) > 32:
            raise ValueError("must be a slash command such as /golive")
        return v.lower()

    @field_validator("golive_default_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Europe/Berlin") from exc
        return v

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: str | None) -> str | None:
        if v is not None and v and not v.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb- (OAuth & Permissions page)")
        return v or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: str | None) -> str | None:
        if v is not None and v and not v.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (Basic Information page)")
        return v or None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.golive_data_dir / DEFAULT_SQLITE_NAME).as_posix()}"

    @property
    def command_name(self) -> str:
        return self.golive_command

    def require_bot_token(self) -> None:
        if not self.slack_bot_token:
            raise ConfigError(
                "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your Slack app's "
                "OAuth & Permissions page into the environment or .env"
            )

    def require_slack(self, *, socket: bool = False) -> None:
        """Check what talking to Slack needs; raise a one-line ConfigError otherwise."""
        self.require_bot_token()
        if socket:
            if not self.slack_app_token:
                raise ConfigError(
                    "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with the "
                    "connections:write scope, from your Slack app's Basic Information page"
                )
        elif not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: copy the Signing Secret from your Slack app's Basic "
                "Information page into the environment or .env"
            )


def load_settings(**overrides: Any) -> Settings:
    """Read settings; turn validation failures into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err.get("loc") or ("?",)
        name = str(loc[0]).upper()
        msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        given = err.get("input")
        shown = (
            f" (got {given!r})"
            # GOLIVE_HOOK_URLS may hold secrets (URL|secret): its messages name the URL instead.
            if isinstance(given, str)
            and "TOKEN" not in name
            and "SECRET" not in name
            and name != "GOLIVE_HOOK_URLS"
            else ""
        )
        raise ConfigError(f"{name} {msg}{shown}; fix it in the environment or .env") from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Migrations say every step at INFO; keep them quiet unless debugging.
    if level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
