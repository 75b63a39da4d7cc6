"""The Slack app manifest: paste it at api.slack.com/apps → Create New App → From a manifest."""

from __future__ import annotations

from typing import Any

import yaml

# Each scope is one the bot's Web API calls need (the stand-in refuses calls outside them):
# chat:write (post, update, ephemeral), users:read (users.info), channels:read / groups:read
# (conversations.info on a public / private channel), im:write (conversations.open for DMs),
# files:write (the audit upload), channels:history / groups:history (conversations.history, and
# conversations.replies for a reply in a thread: a post that timed out is looked for before it is
# sent again; and the message.channels / message.groups events, which need them),
# usergroups:read (usergroups.users.list: GOLIVE_ADMINS may name a user group). Never
# DM reads.
BOT_SCOPES = [
    "commands",
    "chat:write",
    "users:read",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "im:write",
    "files:write",
    "usergroups:read",
]
# With GOLIVE_CREATE_CHANNELS=true only (a deal won makes its channel: bot.deals.setup):
# conversations.create and conversations.invite (channels:manage for a public channel,
# groups:write for a private one), conversations.inviteShared (conversations.connect:write),
# users.lookupByEmail for a deal's owner given by email (users:read.email), and the invitations'
# answers (conversations.connect:read: "Receive Slack Connect invite events sent to the channels
# your slack app is in").
DEAL_SCOPES = [
    "channels:manage",
    "groups:write",
    "conversations.connect:write",
    "conversations.connect:read",
    "users:read.email",
]
# The project page (issue 28): a channel canvas (conversations.canvases.create, canvases.edit;
# canvases.sections.lookup finds the lines a refresh edits) or, without one, a pinned message
# (pins.add); only when GOLIVE_PROJECT_CANVAS is on.
PROJECT_PAGE_SCOPES = ["canvases:read", "canvases:write", "pins:write"]
# The Slack Connect invitations' answers (no scope of their own).
DEAL_EVENTS = [
    "shared_channel_invite_accepted",
    "shared_channel_invite_approved",
    "shared_channel_invite_declined",
]
# member_joined_channel / member_left_channel keep who is in each engagement's channel current
# (App Home shows an engagement to the vendor's people in its channel: bot.slack.rosters).
# message.channels / message.groups (public / private channels; channels:history / groups:history):
# a customer's reply in one of the bot's threads counts as their act (issue 28 §2); everything
# else they bring is dropped on arrival (handlers.events.is_thread_reply).
BOT_EVENTS = [
    "app_home_opened",
    "member_joined_channel",
    "member_left_channel",
    "channel_shared",
    "channel_unshared",
    "message.channels",
    "message.groups",
]


def bot_events(*, create_channels: bool = False) -> list[str]:
    """The events the app subscribes to: the invitations' answers only when deals make channels."""
    return list(BOT_EVENTS) + (list(DEAL_EVENTS) if create_channels else [])


def scopes(*, create_channels: bool = False, project_canvas: bool = False) -> list[str]:
    """The bot token's scopes: the channel-creating ones only when deals make channels, the
    project page's only when it is on."""
    return (
        list(BOT_SCOPES)
        + (list(DEAL_SCOPES) if create_channels else [])
        + (list(PROJECT_PAGE_SCOPES) if project_canvas else [])
    )


def build_manifest(
    *,
    url: str | None,
    socket: bool,
    command: str = "/golive",
    name: str = "golive",
    create_channels: bool = False,
    project_canvas: bool = False,
) -> dict[str, Any]:
    request_url = None if socket or not url else url.rstrip("/") + "/slack/events"
    slash: dict[str, Any] = {
        "command": command,
        "description": "Run the customer implementation in this channel",
        "usage_hint": "help | start <customer> | status",
        "should_escape": True,
    }
    if request_url:
        slash["url"] = request_url
    events: dict[str, Any] = {"bot_events": bot_events(create_channels=create_channels)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if request_url:
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Customer implementations in the shared channel: phases, checklists, sign-offs.",
            "long_description": (
                "golive runs each customer implementation inside the Slack Connect channel you already share "
                "with the customer: a live checklist per phase, customer sign-offs as explicit approval buttons "
                "with an audit trail, and polite reminders in the customer's working hours, timezone and "
                "holidays, until the go-live dry run has happened and the customer is live."
            ),
            "background_color": "#1d4e89",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": {
            "scopes": {"bot": scopes(create_channels=create_channels, project_canvas=project_canvas)}
        },
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": bool(socket),
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(**kwargs: Any) -> str:
    return yaml.safe_dump(build_manifest(**kwargs), sort_keys=False, allow_unicode=True)
