"""From a deal won to kickoff: signed deals over HTTP into the bot, the channel and invitations it
makes (the stand-in's log), the customer's acceptance, refusals told to the lead, the reminder of
an invitation not accepted."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from bot.events.signing import signature
from bot.reminders.sweep import run_sweep
from sandbox.harness import APPROVER, CONSULTANT, CONTRIBUTOR, CUSTOMER_TEAM, LEAD, VENDOR_TEAM
from storage.models import AuditEvent, Deal, DealContact, Engagement, Item
from tests.e2e.helpers import send_payload

SECRET = "deal-hook-secret"
HUBSPOT_SECRET = "hubspot-app-secret"
ENV = {
    "GOLIVE_CREATE_CHANNELS": "true",
    "GOLIVE_HOOK_SECRET": SECRET,
    "GOLIVE_HUBSPOT_SECRET": HUBSPOT_SECRET,
}


def deal(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "deal_id": "D-1042",
        "customer": {"name": "Globex Corp", "domain": "globex.example"},
        "owner": {"slack_id": LEAD.user_id},
        "contacts": [
            {"email": "ada@globex.example", "name": "Ada", "role": "approver"},
            {"email": "cody@globex.example", "name": "Cody", "role": "contributor"},
        ],
        "size": "medium",
        "kickoff": "2026-12-01",
        "timezone": "Europe/Berlin",
        "country": "DE",
        "fields": {"product": "billing", "tier": "growth"},
    }
    document.update(changes)
    return document


def post(h, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(h.server.url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def send_deal(h, document: dict[str, Any], *, secret: str = SECRET, stamp: int | None = None):
    body = json.dumps(document).encode()
    ts = str(int(time.time()) if stamp is None else stamp)
    headers = {
        "Content-Type": "application/json",
        "X-Golive-Request-Timestamp": ts,
        "X-Golive-Signature": signature(secret, ts, body),
    }
    return post(h, "/hooks/deal", body, headers)


def rows(h, model, *where):  # type: ignore[no-untyped-def]
    with h.services.db.read() as session:
        return list(session.exec(select(model).where(*where)).all())


def lead_dms(h) -> list[str]:
    """The lead's direct messages, each as its text and its blocks' text."""
    im = h.standin.im_channel(LEAD.user_id)
    return (
        [(m.get("text") or "") + "\n" + json.dumps(m.get("blocks") or []) for m in h.standin.messages(im)]
        if im
        else []
    )


def told(h, fragment: str, timeout: float = 10) -> list[str]:
    """Wait until a direct message to the lead says `fragment`; all that say it."""
    return h.standin.wait_for(lambda: [t for t in lead_dms(h) if fragment in t], timeout=timeout)


def wait_state(h, state: str, timeout: float = 10) -> Deal:
    found = h.standin.wait_for(lambda: [d for d in rows(h, Deal) if d.state == state], timeout=timeout)
    return found[0]


@pytest.fixture
def h(harness_factory):
    return harness_factory(env=ENV)


def test_a_signed_deal_makes_one_engagement_one_channel_one_invite_per_contact(h):
    status, answer = send_deal(h, deal())
    assert status == 202, answer
    assert answer["outcome"] == "created" and answer["deal_id"] == "D-1042"
    row = wait_state(h, "waiting")
    [channel] = h.standin.created_channels()
    assert row.channel_id == channel.id and channel.name == "ext-globex-corp-implementation"
    assert channel.is_private
    [engagement] = rows(h, Engagement, Engagement.id == answer["engagement_id"])
    assert engagement.channel_id == channel.id and engagement.status == "preparing"
    assert json.loads(engagement.fields or "{}")["product"] == "billing"
    # The lead was invited; each contact got one invitation, one email per call.
    assert LEAD.user_id in h.standin.channel(channel.id).members
    shared = h.standin.calls_to("conversations.inviteShared")
    assert sorted(str(c.args["emails"]) for c in shared) == ["ada@globex.example", "cody@globex.example"]
    assert sorted(i.email for i in h.standin.invites(channel.id)) == [
        "ada@globex.example",
        "cody@globex.example",
    ]
    assert all(not i.external_limited for i in h.standin.invites(channel.id))
    # Nothing is posted in the channel before the customer is there; the lead is told privately.
    assert [
        m
        for m in h.standin.messages(channel.id)
        if m.get("user") == "U0BOT" and "welcome" in m.get("text", "").lower()
    ] == []
    [made] = told(h, "I made")
    assert "Globex Corp" in made and f"<#{channel.id}>" in made


def test_the_welcome_follows_the_customers_acceptance_and_contacts_get_their_roles(h):
    status, answer = send_deal(h, deal())
    assert status == 202
    row = wait_state(h, "waiting")
    invites = {i.email: i for i in h.standin.invites(row.channel_id)}
    # Ada accepts: the channel is shared with her organisation and she joins.
    deliveries = h.driver.accept_invite(
        invites["ada@globex.example"].id, APPROVER.user_id, team_id=CUSTOMER_TEAM
    )
    assert [d.type for d in deliveries] == [
        "shared_channel_invite_accepted",
        "channel_shared",
        "member_joined_channel",
    ]
    assert all(d.response is not None and d.response.status == 200 for d in deliveries), deliveries
    h.standin.wait_for(
        lambda: [
            m for m in h.standin.messages(row.channel_id) if "checklist" in (m.get("text") or "").lower()
        ],
        timeout=10,
    )
    [engagement] = rows(h, Engagement, Engagement.id == answer["engagement_id"])
    assert engagement.status == "active" and engagement.customer_team_id == CUSTOMER_TEAM
    texts = [m.get("text") or "" for m in h.standin.messages(row.channel_id)]
    assert any("Globex Corp" in t for t in texts)  # the welcome
    [ada] = rows(h, DealContact, DealContact.email == "ada@globex.example")
    assert ada.invite_state == "joined" and ada.user_id == APPROVER.user_id
    from bot.people.roles import people_with

    with h.services.db.read() as session:
        e = session.get(Engagement, answer["engagement_id"])
        approvers = [r.user_id for r in people_with(session, e, "approver")]
    assert approvers == [APPROVER.user_id]
    # Cody is still invited: the deal waits for him.
    assert wait_state(h, "waiting").id == row.id


def test_the_same_deal_three_times_makes_one_engagement_and_one_channel(h):
    answers = [send_deal(h, deal()) for _ in range(3)]
    assert [s for s, _ in answers] == [202, 202, 202]
    assert [a["outcome"] for _, a in answers] == ["created", "unchanged", "unchanged"]
    assert len({a["engagement_id"] for _, a in answers}) == 1
    wait_state(h, "waiting")
    time.sleep(0.5)
    assert len(rows(h, Deal)) == 1 and len(rows(h, Engagement)) == 1
    assert len(h.standin.calls_to("conversations.create")) == 1
    assert len(h.standin.calls_to("conversations.inviteShared")) == 2


def test_a_changed_deal_updates_what_has_not_started(h):
    status, answer = send_deal(h, deal())
    assert status == 202
    wait_state(h, "waiting")
    more = deal(kickoff="2026-12-08", size="enterprise")
    more["contacts"] = [*more["contacts"], {"email": "sam@globex.example", "name": "Sam", "role": "sponsor"}]
    status, again = send_deal(h, more)
    assert status == 202 and again["outcome"] == "updated", again
    assert again["engagement_id"] == answer["engagement_id"]
    assert "contact added: sam@globex.example" in again["changes"] and "kickoff" in again["changes"]
    [engagement] = rows(h, Engagement)
    assert str(engagement.kickoff_on) == "2026-12-08" and engagement.size == "enterprise"
    h.standin.wait_for(lambda: len(h.standin.calls_to("conversations.inviteShared")) == 3, timeout=10)


@pytest.mark.parametrize(
    "how",
    ["wrong secret", "old timestamp", "unsigned"],
)
def test_a_bad_or_old_signature_gets_401_and_writes_nothing(h, how):
    body = json.dumps(deal()).encode()
    ts = int(time.time()) - (6 * 60 if how == "old timestamp" else 0)
    headers = {"Content-Type": "application/json", "X-Golive-Request-Timestamp": str(ts)}
    if how != "unsigned":
        headers["X-Golive-Signature"] = signature(
            "not-the-secret" if how == "wrong secret" else SECRET, str(ts), body
        )
    status, answer = post(h, "/hooks/deal", body, headers)
    assert status == 401 and answer["ok"] is False
    assert rows(h, Deal) == [] and rows(h, Engagement) == []
    assert h.standin.calls_to("conversations.create") == []


def test_a_deal_golive_cannot_read_is_told_what_to_fix(h):
    status, answer = send_deal(h, deal(kickoff="next tuesday"))
    assert status == 400 and "kickoff" in answer["error"]
    status, answer = send_deal(h, deal(contacts=[{"email": "not-an-email", "role": "approver"}]))
    assert status == 400 and "contacts.0.email" in answer["error"]
    assert rows(h, Deal) == []


def test_a_deal_over_a_megabyte_is_refused_unread(h):
    body = json.dumps(deal(fields={"notes": "x" * (1024 * 1024)})).encode()
    ts = str(int(time.time()))
    host, port = h.server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=10)
    conn.putrequest("POST", "/hooks/deal", skip_accept_encoding=True)
    for k, v in {
        "Content-Length": str(len(body)),
        "Content-Type": "application/json",
        "X-Golive-Request-Timestamp": ts,
        "X-Golive-Signature": signature(SECRET, ts, body),
    }.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body[: 64 * 1024])  # the answer can only come if nobody waits for the rest
    status = conn.getresponse().status
    conn.close()
    assert status == 413
    assert rows(h, Deal) == []


def test_a_hubspot_signed_request_is_accepted_with_hubspots_algorithm(h):
    payload = {
        "objectId": 9001,
        "properties": {
            "dealname": {"value": "Initech rollout"},
            "company_name": {"value": "Initech"},
            "implementation_lead_slack_id": {"value": LEAD.user_id},
            "approver_email": {"value": "bill@initech.example"},
            "approver_name": {"value": "Bill"},
        },
    }
    payload["properties"]["kickoff_date"] = {"value": str(int(h.clock.now().timestamp()) * 1000)}  # today
    body = json.dumps(payload).encode()
    ts = str(int(time.time() * 1000))
    uri = h.server.url + "/hooks/hubspot"
    # HubSpot's v3: base64(HMAC-SHA256(secret, method + URI + body + timestamp)).
    sig = base64.b64encode(
        hmac.new(
            HUBSPOT_SECRET.encode(), b"POST" + uri.encode() + body + ts.encode(), hashlib.sha256
        ).digest()
    ).decode()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sig,
        "X-HubSpot-Request-Timestamp": ts,
    }
    status, answer = post(h, "/hooks/hubspot", body, headers)
    assert status == 202, answer
    [row] = rows(h, Deal)
    assert row.deal_id == "9001" and row.source == "hubspot"
    [engagement] = rows(h, Engagement)
    assert engagement.customer_name == "Initech"
    # The same body signed with another secret is refused, and nothing more is written.
    bad = base64.b64encode(
        hmac.new(b"other", b"POST" + uri.encode() + body + ts.encode(), hashlib.sha256).digest()
    )
    status, _ = post(h, "/hooks/hubspot", body, headers | {"X-HubSpot-Signature-v3": bad.decode()})
    assert status == 401
    assert len(rows(h, Deal)) == 1


@pytest.mark.parametrize("refusal", ["not_paid", "restricted_action"])
def test_slacks_refusals_leave_the_engagement_and_tell_the_lead(h, refusal):
    h.standin.set_connect_refusal(refusal)
    status, answer = send_deal(h, deal())
    assert status == 202
    row = wait_state(h, "waiting")
    contacts = rows(h, DealContact)
    assert {c.invite_state for c in contacts} == {"refused"} and {c.invite_error for c in contacts} == {
        refusal
    }
    [engagement] = rows(h, Engagement, Engagement.id == answer["engagement_id"])
    assert engagement.status == "preparing"  # kept, waiting: the lead can invite by hand
    expected = "paid Slack plan" if refusal == "not_paid" else "workspace setting"
    [message] = told(h, "Not invited")
    assert expected in message and "Ada (approver)" in message, message
    assert row.channel_id is not None


def test_limited_invitations_when_the_workspace_allows_only_those(h):
    h.standin.set_connect_policy(full_invites_allowed=False)
    send_deal(h, deal())
    row = wait_state(h, "waiting")
    invites = h.standin.invites(row.channel_id)
    assert len(invites) == 2 and all(i.external_limited for i in invites)


def test_an_invite_not_accepted_reminds_the_lead_on_business_day_three(h):
    send_deal(h, deal())
    row = wait_state(h, "waiting")
    told(h, "I made")
    before = len(lead_dms(h))
    # Monday 30 Nov: three business days later is Thursday 3 Dec.
    h.clock.advance(timedelta(days=2))
    run_sweep(h.services)
    assert len(lead_dms(h)) == before
    h.clock.advance(timedelta(days=1, hours=2))
    run_sweep(h.services)
    h.idle()
    reminders = [t for t in lead_dms(h)[before:] if "has not accepted" in t]
    assert len(reminders) == 1 and "Ada (approver)" in reminders[0] and "Cody (contributor)" in reminders[0]
    run_sweep(h.services)  # no second reminder on the same day
    assert len([t for t in lead_dms(h) if "has not accepted" in t]) == 1
    assert rows(h, Deal)[0].id == row.id
    # The Re-send button in that message sends the invitation again.
    im = h.standin.im_channel(LEAD.user_id)
    [msg] = [m for m in h.standin.messages(im) if "has not accepted" in json.dumps(m.get("blocks") or [])]
    assert msg["text"] == "Waiting for Globex Corp to join the channel."  # what the notification shows
    [ada] = rows(h, DealContact, DealContact.email == "ada@globex.example")
    sent_before = len(h.standin.calls_to("conversations.inviteShared"))
    h.driver.click(im, msg["ts"], f"deal_resend:{ada.id}", user=LEAD.user_id)
    h.standin.wait_for(
        lambda: len(h.standin.calls_to("conversations.inviteShared")) == sent_before + 1, timeout=10
    )
    # Nobody else may press it: the lead's click, forged as someone else's, sends nothing.
    forged = copy.deepcopy(h.driver.click_payload(im, msg["ts"], f"deal_resend:{ada.id}", user=LEAD.user_id))
    forged["user"] = {"id": CONTRIBUTOR.user_id, "team_id": CUSTOMER_TEAM}
    assert send_payload(h, forged).status == 200
    h.idle()
    assert len(h.standin.calls_to("conversations.inviteShared")) == sent_before + 1


def test_the_hook_is_off_without_its_secret(harness_factory):
    h = harness_factory(env={"GOLIVE_CREATE_CHANNELS": "true"})
    status, _ = send_deal(h, deal())
    assert status == 404
    assert rows(h, Deal) == [] and rows(h, AuditEvent) == []


def test_in_socket_mode_the_hooks_listen_on_their_own_port(h):
    from golive.hooks import HookServer

    server = HookServer(h.services, host="127.0.0.1", port=0).start()
    try:
        other = SimpleNamespace(server=SimpleNamespace(url=server.url))  # in place of the harness's server
        status, answer = send_deal(other, deal())
        assert status == 202 and answer["outcome"] == "created"
        status, _ = post(other, "/slack/events", b"{}", {"Content-Type": "application/json"})
        assert status == 404  # only the hooks: Slack's requests come over the socket
    finally:
        server.stop()
    wait_state(h, "waiting")


def test_golive_deal_file_does_the_same_from_the_command_line(tmp_path):
    """`golive deal FILE.json` as a real process against the stand-in: once per deal id."""
    import os
    import subprocess
    import sys

    from sandbox.harness import BOT_TOKEN, start_standin

    standin = start_standin(create_channels=True)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
        env |= {
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
            "GOLIVE_CREATE_CHANNELS": "true",
            "LOG_LEVEL": "WARNING",
        }
        file = tmp_path / "deal.json"
        file.write_text(json.dumps(deal(kickoff=None)))

        def golive(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "golive.cli", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )

        first = golive("deal", str(file))
        assert first.returncode == 0, first.stderr
        assert "deal D-1042: engagement 1 created" in first.stdout
        assert "#ext-globex-corp-implementation" in first.stdout and "waiting" in first.stdout
        again = golive("deal", str(file))
        assert again.returncode == 0 and "engagement 1 unchanged" in again.stdout
        assert len(standin.created_channels()) == 1
        assert len(standin.invites()) == 2
        file.write_text(json.dumps(deal(timezone="Mars/Olympus")))
        bad = golive("deal", str(file))
        assert bad.returncode == 2 and "Mars/Olympus" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        standin.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_new_deal_delivered_five_times_at_once_makes_one_engagement(harness_factory, request, backend):
    from concurrent.futures import ThreadPoolExecutor

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url, env=ENV)
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: send_deal(h, deal()), range(5)))
    assert [s for s, _ in answers] == [202] * 5, answers
    assert sorted(a["outcome"] for _, a in answers) == ["created"] + ["unchanged"] * 4
    assert len({a["engagement_id"] for _, a in answers}) == 1
    wait_state(h, "waiting")
    h.idle()
    assert len(rows(h, Engagement)) == 1 and len(rows(h, Deal)) == 1
    assert len(h.standin.created_channels()) == 1 and len(h.standin.invites()) == 2


def test_an_approval_pending_is_told_to_the_lead_and_the_approval_lets_the_customer_in(h):
    status, _ = send_deal(h, deal())
    assert status == 202
    row = wait_state(h, "waiting")
    told(h, "I made")
    invites = {i.email: i for i in h.standin.invites(row.channel_id)}
    h.driver.accept_invite(
        invites["ada@globex.example"].id, APPROVER.user_id, team_id=CUSTOMER_TEAM, approval_required=True
    )
    [message] = told(h, "waits for an admin")
    assert "ada@globex.example" in message
    [engagement] = rows(h, Engagement)
    assert engagement.status == "preparing"
    h.driver.approve_invite(invites["ada@globex.example"].id)
    h.standin.wait_for(lambda: rows(h, Engagement)[0].status == "active", timeout=10)
    h.standin.wait_for(
        lambda: [
            m for m in h.standin.messages(row.channel_id) if "checklist" in (m.get("text") or "").lower()
        ],
        timeout=10,
    )


def test_an_invitation_slack_expired_is_told_with_a_resend_button(h):
    send_deal(h, deal())
    row = wait_state(h, "waiting")
    told(h, "I made")
    h.clock.advance(timedelta(days=15))
    run_sweep(h.services)
    h.idle()
    [message] = told(h, "expired after 14 days")
    assert "Ada (approver)" in message and "deal_resend:" in message
    assert {c.invite_state for c in rows(h, DealContact)} == {"expired"}
    assert rows(h, Deal)[0].id == row.id


def test_the_deals_fields_choose_its_playbook_through_the_hook(harness_factory, tmp_path):
    """With GOLIVE_PLAYBOOKS_DIR, the deal's product and tier choose the playbook the engagement is
    made and re-planned with; a changed deal that still prepares may change the choice."""
    from tests.e2e.test_playbook_choice import BILLING, ENTERPRISE

    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "enterprise_billing.yaml").write_text(ENTERPRISE)
    (folder / "billing.yaml").write_text(BILLING)
    h = harness_factory(env=ENV | {"GOLIVE_PLAYBOOKS_DIR": str(folder)})
    status, answer = send_deal(h, deal(fields={"product": "billing", "tier": "enterprise", "region": "us"}))
    assert status == 202, answer
    [engagement] = rows(h, Engagement)
    assert engagement.playbook == "enterprise_billing"
    with h.services.db.read() as session:
        titles = list(session.exec(select(Item.title).order_by(Item.id)).all())
    assert titles == [
        "Security review with the customer's CISO",
        "Agree the rollout plan",
    ]  # no SSO in the US
    wait_state(h, "waiting")
    status, again = send_deal(h, deal(fields={"product": "billing", "tier": "growth", "region": "eu"}))
    assert status == 202 and again["outcome"] == "updated" and "fields" in again["changes"], again
    [engagement] = rows(h, Engagement)
    assert engagement.playbook == "billing"
    with h.services.db.read() as session:
        titles = list(session.exec(select(Item.title).order_by(Item.id)).all())
    assert "Set up single sign-on" in titles  # region eu


ORG = "00D5e000000KQ2eEAG"


def salesforce_message(org: str = ORG) -> bytes:
    """An outbound message on a won Opportunity, as Salesforce's outbound-messaging WSDL shapes it."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5e000000CaRkAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5e000000KQ2e</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5e000000KQ2e</PartnerUrl>
   <Notification>
    <Id>04l5e00000Gx7QzAAJ</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0065e00000Bq9XcAAJ</sf:Id>
     <sf:Account_Name__c>Umbrella Corp</sf:Account_Name__c>
     <sf:Kickoff_Date__c>2026-12-01</sf:Kickoff_Date__c>
     <sf:Implementation_Time_Zone__c>Europe/Berlin</sf:Implementation_Time_Zone__c>
     <sf:Lead_Slack_Id__c>{LEAD.user_id}</sf:Lead_Slack_Id__c>
     <sf:Type>New Customer</sf:Type>
     <sf:Approver_Email__c>ada@umbrella.example</sf:Approver_Email__c>
     <sf:Approver_Name__c>Ada</sf:Approver_Name__c>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def post_xml(h, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        h.server.url + "/hooks/salesforce", data=body, method="POST", headers={"Content-Type": "text/xml"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_salesforce_outbound_message_is_acked_and_makes_the_engagement_once(harness_factory):
    h = harness_factory(env=ENV | {"GOLIVE_SALESFORCE_ORG_ID": ORG[:15]})
    for _ in range(2):  # Salesforce sends it again until it has its Ack, and sometimes twice anyway
        status, body = post_xml(h, salesforce_message())
        assert status == 200 and b"<Ack>true</Ack>" in body
    [row] = rows(h, Deal)
    assert row.deal_id == "0065e00000Bq9XcAAJ" and row.source == "salesforce"
    [engagement] = rows(h, Engagement)
    assert engagement.customer_name == "Umbrella Corp" and engagement.timezone == "Europe/Berlin"
    wait_state(h, "waiting")
    assert [i.email for i in h.standin.invites()] == ["ada@umbrella.example"]
    # Another organisation's message is refused, and nothing is written.
    status, body = post_xml(h, salesforce_message(org="00D000000000001AAA"))
    assert status == 403 and b"Ack" not in body
    assert len(rows(h, Deal)) == 1


def test_an_owner_given_by_email_is_looked_up_and_an_unknown_one_is_refused(h):
    h.standin.add_user("U0LENA2", name="Lena Two", team_id=VENDOR_TEAM, email="lena2@vendor.example")
    status, answer = send_deal(h, deal(owner={"email": "Lena2@Vendor.example"}))
    assert status == 202, answer
    [row] = rows(h, Deal)
    assert row.lead_user_id == "U0LENA2"
    status, answer = send_deal(h, deal(deal_id="D-2", owner={"email": "nobody@vendor.example"}))
    assert status == 422 and "nobody@vendor.example" in answer["error"]
    assert len(rows(h, Deal)) == 1


def test_the_deals_channel_says_it_waits_for_the_customer_and_holds_no_second_engagement(h):
    from tests.e2e.helpers import last_answer

    send_deal(h, deal())
    row = wait_state(h, "waiting")
    assert row.channel_id is not None
    for command in ("status", "checklist", "start Foo Inc"):
        h.command(command, channel=row.channel_id)
        h.idle()
        answer = last_answer(h)
        assert "made from a deal won in the CRM" in answer and "customer's side joins" in answer, command
    assert len(rows(h, Engagement)) == 1
    assert [m for m in h.standin.messages(row.channel_id) if m.get("user") == "U0BOT"] == []


def test_the_leads_app_home_shows_the_deal_being_set_up_until_the_customer_joins(h):
    def preparing_text() -> str:
        home = h.standin.home(LEAD.user_id)
        assert home is not None
        blocks = [b for b in home["view"]["blocks"] if b.get("block_id") == "home:preparing"]
        return blocks[0]["text"]["text"] if blocks else ""

    h.driver.app_home_opened(LEAD.user_id)
    h.idle()
    assert preparing_text() == ""
    send_deal(h, deal())
    row = wait_state(h, "waiting")
    h.idle()
    text = h.standin.wait_for(lambda: "0 of 2 invitations accepted" in preparing_text() and preparing_text())
    assert "*Globex Corp* (D-1042)" in text and f"<#{row.channel_id}>" in text
    # Somebody else of the vendor's side does not see the lead's deal.
    h.driver.app_home_opened(CONSULTANT.user_id)
    h.idle()
    other = h.standin.home(CONSULTANT.user_id)
    assert other is not None and not [
        b for b in other["view"]["blocks"] if b.get("block_id") == "home:preparing"
    ]
    # Once the customer is in, it is an engagement card like any other.
    invite = next(i for i in h.standin.invites(row.channel_id) if i.email == "ada@globex.example")
    h.driver.accept_invite(invite.id, APPROVER.user_id, team_id=CUSTOMER_TEAM)
    h.standin.wait_for(lambda: rows(h, Engagement)[0].status == "active", timeout=10)
    h.idle()
    h.standin.wait_for(lambda: preparing_text() == "", timeout=10)
