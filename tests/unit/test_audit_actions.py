"""Every action the code records in the audit trail is classified: shared with the customer, or
the implementation team's alone (bot/people/audit.py). `/golive audit` shares in the channel
only the rows both sides may read, so an action nobody classified must fail here, not leak (the
export treats one as vendor-only, but then the channel silently lacks it).

The source of bot/, handlers/ and golive/ is read, not run: every `audit.record(…)` call and
every checklist `Change(…)` (recorded by `audit.record_change`) names its action. A literal is
checked directly; an action computed at run time (an f-string, a variable) must be listed in
`COMPUTED` with every value it can take, so a new one cannot slip through. Every literal that
looks like an action of a known family (`item.…`, `escalation.…`) is checked as well: it may
reach `record` through a variable.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from bot.people import audit
from bot.people.sides import Actor
from storage.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "handlers", "golive")
AUDIT_MODULE = "bot.people.audit"

# Actions computed at run time: (file, function) → every value the expression can take.
COMPUTED: dict[tuple[str, str], frozenset[str]] = {
    ("bot/reminders/dryrun.py", "record_outcome"): frozenset({"dryrun.passed", "dryrun.issues"}),
    ("bot/engagement/signoffs.py", "decide"): frozenset({"signoff.approved", "signoff.changes_requested"}),
    ("handlers/nudges.py", "cmd_nudges"): frozenset({"nudges.paused", "nudges.resumed"}),
    ("bot/engagement/dependencies.py", "set_prerequisites"): frozenset({"item.after", "item.after_removed"}),
    ("bot/engagement/checklist.py", "set_done"): frozenset({"item.done", "item.undone"}),
}


def _python_files() -> list[Path]:
    return sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


class _Calls(ast.NodeVisitor):
    """The action argument of every audit.record(…) and Change(…) call, with its function."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inside_audit = _rel(path) == "bot/people/audit.py"
        self.audit_names: set[str] = set()  # names the audit module goes by here
        self.record_names: set[str] = {"record"} if self.inside_audit else set()
        self.function: list[str] = []
        self.found: list[tuple[str, int, ast.expr]] = []  # (function, line, expression)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module == "bot.people" and alias.name == "audit":
                self.audit_names.add(alias.asname or "audit")
            if node.module == AUDIT_MODULE and alias.name == "record":
                self.record_names.add(alias.asname or "record")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == AUDIT_MODULE and alias.asname:
                self.audit_names.add(alias.asname)

    def _in_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    visit_FunctionDef = _in_function
    visit_AsyncFunctionDef = _in_function

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        is_record = (
            isinstance(func, ast.Attribute)
            and func.attr == "record"
            and isinstance(func.value, ast.Name)
            and func.value.id in self.audit_names
        ) or (isinstance(func, ast.Name) and func.id in self.record_names)
        is_change = (isinstance(func, ast.Name) and func.id == "Change") or (
            isinstance(func, ast.Attribute) and func.attr == "Change"
        )
        if is_record or is_change:
            position = 3 if is_record else 0
            kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
            if kind is None and len(node.args) > position:
                kind = node.args[position]
            assert kind is not None, f"{_rel(self.path)}:{node.lineno}: no action given"
            self.found.append((self.function[-1] if self.function else "", node.lineno, kind))
        self.generic_visit(node)


def recorded_actions() -> tuple[set[str], set[tuple[str, str]], list[str]]:
    """The literal actions recorded, the (file, function) of the computed ones, and problems."""
    literal: set[str] = set()
    computed: set[tuple[str, str]] = set()
    problems: list[str] = []
    for path in _python_files():
        calls = _Calls(path)
        calls.visit(ast.parse(path.read_text(encoding="utf-8")))
        for function, line, kind in calls.found:
            if function == "record_change" and calls.inside_audit:
                continue  # record_change passes its Change's action on
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                literal.add(kind.value)
            elif (_rel(path), function) in COMPUTED:
                computed.add((_rel(path), function))
            else:
                problems.append(
                    f"{_rel(path)}:{line} ({function}) records an action computed at run time "
                    f"({ast.unparse(kind)}): list its values in COMPUTED and classify them in "
                    "bot/people/audit.py"
                )
    return literal, computed, problems


def _classified() -> frozenset[str]:
    return audit.SHARED_ACTIONS | audit.VENDOR_ONLY_ACTIONS


def test_every_recorded_action_is_classified():
    literal, computed, problems = recorded_actions()
    assert not problems, "\n".join(problems)
    assert literal, "found no audit.record call: has the scan broken?"
    every = literal | {a for key in computed for a in COMPUTED[key]}
    unclassified = sorted(every - _classified())
    assert not unclassified, (
        f"actions recorded but not classified as shared or vendor-only: {unclassified}; add each to "
        "audit.SHARED_ACTIONS or audit.VENDOR_ONLY_ACTIONS (and the module docstring's list)"
    )
    # The lists stay true: nothing classified that nothing records, no stale COMPUTED entry.
    assert sorted(_classified() - every) == []
    assert sorted(set(COMPUTED) - computed) == []


def test_the_two_sets_do_not_overlap_and_the_conditional_ones_are_shared_actions():
    assert not audit.SHARED_ACTIONS & audit.VENDOR_ONLY_ACTIONS
    assert set(audit.VENDOR_ONLY_WHEN) <= audit.SHARED_ACTIONS
    doc = audit.__doc__ or ""
    for action in _classified():  # the docstring names each (by its full name or `.suffix`)
        suffix = action.partition(".")[2]
        assert f"`{action}`" in doc or f"`.{suffix}`" in doc, action


def test_every_literal_of_an_action_family_is_classified():
    """A literal such as "item.done" can reach `record` through a variable (a Change's kind)."""
    families = "|".join(sorted({a.partition(".")[0] for a in _classified()}))
    action = re.compile(rf"^({families})\.[a-z_]+$")
    seen: set[str] = set()
    for path in _python_files():
        # emit: the webhooks' event names; mapping: a CRM mapping's targets (customer.name…)
        if _rel(path) in ("bot/people/audit.py", "bot/events/emit.py", "bot/deals/mapping.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and action.match(node.value):
                seen.add(node.value)
    assert seen and sorted(seen - _classified()) == []


def _row(kind: str, detail: dict | str = "{}") -> AuditEvent:
    text = detail if isinstance(detail, str) else json.dumps(detail)
    return AuditEvent(engagement_id=1, actor_id="U1", kind=kind, detail=text)  # type: ignore[call-arg]


def test_which_rows_are_the_vendors():
    assert not audit.vendor_only(_row("item.done"))
    assert not audit.vendor_only(_row("item.snoozed", {"until": "2026-12-03"}))  # from a nudge: shared
    assert audit.vendor_only(_row("item.snoozed", {"until": "2026-12-03", "by_lead": True}))
    assert audit.vendor_only(_row("item.snoozed", "not json"))  # unreadable: kept back
    for kind in audit.VENDOR_ONLY_ACTIONS:
        assert audit.vendor_only(_row(kind))
    assert audit.vendor_only(_row("something.new"))  # nobody classified it: never shared


def test_who_may_read_the_vendor_rows():
    def actor(side: str) -> Actor:
        return Actor(user_id="U1", team_id="T1", name="Ann", side=side)

    assert audit.may_read_vendor_rows(actor("vendor"), guest=False)
    assert not audit.may_read_vendor_rows(actor("vendor"), guest=True)  # a guest of the workspace
    assert not audit.may_read_vendor_rows(actor("customer"), guest=False)  # `side @ann customer`
    assert not audit.may_read_vendor_rows(actor(""), guest=False)
