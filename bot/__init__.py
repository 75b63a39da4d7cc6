"""golive's core, one package per capability.

- `engagement`: the engagement itself — playbook, plan and business days, phases, checklist,
  sign-off gates, health.
- `events`: events out — signed webhooks queued with the change they tell of, delivered and
  retried for 24 hours (it imports only the modules directly in `bot/` and `storage`).
- `exports`: the export formats — the timeline picture, the report's charts, the .ics calendar,
  the report as CSV and HTML; matplotlib and icalendar are imported only when used.
- `people`: who is who — members, sides, roles — and the append-only audit trail of what they did.
- `reminders`: what is due and when — working hours, milestone reminders, nudges, dry runs, the
  weekly digest, and the sweep that sends them.
- `slack`: talking to Slack — the Web API client and gateway (with the ledger of posted
  messages), presenters, publishing, App Home, the app manifest.

Imports point down this list's reverse: reminders → slack → exports → engagement → people;
every package may use the modules directly in `bot/` (clock, errors, user_input, refs,
commands, slacktext, config, executor, cache, metrics, services), `storage` and `messages`. The modules directly in
`bot/` import no package of `bot` at run time. `handlers/` (the Bolt listeners) sits above all of
them, and the program on top, `golive/` (the CLI, the servers, the wiring, the sweep clock),
above `handlers/`: nothing in `bot/` imports either.
"""

__version__ = "0.1.0"
