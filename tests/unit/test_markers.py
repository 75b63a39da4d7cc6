"""The pytest markers stay honest: every test listed as slow in tests/conftest.py still exists
(a renamed test would otherwise drop out of `-m slow` silently and slow the fast subset down),
and the markers the conftest sets are the ones pyproject.toml registers (--strict-markers)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.conftest import BY_FOLDER, SLOW

ROOT = Path(__file__).resolve().parents[2]


def test_every_slow_entry_names_a_test_that_exists() -> None:
    missing = []
    for node in sorted(SLOW):
        path, _, name = node.partition("::")
        name = name.split("[", 1)[0]
        source = ROOT / path
        if not source.is_file() or not re.search(rf"^def {re.escape(name)}\(", source.read_text(), re.M):
            missing.append(node)
    assert not missing, f"tests/conftest.py SLOW lists tests that do not exist: {missing}"


def test_the_markers_set_are_the_markers_registered() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {line.split(":", 1)[0] for line in config["markers"]}
    assert "--strict-markers" in config["addopts"]
    assert registered == {*BY_FOLDER, "postgres", "slow"}
