"""golive's core, one package per capability.

- `engagement`: the engagement itself — playbook, plan and business days, phases, checklist,
  sign-off gates, health.
- `people`: who is who — members, sides, roles — and the append-only audit trail of what they did.
- `reminders`: what is due and when — working hours, milestone reminders, nudges, dry runs, the
  weekly digest, and the sweep that sends them.
- `slack`: talking to Slack — the Web API client and gateway (with the ledger of posted
  messages), presenters, publishing, App Home, the app manifest.
- `runtime`: the running process — configuration, wiring, HTTP server, Socket Mode, the sweep
  clock, the listener pool, the `golive` CLI.

Imports point down this list's reverse: runtime → reminders → slack → engagement → people; every
package may use the modules directly in `bot/` (clock, errors, values, refs, commands,
slacktext, services), `storage` and `messages`. The modules directly in `bot/` import no
package of `bot` at run time. `handlers/` (the Bolt listeners) sits above all of them except
`runtime`, which registers it.
"""

__version__ = "0.1.0"
