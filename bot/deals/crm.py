"""The two CRMs' own webhooks, read as golive deals: pure functions the HTTP server calls for
`POST /hooks/hubspot` and `POST /hooks/salesforce` (docs/crm.md).

HubSpot (a workflow's "Send a webhook" action) signs its requests with its v3 signature:

    X-HubSpot-Request-Timestamp: 1765100000000            (milliseconds)
    X-HubSpot-Signature-v3: base64(HMAC-SHA256(app client secret,
                                   method + URI + body + timestamp))

Salesforce sends an outbound message: a SOAP `notifications()` call with up to 100 Notification
elements, unsigned; golive checks its OrganizationId against the configured one and answers
`SALESFORCE_ACK`, without which Salesforce retries the message for 24 hours.

Each payload becomes the golive deal document through a YAML mapping (`bot.deals.mapping`); the
caller runs `parse_deal` on it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape

from bot.deals.mapping import DealMapping, MappingProblem, PayloadProblem, apply_mapping, load_mapping
from bot.events.signing import BadSignature

__all__ = [
    "HUBSPOT_SIGNATURE_HEADER",
    "HUBSPOT_TIMESTAMP_HEADER",
    "SALESFORCE_ACK",
    "BadMessage",
    "BadSignature",
    "DealMapping",
    "MappingProblem",
    "PayloadProblem",
    "WrongOrganization",
    "hubspot_deal",
    "hubspot_signature",
    "load_mapping",
    "salesforce_deals",
    "salesforce_fault",
    "salesforce_id18",
    "verify_hubspot",
]

HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000
_MILLIS = re.compile(r"^[0-9]{1,16}$")
# HubSpot: "decode any of the URL-encoded characters" of this table in the request URI first
_HUBSPOT_URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_HUBSPOT_ESCAPE = re.compile("|".join(_HUBSPOT_URI_DECODE), re.IGNORECASE)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_ORG_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# The acknowledgement the outbound-messaging WSDL defines (notificationsResponse, Ack true).
SALESFORCE_ACK: bytes = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack>"
    b"</notificationsResponse>"
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)


class BadMessage(PayloadProblem):
    """A body golive cannot read as the CRM's message (not XML, a DTD, not a notifications() call):
    answered with 400 and nothing written."""


class WrongOrganization(Exception):
    """An outbound message from another Salesforce organisation than the configured one (or no
    organisation configured): answered 403 and nothing written."""


# ------------------------------------------------------------------------------------ HubSpot


def _hubspot_uri(uri: str) -> str:
    return _HUBSPOT_ESCAPE.sub(lambda m: _HUBSPOT_URI_DECODE[m.group(0).upper()], uri)


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature: base64 of HMAC-SHA256, keyed by the app's client secret, of
    method + URI + body + timestamp (UTF-8). `uri` is the full URL HubSpot called (scheme, host,
    path and query), with HubSpot's listed escapes decoded."""
    message = method.upper().encode() + _hubspot_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_hubspot(
    secret: str | None,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
) -> None:
    """Raise BadSignature unless `signature` (X-HubSpot-Signature-v3) signs this request at
    `timestamp` (X-HubSpot-Request-Timestamp, epoch milliseconds) within five minutes of `now`
    (epoch seconds; the clock when None). Compared in constant time."""
    if not secret:
        raise BadSignature("no HubSpot client secret is configured (GOLIVE_HUBSPOT_SECRET)")
    stamp, sent = (timestamp or "").strip(), (signature or "").strip()
    if not stamp or not sent:
        raise BadSignature("the request has no HubSpot v3 signature")
    if not _MILLIS.match(stamp):
        raise BadSignature("the HubSpot timestamp is not epoch milliseconds")
    now_ms = (time.time() if now is None else now) * 1000
    if abs(now_ms - int(stamp)) > HUBSPOT_MAX_AGE_MS:
        raise BadSignature("the HubSpot timestamp is more than five minutes off")
    expected = hubspot_signature(secret, method, uri, body, stamp)
    if not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace")):
        raise BadSignature("the HubSpot signature does not match")


