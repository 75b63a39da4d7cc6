"""Two-step external file upload (files_upload_v2), Slack Connect upload blocking, and the
documented refusals of files.getUploadURLExternal, the upload step and files.completeUploadExternal."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import INTERNAL, LEAD, SHARED


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


# -- the documented refusals of the upload methods --------------------------------------------
def test_the_workspaces_file_settings_refuse_at_get_upload_url(
    standin: SlackStandIn, client: WebClient
) -> None:
    """docs.slack.dev/reference/methods/files.getUploadURLExternal: "file_uploads_disabled: Team has
    disabled all file uploads", "file_upload_size_restricted: ... the team has restricted uploads of
    large files", "storage_limit_reached: File storage limit has been reached"."""
    for settings, code in (
        ({"uploads_disabled": True}, "file_uploads_disabled"),
        ({"max_bytes": 4}, "file_upload_size_restricted"),
        ({"storage_full": True}, "storage_limit_reached"),
    ):
        standin.set_file_settings(**settings)  # type: ignore[arg-type]
        with pytest.raises(SlackApiError) as info:
            client.files_upload_v2(channel=INTERNAL, content=b"hello", filename="x.txt")
        assert info.value.response["error"] == code
        assert [c.method for c in standin.calls][-1] == "files.getUploadURLExternal"
    standin.set_file_settings(max_bytes=5)  # at the limit: accepted
    client.files_upload_v2(channel=INTERNAL, content=b"hello", filename="x.txt")
    standin.set_file_settings()
    client.files_upload_v2(channel=INTERNAL, content=b"hello again", filename="y.txt")
    assert [f["filename"] for f in standin.files] == ["x.txt", "y.txt"]


def test_a_bad_request_for_an_upload_url_is_refused(standin: SlackStandIn, client: WebClient) -> None:
    """files.getUploadURLExternal: "missing_argument ... Typically only occurs when the length
    provided is 0", "alt_txt_too_large: ... longer than the limit of 1000 character",
    "snippet_too_large: ... snippets, which are limited to 1MB"."""
    with pytest.raises(SlackApiError, match="missing_argument"):
        client.files_getUploadURLExternal(filename="a.txt", length=0)
    with pytest.raises(SlackApiError, match="alt_txt_too_large"):
        client.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1001)
    client.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1000)
    with pytest.raises(SlackApiError, match="snippet_too_large"):
        client.files_getUploadURLExternal(filename="a.py", length=1024 * 1024 + 1, snippet_type="python")
    client.files_getUploadURLExternal(filename="a.bin", length=1024 * 1024 + 1)
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.api_call("files.getUploadURLExternal", params={"filename": "a.txt"})
    assert len(standin.calls_to("files.getUploadURLExternal")) == 6


def _uploaded(client: WebClient, standin: SlackStandIn) -> str:
    """A file id whose bytes have arrived: ready for files.completeUploadExternal."""
    step1 = client.files_getUploadURLExternal(filename="a.txt", length=1)
    with urllib.request.urlopen(
        urllib.request.Request(step1["upload_url"], data=b"z", method="POST"), timeout=5
    ):
        pass
    return str(step1["file_id"])


def test_complete_refuses_a_bad_request(standin: SlackStandIn, client: WebClient) -> None:
    """files.completeUploadExternal: "channels_limit_exceeded: ... A maximum of 100 channels is
    allowed per request", "invalid_blocks: Provided blocks are in the incorrect format" ("If the
    initial_comment field is provided, the blocks field is ignored")."""
    file_id = _uploaded(client, standin)
    with pytest.raises(SlackApiError, match="channels_limit_exceeded"):
        client.files_completeUploadExternal(files=[{"id": file_id}], channels=[SHARED] * 101)
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=SHARED, blocks="[{]")
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.files_completeUploadExternal(
            files=[{"id": file_id}], channel_id=SHARED, blocks=json.dumps([{"text": "x"}])
        )
    client.files_completeUploadExternal(
        files=[{"id": file_id}], channel_id=SHARED, blocks="[{]", initial_comment="The plan"
    )
    assert standin.files[0]["initial_comment"] == "The plan"


def test_complete_refuses_a_channel_the_bot_cannot_share_in(standin: SlackStandIn, client: WebClient) -> None:
    """files.completeUploadExternal: "not_in_channel: User/bot membership is required for the
    specified channel"; an archived channel takes no file either; nothing is shared."""
    standin.add_channel("C0OUT", name="elsewhere", members=[LEAD], bot_member=False)
    with pytest.raises(SlackApiError, match="not_in_channel"):
        client.files_completeUploadExternal(files=[{"id": _uploaded(client, standin)}], channel_id="C0OUT")
    standin.archive_channel(INTERNAL)
    with pytest.raises(SlackApiError, match="is_archived"):
        client.files_completeUploadExternal(files=[{"id": _uploaded(client, standin)}], channel_id=INTERNAL)
    assert standin.files == []


def test_the_upload_step_answers_what_a_test_asks(standin: SlackStandIn, client: WebClient) -> None:
    """The POST of the bytes: "Slack will return HTTP 200 if the upload is successful; a non-200
    response indicates a failure" (files.getUploadURLExternal). slack_sdk lets the HTTP error
    through from files_upload_v2; files.completeUploadExternal is never called."""
    standin.fail_next("upload", status=500)
    with pytest.raises(urllib.error.HTTPError) as info:
        client.files_upload_v2(channel=SHARED, content=b"x", filename="x.png")
    assert info.value.code == 500
    standin.fail_next("upload", status=413)
    with pytest.raises(urllib.error.HTTPError) as info:
        client.files_upload_v2(channel=SHARED, content=b"x", filename="x.png")
    assert info.value.code == 413
    assert [c.status for c in standin.calls_to("upload")] == [500, 413]
    assert standin.calls_to("files.completeUploadExternal") == [] and standin.files == []
    client.files_upload_v2(channel=SHARED, content=b"x", filename="x.png")  # the next one lands
    assert len(standin.files) == 1


def test_an_upload_url_is_good_for_one_upload(standin: SlackStandIn, client: WebClient) -> None:
    file_id = _uploaded(client, standin)
    client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=SHARED)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            urllib.request.Request(f"{standin.base_url}/upload/{file_id}", data=b"z", method="POST"),
            timeout=5,
        )
    assert info.value.code == 404
