"""The playbook: phases, checklist items, sign-off gates and durations, from a YAML file.

The default playbook ships inside the package (`bot/engagement/playbooks/default.yaml`); a deployment
chooses another with GOLIVE_PLAYBOOK. `golive playbook check FILE` reports every error with
its field path and line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    model_validator,
)

Side = Literal["vendor", "customer"]
SizeName = Literal["small", "medium", "enterprise"]
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
INGEST_METHODS = ("warehouse", "spreadsheet", "api")


def _check_key(v: str) -> str:
    if not _KEY.match(v):
        raise ValueError("must be lower_snake_case, starting with a letter")
    return v


Key = Annotated[str, AfterValidator(_check_key)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# What a `when:` rule may name without declaring it: every engagement has these (from
# /golive start or the deal), with the values each may take (None: any value).
ENGAGEMENT_FIELDS: dict[str, tuple[object, ...] | None] = {
    "size": ("small", "medium", "enterprise"),
    "pilot": (True, False),
    "ingest": INGEST_METHODS,
    "country": None,
}
# The deal's documented free fields (`fields` of POST /hooks/deal); a playbook declares any other
# field its rules read under `fields:`.
DEAL_FIELDS = ("product", "tier")
# A phase's `when:` may name only these: the phases are chosen again at every replan, from the
# engagement's own settings.
PLAN_FIELDS = ("pilot", "ingest")

Scalar = str | bool | int | float


def normalise(value: object) -> str | None:
    """A field's value as rules compare it: text without case or surrounding spaces, true/false,
    numbers without a trailing .0; None (and empty text) for a field that is not there."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip().casefold()
    return text or None


