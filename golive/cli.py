"""The `golive` console script."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.config import ConfigError, Settings, configure_logging, load_settings
from golive import cli_deals
from golive.cli_common import _redacted, fail, migrate_or_exit, settings_or_exit
from golive.cli_hooks import hooks_app

if TYPE_CHECKING:
    from sqlmodel import Session

    from golive.app import Bot
    from storage.models import Engagement

app = typer.Typer(
    name="golive",
    help="golive — run customer implementations in the shared Slack channel.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
playbook_app = typer.Typer(help="Playbook files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(playbook_app, name="playbook")
app.add_typer(hooks_app, name="hooks")

log = logging.getLogger("golive")


def web_workers(settings: Settings) -> int:
    """gunicorn worker processes: as configured, else one per core, on SQLite at most two; with
    the inbox process (the default) one core is left to it.

    One process runs Python on one core at a time (the GIL). With the work after the acks in the
    request processes (two, on two cores), ten clients ticking were answered 2.0-3.8x slower
    than by a bare Bolt app: each tick's work (its inbox row, the reads, the write and its audit
    row, the refresh) took the interpreter from the next acks. With that work in the inbox
    process at a lower priority, one request process beside it answers as fast as a bare Bolt
    app (bench/ack_latency.py, docs/benchmarks.md). SQLite's writers take turns on one file, so
    more than two add memory (about 50 MB each) more than speed."""
    import os

    from storage.db import is_sqlite

    if settings.golive_web_workers:
        return settings.golive_web_workers
    cores = max(1, os.cpu_count() or 1)
    if settings.golive_inbox_process:
        cores = max(1, cores - 1)
    return min(2, cores) if is_sqlite(settings.effective_database_url) else cores


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
) -> None:
    """Run the bot in HTTP mode: POST /slack/events, GET /healthz, GET /metrics."""
    import atexit
    import os
    import shutil
    import tempfile

    # Metrics of every gunicorn worker, summed on /metrics: prometheus_client reads this before
    # its first import, which the line below is. Both directories are made and removed by hand,
    # by the master only: a TemporaryDirectory is removed by every forked process that exits too
    # (gunicorn's workers leave through this function), which took the metric files away from the
    # processes still running.
    master = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="golive-metrics-")

    def remove_directory() -> None:
        if os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    atexit.register(remove_directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    from jinja2 import TemplateError, TemplateSyntaxError

    from golive.app import build_bot, build_services
    from golive.gunicorn_app import run_gunicorn
    from golive.preload import before_fork

    settings = settings_or_exit()
    try:
        settings.require_slack()
        renderer = before_fork(settings)
    except ConfigError as exc:
        fail(str(exc))
    except TemplateSyntaxError as exc:
        fail(
            f"a message template does not compile: {exc.name or exc.filename}, line {exc.lineno}: {exc.message}"
        )
    except TemplateError as exc:
        fail(f"a message template does not compile: {exc}")
    migrate_or_exit(settings)

    inbox_process = settings.golive_inbox_process

    def factory() -> Bot:
        from golive.background import start_runtime

        try:
            services = build_services(settings, renderer=renderer)
            services.runs_work = not inbox_process  # the inbox process runs it
            bot = build_bot(services)
        except ConfigError as exc:
            log.critical("%s", exc)
            sys.exit(2)
        start_runtime(bot)
        return bot

    def on_exit(bot: Bot) -> None:
        from golive.background import stop_runtime

        stop_runtime(bot)

    log.info("golive serving on http://%s:%s/slack/events", host, port)
    # The workers fork from this process after the code above imported the bot: freezing what
    # is alive now keeps the collector in each worker from writing to those objects' pages, which
    # would copy them into every worker (Python's docs, gc.freeze).
    import gc

    gc.collect()
    gc.freeze()
    child = 0
    if inbox_process:
        from golive.inbox import fork_inbox_process

        child = fork_inbox_process(
            lambda: build_bot(build_services(settings, renderer=renderer)), settings.golive_inbox_nice
        )
    try:
        run_gunicorn(
            factory,
            host=host,
            port=port,
            threads=settings.golive_workers,
            workers=web_workers(settings),
            log_level=settings.log_level,
            on_worker_exit=on_exit,
        )
    finally:
        # gunicorn's workers fork inside run_gunicorn and leave through here too: only the master
        # stops the inbox process, once the workers have stopped recording.
        if child and os.getpid() == master:
            from golive.inbox import stop_inbox_process

            stop_inbox_process(child)


@app.command()
def socket() -> None:
    """Run the bot in Socket Mode (needs SLACK_APP_TOKEN); no public URL needed."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from golive.app import build_bot, build_services
    from golive.background import start_runtime, stop_runtime

    settings = settings_or_exit()
    try:
        settings.require_slack(socket=True)
        services = build_services(settings)
    except ConfigError as exc:
        fail(str(exc))
    migrate_or_exit(settings)
    try:
        bot = build_bot(services)
    except ConfigError as exc:
        fail(str(exc))
    handler = SocketModeHandler(bot.app, settings.slack_app_token)
    start_runtime(bot)
    hooks = None
    if settings.golive_hook_port:  # the CRM's deals: Socket Mode has no HTTP server of its own
        from golive.hooks import HookServer

        hooks = HookServer(services, host=settings.golive_hook_host, port=settings.golive_hook_port).start()
        log.info("deal hooks listening on %s", hooks.url)

    def on_term(_sig: int, _frame: object) -> None:
        log.info("SIGTERM: closing the Socket Mode connection")
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        handler.connect()
        log.info("golive connected in Socket Mode")
        signal.pause() if hasattr(signal, "pause") else handler.start()
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()
        if hooks is not None:
            hooks.stop()
        stop_runtime(bot)


