"""Parsing the slash command's text into a subcommand, positional words and key=value options.

Parsing is pure: it writes nothing and calls nothing, so a bad argument is answered before
anything happens. Usage lines live here, next to the parser, and `/golive help` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.errors import UserError
from bot.slacktext import plain_text

_TOKEN = re.compile(r'(?:"[^"]*"?|“[^”]*”?|<[^>]*>|[^\s"“<]+)+')
_OPTION = re.compile(r"^([a-z_]+)=(.*)$", re.S)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    options: frozenset[str] = frozenset()


class UsageError(UserError):
    """Bad slash command input: the message says what is wrong, `usage` shows the right form."""


@dataclass
class ParsedCommand:
    name: str
    spec: CommandSpec
    words: list[str] = field(default_factory=list)  # raw tokens, Slack-escaped
    options: dict[str, str] = field(default_factory=dict)  # raw values

    @property
    def rest_text(self) -> str:
        """The positional words as the plain text the user typed."""
        return plain_text(" ".join(self.words))

    def fail(self, problem: str) -> UsageError:
        return UsageError(problem, self.spec.usage)


class CommandSet:
    """The subcommands that exist, in the order help lists them."""

    def __init__(self, command: str = "/golive") -> None:
        self.command = command
        self._specs: dict[str, CommandSpec] = {}
        self._aliases: dict[str, str] = {}

    def add(self, spec: CommandSpec, *aliases: str) -> None:
        self._specs[spec.name] = spec
        for alias in aliases:
            self._aliases[alias] = spec.name

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(self._aliases.get(name, name))

    def usage(self, name: str) -> str:
        spec = self.get(name)
        return f"{self.command} {spec.usage}" if spec else ""

    def parse(self, text: str) -> ParsedCommand:
        tokens = _TOKEN.findall(text or "")
        if not tokens:
            spec = self.get("help")
            assert spec is not None
            return ParsedCommand(name=spec.name, spec=spec)
        head = tokens[0].lower()
        spec = self.get(head)
        if spec is None:
            names = ", ".join(f"`{s.name}`" for s in self)
            raise UsageError(
                f"I don't know the subcommand `{plain_text(tokens[0])[:40]}`. I know {names}; "
                f"`{self.command} help` shows how to use each.",
                None,
            )
        words: list[str] = []
        options: dict[str, str] = {}
        for tok in tokens[1:]:
            m = _OPTION.match(tok)
            if m and spec.options:
                key, value = m.group(1), _unquote(m.group(2))
                if key not in spec.options:
                    known = ", ".join(f"`{o}=`" for o in sorted(spec.options))
                    raise UsageError(
                        f"`{key}=` is not an option of `{spec.name}`; it takes {known}.", spec.usage
                    )
                if key in options:
                    raise UsageError(f"`{key}=` is given twice.", spec.usage)
                options[key] = value
            else:
                words.append(_unquote(tok))
        return ParsedCommand(name=spec.name, spec=spec, words=words, options=options)


def _unquote(tok: str) -> str:
    if len(tok) >= 2 and ((tok[0] == '"' and tok[-1] == '"') or (tok[0] == "“" and tok[-1] == "”")):
        return tok[1:-1]
    return tok.replace('"', "").replace("“", "").replace("”", "")


def build_commands(command: str = "/golive") -> CommandSet:
    """Every subcommand that exists, with its usage, in the order `help` lists them."""
    cs = CommandSet(command)
    cs.add(CommandSpec("help", "help", "Show this help."), "?", "usage")
    cs.add(
        CommandSpec(
            "start",
            "start <customer name> [size=small|medium|enterprise] [kickoff=YYYY-MM-DD] [target=YYYY-MM-DD] "
            "[tz=Area/City] [country=XX] [pilot=yes|no] [ingest=warehouse|spreadsheet|api]",
            "Start an engagement in this channel (no name: opens a form).",
            frozenset({"size", "kickoff", "target", "tz", "country", "pilot", "ingest"}),
        ),
        "new",
    )
    cs.add(
        CommandSpec(
            "status",
            "status",
            "Customer, size, phase, key dates, progress and health.",
        )
    )
    cs.add(
        CommandSpec(
            "checklist", "checklist [phase number]", "Post a phase checklist (default: the current phase)."
        )
    )
    cs.add(CommandSpec("done", "done <item, e.g. 2.3> [more items]", "Mark items done: `done 2.1 2.2 2.3`."))
    cs.add(CommandSpec("undo", "undo <item> [more items]", "Reopen items marked done (or not applicable)."))
    cs.add(CommandSpec("assign", "assign <item> [more items] @person", "Give items an owner."))
    cs.add(
        CommandSpec(
            "due",
            "due <item> [more items] YYYY-MM-DD",
            "Set items' due date (kept when the plan changes).",
        )
    )
    cs.add(
        CommandSpec("na", "na <item> [more items] <reason>", "Mark items not applicable, with the reason.")
    )
    cs.add(
        CommandSpec(
            "after",
            "after <item> <items it waits for> · after <item> remove <item>|none",
            "Make an item wait for others (its due date follows them); no items: say what it waits for.",
        )
    )
    cs.add(
        CommandSpec(
            "add",
            "add <phase number> <title> [owner=customer|vendor]",
            "Add a custom item to a phase.",
            frozenset({"owner"}),
        )
    )
    cs.add(
        CommandSpec(
            "plan",
            "plan [kickoff=YYYY-MM-DD] [size=small|medium|enterprise] [target=YYYY-MM-DD|none]",
            "Show the dated plan, or change it and recompute the dates.",
            frozenset({"kickoff", "size", "target"}),
        )
    )
    cs.add(
        CommandSpec(
            "timeline",
            "timeline",
            "Post the timeline as a picture: planned, actual and forecast dates of each phase.",
        )
    )
    cs.add(
        CommandSpec(
            "calendar",
            "calendar",
            "Upload the plan as a calendar file (.ics): phases, sign-off targets, dry run, go-live.",
        )
    )
    cs.add(
        CommandSpec(
            "side", "side @person vendor|customer", "Put someone on the vendor's or the customer's side."
        )
    )
    cs.add(
        CommandSpec(
            "customer",
            "customer [@person]",
            "Show which organisation is the customer, or make @person's organisation the customer.",
        )
    )
    cs.add(
        CommandSpec(
            "role",
            "role @person approver|contributor|main_contact|sponsor|it_admin|consultant|lead [gate=<gate>] · "
            "role @person remove [role]",
            "Give someone a role (approvers for every gate, or one gate), or remove it. The main contact "
            "gets the reminders of the customer's items nobody else is named for.",
            frozenset({"gate"}),
        )
    )
    cs.add(CommandSpec("team", "team", "List the roles, with a button to manage them."))
    cs.add(CommandSpec("signoff", "signoff [gate]", "Ask the customer's approvers to sign off a gate."))
    cs.add(
        CommandSpec(
            "audit",
            "audit",
            "Share the audit trail as CSV in this channel; the team's own entries come to you privately.",
        )
    )
    cs.add(
        CommandSpec(
            "settings",
            "settings [tz=Area/City] [country=XX] [hours=09:00-17:00] [days=mon-fri] [cadence=2]",
            "The customer's clock for reminders (no options: opens a form).",
            frozenset({"tz", "country", "hours", "days", "cadence"}),
        )
    )
    cs.add(
        CommandSpec(
            "nudges",
            "nudges [pause|resume]",
            "Show what will be sent next, when, and whom it notifies; pause or resume.",
        )
    )
    cs.add(CommandSpec("unblock", "unblock <item>", "Clear an item's block so its reminders resume."))
    cs.add(CommandSpec("target", "target YYYY-MM-DD", "Set the go-live date and recompute the plan."))
    cs.add(
        CommandSpec(
            "dryrun",
            "dryrun [YYYY-MM-DD HH:MM] [@people] · dryrun people @people|default",
            "Schedule the go-live dry run in the customer's time (no date: a suggestion); name who takes "
            "part (its reminders mention them; by default the lead, approvers and main contact).",
        )
    )
    cs.add(
        CommandSpec(
            "live",
            "live",
            "Confirm the go-live cutover, once the final approval is recorded (asks to confirm when it is "
            "early or something is still open).",
        )
    )
    cs.add(CommandSpec("cancel", "cancel", "Cancel this engagement and all its reminders (asks to confirm)."))
    return cs
