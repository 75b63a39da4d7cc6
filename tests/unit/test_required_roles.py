"""The playbook's `required_roles` (issue 28 §2): the default requires an approver and a main
contact, and `golive playbook check` refuses a role the customer cannot hold."""

from __future__ import annotations

from importlib import resources

import pytest

from bot.engagement.playbook import PlaybookError, default_playbook, parse_playbook


def _default_text() -> str:
    return resources.files("bot.engagement").joinpath("playbooks/default.yaml").read_text(encoding="utf-8")


def test_the_default_playbook_requires_an_approver_and_a_main_contact() -> None:
    assert default_playbook().required_roles == ("approver", "main_contact")


def test_a_role_that_is_not_the_customers_is_refused() -> None:
    text = _default_text().replace(
        "required_roles: [approver, main_contact]", "required_roles: [approver, lead]"
    )
    with pytest.raises(PlaybookError) as err:
        parse_playbook(text, "bad.yaml")
    assert "required_roles" in str(err.value)


def test_without_required_roles_nothing_is_required() -> None:
    text = _default_text().replace("required_roles: [approver, main_contact]\n", "")
    assert parse_playbook(text).required_roles == ()


def test_the_it_admin_may_be_required_and_reads_as_it_admin() -> None:
    from bot.people.roles import role_label, with_article

    text = _default_text().replace(
        "required_roles: [approver, main_contact]", "required_roles: [approver, it_admin]"
    )
    assert parse_playbook(text).required_roles == ("approver", "it_admin")
    assert role_label("it_admin") == "IT admin" and role_label("main_contact") == "main contact"
    assert with_article("it_admin") == "an IT admin" and with_article("sponsor") == "a sponsor"
