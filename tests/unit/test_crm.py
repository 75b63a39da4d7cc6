"""The HubSpot and Salesforce adapters (bot.deals.crm): HubSpot's v3 signature computed here from
its documented algorithm, realistic payloads of both CRMs mapped to deals parse_deal accepts, and
the Salesforce message's organisation, XML safety and acknowledgement."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.deals.crm import (
    SALESFORCE_ACK,
    BadMessage,
    BadSignature,
    WrongOrganization,
    hubspot_deal,
    hubspot_signature,
    salesforce_deals,
    salesforce_fault,
    salesforce_id18,
    verify_hubspot,
)
from bot.deals.deal import parse_deal
from bot.deals.mapping import MappingProblem, PayloadProblem, load_mapping, parse_mapping

SECRET = "3f1c2b7e-9d4a-4c1e-8f2a-0b6d5e4c3a21"
URI = "https://golive.example.com/hooks/hubspot"
NOW = 1_765_100_000.0  # epoch seconds
STAMP = str(int(NOW * 1000))  # HubSpot's timestamp is in milliseconds


def documented_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """HubSpot's steps, written out: a UTF-8 string requestMethod + requestUri + requestBody +
    timestamp, HMAC-SHA256 with the app's client secret, base64."""
    source = f"{method}{uri}{body}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


# ------------------------------------------------------------------------- HubSpot signature


def test_hubspot_signature_matches_the_documented_algorithm() -> None:
    body = '{"dealId":15020384726,"properties":{"dealname":{"value":"Acmé Corp"}}}'
    sent = documented_v3(SECRET, "POST", URI, body, STAMP)
    assert hubspot_signature(SECRET, "POST", URI, body.encode(), STAMP) == sent
    verify_hubspot(SECRET, "POST", URI, body.encode(), STAMP, sent, now=NOW)  # does not raise


