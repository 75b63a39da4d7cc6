"""Shared fixtures: the bot behind real HTTP with the Slack stand-in, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from bot.clock import Clock
from sandbox.harness import Harness, sqlite_url
from storage.db import READ_ONLY
from storage.migrate import upgrade

PG_ENV = "GOLIVE_TEST_POSTGRES_URL"
# A Monday morning in Berlin (08:00 UTC = 09:00 CET).
DEFAULT_NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


# Writes made in a read session (Database.read): on PostgreSQL it runs in autocommit, so such a
# write would be committed at once instead of rolled back. Every test's harnesses fail on any.
WRITES_IN_READ_SESSIONS: list[str] = []
_WRITES = ("INSERT", "UPDATE", "DELETE")


@event.listens_for(Engine, "before_cursor_execute")
def _no_write_in_a_read_session(conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
    if conn.get_execution_options().get(READ_ONLY) and statement.lstrip().upper().startswith(_WRITES):
        WRITES_IN_READ_SESSIONS.append(" ".join(statement.split())[:120])


@pytest.fixture
def clock() -> Clock:
    return Clock(DEFAULT_NOW)


def _check_no_invalid_blocks(h: Harness) -> None:
    bad = h.standin.invalid_block_responses()
    assert not bad, "the stand-in refused Block Kit: " + "; ".join(
        f"{c.method}: {c.response.get('errors') or c.response.get('response_metadata') or c.response.get('error')}"
        for c in bad
    )


def _check_no_write_in_a_read_session() -> None:
    written, WRITES_IN_READ_SESSIONS[:] = list(WRITES_IN_READ_SESSIONS), []
    assert not written, "a read session wrote: " + "; ".join(written)


def _check_no_missing_scope(h: Harness) -> None:
    bad = h.standin.missing_scope_responses()
    assert not bad, "the bot called Slack outside its manifest's scopes: " + "; ".join(
        f"{c.method} needs {c.response.get('needed')}" for c in bad
    )


@pytest.fixture
def _drops_last() -> Iterator[list[Callable[[], None]]]:
    """Clean-ups that must run after every harness of the test has stopped (a PostgreSQL database
    asked for inside a test or fixture is otherwise dropped first, under a bot still sending)."""
    drops: list[Callable[[], None]] = []
    yield drops
    for drop in reversed(drops):
        drop()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite database migrated to the head once per test process. A harness on the default
    SQLite database starts from a copy of it: running every migration again for each of some
    thousand harnesses cost a quarter of a second of CPU each (cProfile of Harness.start), and
    tests/unit/test_migrations.py is where the migrations themselves are tested."""
    url = sqlite_url(tmp_path_factory.mktemp("migrated"))
    upgrade(url)
    return Path(make_url(url).database or "")


def _copy_sqlite(source: Path, url: str) -> None:
    """`source` copied to the database of `url` with SQLite's backup API (which reads the WAL)."""
    with sqlite3.connect(source) as src, sqlite3.connect(make_url(url).database or "") as dst:
        src.backup(dst)
    src.close()
    dst.close()


@pytest.fixture
def harness_factory(tmp_path, clock, _drops_last, _migrated_sqlite) -> Iterator:
    started: list[Harness] = []

    def make(database_url: str | None = None, **kw) -> Harness:
        if database_url is None:
            database_url = sqlite_url(tmp_path)
            if not Path(make_url(database_url).database or "").exists():
                _copy_sqlite(_migrated_sqlite, database_url)
        h = Harness(database_url, clock=kw.pop("clock", clock), **kw).start()
        started.append(h)
        return h

    yield make
    for h in started:
        try:
            _check_no_invalid_blocks(h)
            _check_no_missing_scope(h)
            _check_no_write_in_a_read_session()
        finally:
            h.stop()


@pytest.fixture
def harness(harness_factory) -> Harness:
    return harness_factory()


def _pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def pg_url(_drops_last) -> str:
    """A fresh PostgreSQL database for one test, dropped once the test's harnesses have stopped."""
    base = _pg_base_url()
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"golive_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    _drops_last.append(drop)
    return url.set(database=name).render_as_string(hide_password=False)