@app.command()
def sweep(
    at: Annotated[
        str | None,
        typer.Option(help="Run as if it were this time (ISO-8601, e.g. 2026-12-07T09:30:00+01:00)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; change nothing.")
    ] = False,
) -> None:
    """Run one reminder sweep (for cron, or to look ahead with --at and --dry-run)."""
    from datetime import UTC, datetime

    from bot.clock import Clock
    from bot.reminders.sweep import run_sweep
    from golive.app import build_services

    settings = settings_or_exit()
    clock = Clock()
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO-8601 time; use e.g. 2026-12-07T09:30:00+01:00")
        clock.set(when if when.tzinfo else when.replace(tzinfo=UTC))
    try:
        if not dry_run:
            settings.require_bot_token()
        services = build_services(settings, clock=clock)
    except ConfigError as exc:
        fail(str(exc))
    if not dry_run:
        migrate_or_exit(settings)
    report = run_sweep(services, clock.now(), dry_run=dry_run)
    if dry_run:
        typer.echo(f"dry run at {report.at.isoformat()}: {len(report.would_send)} would be sent")
        for line in report.would_send:
            typer.echo(f"  would send {line}")
    else:
        typer.echo(report.summary())
        for line in report.sent:
            typer.echo(f"  sent {line}")
        for line in report.retried:
            typer.echo(f"  retry {line}")
        for line in report.failed:
            typer.echo(f"  failed {line}")
    for line in report.skipped:
        typer.echo(f"  skipped {line}")
    services.db.dispose()


