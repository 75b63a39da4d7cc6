"""The YAML mapping from a CRM's payload to golive's deal (`bot.deals.deal`): which golive field
comes from which place in what HubSpot or Salesforce sent. The defaults ship in
`bot/deals/mappings/{hubspot,salesforce}.yaml`; a deployment points `GOLIVE_HUBSPOT_MAPPING` or
`GOLIVE_SALESFORCE_MAPPING` at its own file (docs/crm.md, "The mapping").

    deal:
      deal_id: dealId                         # a path into the payload
      customer.name: properties.dealname.value
      kickoff: {from: properties.kickoff_date.value, as: date}
      size: {from: properties.dealtype.value, map: {newbusiness: medium}, default: medium}
      fields.product: properties.product.value
    contacts:
      - {email: properties.approver_email.value, name: properties.approver_name.value, role: approver}
      - {each: contacts, email: email, name: name, role_from: role}

A path is dotted keys with list indexes (`a.b.0.c` or `a.b[0].c`). A rule is a path, or a mapping
with `from` (a path, or a list of paths: the first with a value wins) or `value` (a constant), and
optionally `as` (date, bool, text), `map` (CRM value → golive value) and `default`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

Source = Literal["hubspot", "salesforce"]
SOURCES: tuple[Source, ...] = ("hubspot", "salesforce")
# the golive deal fields a mapping may fill (`fields.<name>` for any free field)
TARGETS = (
    "deal_id",
    "customer.name",
    "customer.domain",
    "owner.slack_id",
    "owner.email",
    "size",
    "kickoff",
    "target",
    "timezone",
    "country",
    "pilot",
    "ingest",
)
TRANSFORMS = ("date", "bool", "text")
_RULE_KEYS = {"from", "value", "as", "map", "default"}
_CONTACT_KEYS = {"each", "email", "name", "role", "role_from"}
_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}


class MappingProblem(ValueError):
    """A mapping file golive cannot use: the message names the file, the line and the key."""


class PayloadProblem(ValueError):
    """A payload value the mapping cannot convert (a date that is not one): the caller answers 400."""


@dataclass(frozen=True)
class Rule:
    """Where one golive value comes from."""

    paths: tuple[str, ...] = ()
    constant: Any = None
    transform: str | None = None
    values: dict[str, Any] | None = None
    default: Any = None


@dataclass(frozen=True)
class ContactRule:
    """One contact from flat properties, or one contact per item of the list at `each`."""

    email: str
    name: str | None = None
    role: str | None = None
    role_from: str | None = None
    each: str | None = None


@dataclass(frozen=True)
class DealMapping:
    source: Source
    name: str
    rules: dict[str, Rule] = field(default_factory=dict)
    contacts: tuple[ContactRule, ...] = ()


# ----------------------------------------------------------------------------------- loading


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of each mapping key, for messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: _Lines = _Lines()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


class _Lines(dict[Any, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_mapping(path: Path | None, source: Source) -> DealMapping:
    """The mapping in `path`, or the default one for `source` when path is None; MappingProblem
    naming the file, line and key when the file is wrong."""
    if source not in SOURCES:
        raise MappingProblem(f"unknown CRM {source!r}: use one of {', '.join(SOURCES)}")
    if path is None:
        return _default_mapping(source)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingProblem(f"{path}: cannot read the mapping ({exc.strerror or exc})") from None
    return parse_mapping(text, source, str(path))


@functools.cache
def _default_mapping(source: Source) -> DealMapping:
    """The shipped mapping, read once per process (the hooks ask for it on every deal)."""
    text = resources.files("bot.deals").joinpath(f"mappings/{source}.yaml").read_text(encoding="utf-8")
    return parse_mapping(text, source, f"{source}.yaml")


def parse_mapping(text: str, source: Source, name: str) -> DealMapping:
    try:
        document = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no Python tags
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}" if mark is not None else name
        raise MappingProblem(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(document, dict):
        raise MappingProblem(f"{name}: a mapping needs a `deal:` section (golive field: CRM path)")
    lines = _lines(document)
    for key in document:
        if key not in ("deal", "contacts"):
            raise MappingProblem(
                f"{name}, line {lines.get(key, '?')}: unknown key `{key}` (use deal, contacts)"
            )
    deal = document.get("deal")
    if not isinstance(deal, dict) or not deal:
        raise MappingProblem(f"{name}: `deal:` must map golive fields to CRM paths")
    rules = {}
    for target, spec in deal.items():
        where = f"{name}, line {_lines(deal).get(target, '?')}, `{target}`"
        rules[_target(target, where)] = _rule(spec, where)
    if "deal_id" not in rules or "customer.name" not in rules:
        raise MappingProblem(f"{name}: `deal:` must say where deal_id and customer.name come from")
    contacts = document.get("contacts") or []
    if not isinstance(contacts, list):
        raise MappingProblem(f"{name}, line {lines.get('contacts', '?')}: `contacts:` must be a list")
    contact_rules = tuple(
        _contact(spec, f"{name}, `contacts` entry {n}") for n, spec in enumerate(contacts, start=1)
    )
    return DealMapping(source=source, name=name, rules=rules, contacts=contact_rules)


def _lines(value: Any) -> dict[Any, int]:
    return value.lines if isinstance(value, _Lines) else {}


def _target(target: Any, where: str) -> str:
    if not isinstance(target, str):
        raise MappingProblem(f"{where}: a golive field is a name such as customer.name")
    if target in TARGETS:
        return target
    if target.startswith("fields.") and _FIELD_NAME.match(target.removeprefix("fields.")):
        return target
    raise MappingProblem(
        f"{where}: not a golive deal field; use one of {', '.join(TARGETS)}, or fields.<name>"
    )


def _path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or not _split(value):
        raise MappingProblem(
            f"{where}: a path is dotted keys with list indexes, e.g. properties.dealname.value"
        )
    return value.strip()


def _rule(spec: Any, where: str) -> Rule:
    if isinstance(spec, str):
        return Rule(paths=(_path(spec, where),))
    if not isinstance(spec, dict):
        raise MappingProblem(f"{where}: give a path, or {{from: path}} / {{value: constant}}")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise MappingProblem(
            f"{where}: unknown key `{sorted(unknown)[0]}` (use {', '.join(sorted(_RULE_KEYS))})"
        )
    if ("from" in spec) == ("value" in spec):
        raise MappingProblem(f"{where}: give exactly one of `from` (a path) and `value` (a constant)")
    paths: tuple[str, ...] = ()
    if "from" in spec:
        raw = spec["from"]
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise MappingProblem(f"{where}: `from` needs at least one path")
        paths = tuple(_path(item, where) for item in items)
    transform = spec.get("as")
    if transform is not None and transform not in TRANSFORMS:
        raise MappingProblem(f"{where}: `as` must be one of {', '.join(TRANSFORMS)}")
    values = spec.get("map")
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise MappingProblem(f"{where}: `map` must map CRM values to golive values")
        values = {str(k).strip().lower(): v for k, v in values.items()}
    return Rule(paths, spec.get("value"), transform, values, spec.get("default"))


def _contact(spec: Any, where: str) -> ContactRule:
    if not isinstance(spec, dict):
        raise MappingProblem(f"{where}: a contact is {{email: path, name: path, role: approver}}")
    where = f"{where} (line {min(_lines(spec).values(), default='?')})"
    unknown = set(spec) - _CONTACT_KEYS
    if unknown:
        raise MappingProblem(
            f"{where}: unknown key `{sorted(unknown)[0]}` (use {', '.join(sorted(_CONTACT_KEYS))})"
        )
    if "email" not in spec:
        raise MappingProblem(f"{where}: `email` (a path) is required")
    if "role" in spec and "role_from" in spec:
        raise MappingProblem(f"{where}: give `role` (a constant) or `role_from` (a path), not both")
    role = spec.get("role")
    if role is not None and not isinstance(role, str):
        raise MappingProblem(f"{where}: `role` is a constant such as approver")
    return ContactRule(
        email=_path(spec["email"], where),
        name=_path(spec["name"], where) if spec.get("name") is not None else None,
        role=role,
        role_from=_path(spec["role_from"], where) if spec.get("role_from") is not None else None,
        each=_path(spec["each"], where) if spec.get("each") is not None else None,
    )


# ----------------------------------------------------------------------------------- applying


def _split(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for token in _PATH_PART.findall(path):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return parts


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c` or `a.b[0].c`), None where any step is missing."""
    current = document
    for part in _split(path):
        if isinstance(current, dict):
            current = current.get(part if isinstance(part, str) else str(part))
        elif isinstance(current, list):
            index = part if isinstance(part, int) else int(part) if part.isdigit() else None
            current = current[index] if index is not None and -len(current) <= index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_date(value: Any, target: str) -> str:
    """A date: epoch milliseconds (HubSpot's date and datetime properties), an ISO date
    (Salesforce's xsd:date) or an ISO date-time, as YYYY-MM-DD in UTC."""
    text = str(value).strip()
    if isinstance(value, int | float) or text.isdigit():
        try:
            return datetime.fromtimestamp(int(float(text)) / 1000, tz=UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            raise PayloadProblem(f"`{target}`: {text} is not a date in epoch milliseconds") from None
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadProblem(
            f"`{target}`: {text!r} is not a date (YYYY-MM-DD or epoch milliseconds)"
        ) from None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date().isoformat()


def _as_bool(value: Any, target: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PayloadProblem(f"`{target}`: {value!r} is not yes or no")


def _convert(rule: Rule, raw: Any, target: str) -> Any:
    value = raw
    if rule.values is not None and not _empty(value):
        key = str(value).strip().lower()
        value = rule.values.get(key, rule.default if rule.default is not None else value)
    if _empty(value):
        value = rule.default
    if _empty(value):
        return None
    if rule.transform == "date":
        return _as_date(value, target)
    if rule.transform == "bool":
        return _as_bool(value, target)
    if rule.transform == "text":
        return str(value).strip()
    return value.strip() if isinstance(value, str) else value


def value_for(rule: Rule, document: Any, target: str) -> Any:
    if not rule.paths:
        return _convert(rule, rule.constant, target)
    raw = None
    for path in rule.paths:
        raw = lookup(document, path)
        if not _empty(raw):
            break
    return _convert(rule, raw, target)


def _put(deal: dict[str, Any], target: str, value: Any) -> None:
    head, _, rest = target.partition(".")
    if not rest:
        deal[head] = value
    else:
        deal.setdefault(head, {})[rest] = value


def _contacts(rule: ContactRule, document: Any) -> list[dict[str, Any]]:
    items = [document]
    if rule.each is not None:
        found = lookup(document, rule.each)
        items = found if isinstance(found, list) else [found] if isinstance(found, dict) else []
    contacts = []
    for item in items:
        email = lookup(item, rule.email)
        if _empty(email):
            continue  # a contact property left empty on this deal
        name = lookup(item, rule.name) if rule.name else None
        role = lookup(item, rule.role_from) if rule.role_from else rule.role
        contact: dict[str, Any] = {"email": str(email).strip()}
        if not _empty(name):
            contact["name"] = str(name).strip()
        if not _empty(role):
            contact["role"] = str(role).strip()
        contacts.append(contact)
    return contacts


def apply_mapping(mapping: DealMapping, document: Any) -> dict[str, Any]:
    """The golive deal document (see `bot.deals.deal`) the mapping makes of a CRM payload;
    fields with no value are left out, so parse_deal's defaults and messages apply."""
    deal: dict[str, Any] = {}
    for target, rule in mapping.rules.items():
        value = value_for(rule, document, target)
        if value is not None:
            _put(deal, target, value)
    contacts = [c for rule in mapping.contacts for c in _contacts(rule, document)]
    if contacts:
        deal["contacts"] = contacts
    return deal