# -- markers ---------------------------------------------------------------------------------------
# Registered in pyproject.toml (with --strict-markers) and set here, so that no test file has to
# carry them: `e2e` and `browser` by the folder a test lives in, `postgres` by what it uses (the
# `pg_url` fixture, or a "postgresql" parameter that asks for it), `slow` from the list below.
TESTS = Path(__file__).resolve().parent
BY_FOLDER = {"e2e": pytest.mark.e2e, "browser": pytest.mark.browser}

# Tests that took over 2 s in `pytest --durations=0 -n 2` on this 2-core machine (setup + call;
# measured 2026-12-07; the unit tests among them under the fast subset's `-n 3`). A node id matches itself, or every parameter of a test when listed
# without its [...]; tests/unit/test_markers.py checks that each still names a test.
SLOW: frozenset[str] = frozenset(
    {
        "tests/browser/test_report_browser.py::test_the_html_report_opens_in_a_browser_with_its_charts_and_every_engagement",
        "tests/browser/test_sandbox_browser.py::test_a_customer_walks_through_my_tasks",
        "tests/browser/test_sandbox_browser.py::test_a_thread_opens_in_the_side_pane_and_stays_open_where_it_was_after_a_click",
        "tests/browser/test_sandbox_browser.py::test_activity_leads_to_the_message_and_the_channel_shows_unread",
        "tests/browser/test_sandbox_browser.py::test_confirm_dialogs_are_asked_before_anything_is_sent",
        "tests/browser/test_sandbox_browser.py::test_the_approver_sees_the_dry_run_reminder_in_activity",
        "tests/browser/test_sandbox_browser.py::test_the_lead_confirms_the_go_live_cutover_and_the_channel_celebrates",
        "tests/browser/test_sandbox_browser.py::test_walk_through_from_start_to_sign_off_and_nudge",
        "tests/e2e/test_audit_export.py::test_a_channel_upload_slack_did_not_take_just_now_asks_for_a_second_try",
        "tests/e2e/test_audit_export.py::test_the_channel_gets_the_shared_trail_and_the_lead_the_whole_of_it_privately",
        "tests/e2e/test_checklist.py::test_a_phase_of_forty_long_items_stays_within_slacks_text_limit",
        "tests/e2e/test_databases.py::test_checklist_flow_on_postgresql",
        "tests/e2e/test_databases.py::test_racing_starts_make_one_engagement[postgresql]",
        "tests/e2e/test_digest.py::test_a_gate_with_changes_requested_and_one_waiting_show_with_their_state",
        "tests/e2e/test_digest.py::test_coming_up_is_next_week_only_and_thanks_only_when_nothing_is_owed",
        "tests/e2e/test_digest.py::test_items_due_next_week_are_coming_up_per_side_and_nothing_is_not_thanked_for",
        "tests/e2e/test_dry_run_and_gates.py::test_a_gate_waiting_for_the_dry_run_is_not_nudged_and_says_what_is_true_now",
        "tests/e2e/test_dry_run_and_gates.py::test_dry_run_history_outcomes_from_the_start_time_kept_across_reschedules",
        "tests/e2e/test_foundation.py::test_rate_limited_post_is_retried_after_the_ack",
        "tests/e2e/test_golive.py::test_dry_run_reminders_in_the_announcements_thread",
        "tests/e2e/test_home.py::test_home_publishes_under_slacks_rate_limit_wait_out_429s_and_end_with_the_latest_state",
        "tests/e2e/test_home.py::test_sixty_engagements_paginated_every_page_valid",
        "tests/e2e/test_home_scale.py::test_an_engagement_without_a_key_sorts_as_unknown_after_the_others",
        "tests/e2e/test_home_scale.py::test_the_database_pages_in_the_defined_order_fresh_a_few_stale_and_many_stale",
        "tests/e2e/test_home_scale.py::test_the_page_comes_from_the_database_and_a_change_moves_its_engagement_to_the_top",
        "tests/e2e/test_hostile_names.py::test_hostile_names_never_reach_slack_as_controls",
        "tests/e2e/test_inbox_replays.py::test_an_approval_submitted_to_a_process_that_died_is_recorded_once[postgresql]",
        "tests/e2e/test_lifecycle.py::test_after_the_final_approval_the_cutover_says_what_is_left_until_it_is_done",
        "tests/e2e/test_lifecycle.py::test_from_kickoff_to_live",
        "tests/e2e/test_notifications.py::test_dry_run_reminders_notify_the_people_taking_part",
        "tests/e2e/test_outbox.py::test_a_post_whose_answer_timed_out_is_looked_for_not_doubled",
        "tests/e2e/test_outbox.py::test_a_refresh_that_gets_429_waits_retry_after_and_lands[postgresql]",
        "tests/e2e/test_outbox.py::test_a_refresh_that_gets_a_5xx_is_retried_with_backoff",
        "tests/e2e/test_outbox.py::test_a_refresh_whose_message_is_gone_stops",
        "tests/e2e/test_outbox.py::test_an_update_whose_answer_timed_out_is_sent_again",
        "tests/e2e/test_outbox.py::test_forty_ticks_while_a_refresh_is_in_flight_cost_at_most_two_updates_and_show_all_forty[postgresql]",
        "tests/e2e/test_outbox.py::test_posts_are_paced_per_channel_and_keep_their_order",
        "tests/e2e/test_outbox.py::test_under_slacks_rate_limit_a_burst_still_ends_with_the_latest_state",
        "tests/e2e/test_plan_health.py::test_a_failed_dry_run_is_not_on_track_and_late_days_before_go_live",
        "tests/e2e/test_preload.py::test_workers_import_nothing_the_master_did_not",
        "tests/e2e/test_processes.py::test_a_killed_serve_forgets_no_acked_tick",
        "tests/e2e/test_processes.py::test_serve_answers_a_signed_start_and_stops_on_sigterm",
        "tests/e2e/test_processes.py::test_serve_sends_what_it_queued_before_it_exits",
        "tests/e2e/test_processes.py::test_socket_mode_connects_and_handles_a_command",
        "tests/e2e/test_quiet_channel.py::test_a_thread_note_whose_answer_was_lost_is_looked_for_in_its_thread_not_doubled",
        "tests/e2e/test_quiet_channel.py::test_stuck_work_goes_to_the_lead_privately_and_the_sponsor_only_on_their_click",
        "tests/e2e/test_quiet_channel.py::test_the_lead_nudges_again_now_or_snoozes",
        "tests/e2e/test_quiet_channel.py::test_two_weeks_of_reminders_add_at_most_four_top_level_messages[postgresql]",
        "tests/e2e/test_reminders.py::test_blocked_tells_the_lead_and_pauses_until_cleared",
        "tests/e2e/test_reminders.py::test_one_nudge_per_thread_with_buttons_mentioning_the_assignee_only",
        "tests/e2e/test_reminders.py::test_rate_limit_waits_and_a_5xx_retries_on_a_later_sweep",
        "tests/e2e/test_replicas.py::test_two_replicas_and_cron_sweeps_send_each_reminder_once_and_decide_once",
        "tests/e2e/test_report.py::test_an_empty_database_makes_an_empty_report_not_an_error",
        "tests/e2e/test_report.py::test_the_report_writes_a_file_and_refuses_bad_options",
        "tests/e2e/test_requests.py::test_gunicorn_refuses_the_same_way",
        "tests/e2e/test_signoffs.py::test_an_open_request_follows_changes_to_its_approvers",
        "tests/e2e/test_signoffs.py::test_approver_approves_and_the_next_phase_is_announced",
        "tests/e2e/test_signoffs.py::test_audit_csv_holds_every_event_in_order",
        "tests/e2e/test_signoffs.py::test_request_button_on_a_complete_phase",
        "tests/e2e/test_signoffs.py::test_request_changes_then_re_request_supersedes",
        "tests/e2e/test_signoffs.py::test_twenty_concurrent_approvals_make_one_decision[postgresql]",
        "tests/e2e/test_signoffs_certify.py::test_a_consultants_request_tells_both_the_consultant_and_the_lead_of_the_decision",
        "tests/e2e/test_signoffs_certify.py::test_a_request_lists_its_gates_items_and_open_ones_are_confirmed_shown_and_recorded",
        "tests/e2e/test_signoffs_certify.py::test_changes_requested_stay_on_home_and_in_the_teams_reminders_until_requested_again",
        "tests/e2e/test_sweep_processes.py::test_dry_run_prints_and_changes_nothing",
        "tests/e2e/test_sweep_processes.py::test_two_processes_send_each_reminder_once",
        "tests/e2e/test_sweep_scale.py::test_four_weeks_of_changes_make_the_reminders_planning_everything_makes",
        "tests/e2e/test_sweep_scale.py::test_with_nothing_due_a_sweep_does_not_grow_with_engagements",
        "tests/e2e/test_timeouts.py::test_a_nudge_that_timed_out_and_never_landed_is_sent_once",
        "tests/e2e/test_timeouts.py::test_a_nudge_that_timed_out_but_landed_is_not_sent_again",
        "tests/e2e/test_upload_refusals.py::test_a_failure_that_never_passes_ends_as_text",
        "tests/e2e/test_view_hashes.py::test_a_publish_whose_answer_was_lost_is_retried_and_ends_with_the_newest_home",
        "tests/unit/test_config_cli.py::test_dotenv_file_is_read",
        "tests/unit/test_config_cli.py::test_invalid_values_name_the_variable",
        "tests/unit/test_config_cli.py::test_missing_signing_secret",
        "tests/unit/test_config_cli.py::test_missing_token_is_one_line_exit_2_no_traceback",
        "tests/unit/test_config_cli.py::test_socket_needs_app_token",
        "tests/unit/test_next_check.py::test_the_next_digest_is_the_first_working_moment_of_a_digest_day_without_one",
    }
)


