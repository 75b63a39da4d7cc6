"""Talking to Slack: the one gateway to its Web API, and what the bot shows there.

The Web API client with its retries (`client`), the gateway with the ledger of posted messages
(`gateway`), presenters that turn rows into template data, publishing checklists and
announcements (`publish`), the App Home tab and the app manifest. May import `bot.exports`,
`bot.engagement`, `bot.people`, the modules directly in `bot/`, `storage` and `messages`;
never `reminders`, `handlers` or `golive`.
"""
