"""A Slack stand-in for end-to-end tests and a local sandbox.

``SlackStandIn`` plays Slack's Web API (and Socket Mode) on loopback with queryable state, including
whom Slack would notify of each message and why (``notifications``, ``notified_by``, ``activity``,
``silences``, ``unread``: standin/notify.py); ``SlackDriver`` sends signed commands, clicks, view
submissions and events into the bot::

    with SlackStandIn(bot_token="xoxb-test", signing_secret="secret") as slack:
        slack.add_user("U0LEAD", name="lena")
        slack.add_channel("C0ACME", name="acme-implementation", ext_shared=True, members=["U0LEAD"])
        # run the bot with SLACK_API_URL = slack.api_url, listening on bot_url
        driver = SlackDriver(slack, bot_url="http://127.0.0.1:8123/slack/events")
        driver.command("/golive", "start Acme", user="U0LEAD", channel="C0ACME")
        message = slack.wait_for(lambda: slack.last_message("C0ACME"))
        assert slack.invalid_block_responses() == []

Slack Connect from a CRM deal: conversations.create, .invite and .inviteShared
(standin/api_connect.py) and the invitations' lifecycle (standin/connect.py), answered by the
customer's side with ``driver.accept_invite`` / ``approve_invite`` / ``decline_invite``
(standin/driver_connect.py), which send Slack's events to the bot::

    invite = slack.invites(channel)[0]
    driver.accept_invite(invite.id, "U0APPR")  # accepted, channel_shared, member_joined_channel

The project page's methods: conversations.canvases.create, canvases.edit,
canvases.sections.lookup and pins.add (standin/api_canvases.py: a canvas is a list of sections,
one per markdown block); ``slack.set_canvas_refusal("team_tier_cannot_create_channel_canvases")``
makes the workspace refuse canvases as a free plan does, ``slack.canvases()``,
``slack.canvas_sections(id)`` and ``slack.pinned(channel)`` show what the bot made, and
``slack.edit_canvas(id, change)`` edits a canvas as a person would.

People writing: ``driver.post_message(user, channel, text, thread_ts=…, broadcast=…)`` stores the
message and sends its ``message`` event (standin/driver_messages.py), withheld unless the app
subscribed to ``message.channels`` / ``message.groups`` (``slack.set_subscriptions``, the
manifest's events) and holds ``channels:history`` / ``groups:history``::

    driver.post_message("U0APPR", "C0ACME", "Done on our side", thread_ts=checklist_ts)
"""

from .connect import ConnectPolicy, SharedInvite
from .core import SlackStandIn
from .driver import DriverResponse, SlackDriver
from .driver_connect import Delivery, InviteError
from .notify import Notification, Silence
from .ratelimits import SLACK_RATE_LIMITS, RateLimit
from .signing import compute_signature, signed_headers
from .state import Call, StandInUser
from .validate import BlockKitError, validate_message_blocks, validate_view

__all__ = [
    "SLACK_RATE_LIMITS",
    "BlockKitError",
    "Call",
    "ConnectPolicy",
    "Delivery",
    "DriverResponse",
    "InviteError",
    "Notification",
    "RateLimit",
    "SharedInvite",
    "Silence",
    "SlackDriver",
    "SlackStandIn",
    "StandInUser",
    "compute_signature",
    "signed_headers",
    "validate_message_blocks",
    "validate_view",
]
