"""`golive playbook check`: a playbook's `when:` rules looked at as a whole, and a directory of
playbooks chosen by the deal (`bot.engagement.rules.choose_playbook`).

What parsing already refuses (an unknown field, an empty rule, a value a field never takes, a
phase's rule on a deal field) is reported by `parse_playbook`. Here, what only the whole file or
the whole directory shows:

- problems (the check exits 1): an item or gate that can never apply (its rule contradicts its
  phase's or the playbook's), an item waiting for one it never exists with, two playbooks of a
  directory that fit the same deal equally well, two playbooks without `when:`;
- notes (the check passes): an item waiting for a conditional one, with what it waits for when
  that one is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.engagement.playbook import (
    Conditions,
    Playbook,
    PlaybookError,
    PlaybookProblem,
    _line_of,
    load_playbook,
)
from bot.engagement.rules import effective_after, specificity

# A rule as sets of accepted (normalised) values per field; None: the rule can never hold.
Rule = dict[str, frozenset[str | None]]


def as_rule(*whens: Conditions | None) -> Rule | None:
    """The rules together (all must hold): each field's values intersected; None when a field is
    left with no value, i.e. nothing ever matches them all."""
    out: Rule = {}
    for when in whens:
        if when is None:
            continue
        for name in when.fields:
            values = when.values(name) or frozenset()
            out[name] = out[name] & values if name in out else values
            if not out[name]:
                return None
    return out


def _describe(rule: Rule) -> str:
    parts = []
    for name, values in rule.items():
        shown = " or ".join(sorted(v for v in values if v is not None))
        absent = f"no {name} is given"
        parts.append(f"{name} is {shown}" + (f" or {absent}" if None in values else "") if shown else absent)
    return " and ".join(parts) or "always"


def describe(when: Conditions) -> str:
    """A rule in words: "product is billing or payments and tier is enterprise"."""
    rule = as_rule(when)
    return _describe(rule) if rule is not None else "never"


def _implies(a: Rule, b: Rule) -> bool:
    """Whenever `a` holds, does `b`?"""
    return all(name in a and a[name] <= values for name, values in b.items())


@dataclass
class FileReport:
    path: Path
    playbook: Playbook | None = None
    problems: list[PlaybookProblem] = field(default_factory=list)
    notes: list[PlaybookProblem] = field(default_factory=list)


def rule_findings(pb: Playbook, text: str) -> tuple[list[PlaybookProblem], list[PlaybookProblem]]:
    """(problems, notes) of a parsed playbook's rules; see the module's docstring."""
    root: Any = yaml.compose(text)
    problems: list[PlaybookProblem] = []
    notes: list[PlaybookProblem] = []
    effective: dict[str, Rule | None] = {}
    loc: tuple[Any, ...]
    for i, phase in enumerate(pb.phases):
        for j, item in enumerate(phase.items):
            rule = as_rule(pb.when, phase.when, item.when)
            effective[item.key] = rule
            if rule is None:
                loc = ("phases", i, "items", j, "when")
                problems.append(
                    PlaybookProblem(
                        ".".join(map(str, loc)),
                        _line_of(root, loc),
                        f"item `{item.key}` can never apply: {_contradiction(pb, phase.when, item.when)}",
                    )
                )
    for i, gate in enumerate(pb.gates):
        phase_spec = pb.phase(gate.phase)
        if (
            gate.when is not None
            and as_rule(pb.when, phase_spec.when if phase_spec else None, gate.when) is None
        ):
            loc = ("gates", i, "when")
            problems.append(
                PlaybookProblem(
                    ".".join(map(str, loc)),
                    _line_of(root, loc),
                    f"gate `{gate.key}` can never apply: "
                    + _contradiction(pb, phase_spec.when if phase_spec else None, gate.when),
                )
            )
    conditional = {k for k, r in effective.items() if r != (as_rule(pb.when) or {})}
    for i, phase in enumerate(pb.phases):
        for j, item in enumerate(phase.items):
            mine = effective[item.key]
            if mine is None:
                continue
            for k, prerequisite in enumerate(item.after):
                theirs = effective.get(prerequisite)
                loc = ("phases", i, "items", j, "after", k)
                where = (".".join(map(str, loc)), _line_of(root, loc))
                if theirs is None or as_rule(*_whens(pb, item.key), *_whens(pb, prerequisite)) is None:
                    problems.append(
                        PlaybookProblem(
                            *where,
                            f"item `{item.key}` comes after `{prerequisite}`, but they never apply "
                            "together: the dependency never holds",
                        )
                    )
                elif prerequisite in conditional and not _implies(mine, theirs):
                    present = set(effective) - {prerequisite}
                    instead = effective_after(pb, present).get(item.key, ())
                    waits = ", ".join(f"`{key}`" for key in instead) or "nothing"
                    notes.append(
                        PlaybookProblem(
                            *where,
                            f"item `{item.key}` comes after `{prerequisite}`, which applies only when "
                            f"{_describe(theirs)}; without it, `{item.key}` waits for {waits} (what "
                            f"`{prerequisite}` waited for takes its place)",
                        )
                    )
    return problems, notes


def _contradiction(pb: Playbook, phase_when: Conditions | None, own: Conditions | None) -> str:
    """Why a rule never holds: against the playbook's, its phase's, or itself."""
    if pb.when is not None and as_rule(pb.when, own) is None:
        return f"its when: contradicts the playbook's ({describe(pb.when)})"
    if phase_when is not None and as_rule(phase_when, own) is None:
        return f"its when: contradicts its phase's ({describe(phase_when)})"
    return "its when: contradicts its phase's and the playbook's together"


def _whens(pb: Playbook, item_key: str) -> tuple[Conditions | None, ...]:
    for phase in pb.phases:
        for item in phase.items:
            if item.key == item_key:
                return (pb.when, phase.when, item.when)
    return ()


def check_file(path: Path) -> FileReport:
    """Parse and check one playbook file (OSError when it cannot be read)."""
    report = FileReport(path)
    text = path.read_text(encoding="utf-8")
    try:
        report.playbook = load_playbook(path)
    except PlaybookError as exc:
        report.problems = list(exc.problems)
        return report
    report.problems, report.notes = rule_findings(report.playbook, text)
    return report


def choice_problems(reports: list[FileReport]) -> list[tuple[Path, PlaybookProblem]]:
    """Playbooks of one directory that fit the same deal equally well, or two defaults."""
    parsed = [(r.path, r.playbook) for r in reports if r.playbook is not None]
    out: list[tuple[Path, PlaybookProblem]] = []
    defaults = [path for path, pb in parsed if pb.when is None]
    for path in defaults[1:]:
        out.append(
            (
                path,
                PlaybookProblem(
                    "when",
                    None,
                    f"has no when:, like {defaults[0].name}: only one playbook of a directory is "
                    "the default (for deals no other fits); give the others a when:",
                ),
            )
        )
    for n, (path_a, a) in enumerate(parsed):
        for path_b, b in parsed[n + 1 :]:
            if a.when is None or b.when is None or specificity(a) != specificity(b):
                continue
            both = as_rule(a.when, b.when)
            if both is not None:
                out.append(
                    (
                        path_b,
                        PlaybookProblem(
                            "when",
                            _line_of(yaml.compose(path_b.read_text(encoding="utf-8")), ("when",)),
                            f"fits the same deals as {path_a.name} (e.g. {_describe(both)}) and names as "
                            f"many fields ({specificity(a)}): a deal could get either; make one's when: "
                            "name more fields, or make them exclude each other",
                        ),
                    )
                )
    return out


def playbook_paths(paths: list[Path]) -> list[Path]:
    """The files to check: each file given, and the *.yaml / *.yml files of each directory."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file()))
        else:
            out.append(p)
    return out