@app.command()
def report(
    fmt: Annotated[
        str, typer.Option("--format", help="csv (for a spreadsheet) or html (one page with charts).")
    ] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file, not standard output.")
    ] = None,
    at: Annotated[str | None, typer.Option(help="As of this time (ISO-8601); default: now.")] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            help="Processes computing the engagements (from 2,000 engagements on); default: the CPUs, at most 4.",
        ),
    ] = None,
) -> None:
    """The report for the head of implementation: every engagement's forecast against its plan,
    days late, time per phase and sign-off waits; the on-time rate and the median time per
    phase by size."""
    import os
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError

    from bot.engagement.report import build_report
    from bot.exports.report_render import to_csv, to_html
    from golive.app import build_services

    fmt = fmt.lower()
    if fmt not in ("csv", "html"):
        fail(f"--format {fmt!r} is not a report format; use csv or html")
    when = datetime.now(UTC)
    if at:
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO-8601 time; use e.g. 2026-12-07T09:30:00+01:00")
        when = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    settings = settings_or_exit()
    try:
        services = build_services(settings)
    except ConfigError as exc:
        fail(str(exc))
    try:
        with services.db.read() as session:
            data = build_report(
                session,
                services.playbook,
                when,
                database_url=settings.effective_database_url,
                jobs=jobs or min(os.cpu_count() or 1, 4),
                playbooks=services.playbooks,
            )
    except SQLAlchemyError as exc:
        fail(
            f"DATABASE_URL {_redacted(settings.effective_database_url)} could not be read "
            f"({type(exc).__name__}); run `golive db upgrade` if the database is behind this version"
        )
    finally:
        services.db.dispose()
    content = to_csv(data) if fmt == "csv" else to_html(data)
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(content)
    except OSError as exc:
        fail(f"--out {out}: cannot write it ({exc.strerror})")
    typer.echo(f"wrote {out}: {fmt}, {len(data.rows)} engagements", err=True)


@app.command()
def audit(
    engagement: Annotated[
        str,
        typer.Argument(
            help="The engagement: its number (as in the name of the CSV that /golive audit shares), "
            "its channel id, or its customer's name."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file, not standard output.")
    ] = None,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared", help="Only the entries both sides may read (the copy /golive audit shares)."
        ),
    ] = False,
) -> None:
    """An engagement's whole audit trail as CSV, the implementation team's own entries included
    (escalations, snoozes chosen by the lead, flags, paused reminders), which /golive audit
    leaves out of the copy it shares in the channel."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.people import audit as trail_of
    from storage.db import Database

    settings = settings_or_exit()
    db = Database(settings.effective_database_url)
    try:
        with db.read() as session:
            found = _engagements_named(session, engagement)
            if len(found) != 1:
                _no_single_engagement(engagement, found)
            trail = trail_of.trail(session, found[0])
    except SQLAlchemyError as exc:
        fail(
            f"DATABASE_URL {_redacted(settings.effective_database_url)} could not be read "
            f"({type(exc).__name__}); run `golive db upgrade` if the database is behind this version"
        )
    finally:
        db.dispose()
    content = trail.as_csv(everything=not shared)
    rows = trail.shared if shared else trail.rows
    what = f"{len(rows)} entries" + ("" if shared else f", {len(trail.vendor_rows)} of them vendor-only")
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        typer.echo(f"{trail.engagement.customer_name} (engagement {trail.engagement.id}): {what}", err=True)
        return
    try:
        out.write_bytes(content)
    except OSError as exc:
        fail(f"--out {out}: cannot write it ({exc.strerror})")
    typer.echo(
        f"wrote {out}: {trail.engagement.customer_name} (engagement {trail.engagement.id}), {what}", err=True
    )


def _engagements_named(session: Session, ref: str) -> list[Engagement]:
    """The engagements `ref` names: by number, by channel id (the newest first: a channel can
    hold one engagement after another), or by customer name (any case)."""
    from sqlmodel import col, func, select

    from storage.models import Engagement

    ref = ref.strip()
    if ref.isascii() and ref.isdigit() and len(ref) <= 9:
        found = session.get(Engagement, int(ref))
        return [found] if found is not None else []
    newest = col(Engagement.id).desc()
    in_channel = session.exec(select(Engagement).where(Engagement.channel_id == ref).order_by(newest)).all()
    if in_channel:
        return list(in_channel)[:1]
    return list(
        session.exec(
            select(Engagement).where(func.lower(Engagement.customer_name) == ref.lower()).order_by(newest)
        ).all()
    )


def _no_single_engagement(ref: str, found: list[Engagement]) -> None:
    if not found:
        fail(f"no engagement is called {ref!r}; give its number, its channel id or its customer's name")
    listed = ", ".join(f"{e.id} ({e.status}, channel {e.channel_id})" for e in found[:10])
    fail(f"{len(found)} engagements are called {ref!r}: {listed}; give the number of the one you mean")


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port of the local web page.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface; keep it on loopback.")] = "127.0.0.1",
) -> None:
    """Try the whole bot in your browser: a local page that behaves like a shared Slack channel."""
    from sandbox.main import run

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    configure_logging(settings.log_level)
    run(host=host, port=port, data_dir=settings.golive_data_dir)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to DATABASE_URL."""
    from storage.migrate import current_revision

    settings = settings_or_exit()
    migrate_or_exit(settings)
    typer.echo(f"database at revision {current_revision(settings.effective_database_url)}")