class Conditions(RootModel[tuple[tuple[str, tuple[Scalar | None, ...]], ...]]):
    """When an item, gate, phase or playbook applies: `{field: value}` or `{field: [values]}`.
    Every field named must match (and); a field matches when its value is one of those listed
    (or). A field the engagement does not have matches only a rule that lists `null`."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, v: Any) -> Any:
        if isinstance(v, tuple):
            return v
        if not isinstance(v, dict):
            raise ValueError("must be a mapping of field: value or [values], e.g. {product: billing}")
        if not v:
            raise ValueError("is empty: name at least one field, or leave when: out")
        pairs = []
        for name, values in v.items():
            if not isinstance(name, str) or not _KEY.match(name):
                raise ValueError(f"`{name}` is not a field name (lower_snake_case)")
            vals = tuple(values) if isinstance(values, list | tuple) else (values,)
            if not vals:
                raise ValueError(f"{name}: [] matches nothing; give at least one value")
            if any(isinstance(x, dict | list | tuple) for x in vals):
                raise ValueError(f"{name}: a value is text, a number, true/false or null")
            known = ENGAGEMENT_FIELDS.get(name)
            if known is not None:
                wrong = [x for x in vals if x is None or normalise(x) not in {normalise(k) for k in known}]
                if wrong:
                    raise ValueError(
                        f"{name}: {wrong[0]!r} is not a value it takes; use "
                        + ", ".join(str(normalise(k)) for k in known)
                    )
            pairs.append((name, vals))
        return tuple(pairs)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.root)

    def values(self, name: str) -> frozenset[str | None] | None:
        """The normalised values the rule accepts for `name` (None: it does not name it)."""
        for field_name, vals in self.root:
            if field_name == name:
                return frozenset(normalise(x) for x in vals)
        return None

    def matches(self, fields: Mapping[str, Any]) -> bool:
        """Do the engagement's (or the deal's) `fields` satisfy every condition?"""
        for name, _vals in self.root:
            wanted = self.values(name) or frozenset()
            actual = fields.get(name)
            got = [normalise(a) for a in actual] if isinstance(actual, list | tuple) else [normalise(actual)]
            if not any(g in wanted for g in got or [None]):
                return False
        return True

    def holds(self, *, pilot: bool, ingest: str) -> bool:
        """For a phase: the engagement's pilot and ingestion (a phase's rule names nothing else)."""
        return self.matches({"pilot": pilot, "ingest": ingest})


def _not_empty(v: Any) -> Any:
    if v is None:
        raise ValueError("is empty: name at least one field, or leave when: out")
    return v


# A `when:` written in the file: a rule, never an empty one (`when:` with nothing after it).
When = Annotated[Conditions | None, BeforeValidator(_not_empty)]


class ItemSpec(_Strict):
    key: Key
    title: str = Field(min_length=1, max_length=200)
    owner: Side
    description: str | None = Field(default=None, max_length=1000)
    when: When = None
    # Items (keys, of this phase or an earlier one) that must be done first.
    after: tuple[Key, ...] = ()
    # When it is due inside its phase, in percent of its business days (100: the phase's last day).
    due: int = Field(default=100, ge=1, le=100)
    # What settles it besides a tick: `dry_run` (a passed go-live dry run) or a gate's key.
    settled_by: str | None = None


class PhaseSpec(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=60)
    emoji: str = ""
    description: str | None = Field(default=None, max_length=500)
    # Share (percent) of the implementation timeline, or a fixed length in weeks (a pilot).
    share: int | None = Field(default=None, ge=1, le=100)
    weeks: float | None = Field(default=None, gt=0, le=26)
    when: When = None
    items: tuple[ItemSpec, ...] = ()

    @model_validator(mode="after")
    def _length(self) -> PhaseSpec:
        if (self.share is None) == (self.weeks is None):
            raise ValueError("give exactly one of share (percent of the timeline) or weeks")
        return self


class GateSpec(_Strict):
    key: Key
    phase: str
    title: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1500)
    requires_dry_run: bool = False
    when: When = None
    # The items of its phase it certifies (their keys); none given: all of the phase's items.
    items: tuple[Key, ...] = ()


def _check_acyclic(after: dict[str, tuple[str, ...]]) -> None:
    """No item may (through others) come after itself."""
    state: dict[str, int] = {}

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise ValueError("items: " + " → ".join([*path, key]) + " go round in a circle")
        state[key] = 1
        for k in after.get(key, ()):
            visit(k, [*path, key])
        state[key] = 2

    for key in after:
        visit(key, [])


class SizeSpec(_Strict):
    min_weeks: float = Field(gt=0, le=104)
    max_weeks: float = Field(gt=0, le=104)

    @model_validator(mode="after")
    def _order(self) -> SizeSpec:
        if self.max_weeks < self.min_weeks:
            raise ValueError("max_weeks is less than min_weeks")
        return self

    @property
    def midpoint_weeks(self) -> float:
        return (self.min_weeks + self.max_weeks) / 2


DEFAULT_DRY_RUN_CHECKLIST = (
    "Production configuration and migrated data reconciled",
    "Invoices for the sample customers match the parallel run",
    "Tax and payment integrations answer in production",
    "Access and approval workflows work for the billing team",
    "Go / no-go owners and the rollback plan agreed",
)


class Playbook(_Strict):
    name: str = Field(min_length=1, max_length=100)
    version: int = 1
    # The deals this playbook is for (one of several, see `bot.engagement.rules.choose_playbook`).
    when: When = None
    # The deal's fields its rules read besides the known ones (ENGAGEMENT_FIELDS, DEAL_FIELDS).
    fields: tuple[Key, ...] = ()
    sizes: dict[SizeName, SizeSpec]
    phases: tuple[PhaseSpec, ...] = Field(min_length=1)
    gates: tuple[GateSpec, ...] = ()
    # What the go-live dry run checks; shown on every dry-run reminder.
    dry_run_checklist: tuple[str, ...] = Field(default=DEFAULT_DRY_RUN_CHECKLIST, max_length=20)
    # The milestone at which the customer first gets value (the report's time to first value): a
    # gate's key (its approval) or an item's key (its tick). None: the report shows none.
    first_value: Key | None = None
    # The customer's roles someone must hold once the engagement has started; the lead is told
    # privately when one is empty after the kickoff (`bot.reminders.people_watch`).
    required_roles: tuple[Literal["approver", "main_contact", "sponsor", "contributor", "it_admin"], ...] = ()

    @model_validator(mode="after")
    def _references(self) -> Playbook:
        missing = {"small", "medium", "enterprise"} - set(self.sizes)
        if missing:
            raise ValueError(f"sizes: missing {', '.join(sorted(missing))}")
        keys = [p.key for p in self.phases]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"phases: duplicate key {', '.join(sorted(dup))}")
        item_keys = [i.key for p in self.phases for i in p.items]
        dup = {k for k in item_keys if item_keys.count(k) > 1}
        if dup:
            raise ValueError(f"items: duplicate key {', '.join(sorted(dup))}")
        gate_keys = [g.key for g in self.gates]
        dup = {k for k in gate_keys if gate_keys.count(k) > 1}
        if dup:
            raise ValueError(f"gates: duplicate key {', '.join(sorted(dup))}")
        order = {i.key: n for n, p in enumerate(self.phases) for i in p.items}
        gate_keys_set = set(gate_keys)
        for p in self.phases:
            for i in p.items:
                for k in i.after:
                    if k not in order:
                        raise ValueError(f"items: {i.key} comes after {k}, which the playbook does not have")
                    if order[k] > order[i.key]:
                        raise ValueError(f"items: {i.key} comes after {k}, an item of a later phase")
                if (
                    i.settled_by is not None
                    and i.settled_by != "dry_run"
                    and i.settled_by not in gate_keys_set
                ):
                    raise ValueError(
                        f"items: {i.key} is settled_by {i.settled_by!r}: use dry_run or a gate's key"
                    )
        _check_acyclic({i.key: i.after for p in self.phases for i in p.items})
        for g in self.gates:
            phase = self.phase(g.phase)
            if phase is None:
                continue  # reported with its line by the phase-reference check
            theirs = {i.key for i in phase.items}
            stray = [k for k in g.items if k not in theirs]
            if stray:
                raise ValueError(f"gates: {g.key} names items not in phase {g.phase}: {', '.join(stray)}")
        if self.first_value is not None and self.first_value not in gate_keys_set | set(order):
            raise ValueError(f"first_value: {self.first_value!r} is neither a gate's key nor an item's key")
        shares = sum(p.share or 0 for p in self.phases)
        if shares != 100:
            raise ValueError(f"phases: the shares add up to {shares}; they must add up to 100")
        return self

    def phase(self, key: str) -> PhaseSpec | None:
        return next((p for p in self.phases if p.key == key), None)

    def gate(self, key: str) -> GateSpec | None:
        return next((g for g in self.gates if g.key == key), None)

    def gates_of(self, phase_key: str) -> list[GateSpec]:
        return [g for g in self.gates if g.phase == phase_key]


@dataclass(frozen=True)
class PlaybookProblem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}"


class PlaybookError(Exception):
    def __init__(self, source: str, problems: list[PlaybookProblem]) -> None:
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))
        self.source = source
        self.problems = problems


def _node_at(root: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            return node
        node = nxt
    return node


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    node = _node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else None


def known_fields(pb: Playbook) -> tuple[str, ...]:
    """The fields `pb`'s rules may name: every engagement's, the deal's documented ones, its own."""
    return tuple(dict.fromkeys([*ENGAGEMENT_FIELDS, *DEAL_FIELDS, *pb.fields]))