def _uses_postgres(item: pytest.Item) -> bool:
    if "pg_url" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in callspec.params.values()


# The longest tests (over 12 s each in CI's --durations, 7 Dec 2026) run first: pytest-xdist hands
# tests out in collection order, and one of these started last kept a worker busy for up to a
# minute after the others had finished.
LONGEST: tuple[str, ...] = (
    "tests/e2e/test_sweep_scale.py::test_four_weeks_of_changes_make_the_reminders_planning_everything_makes",
    "tests/e2e/test_replicas.py::test_two_replicas_and_cron_sweeps_send_each_reminder_once_and_decide_once",
    "tests/e2e/test_sweep_processes.py::test_two_processes_send_each_reminder_once",
    "tests/e2e/test_processes.py::test_a_killed_serve_forgets_no_acked_tick",
    "tests/e2e/test_home_scale.py::test_the_database_pages_in_the_defined_order_fresh_a_few_stale_and_many_stale",
    "tests/e2e/test_audit_export.py::test_the_channel_gets_the_shared_trail_and_the_lead_the_whole_of_it_privately",
    "tests/e2e/test_home_scale.py::test_the_page_comes_from_the_database_and_a_change_moves_its_engagement_to_the_top",
    "tests/e2e/test_home.py::test_sixty_engagements_paginated_every_page_valid",
    "tests/e2e/test_deals.py::test_golive_deal_file_does_the_same_from_the_command_line",
)


def _longest_first(item: pytest.Item) -> int:
    name = item.nodeid.split("[", 1)[0]
    return LONGEST.index(name) if name in LONGEST else len(LONGEST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_longest_first)  # stable: the rest keep their order
    for item in items:
        try:
            folder = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            folder = ""
        if folder in BY_FOLDER:
            item.add_marker(BY_FOLDER[folder])
        if _uses_postgres(item):
            item.add_marker(pytest.mark.postgres)
        if item.nodeid in SLOW or item.nodeid.split("[", 1)[0] in SLOW:
            item.add_marker(pytest.mark.slow)