def hubspot_deal(document: Any, mapping: DealMapping) -> dict[str, Any]:
    """The golive deal document a HubSpot workflow webhook's body maps to (parse_deal checks it).
    PayloadProblem when the body is not one JSON object or a value cannot be converted."""
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except ValueError:
            raise BadMessage("the HubSpot body is not JSON") from None
    if not isinstance(document, dict):
        raise BadMessage("the HubSpot body must be one JSON object (the deal the workflow enrolled)")
    return apply_mapping(mapping, document)


# --------------------------------------------------------------------------------- Salesforce


def salesforce_id18(value: str) -> str | None:
    """The 18-character, case-insensitive-safe form of a 15- or 18-character Salesforce id, or
    None when it is not one (an 18-character id whose last three characters do not match)."""
    value = (value or "").strip()
    if not _ORG_ID.match(value):
        return None
    base = value[:15]
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << n for n, ch in enumerate(base[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _ID_SUFFIX[bits]
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return base + suffix


def _refuse_dtd(*_: Any) -> int:
    raise BadMessage("the message declares a DTD or entities, which a SOAP message never has")


def _parse_xml(body: bytes) -> ET.Element:
    """The document element, refusing any DTD: SOAP 1.1 forbids a document type declaration,
    so refusing one rules out entity expansion and external entities before ElementTree runs."""
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse_dtd
    checker.EntityDeclHandler = _refuse_dtd
    checker.ExternalEntityRefHandler = _refuse_dtd
    try:
        checker.Parse(body, True)
        return ET.fromstring(body)
    except (expat.ExpatError, ET.ParseError) as exc:
        raise BadMessage(f"the body is not well-formed XML ({exc})") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _value(element: ET.Element) -> Any:
    if element.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
        return None
    children = list(element)
    if not children:
        return (element.text or "").strip()
    result: dict[str, Any] = {}
    for child in children:
        name, value = _local(child.tag), _value(child)
        if name in result:
            previous = result[name]
            result[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            result[name] = value
    return result


def _text(parent: ET.Element, name: str) -> str:
    found = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    return (found.text or "").strip() if found is not None else ""


def salesforce_deals(body: bytes, organization_id: str, mapping: DealMapping) -> list[dict[str, Any]]:
    """One golive deal document per Notification of a Salesforce outbound message, each mapped
    from {"OrganizationId", "ActionId", "Id" (the notification's), "sObjectType", "sObject": {the
    fields sent, without their sf: prefix}}. WrongOrganization unless the message comes from
    `organization_id` (15 or 18 characters); BadMessage when it is not a notifications() call."""
    expected = salesforce_id18(organization_id)
    if expected is None:
        raise WrongOrganization(
            "no valid Salesforce organisation id is configured (GOLIVE_SALESFORCE_ORG_ID)"
        )
    root = _parse_xml(body)
    envelope_body = root.find(f"{{{SOAP_ENV}}}Body") if root.tag == f"{{{SOAP_ENV}}}Envelope" else None
    call = envelope_body.find(f"{{{OUTBOUND_NS}}}notifications") if envelope_body is not None else None
    if call is None:
        raise BadMessage("the body is not a Salesforce outbound message (a SOAP notifications() call)")
    sent_org = _text(call, "OrganizationId")
    if salesforce_id18(sent_org) != expected:
        raise WrongOrganization(
            f"the message comes from organisation {sent_org or '(none)'!r}, not the configured one"
        )
    action_id = _text(call, "ActionId")
    deals = []
    for note in call.findall(f"{{{OUTBOUND_NS}}}Notification"):
        sobject = note.find(f"{{{OUTBOUND_NS}}}sObject")
        fields = _value(sobject) if sobject is not None else {}
        kind = sobject.get(f"{{{XSI_NS}}}type", "") if sobject is not None else ""
        document = {
            "OrganizationId": sent_org,
            "ActionId": action_id,
            "Id": _text(note, "Id"),
            "sObjectType": kind.rpartition(":")[2],
            "sObject": fields if isinstance(fields, dict) else {},
        }
        deals.append(apply_mapping(mapping, document))
    if not deals:
        raise BadMessage("the outbound message has no Notification")
    return deals


def salesforce_fault(message: str) -> bytes:
    """A SOAP 1.1 Server fault (sent with HTTP 500): the delivery failed on golive's side, and
    Salesforce keeps the message queued and retries it, as for any answer without Ack true."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
        "<soapenv:Body><soapenv:Fault>"
        "<faultcode>soapenv:Server</faultcode>"
        f"<faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()
