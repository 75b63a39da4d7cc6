"""Deals won in the CRM become engagements without typing (`POST /hooks/deal`, the HubSpot and
Salesforce adapters, `golive deal FILE.json`): the deal (`deal`), its intake, idempotent on the
deal id (`intake`), and the Slack Connect channel made and shared with the customer's contacts
(`setup`)."""