@app.command()
def manifest(
    url: Annotated[str | None, typer.Option(help="Public base URL, e.g. https://golive.example.com")] = None,
    socket: Annotated[bool, typer.Option("--socket", help="Socket Mode: no Request URLs.")] = False,
    name: Annotated[str, typer.Option(help="App and bot name shown in Slack.")] = "golive",
) -> None:
    """Print the Slack app manifest (YAML) to create the app from (with GOLIVE_CREATE_CHANNELS=true,
    the scopes and events for making a deal's channel too)."""
    from bot.slack.manifest import manifest_yaml

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    if not socket and not url:
        fail("give --url https://your-host (HTTP mode) or --socket (Socket Mode)")
    if url and not url.startswith("https://") and not url.startswith("http://localhost"):
        fail("--url must start with https:// (Slack only calls HTTPS Request URLs)")
    typer.echo(
        manifest_yaml(
            url=url,
            socket=socket,
            command=settings.golive_command,
            name=name,
            create_channels=settings.golive_create_channels,
            project_canvas=settings.golive_project_canvas,
        ),
        nl=False,
    )


app.command("deal")(cli_deals.deal)


@playbook_app.command("check")
def playbook_check(
    files: Annotated[list[Path], typer.Argument(help="Playbook YAML files, or a directory of them.")],
) -> None:
    """Validate playbooks and their `when:` rules; print each problem with its file, line and field
    path, and exit 1 if there is one. A directory is also checked as a set chosen by the deal."""
    from bot.engagement.playbook import playbook_warnings
    from bot.engagement.playbook_check import check_file, choice_problems, describe, playbook_paths

    paths = playbook_paths(files)
    if not paths:
        fail(f"{', '.join(map(str, files))}: no playbook (*.yaml) to check")
    reports = []
    for path in paths:
        try:
            reports.append(check_file(path))
        except OSError as exc:
            fail(f"{path}: cannot read it ({exc.strerror})")
    failed = False
    for r in reports:
        for problem in r.problems:
            typer.echo(f"{r.path}:{problem.line or '?'}: {problem.path}: {problem.message}", err=True)
            failed = True
    set_problems = choice_problems(reports) if any(f.is_dir() for f in files) else []
    for path, problem in set_problems:
        typer.echo(f"{path}:{problem.line or '?'}: {problem.path}: {problem.message}", err=True)
        failed = True
    if failed:
        raise typer.Exit(1)
    for r in reports:
        assert r.playbook is not None
        pb = r.playbook
        for warning in playbook_warnings(r.path.read_text(encoding="utf-8")):
            typer.echo(
                f"{r.path}:{warning.line or '?'}: warning: {warning.path}: {warning.message}", err=True
            )
        items = sum(len(p.items) for p in pb.phases)
        conditional = sum(1 for p in pb.phases for i in p.items if i.when is not None)
        rules = f", {conditional} of them with a when:" if conditional else ""
        chosen = f"; for deals where {describe(pb.when)}" if pb.when is not None else ""
        typer.echo(
            f"{r.path}: ok — {len(pb.phases)} phases, {items} items{rules}, {len(pb.gates)} gates{chosen}"
        )
        for note in r.notes:
            typer.echo(f"{r.path}:{note.line or '?'}: note: {note.path}: {note.message}")


def main() -> None:
    try:
        app()
    except ConfigError as exc:  # pragma: no cover - commands catch their own
        typer.echo(f"golive: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
