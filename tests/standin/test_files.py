"""Two-step external file upload (files_upload_v2) and Slack Connect upload blocking."""

from __future__ import annotations

import json
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import INTERNAL, SHARED


def test_files_upload_v2_goes_through_all_three_steps(standin: SlackStandIn, client: WebClient) -> None:
    content = b"phase,owner\nkickoff,lena\n"
    answer = client.files_upload_v2(
        channel=SHARED, content=content, filename="plan.csv", title="Plan", initial_comment="Here is the plan"
    )
    assert answer["file"]["title"] == "Plan"
    assert [c.method for c in standin.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    url_call = standin.calls_to("files.getUploadURLExternal")[0]
    assert url_call.args["filename"] == "plan.csv" and int(url_call.args["length"]) == len(content)
    assert url_call.response["upload_url"].startswith(standin.base_url + "/upload/")
    [stored] = standin.files
    assert stored["id"] == answer["file"]["id"] and stored["content"] == content
    assert stored["filename"] == "plan.csv" and stored["channel_id"] == SHARED
    assert stored["initial_comment"] == "Here is the plan" and stored["user"] == "U0BOT"
    assert standin.last_message(SHARED)["files"][0]["id"] == stored["id"]


def test_upload_url_accepts_multipart(standin: SlackStandIn, client: WebClient) -> None:
    step1 = client.files_getUploadURLExternal(filename="a.txt", length=5)
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(
        step1["upload_url"],
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200
    client.files_completeUploadExternal(files=[{"id": step1["file_id"], "title": "A"}], channel_id=INTERNAL)
    assert standin.files[0]["content"] == b"hello"


def test_blocked_slack_connect_channel(standin: SlackStandIn, client: WebClient) -> None:
    standin.block_file_uploads(SHARED)
    with pytest.raises(SlackApiError) as info:
        client.files_upload_v2(channel=SHARED, content=b"x", filename="x.txt")
    assert info.value.response["error"] == "slack_connect_file_upload_sharing_blocked"
    assert standin.files == []
    client.files_upload_v2(channel=INTERNAL, content=b"x", filename="x.txt")
    assert [f["channel_id"] for f in standin.files] == [INTERNAL]


def test_complete_without_upload_and_unknown_channel(standin: SlackStandIn, client: WebClient) -> None:
    step1 = client.files_getUploadURLExternal(filename="a.txt", length=1)
    with pytest.raises(SlackApiError, match="file_not_found"):
        client.files_completeUploadExternal(files=[{"id": step1["file_id"]}], channel_id=SHARED)
    with urllib.request.urlopen(
        urllib.request.Request(step1["upload_url"], data=b"z", method="POST"), timeout=5
    ):
        pass
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.files_completeUploadExternal(files=[{"id": step1["file_id"]}], channel_id="C0NOPE")
    assert json.loads(json.dumps(standin.calls_to("upload")[0].args)) == {
        "file_id": step1["file_id"],
        "bytes": 1,
    }


def test_a_file_shared_in_a_thread_names_a_top_level_message_of_one_channel(
    standin: SlackStandIn, client: WebClient
) -> None:
    """Slack: "Provide another message's ts value to upload this file as a reply. Never use a
    reply's ts value; use its parent instead. Also make sure to provide only one channel when using
    thread_ts" (files.completeUploadExternal)."""
    parent = client.chat_postMessage(channel=SHARED, text="Weekly digest")["ts"]
    client.files_upload_v2(
        channel=SHARED, content=b"\x89PNG", filename="t.png", thread_ts=parent, alt_txt="The timeline"
    )
    [stored] = standin.files
    assert stored["thread_ts"] == parent and stored["alt_txt"] == "The timeline"
    reply = standin.last_message(SHARED)
    assert reply["thread_ts"] == parent and reply["files"][0]["id"] == stored["id"]
    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.files_upload_v2(channel=SHARED, content=b"x", filename="x.png", thread_ts="1.000001")
    with pytest.raises(SlackApiError, match="thread_not_found"):  # a message of another channel
        client.files_upload_v2(channel=INTERNAL, content=b"x", filename="x.png", thread_ts=parent)
    with pytest.raises(SlackApiError, match="cannot_reply_to_message"):
        client.files_upload_v2(channel=SHARED, content=b"x", filename="x.png", thread_ts=reply["ts"])
    step1 = client.files_getUploadURLExternal(filename="a.txt", length=1)
    with urllib.request.urlopen(
        urllib.request.Request(step1["upload_url"], data=b"z", method="POST"), timeout=5
    ):
        pass
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.files_completeUploadExternal(
            files=[{"id": step1["file_id"]}], channels=[SHARED, INTERNAL], thread_ts=parent
        )
    assert len(standin.files) == 1
