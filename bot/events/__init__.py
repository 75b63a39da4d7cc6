"""Events out: signed webhooks that let a CRM or a billing system follow every implementation.

`engagement.started`, `phase.started`, `signoff.decided`, `dryrun.outcome`, `health.changed` and
`engagement.live` are queued (`emit`) in the same transaction as the change they tell of, one
row per configured target (`storage.hook_deliveries`), and posted afterwards (`delivery`), signed
like golive's inbound hook (`signing`), retried with exponential backoff for 24 hours. The
documented shapes are in docs/events.md.

May import the modules directly in `bot/` (config, metrics, clock) and `storage`; the
packages that change engagements (`engagement`, `reminders`) import it, never the other way round.
"""