def test_hubspot_sdk_published_vector() -> None:
    # HubSpot's own vector (hubspot-api-python, tests/spec/utils/test_signature.py)
    assert (
        hubspot_signature(
            "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            "POST",
            "https://www.example.com/webhook_uri",
            b"{'example_field':'example_value'}",
            "15000000",
        )
        == "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    )


def test_hubspot_uri_escapes_are_decoded_as_documented() -> None:
    # HubSpot signs the URI with %3A, %2F, %3F, %40, %21, %24, %27, %28, %29, %2A, %2C, %3B decoded;
    # other escapes (%20 here) stay as they are
    called = "https://golive.example.com/hooks/hubspot?src=crm%3Awon&tag=a%2Cb&note=x%20y"
    signed = "https://golive.example.com/hooks/hubspot?src=crm:won&tag=a,b&note=x%20y"
    sent = documented_v3(SECRET, "POST", signed, "{}", STAMP)
    verify_hubspot(SECRET, "POST", called, b"{}", STAMP, sent, now=NOW)
    verify_hubspot(SECRET, "POST", called.replace("%3A", "%3a"), b"{}", STAMP, sent, now=NOW)
    with pytest.raises(BadSignature):
        verify_hubspot(SECRET, "POST", called.replace("%20", " "), b"{}", STAMP, sent, now=NOW)


@pytest.mark.parametrize(
    ("age_ms", "accepted"),
    [(0, True), (299_999, True), (300_000, True), (300_001, False), (-300_001, False), (86_400_000, False)],
)
def test_hubspot_five_minute_window(age_ms: int, accepted: bool) -> None:
    stamp = str(int(NOW * 1000) - age_ms)
    sent = documented_v3(SECRET, "POST", URI, "{}", stamp)
    if accepted:
        verify_hubspot(SECRET, "POST", URI, b"{}", stamp, sent, now=NOW)
    else:
        with pytest.raises(BadSignature, match="five minutes"):
            verify_hubspot(SECRET, "POST", URI, b"{}", stamp, sent, now=NOW)


def test_hubspot_timestamp_in_seconds_is_refused() -> None:
    stamp = str(int(NOW))  # seconds, as Slack would send: 55 years in the past for HubSpot
    sent = documented_v3(SECRET, "POST", URI, "{}", stamp)
    with pytest.raises(BadSignature, match="five minutes"):
        verify_hubspot(SECRET, "POST", URI, b"{}", stamp, sent, now=NOW)


@pytest.mark.parametrize(
    ("method", "uri", "body", "secret"),
    [
        ("GET", URI, b"{}", SECRET),  # another method
        ("POST", "http://golive.example.com/hooks/hubspot", b"{}", SECRET),  # another scheme
        ("POST", "https://golive.example.com/hooks/deal", b"{}", SECRET),  # another path
        ("POST", URI + "?x=1", b"{}", SECRET),  # a query HubSpot did not sign
        ("POST", URI, b"{ }", SECRET),  # a body changed by one byte
        ("POST", URI, b"{}", SECRET + "x"),  # another app's secret
    ],
)
def test_hubspot_signature_refused_when_anything_differs(
    method: str, uri: str, body: bytes, secret: str
) -> None:
    sent = documented_v3(SECRET, "POST", URI, "{}", STAMP)
    with pytest.raises(BadSignature, match="does not match"):
        verify_hubspot(secret, method, uri, body, STAMP, sent, now=NOW)


@pytest.mark.parametrize(
    ("secret", "stamp", "sent", "why"),
    [
        (None, STAMP, "x", "no HubSpot client secret"),
        (SECRET, None, "x", "no HubSpot v3 signature"),
        (SECRET, STAMP, "", "no HubSpot v3 signature"),
        (SECRET, "17651e9", "x", "not epoch milliseconds"),
        (SECRET, STAMP, "é" * 44, "does not match"),
    ],
)
def test_hubspot_unsigned_or_malformed(secret: str | None, stamp: str | None, sent: str, why: str) -> None:
    with pytest.raises(BadSignature, match=why):
        verify_hubspot(secret, "POST", URI, b"{}", stamp, sent, now=NOW)


# --------------------------------------------------------------------------- HubSpot mapping


def prop(value: str) -> dict[str, object]:
    """A property as HubSpot's deal JSON carries it."""
    return {"value": value, "timestamp": 1765099000000, "source": "CRM_UI", "sourceId": "lena@vendor.example"}


# What a deal-based workflow's "Send a webhook" with "Include all deal properties" posts: the deal
# as HubSpot's deal API returns it (deal workflows carry no property history).
HUBSPOT_WORKFLOW_BODY = {
    "portalId": 62515,
    "dealId": 15020384726,
    "isDeleted": False,
    "associations": {
        "associatedVids": [27136, 27137],
        "associatedCompanyIds": [8954037],
        "associatedDealIds": [],
    },
    "properties": {
        "dealname": prop("Acme Corp - Billing rollout"),
        "company_name": prop("Acme Corp"),
        "dealstage": prop("closedwon"),
        "pipeline": prop("default"),
        "amount": prop("48000"),
        "dealtype": prop("newbusiness"),
        "closedate": prop("1765065600000"),
        "hubspot_owner_id": prop("52611987"),
        "hs_object_id": prop("15020384726"),
        "customer_domain": prop("acme.example"),
        "implementation_lead_email": prop("Lena@Vendor.example"),
        "kickoff_date": prop("1765152000000"),  # 2025-12-08, a date property: midnight UTC in ms
        "go_live_date": prop("1770163200000"),  # 2026-02-04
        "implementation_timezone": prop("America/New_York"),
        "customer_country": prop("US"),
        "pilot": prop("false"),
        "product": prop("billing"),
        "tier": prop("growth"),
        "approver_email": prop("ada@acme.example"),
        "approver_name": prop("Ada Lovelace"),
        "contributor_email": prop("cody@acme.example"),
        "contributor_name": prop(""),
        "sponsor_email": prop(""),
    },
    "imports": [],
    "stateChanges": [],
}


def test_hubspot_workflow_payload_becomes_a_deal() -> None:
    body = json.dumps(HUBSPOT_WORKFLOW_BODY).encode()
    document = hubspot_deal(json.loads(body), load_mapping(None, "hubspot"))
    deal = parse_deal(document)
    assert deal.deal_id == "15020384726"
    assert (deal.customer.name, deal.customer.domain) == ("Acme Corp", "acme.example")
    assert deal.owner.email == "lena@vendor.example"
    assert (deal.kickoff, deal.target) == ("2025-12-08", "2026-02-04")
    assert (deal.timezone, deal.country, deal.pilot, deal.size) == ("America/New_York", "US", False, "medium")
    assert deal.fields == {"product": "billing", "tier": "growth", "amount": "48000", "pipeline": "default"}
    assert [(c.email, c.name, c.role) for c in deal.contacts] == [
        ("ada@acme.example", "Ada Lovelace", "approver"),
        ("cody@acme.example", None, "contributor"),
    ]  # the empty sponsor_email is left out
    assert hubspot_deal(body, load_mapping(None, "hubspot")) == document


def test_hubspot_mapping_falls_back_and_maps_values() -> None:
    body = json.loads(json.dumps(HUBSPOT_WORKFLOW_BODY))
    del body["properties"]["company_name"]
    body["properties"]["dealtype"] = prop("existingbusiness")
    deal = parse_deal(hubspot_deal(body, load_mapping(None, "hubspot")))
    assert deal.customer.name == "Acme Corp - Billing rollout"  # dealname when no company_name
    assert deal.size == "small"


def test_hubspot_customized_body_with_a_contact_list(tmp_path: Path) -> None:
    # "Customize request body": the keys chosen in the workflow, flat; contacts as a list
    mapping_file = tmp_path / "hubspot.yaml"
    mapping_file.write_text(
        "deal:\n"
        "  deal_id: hs_object_id\n"
        "  customer.name: dealname\n"
        "  owner.slack_id: lead\n"
        "  kickoff: {from: kickoff, as: date}\n"
        "  pilot: {value: true}\n"
        "contacts:\n"
        "  - {each: people, email: email, name: name, role_from: role}\n"
        "  - {email: 'champion.email', role: sponsor}\n",
        encoding="utf-8",
    )
    body = {
        "hs_object_id": "991",
        "dealname": "Globex",
        "lead": "U0LEAD",
        "kickoff": "2026-01-12",
        "people": [
            {"email": "hank@globex.example", "name": "Hank", "role": "Main contact"},
            {"email": "", "name": "nobody"},
        ],
        "champion": {"email": "marge@globex.example"},
    }
    deal = parse_deal(hubspot_deal(body, load_mapping(mapping_file, "hubspot")))
    assert (deal.deal_id, deal.owner.slack_id, deal.kickoff, deal.pilot) == (
        "991",
        "U0LEAD",
        "2026-01-12",
        True,
    )
    assert [(c.email, c.role) for c in deal.contacts] == [
        ("hank@globex.example", "main_contact"),
        ("marge@globex.example", "sponsor"),
    ]


def test_hubspot_body_not_one_object() -> None:
    mapping = load_mapping(None, "hubspot")
    with pytest.raises(BadMessage):
        hubspot_deal(b"not json", mapping)
    with pytest.raises(BadMessage, match="one JSON object"):
        hubspot_deal([HUBSPOT_WORKFLOW_BODY], mapping)


def test_a_date_that_is_not_one_is_a_payload_problem() -> None:
    body = json.loads(json.dumps(HUBSPOT_WORKFLOW_BODY))
    body["properties"]["kickoff_date"] = prop("next monday")
    with pytest.raises(PayloadProblem, match="`kickoff`"):
        hubspot_deal(body, load_mapping(None, "hubspot"))


# ------------------------------------------------------------------------------- Salesforce

ORG15 = "00D5e000000KQ2e"
ORG18 = "00D5e000000KQ2eEAG"


def outbound_message(org: str = ORG18, notifications: str | None = None) -> bytes:
    """An outbound message on Opportunity, shaped as the outbound-messaging WSDL defines it."""
    opportunity = """
    <Notification>
      <Id>04l5e00000Gx7QzAAJ</Id>
      <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
        <sf:Id>0065e00000Bq9XcAAJ</sf:Id>
        <sf:Account_Name__c>Acme Corp</sf:Account_Name__c>
        <sf:Amount>48000.0</sf:Amount>
        <sf:CloseDate>2025-12-05</sf:CloseDate>
        <sf:Customer_Domain__c>acme.example</sf:Customer_Domain__c>
        <sf:Go_Live_Date__c>2026-02-04</sf:Go_Live_Date__c>
        <sf:Implementation_Time_Zone__c>Europe/Berlin</sf:Implementation_Time_Zone__c>
        <sf:Account_Country__c>DE</sf:Account_Country__c>
        <sf:Kickoff_Date__c>2025-12-08</sf:Kickoff_Date__c>
        <sf:Name>Acme Corp - Billing</sf:Name>
        <sf:Owner_Email__c>lena@vendor.example</sf:Owner_Email__c>
        <sf:Pilot__c>true</sf:Pilot__c>
        <sf:Product__c>billing &amp; invoicing</sf:Product__c>
        <sf:StageName>Closed Won</sf:StageName>
        <sf:Type>Existing Customer - Upgrade</sf:Type>
        <sf:Approver_Email__c>ada@acme.example</sf:Approver_Email__c>
        <sf:Approver_Name__c>Ada Lovelace</sf:Approver_Name__c>
        <sf:Sponsor_Email__c xsi:nil="true"/>
      </sObject>
    </Notification>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5e000000CaRkAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5e000000KQ2e</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5e000000KQ2e</PartnerUrl>
   {opportunity if notifications is None else notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def test_salesforce_opportunity_becomes_a_deal() -> None:
    [document] = salesforce_deals(outbound_message(), ORG18, load_mapping(None, "salesforce"))
    deal = parse_deal(document)
    assert deal.deal_id == "0065e00000Bq9XcAAJ"
    assert (deal.customer.name, deal.customer.domain) == ("Acme Corp", "acme.example")
    assert deal.owner.email == "lena@vendor.example"
    assert (deal.kickoff, deal.target, deal.timezone, deal.country) == (
        "2025-12-08",
        "2026-02-04",
        "Europe/Berlin",
        "DE",
    )
    assert (deal.size, deal.pilot) == ("small", True)
    assert deal.fields == {"product": "billing & invoicing", "amount": "48000.0", "close_date": "2025-12-05"}
    assert [(c.email, c.name, c.role) for c in deal.contacts] == [
        ("ada@acme.example", "Ada Lovelace", "approver")
    ]


def test_salesforce_one_deal_per_notification() -> None:
    two = "".join(
        f"""<Notification><Id>04l5e00000Gx7Q{n}AAJ</Id>
        <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
          <sf:Id>0065e00000Bq9X{n}AAJ</sf:Id><sf:Name>Deal {n}</sf:Name>
          <sf:Owner_Email__c>lena@vendor.example</sf:Owner_Email__c>
        </sObject></Notification>"""
        for n in (1, 2)
    )
    documents = salesforce_deals(outbound_message(notifications=two), ORG15, load_mapping(None, "salesforce"))
    deals = [parse_deal(d) for d in documents]
    assert [(d.deal_id, d.customer.name) for d in deals] == [
        ("0065e00000Bq9X1AAJ", "Deal 1"),
        ("0065e00000Bq9X2AAJ", "Deal 2"),
    ]


def test_salesforce_mapping_sees_the_notification_envelope(tmp_path: Path) -> None:
    mapping = parse_mapping(
        "deal:\n  deal_id: Id\n  customer.name: sObject.Name\n  fields.object: sObjectType\n"
        "  fields.action: ActionId\n  owner.email: sObject.Owner_Email__c\n",
        "salesforce",
        "test.yaml",
    )
    [document] = salesforce_deals(outbound_message(), ORG18, mapping)
    assert document["deal_id"] == "04l5e00000Gx7QzAAJ"
    assert document["fields"] == {"object": "Opportunity", "action": "04k5e000000CaRkAAK"}


@pytest.mark.parametrize("configured", [ORG18, ORG15, "00D5e000000KQ2eeag", f" {ORG15} "])
def test_salesforce_org_id_in_either_form(configured: str) -> None:
    assert len(salesforce_deals(outbound_message(), configured, load_mapping(None, "salesforce"))) == 1


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        ("00D5e000000KQ2f", ORG18),  # another organisation
        ("00D5e000000kq2e", ORG18),  # ids are case-sensitive in their 15-character form
        (ORG18, "00D5e000000kq2eEAG"),  # an 18-character id whose suffix does not match
        (ORG18, ""),  # no OrganizationId at all
        ("", ORG18),  # nothing configured
        ("not-an-org-id", ORG18),
    ],
)
def test_salesforce_other_organisation_refused(configured: str, sent: str) -> None:
    with pytest.raises(WrongOrganization):
        salesforce_deals(outbound_message(org=sent), configured, load_mapping(None, "salesforce"))


def test_salesforce_id18_matches_the_documented_example() -> None:
    assert salesforce_id18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert salesforce_id18(ORG15) == ORG18
    assert salesforce_id18("001A0000006Vm9rIAD") is None
    assert salesforce_id18("short") is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<soapenv:Envelope",  # cut short
        b"not xml at all",
        b'<?xml version="1.0"?><a><b></a>',
        b'{"deal_id": "D-1"}',  # JSON to the wrong hook
    ],
)
def test_salesforce_malformed_xml_refused_cleanly(body: bytes) -> None:
    with pytest.raises(BadMessage, match="not well-formed XML"):
        salesforce_deals(body, ORG18, load_mapping(None, "salesforce"))


def test_salesforce_other_soap_call_or_no_notification_refused() -> None:
    mapping = load_mapping(None, "salesforce")
    other = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ping/></soapenv:Body></soapenv:Envelope>'
    with pytest.raises(BadMessage, match="not a Salesforce outbound message"):
        salesforce_deals(other, ORG18, mapping)
    with pytest.raises(BadMessage, match="not a Salesforce outbound message"):
        salesforce_deals(b"<notifications/>", ORG18, mapping)
    with pytest.raises(BadMessage, match="no Notification"):
        salesforce_deals(outbound_message(notifications=""), ORG18, mapping)


def test_salesforce_entity_expansion_refused() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]  # &lol9; would be a billion "lol"s
    laughs = f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{"".join(entities)}]>\n'.encode()
    body = (
        outbound_message()
        .replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', laughs)
        .replace(b"Acme Corp</sf:Account_Name__c>", b"&lol9;</sf:Account_Name__c>")
    )
    with pytest.raises(BadMessage, match="DTD"):
        salesforce_deals(body, ORG18, load_mapping(None, "salesforce"))


def test_salesforce_external_entity_refused() -> None:
    body = (
        outbound_message()
        .replace(
            b'<?xml version="1.0" encoding="UTF-8"?>\n',
            b'<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
        )
        .replace(b"Acme Corp</sf:Account_Name__c>", b"&xxe;</sf:Account_Name__c>")
    )
    with pytest.raises(BadMessage, match="DTD"):
        salesforce_deals(body, ORG18, load_mapping(None, "salesforce"))


def test_salesforce_ack_is_the_notifications_response() -> None:
    root = ET.fromstring(SALESFORCE_ACK)
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    ack = root.find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body"
        "/{http://soap.sforce.com/2005/09/outbound}notificationsResponse"
        "/{http://soap.sforce.com/2005/09/outbound}Ack"
    )
    assert ack is not None and ack.text == "true"
    assert SALESFORCE_ACK.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_salesforce_fault_is_a_soap_fault_with_the_message_escaped() -> None:
    root = ET.fromstring(salesforce_fault("database <down> & retrying"))
    fault = root.find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body/{http://schemas.xmlsoap.org/soap/envelope/}Fault"
    )
    assert fault is not None
    assert fault.findtext("faultcode") == "soapenv:Server"
    assert fault.findtext("faultstring") == "database <down> & retrying"


# ---------------------------------------------------------------------------------- mappings


@pytest.mark.parametrize("source", ["hubspot", "salesforce"])
def test_default_mappings_ship_and_load(source: str) -> None:
    mapping = load_mapping(None, source)  # type: ignore[arg-type]
    assert mapping.source == source
    assert {"deal_id", "customer.name", "owner.email", "kickoff", "size"} <= set(mapping.rules)
    assert {c.role for c in mapping.contacts} == {"approver", "sponsor", "main_contact", "contributor"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "deal:\n  deal_id: dealId\n  customer.name: x\n  budget: amount\n",
            r"line 4, `budget`: not a golive deal field",
        ),
        (
            "deal:\n  deal_id: dealId\n  customer.name: {from: x, as: datetime}\n",
            r"line 3, `customer.name`: `as` must be",
        ),
        (
            "deal:\n  deal_id: dealId\n  customer.name: {form: x}\n",
            r"line 3, `customer.name`: unknown key `form`",
        ),
        ("deal:\n  deal_id: dealId\n  customer.name: {from: x, value: y}\n", "exactly one of `from`"),
        ("deal:\n  deal_id: dealId\n  customer.name: [x\n", r"line 4: not valid YAML"),
        ("deal:\n  customer.name: x\n", "deal_id and customer.name"),
        ("deal:\n  deal_id: dealId\n  customer.name: x\nextras: 1\n", r"line 4: unknown key `extras`"),
        (
            "deal:\n  deal_id: dealId\n  customer.name: x\ncontacts:\n  - {name: n}\n",
            r"contacts` entry 1 \(line 5\): `email`",
        ),
        (
            "deal:\n  deal_id: dealId\n  customer.name: x\n  fields.bad name: y\n",
            r"line 4, `fields.bad name`",
        ),
        ("- just a list\n", "needs a `deal:` section"),
    ],
)
def test_bad_mapping_names_the_line_and_key(text: str, message: str) -> None:
    with pytest.raises(MappingProblem, match=message):
        parse_mapping(text, "hubspot", "mine.yaml")


def test_mapping_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(MappingProblem, match="cannot read the mapping"):
        load_mapping(tmp_path / "missing.yaml", "salesforce")
    with pytest.raises(MappingProblem, match="unknown CRM"):
        load_mapping(None, "pipedrive")  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["hubspot", "salesforce"])
def test_the_guide_shows_the_default_mappings_as_shipped(source: str) -> None:
    root = Path(__file__).resolve().parents[2]
    shipped = (root / "bot" / "deals" / "mappings" / f"{source}.yaml").read_text(encoding="utf-8")
    assert f"```yaml\n{shipped}```" in (root / "docs" / "crm.md").read_text(encoding="utf-8")
