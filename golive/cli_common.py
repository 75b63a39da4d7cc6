"""What every `golive` subcommand shares: a one-line failure (exit 2), the settings or that
failure, the database migrated or that failure."""

from __future__ import annotations

import typer

from bot.config import ConfigError, Settings, configure_logging, load_settings


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"golive: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from None
    configure_logging(settings.log_level)
    return settings


def migrate_or_exit(settings: Settings) -> None:
    from storage.migrate import upgrade

    try:
        upgrade(settings.effective_database_url)
    except Exception as exc:
        fail(
            f"DATABASE_URL {_redacted(settings.effective_database_url)} could not be migrated "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); check that the database is reachable"
        )


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"