def rules_of(pb: Playbook) -> list[tuple[tuple[Any, ...], Conditions, bool]]:
    """Every `when:` of the playbook: (its place in the file, the rule, whether it is a phase's)."""
    out: list[tuple[tuple[Any, ...], Conditions, bool]] = []
    if pb.when is not None:
        out.append((("when",), pb.when, False))
    for i, phase in enumerate(pb.phases):
        if phase.when is not None:
            out.append((("phases", i, "when"), phase.when, True))
        for j, item in enumerate(phase.items):
            if item.when is not None:
                out.append((("phases", i, "items", j, "when"), item.when, False))
    for i, gate in enumerate(pb.gates):
        if gate.when is not None:
            out.append((("gates", i, "when"), gate.when, False))
    return out


def _field_problems(pb: Playbook, root: yaml.Node | None) -> list[PlaybookProblem]:
    """Fields a rule names that golive does not know (a typo would never match), and a phase's
    rule on anything but pilot and ingest."""
    known = known_fields(pb)
    problems = []
    for loc, rule, is_phase in rules_of(pb):
        for name in rule.fields:
            path = ".".join(str(p) for p in loc)
            if name not in known:
                message = (
                    f"names the field `{name}`, which golive does not know; known fields: "
                    + ", ".join(known)
                    + " (a field of your deals is declared under `fields:`)"
                )
            elif is_phase and name not in PLAN_FIELDS:
                message = (
                    f"a phase's when: names only {' and '.join(PLAN_FIELDS)} (the plan is computed "
                    f"again at every replan); put `{name}` on the phase's items instead"
                )
            else:
                continue
            problems.append(PlaybookProblem(path, _line_of(root, (*loc, name)), message))
    return problems


