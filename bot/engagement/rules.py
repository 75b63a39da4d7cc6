"""The playbook's `when:` rules applied: which items and gates an engagement gets from its fields,
what an item waits for when one of its prerequisites was left out, and which of several playbooks
a deal gets.

- An engagement's fields (`engagement_fields`): the deal's free fields (`Engagement.fields`, JSON;
  None for an engagement started by hand) with the engagement's own size, pilot, ingestion and
  country over them (those are what the plan was made from).
- An item (or gate) with a `when:` is created only when the rule matches those fields; a field the
  engagement does not have matches only a rule that lists `null`.
- An item left out does not break what waits for it (`effective_after`): its dependents wait for
  what it waited for, through any number of left-out items.
- A deal gets the most specific playbook whose `when:` matches its fields (`choose_playbook`).

Imports the playbook model and storage's Engagement only.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.engagement.playbook import Conditions, Playbook, load_playbook
from storage.models import Engagement


def engagement_fields(engagement: Engagement) -> dict[str, Any]:
    """What the engagement's rules read: its deal's fields, then its own settings."""
    stored = json.loads(engagement.fields) if engagement.fields else {}
    return {
        **(stored if isinstance(stored, dict) else {}),
        "size": engagement.size,
        "pilot": engagement.pilot,
        "ingest": engagement.ingest,
        "country": engagement.country,
    }


def applies(when: Conditions | None, fields: Mapping[str, Any]) -> bool:
    """No rule: always; else when the fields match it."""
    return when is None or when.matches(fields)


def effective_after(playbook: Playbook, present: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Each present item's prerequisites (keys), a left-out one replaced by what it waited for,
    through any number of left-out items: a chain a → b → c without b is a → c, never a alone."""
    after = {i.key: i.after for p in playbook.phases for i in p.items}

    def resolve(key: str, seen: frozenset[str]) -> list[str]:
        out: list[str] = []
        for k in after.get(key, ()):
            if k in present:
                out.append(k)
            elif k not in seen:
                out.extend(resolve(k, seen | {k}))
        return out

    return {key: tuple(dict.fromkeys(resolve(key, frozenset({key})))) for key in after if key in present}


class PlaybookChoiceError(ValueError):
    """Several playbooks fit a deal equally well (`golive playbook check DIR` finds it first)."""


def specificity(playbook: Playbook) -> int:
    """How many fields its `when:` names (0: the default, for any deal)."""
    return len(playbook.when.fields) if playbook.when is not None else 0


def choose_playbook_key(fields: Mapping[str, Any], playbooks: Mapping[str, Playbook]) -> str | None:
    """Which of the playbooks (by key: a file's name without .yaml) a deal's fields get: of those
    whose `when:` matches, the one naming most fields; none matching: the one without `when:`;
    None when there is none (the deployment's default playbook). Two matching with as many fields
    raise PlaybookChoiceError, a configuration error `golive playbook check DIR` reports."""
    matching = [(k, p) for k, p in playbooks.items() if p.when is not None and p.when.matches(fields)]
    if not matching:
        return next((k for k, p in playbooks.items() if p.when is None), None)
    best = max(specificity(p) for _, p in matching)
    top = [(k, p) for k, p in matching if specificity(p) == best]
    if len(top) > 1:
        raise PlaybookChoiceError(
            "these playbooks fit the deal equally well: "
            + ", ".join(f"{k} ({p.name})" for k, p in top)
            + "; make one's when: name more fields (run `golive playbook check` on the directory)"
        )
    return top[0][0]


def choose_playbook(
    fields: Mapping[str, Any], playbooks: Mapping[str, Playbook] | Iterable[Playbook], default: Playbook
) -> Playbook:
    """The playbook a deal's fields get (see `choose_playbook_key`), `default` when none fits."""
    keyed = playbooks if isinstance(playbooks, Mapping) else {str(n): p for n, p in enumerate(playbooks)}
    key = choose_playbook_key(fields, keyed)
    return keyed[key] if key is not None else default


def load_playbooks(directory: Path) -> dict[str, Playbook]:
    """Every playbook (*.yaml, *.yml) in a directory, keyed by its file's name without the suffix,
    in name order; PlaybookError on the first invalid one."""
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return {p.stem: load_playbook(p) for p in paths}


def playbook_for_deal(
    fields: Mapping[str, Any], playbooks: Mapping[str, Playbook], default: Playbook
) -> tuple[str | None, Playbook]:
    """What the deal intake calls: (the key to store in `Engagement.playbook`, the playbook to
    start the engagement with). Key None: the deployment's default playbook."""
    key = choose_playbook_key(fields, playbooks)
    return key, playbooks[key] if key is not None else default
