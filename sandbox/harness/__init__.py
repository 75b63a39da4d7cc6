"""The bot and the Slack stand-in wired together on loopback: a testing harness, not product.

Used by the end-to-end tests, `golive sandbox` and the `bench/` scripts: a real Bolt app behind
a real HTTP server, whose Web API calls go to the stand-in, and a driver that sends signed
requests. It lives outside `bot/` because nothing in the product needs the stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.config import load_settings
from bot.slack.manifest import bot_events, scopes
from golive.app import Bot, build_bot, build_services
from golive.server import InProcessServer
from standin import SlackDriver, SlackStandIn
from storage.migrate import upgrade

VENDOR_TEAM = "T0VENDOR"
CUSTOMER_TEAM = "T0CUST"
BOT_TOKEN = "xoxb-golive-standin"
SIGNING_SECRET = "standin-signing-secret"


@dataclass(frozen=True)
class Persona:
    user_id: str
    name: str
    team_id: str
    title: str
    email: str | None = None  # the stand-in's profile email (a deal's contacts are invited by it)


LEAD = Persona("U0LEAD", "Lena Lead", VENDOR_TEAM, "Lead consultant")
CONSULTANT = Persona("U0CONS", "Carl Consultant", VENDOR_TEAM, "Consultant")
OUTSIDER = Persona("U0OTHER", "Olaf Other", VENDOR_TEAM, "Vendor colleague")
APPROVER = Persona("U0APPR", "Ada Approver", CUSTOMER_TEAM, "Customer approver", "ada@acme.example")
CONTRIBUTOR = Persona(
    "U0CONTRIB", "Cody Contributor", CUSTOMER_TEAM, "Customer contributor", "cody@acme.example"
)
SPONSOR = Persona("U0SPONSOR", "Sam Sponsor", CUSTOMER_TEAM, "Customer executive sponsor", "sam@acme.example")
PERSONAS = (LEAD, CONSULTANT, OUTSIDER, APPROVER, CONTRIBUTOR, SPONSOR)
CHANNEL = "C0ACME"


def start_standin(
    *,
    customer_tz: str = "Europe/Berlin",
    app_token: str | None = None,
    create_channels: bool = False,
    project_canvas: bool = False,
) -> SlackStandIn:
    """The stand-in with the vendor's and the customer's workspaces, the personas and the
    shared channel, started on a free loopback port. The bot token holds exactly the scopes the
    app manifest asks for, so a Web API call outside them fails as it would in Slack."""
    s = SlackStandIn(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        team_id=VENDOR_TEAM,
        team_name="Vendor Inc",
        bot_user_id="U0BOT",
        bot_id="B0BOT",
        app_token=app_token,
        scopes=scopes(create_channels=create_channels, project_canvas=project_canvas),
    )
    # and the app gets the events the manifest subscribes to, no others
    s.set_subscriptions(bot_events(create_channels=create_channels))
    s.start()
    s.add_team(CUSTOMER_TEAM, "Acme Corp")
    for p in PERSONAS:
        tz = customer_tz if p.team_id == CUSTOMER_TEAM else "Europe/London"
        s.add_user(p.user_id, name=p.name, team_id=p.team_id, tz=tz, email=p.email)
    s.add_channel(CHANNEL, name="acme-implementation", ext_shared=True, members=[p.user_id for p in PERSONAS])
    return s


class Harness:
    def __init__(
        self,
        database_url: str,
        *,
        clock: Clock | None = None,
        env: dict[str, Any] | None = None,
        port: int = 0,
        customer_tz: str = "Europe/Berlin",
    ) -> None:
        self.database_url = database_url
        self.clock = clock or Clock()
        self.env = env or {}
        self.port = port
        self.customer_tz = customer_tz
        self.standin: SlackStandIn
        self.bot: Bot
        self.server: InProcessServer
        self.driver: SlackDriver

    def start(self) -> Harness:
        create = str(self.env.get("GOLIVE_CREATE_CHANNELS", "")).lower() in ("1", "true", "yes")
        canvas = str(self.env.get("GOLIVE_PROJECT_CANVAS", "")).lower() in ("1", "true", "yes")
        s = start_standin(customer_tz=self.customer_tz, create_channels=create, project_canvas=canvas)
        self.standin = s
        overrides: dict[str, Any] = {
            "SLACK_API_URL": s.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": self.database_url,
            "GOLIVE_DEFAULT_TIMEZONE": "UTC",
        }
        settings = load_settings(_env_file=None, **(overrides | self.env))
        upgrade(settings.effective_database_url)
        services = build_services(settings, clock=self.clock)
        self.bot = build_bot(services)
        # The tests wait for the bot to be idle after each request: the Home fan-out's half-second
        # gathering (a CPU saving under bursts, tested in test_outbox_queue) would add half a
        # second to every one of them.
        self.bot.outbox.gathering = False
        self.server = InProcessServer(self.bot, port=self.port).start()
        self.driver = SlackDriver(s, bot_url=self.server.events_url)
        return self

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.bot.services

    def idle(self, timeout: float = 10.0) -> None:
        """Wait until every listener has finished its after-the-ack work and the outbox has sent
        everything they queued (paced, 429s waited out)."""
        if not self.bot.wait_idle(timeout):
            outbox = self.bot.outbox
            raise AssertionError(
                f"the bot was still busy after {timeout}s "
                f"(outbox: {outbox.depth} waiting, {outbox.in_flight} running)"
            )

    def lift_rate_limits(self) -> None:
        """Lift Slack's rate limits in the stand-in and the bot's pacing, for a test that
        compresses weeks of work into seconds to test something else (the limits and the pacing
        have tests of their own; the harness otherwise runs with Slack's)."""
        for method in list(self.standin.rate_limits):
            self.standin.set_rate_limit(method, None)
        pacer = self.bot.outbox.pacer
        for method in list(pacer.paces):
            pacer.set(method, None)

    def command(self, text: str, user: Persona | str = LEAD, channel: str = CHANNEL, **kw: Any) -> Any:
        user_id = user.user_id if isinstance(user, Persona) else user
        r = self.driver.command(self.services.command, text, user=user_id, channel=channel, **kw)
        self.idle()
        return r

    def run_sweep(self, *, dry_run: bool = False):  # type: ignore[no-untyped-def]
        """One reminder sweep at the harness clock's time; waits for the bot to be idle first."""
        from bot.reminders.sweep import Sweeper

        self.idle()
        if not hasattr(self, "_sweeper"):
            self._sweeper = Sweeper(self.services, worker="harness")
        return self._sweeper.run(self.clock.now(), dry_run=dry_run)

    def stop(self) -> None:
        try:
            self.server.stop()
            self.bot.close()
        finally:
            self.standin.stop()


def sqlite_url(directory: Path, name: str = "golive.sqlite3") -> str:
    return f"sqlite:///{(directory / name).as_posix()}"


@contextmanager
def scratch_postgres(server_url: str, prefix: str = "golive_bench") -> Iterator[str]:
    """A new PostgreSQL database on the server of `server_url`, dropped afterwards: its URL (the
    benchmarks; the tests' `pg_url` fixture drops its own at the end of the test session)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
