"""`golive sandbox`: try the whole bot in a browser, without a Slack workspace.

The real bot runs against the Slack stand-in on a fresh SQLite file; a local web page shows the
shared channel, ephemeral messages, modals and the App Home tab for six personas on both sides,
and every click is sent to the bot as the signed request Slack would send.
"""
