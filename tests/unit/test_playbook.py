import subprocess
import sys
from pathlib import Path

import pytest

from bot.engagement.playbook import PlaybookError, default_playbook, parse_playbook

GOOD = """\
name: Tiny
sizes:
  small: {min_weeks: 1, max_weeks: 2}
  medium: {min_weeks: 2, max_weeks: 4}
  enterprise: {min_weeks: 4, max_weeks: 8}
phases:
  - key: one
    name: One
    share: 60
    items:
      - key: a
        title: Do A
        owner: vendor
  - key: two
    name: Two
    share: 40
    items:
      - key: b
        title: Do B
        owner: customer
gates:
  - key: g
    phase: two
    title: Gate
"""


def test_default_playbook_has_the_five_phases_and_gates():
    pb = default_playbook()
    names = [p.name for p in pb.phases if p.when is None]
    assert names == ["Discovery", "Solutioning", "Configurations", "Testing & Validation", "Go-Live"]
    assert {g.phase for g in pb.gates} == {"solutioning", "configurations", "testing", "golive"}
    assert [g.key for g in pb.gates_of("testing")] == ["test_output", "integration_validated"]
    assert pb.gate("final_golive").requires_dry_run
    assert pb.sizes["medium"].midpoint_weeks == 7


def test_good_playbook_parses():
    pb = parse_playbook(GOOD)
    assert [p.key for p in pb.phases] == ["one", "two"]


def test_missing_owner_reported_with_path_and_line():
    text = GOOD.replace("        owner: customer\n", "")
    with pytest.raises(PlaybookError) as exc:
        parse_playbook(text)
    [problem] = exc.value.problems
    assert problem.path == "phases.1.items.0.owner"
    assert problem.message == "is required but missing"
    # The item mapping starts on the "- key: b" line.
    assert problem.line == text.splitlines().index("      - key: b") + 1


def test_bad_phase_reference_reported_with_line():
    text = GOOD.replace("    phase: two", "    phase: three")
    with pytest.raises(PlaybookError) as exc:
        parse_playbook(text)
    [problem] = exc.value.problems
    assert problem.path == "gates.0.phase"
    assert "three" in problem.message
    assert problem.line == text.splitlines().index("    phase: three") + 1


def test_shares_must_add_up():
    with pytest.raises(PlaybookError, match="add up to 90"):
        parse_playbook(GOOD.replace("share: 40", "share: 30"))


def test_cli_check_reports_each_error_and_exits_1(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("        owner: customer\n", "").replace("    phase: two", "    phase: nope"))
    r = subprocess.run(
        [sys.executable, "-m", "golive.cli", "playbook", "check", str(bad)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert any("phases.1.items.0.owner" in line and "is required" in line for line in lines)
    assert any("gates.0.phase" in line and "nope" in line for line in lines)
    assert all(line.startswith(f"{bad}:") for line in lines)


def test_cli_check_accepts_the_shipped_playbook():
    path = Path(__file__).resolve().parents[2] / "bot" / "engagement" / "playbooks" / "default.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "golive.cli", "playbook", "check", str(path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "ok — 6 phases" in r.stdout
    assert "warning" not in r.stderr, "every title of the default playbook fits a checklist line"


def test_cli_check_warns_of_titles_longer_than_a_checklist_line(tmp_path: Path):
    long = "Reconcile every legacy invoice line for the multi-year contracts of the region"
    assert len(long) > 75
    path = tmp_path / "long.yaml"
    path.write_text(GOOD.replace("title: Do B", f"title: {long}"))
    r = subprocess.run(
        [sys.executable, "-m", "golive.cli", "playbook", "check", str(path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "ok — 2 phases" in r.stdout, "a warning, not an error"
    [warning] = r.stderr.strip().splitlines()
    line = GOOD.splitlines().index("        title: Do B") + 1
    assert warning.startswith(
        f"{path}:{line}: warning: phases.1.items.0.title: the title is {len(long)} characters"
    )
