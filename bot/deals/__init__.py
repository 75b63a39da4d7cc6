"""Deals won in the CRM become engagements without typing (`POST /hooks/deal`, the HubSpot and
Salesforce adapters, `golive deal FILE.json`): the deal (`deal`), the CRMs' payloads mapped to it
(`crm`, `mapping`), its intake, idempotent on the deal id (`intake`), and the Slack Connect
channel made and shared with the customer's contacts (`setup`).

May import bot.events, bot.people, bot.engagement and bot.slack (an engagement is made, its
channel set up and its messages posted); the reminder sweep imports this package to run the
channel work, so nothing here imports bot.reminders, handlers/ or golive/.
"""