def _semantic_problems(pb: Playbook, root: yaml.Node | None) -> list[PlaybookProblem]:
    problems = _field_problems(pb, root)
    phase_keys = {p.key for p in pb.phases}
    for i, gate in enumerate(pb.gates):
        if gate.phase not in phase_keys:
            loc = ("gates", i, "phase")
            problems.append(
                PlaybookProblem(
                    f"gates.{i}.phase",
                    _line_of(root, loc),
                    f"refers to phase `{gate.phase}`, which is not defined; known phases: "
                    + ", ".join(sorted(phase_keys)),
                )
            )
    return problems


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    """Parse and validate; raise PlaybookError listing every problem with path and line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise PlaybookError(source, [PlaybookProblem("(file)", line, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise PlaybookError(
            source, [PlaybookProblem("(file)", 1, "must be a mapping with name, sizes, phases")]
        )
    try:
        pb = Playbook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            path = ".".join(str(p) for p in loc) or "(top)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "is required but missing"
            problems.append(PlaybookProblem(path, _line_of(root, loc), msg))
        # Reference problems are reported too, even when other fields are wrong.
        if isinstance(data.get("gates"), list) and isinstance(data.get("phases"), list):
            phase_keys = {p.get("key") for p in data["phases"] if isinstance(p, dict)}
            for i, g in enumerate(data["gates"]):
                if isinstance(g, dict) and g.get("phase") not in phase_keys:
                    problems.append(
                        PlaybookProblem(
                            f"gates.{i}.phase",
                            _line_of(root, ("gates", i, "phase")),
                            f"refers to phase `{g.get('phase')}`, which is not defined",
                        )
                    )
        raise PlaybookError(source, problems) from None
    problems = _semantic_problems(pb, root)
    if problems:
        raise PlaybookError(source, problems)
    return pb


# A checklist shows an item's title as its checkbox's label, which holds 75 characters; a longer
# title wraps into the line below it (or gets a block of its own), so it is a warning, not an error.
TITLE_FITS = 75


def playbook_warnings(text: str) -> list[PlaybookProblem]:
    """What a valid playbook had better change: item titles longer than a checklist label."""
    try:
        root, data = yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    warnings = []
    phases = data.get("phases") if isinstance(data, dict) else None
    for i, phase in enumerate(phases if isinstance(phases, list) else []):
        items = phase.get("items") if isinstance(phase, dict) else None
        for j, item in enumerate(items if isinstance(items, list) else []):
            title = str(item.get("title") or "") if isinstance(item, dict) else ""
            if len(title) > TITLE_FITS:
                loc = ("phases", i, "items", j, "title")
                warnings.append(
                    PlaybookProblem(
                        ".".join(str(p) for p in loc),
                        _line_of(root, loc),
                        f"the title is {len(title)} characters; a checklist shows {TITLE_FITS} on the "
                        "item's line and wraps the rest below it: shorten it if you can",
                    )
                )
    return warnings


def load_playbook(path: Path | None = None) -> Playbook:
    if path is None:
        return default_playbook()
    return parse_playbook(Path(path).read_text(encoding="utf-8"), str(path))


@functools.cache
def default_playbook() -> Playbook:
    text = resources.files("bot.engagement").joinpath("playbooks/default.yaml").read_text(encoding="utf-8")
    return parse_playbook(text, "default.yaml")
