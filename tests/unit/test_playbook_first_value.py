"""The playbook's `first_value:` (issue 28, time to value): a gate's or an item's key, checked."""

import subprocess
import sys
from pathlib import Path

import pytest

from bot.engagement.playbook import PlaybookError, default_playbook, parse_playbook
from tests.unit.test_playbook import GOOD


def test_first_value_names_a_gate_or_an_item():
    assert parse_playbook(GOOD + "first_value: g\n").first_value == "g"
    assert parse_playbook(GOOD + "first_value: b\n").first_value == "b"
    assert parse_playbook(GOOD).first_value is None


def test_first_value_naming_nothing_is_refused():
    with pytest.raises(PlaybookError, match="first_value: 'nope' is neither a gate's key nor an item's key"):
        parse_playbook(GOOD + "first_value: nope\n")


def test_cli_check_reports_a_first_value_naming_nothing(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD + "first_value: one\n")  # a phase's key: not a milestone
    r = subprocess.run(
        [sys.executable, "-m", "golive.cli", "playbook", "check", str(bad)], capture_output=True, text=True
    )
    assert r.returncode == 1 and "first_value: 'one' is neither" in r.stderr


def test_the_default_playbook_names_the_approved_test_invoices():
    pb = default_playbook()
    assert pb.first_value == "test_output"
    gate = pb.gate("test_output")
    assert gate is not None and "test_invoices" in gate.items
