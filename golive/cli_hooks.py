"""`golive hooks`: the events golive sends out (docs/events.md) — test a receiver, read the log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from bot.config import ConfigError, Settings, configure_logging, load_settings

hooks_app = typer.Typer(help="Events out: webhooks to a CRM or a billing system.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"golive: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    """The settings, or the one line that says what to fix (exit 2), as every command does."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from None
    configure_logging(settings.log_level)
    return settings


@hooks_app.command("test")
def hooks_test(
    url: Annotated[str, typer.Argument(help="The receiver's URL, e.g. https://crm.example/golive-events")],
    secret: Annotated[
        str | None,
        typer.Option(
            help="Sign with this secret (default: the URL's own in GOLIVE_HOOK_URLS, else GOLIVE_HOOK_SECRET)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.5, max=60, help="Seconds to wait for the answer.")] = 10.0,
) -> None:
    """Send a signed `golive.test` event to URL now and print the answer; exit 1 unless it is 2xx."""
    from bot.events.delivery import send_test

    if not url.startswith(("http://", "https://")):
        _fail(f"{url!r} is not an http(s) URL")
    settings = _settings()
    if secret is None:
        try:
            own = {t.url: t.secret for t in settings.hook_targets}
        except ConfigError:
            own = {}
        secret = own.get(url) or settings.golive_hook_secret
    if not secret:
        _fail("no secret to sign with: set GOLIVE_HOOK_SECRET, list the URL as URL|secret, or give --secret")
    assert secret is not None
    event_id, answer = send_test(url, secret, datetime.now(UTC), timeout=timeout)
    took = f"{answer.seconds * 1000:.0f} ms"
    if answer.ok:
        typer.echo(f"{url}: HTTP {answer.status} in {took} (event {event_id}): delivered")
        return
    typer.echo(f"{url}: {answer.error} after {took} (event {event_id}): not delivered", err=True)
    raise typer.Exit(1)


@hooks_app.command("log")
def hooks_log(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many deliveries, newest first.")] = 20,
) -> None:
    """The latest deliveries: when, which event, to which target, and how it went."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.events.delivery import describe
    from storage import hook_deliveries
    from storage.db import Database

    settings = _settings()
    db = Database(settings.effective_database_url)
    try:
        rows = hook_deliveries.recent(db, limit)
    except SQLAlchemyError as exc:
        _fail(
            f"the database could not be read ({type(exc).__name__}); run `golive db upgrade` if it is "
            "behind this version"
        )
        return
    finally:
        db.dispose()
    if not rows:
        typer.echo("no events sent yet (set GOLIVE_HOOK_URLS to send them)")
        return
    for r in rows:
        when = r.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
        about = f"engagement {r.engagement_id}" if r.engagement_id is not None else "no engagement"
        state = describe(r.status, r.attempts, r.last_status, r.last_error)
        typer.echo(f"{when}  {r.event:<18} {about:<16} {r.target}  {r.event_id}  {state}")
