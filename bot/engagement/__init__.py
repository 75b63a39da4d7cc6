"""The engagement itself: what is being implemented for whom, and how far it has got.

The playbook (phases, items, gates, sizes), the dated plan on business days, starting and
re-planning an engagement (`lifecycle`), the checklist, the sign-off gates and their decisions
(a gate is part of its phase: a phase is complete when its items and its gates are), phase
completion, and health. May import `bot.people`, the modules directly in `bot/`, `storage` and
`messages`; never `slack`, `reminders`, `handlers` or `golive`, and never Slack itself.
"""
