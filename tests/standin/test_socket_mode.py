"""Socket Mode: apps.connections.open, hello, a slash_commands envelope and its ack."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from standin import SlackStandIn

from .ids import LEAD, SHARED


def test_builtin_socket_mode_client_receives_a_command_and_acks(standin: SlackStandIn) -> None:
    received: list[SocketModeRequest] = []

    def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        answer = {"text": f"pong: {request.payload['text']}"}
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=answer))

    web = WebClient(base_url=standin.api_url, token="xoxb-test")
    client = SocketModeClient(app_token="xapp-1-test", web_client=web, auto_reconnect_enabled=False)
    client.socket_mode_request_listeners.append(listener)
    client.connect()
    try:
        standin.wait_for(standin.socket_connected, timeout=5)
        ack = standin.socket_send_command("/golive", "status", user=LEAD, channel=SHARED)
    finally:
        standin.socket_close_connections()  # lets the client's receive loop end at once
        client.close()
    assert ack == {"text": "pong: status"}
    [request] = received
    assert request.type == "slash_commands" and request.accepts_response_payload is True
    assert request.payload["command"] == "/golive" and request.payload["user_id"] == LEAD
    assert request.payload["trigger_id"] and request.payload["response_url"].startswith(standin.base_url)
    [opened] = standin.calls_to("apps.connections.open")
    assert opened.response["url"].startswith("ws://127.0.0.1:")


def test_apps_connections_open_needs_an_app_token(standin: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        client.apps_connections_open(app_token="xoxb-test")
    assert info.value.response["error"] == "not_allowed_token_type"


def test_socket_send_without_client_fails_loudly(standin: SlackStandIn) -> None:
    with pytest.raises(AssertionError, match="no Socket Mode client"):
        standin.socket_send_command("/golive", "x", user=LEAD, channel=SHARED, timeout=0.1)
