"""What is due and when, on the customer's clock, and the sweep that sends it.

Working hours (time zone, working days, public holidays), milestone reminders (dry run and
go-live day: `milestones`), nudges, the dry run's scheduling and outcome, the weekly digest,
when each engagement next needs planning (`next_check`), and the sweep that plans the
engagements whose time has come, claims due reminder rows and sends them. May import `bot.slack`,
`bot.engagement`, `bot.people`, the modules directly in `bot/`, `storage` and `messages`; never
`handlers` or `golive` (the program starts the sweep, not the other way round).
"""
