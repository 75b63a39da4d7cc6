"""Configuration errors and the console script, run as a real subprocess."""

import os
import subprocess
import sys

import yaml


def golive(*args, env=None, cwd=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "golive.cli", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd,
        timeout=60,
    )


def test_missing_token_is_one_line_exit_2_no_traceback(tmp_path):
    r = golive("serve", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "SLACK_BOT_TOKEN is not set" in r.stderr and "Traceback" not in r.stderr


def test_invalid_values_name_the_variable(tmp_path):
    cases = {
        "SLACK_BOT_TOKEN": ("xoxp-user-token", "SLACK_BOT_TOKEN must be a bot token"),
        "SLACK_API_URL": ("ftp://nope", "SLACK_API_URL must be an http(s) URL"),
        "LOG_LEVEL": ("LOUD", "LOG_LEVEL"),
        "GOLIVE_COMMAND": ("golive", "GOLIVE_COMMAND must be a slash command"),
    }
    for var, (value, expected) in cases.items():
        r = golive("serve", env={var: value}, cwd=tmp_path)
        assert r.returncode == 2, var
        assert expected in r.stderr, (var, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_missing_signing_secret(tmp_path):
    r = golive("serve", env={"SLACK_BOT_TOKEN": "xoxb-1"}, cwd=tmp_path)
    assert r.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in r.stderr


def test_socket_needs_app_token(tmp_path):
    r = golive("socket", env={"SLACK_BOT_TOKEN": "xoxb-1"}, cwd=tmp_path)
    assert r.returncode == 2 and "SLACK_APP_TOKEN is not set" in r.stderr


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=not-a-bot-token\n")
    r = golive("serve", cwd=tmp_path)
    assert r.returncode == 2 and "SLACK_BOT_TOKEN must be a bot token" in r.stderr


def test_unreachable_database_is_one_line(tmp_path):
    r = golive("db", "upgrade", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, cwd=tmp_path)
    assert r.returncode == 2
    assert "DATABASE_URL" in r.stderr and "Traceback" not in r.stderr


def test_db_upgrade_creates_the_default_sqlite_file(tmp_path):
    r = golive("db", "upgrade", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "golive.sqlite3").exists()
    assert "revision" in r.stdout


def test_manifest_http(tmp_path):
    r = golive("manifest", "--url", "https://golive.example.com", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = yaml.safe_load(r.stdout)
    [cmd] = m["features"]["slash_commands"]
    assert cmd["command"] == "/golive" and cmd["should_escape"] is True
    assert cmd["url"] == "https://golive.example.com/slack/events"
    assert m["settings"]["interactivity"] == {
        "is_enabled": True,
        "request_url": "https://golive.example.com/slack/events",
    }
    assert m["settings"]["event_subscriptions"]["request_url"] == "https://golive.example.com/slack/events"
    assert {"app_home_opened", "member_joined_channel", "channel_shared"} <= set(
        m["settings"]["event_subscriptions"]["bot_events"]
    )
    assert {
        "commands",
        "chat:write",
        "users:read",
        "channels:read",
        "groups:read",
        "im:write",
        "files:write",
    } <= set(m["oauth_config"]["scopes"]["bot"])
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is False


def test_manifest_socket_has_no_urls_and_follows_the_command_setting(tmp_path):
    r = golive("manifest", "--socket", env={"GOLIVE_COMMAND": "/impl"}, cwd=tmp_path)
    m = yaml.safe_load(r.stdout)
    assert m["settings"]["socket_mode_enabled"] is True
    assert "url" not in m["features"]["slash_commands"][0]
    assert m["features"]["slash_commands"][0]["command"] == "/impl"
    assert "request_url" not in m["settings"]["interactivity"]
    assert "request_url" not in m["settings"]["event_subscriptions"]


def test_manifest_refuses_plain_http(tmp_path):
    r = golive("manifest", "--url", "http://golive.example.com", cwd=tmp_path)
    assert r.returncode == 2 and "https://" in r.stderr
