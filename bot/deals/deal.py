"""A deal won, as golive reads it: the documented JSON shape of `POST /hooks/deal`, `golive deal
FILE.json` and what the HubSpot and Salesforce adapters map their payloads to.

    {"deal_id": "D-1042",
     "customer": {"name": "Acme Corp", "domain": "acme.example"},
     "owner": {"slack_id": "U0LEAD", "email": "lena@vendor.example"},
     "contacts": [{"email": "ada@acme.example", "name": "Ada", "role": "approver"}],
     "size": "medium", "kickoff": "2026-12-07", "target": null,
     "timezone": "America/New_York", "country": "US", "pilot": false, "ingest": "warehouse",
     "fields": {"product": "billing", "tier": "growth"}}

Extra top-level keys are kept in `fields` (a playbook's `when:` rules read them). Every problem is
one `DealProblem` naming the field and what to send instead, answered to the CRM with 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.user_input import INGEST_CHOICES, SIZES

CONTACT_ROLES = ("approver", "contributor", "sponsor", "main_contact", "it_admin")
MAX_CONTACTS = 50
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,31}$")
_ROLE_ALIASES = {
    "main contact": "main_contact",
    "main-contact": "main_contact",
    "maincontact": "main_contact",
    "it admin": "it_admin",
    "it-admin": "it_admin",
}


class DealProblem(ValueError):
    """A deal golive cannot take: the message names the field and says what to send."""


class Customer(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=253)


class Owner(BaseModel):
    """The lead consultant: their Slack id, or an email golive looks up (users.lookupByEmail)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    slack_id: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)

    @field_validator("slack_id")
    @classmethod
    def _slack_id(cls, v: str | None) -> str | None:
        if v and not _SLACK_USER.match(v):
            raise ValueError("is not a Slack user id (U… or W…)")
        return v or None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v and not _EMAIL.match(v):
            raise ValueError("is not an email address")
        return v.lower() if v else None


class Contact(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=200)
    role: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError("is not an email address")
        return v.lower()

    @field_validator("role")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        role = _ROLE_ALIASES.get(v.strip().lower(), v.strip().lower())
        if role not in CONTACT_ROLES:
            raise ValueError(f"must be one of {', '.join(CONTACT_ROLES)}")
        return role


class Deal(BaseModel):
    """A deal won. Dates, time zone and country are checked again when the engagement is made
    (`bot.engagement.lifecycle.build_start_options`), with the same messages as `/golive start`."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)
    deal_id: str = Field(min_length=1, max_length=128)
    customer: Customer
    owner: Owner = Field(default_factory=Owner)
    contacts: list[Contact] = Field(default_factory=list, max_length=MAX_CONTACTS)
    size: str | None = None
    kickoff: str | None = None
    target: str | None = None
    timezone: str | None = None
    country: str | None = None
    pilot: bool = False
    ingest: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("deal_id", mode="before")
    @classmethod
    def _deal_id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v  # CRMs' ids are often numbers

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v and v.lower() not in SIZES:
            raise ValueError(f"must be one of {', '.join(SIZES)}")
        return v.lower() if v else None

    @field_validator("ingest")
    @classmethod
    def _ingest(cls, v: str | None) -> str | None:
        if v and v.lower() not in INGEST_CHOICES:
            raise ValueError(f"must be one of {', '.join(INGEST_CHOICES)}")
        return v.lower() if v else None

    @field_validator("kickoff", "target", "timezone", "country", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return None if v == "" else v

    def all_fields(self) -> dict[str, Any]:
        """The free fields and any extra top-level keys, for playbook rules (`fields` wins), with
        size, pilot and ingest, which rules may name too."""
        extra = dict(self.model_extra or {})
        return (
            extra | {"size": self.size or "medium", "pilot": self.pilot, "ingest": self.ingest} | self.fields
        )

    def contacts_by_email(self) -> dict[str, Contact]:
        """One contact per email (the last one named wins)."""
        return {c.email: c for c in self.contacts}

    def to_json(self) -> str:
        return self.model_dump_json()


def parse_deal(document: Any) -> Deal:
    """The deal in a decoded JSON document, or DealProblem saying what is wrong."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError:
            raise DealProblem("The body is not JSON: send the deal as a JSON object.") from None
    if not isinstance(document, dict):
        raise DealProblem("The deal must be a JSON object with deal_id and customer.")
    try:
        deal = Deal.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "deal"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "is required"
        raise DealProblem(f"`{where}` {message}.") from None
    if not deal.owner.slack_id and not deal.owner.email:
        raise DealProblem("`owner` needs slack_id or email: the lead consultant of the implementation.")
    return deal
