"""Who is who in an engagement, and the record of what they did.

Members (with their home team and name), sides (vendor or customer), roles (lead, consultant,
approver, contributor, sponsor, main contact), whom a reminder is for (recipients) and the
append-only audit trail. This is the bottom capability:
it may import only the modules directly in `bot/`, `storage` and `messages`.
"""
