"""`golive deal FILE.json`: a deal won, from the command line, as `POST /hooks/deal` takes it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def deal(
    file: Annotated[
        Path, typer.Argument(help="The deal as JSON (the shape POST /hooks/deal takes); - reads stdin.")
    ],
) -> None:
    """Record a deal won and set up its channel now: the engagement (once per deal id, however
    often it is sent), the Slack Connect channel and the invitations to the customer's contacts."""
    from sqlmodel import select

    from bot.deals import setup
    from bot.deals.deal import DealProblem, parse_deal
    from bot.deals.intake import receive
    from golive.app import build_services
    from golive.cli_common import fail, migrate_or_exit, settings_or_exit
    from storage.models import Deal

    settings = settings_or_exit()
    if not settings.golive_create_channels:
        fail("deals make channels: set GOLIVE_CREATE_CHANNELS=true (and reinstall the app with its scopes)")
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot read it ({exc.strerror})")
    try:
        document = json.loads(text)
    except ValueError as exc:
        fail(f"{file}: not JSON ({exc})")
    try:
        found = parse_deal(document)
    except DealProblem as exc:
        fail(f"{file}: {exc}")
    settings.require_bot_token()
    migrate_or_exit(settings)
    services = build_services(settings)
    try:
        received = receive(services, found, source="cli")
    except DealProblem as exc:
        fail(f"{file}: {exc}")
    typer.echo(f"deal {received.deal_id}: engagement {received.engagement_id} {received.outcome}")
    for change in received.changes:
        typer.echo(f"  {change}")
    for warning in received.warnings:  # the lead over GOLIVE_CAPACITY (bot.engagement.capacity)
        typer.echo(f"  worth a look: {warning}")
    setup.run_due(services)
    with services.db.read() as session:
        row = session.exec(select(Deal).where(Deal.deal_id == received.deal_id)).first()
    if row is not None:
        where = f" #{row.channel_name} ({row.channel_id})" if row.channel_id else ""
        typer.echo(f"  channel{where}: {row.state}" + (f" — {row.problem}" if row.problem else ""))
    services.outbox.wait_idle(timeout=30)
    services.db.dispose()
