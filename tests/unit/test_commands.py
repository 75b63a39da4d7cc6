import pytest

from bot.commands import UsageError, build_commands
from bot.slacktext import plain_text, user_id_from_token


@pytest.fixture
def cs():
    return build_commands("/golive")


def test_empty_text_is_help(cs):
    assert cs.parse("").name == "help"
    assert cs.parse("   ").name == "help"


def test_start_positional_name_and_options(cs):
    cmd = cs.parse("start Acme Corp size=medium kickoff=2026-12-01")
    assert cmd.name == "start"
    assert cmd.rest_text == "Acme Corp"
    assert cmd.options == {"size": "medium", "kickoff": "2026-12-01"}


def test_quoted_name_keeps_spaces_and_equals(cs):
    cmd = cs.parse('start "Acme = Widgets, Inc." size=small')
    assert cmd.rest_text == "Acme = Widgets, Inc."
    assert cmd.options == {"size": "small"}


def test_smart_quotes_from_slack_clients(cs):
    cmd = cs.parse("start “Acme Corp” tz=Europe/Berlin")
    assert cmd.rest_text == "Acme Corp"


def test_unknown_subcommand(cs):
    with pytest.raises(UsageError) as exc:
        cs.parse("launch Acme")
    assert "launch" in exc.value.message


def test_unknown_option_names_the_option_and_shows_usage(cs):
    with pytest.raises(UsageError) as exc:
        cs.parse("start Acme colour=blue")
    assert "`colour=`" in exc.value.message
    assert exc.value.usage and exc.value.usage.startswith("start <customer name>")


def test_repeated_option(cs):
    with pytest.raises(UsageError, match="twice"):
        cs.parse("start Acme size=small size=medium")


def test_should_escape_text_is_made_readable():
    assert plain_text("&lt;!channel&gt; AT&amp;T") == "<!channel> AT&T"
    assert plain_text("<!channel> Corp") == "@channel Corp"
    assert plain_text("for <@U123|lena>") == "for @lena"
    assert plain_text("see <https://evil.example|click>") == "see click"


def test_user_token():
    assert user_id_from_token("<@U0ABC|ada>") == "U0ABC"
    assert user_id_from_token("<@W0ABC>") == "W0ABC"
    assert user_id_from_token("@ada") is None
