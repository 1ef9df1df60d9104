"""os-release(5) parsing: PRETTY_NAME, NAME + VERSION, shell quoting."""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.os_release import os_release_values, parse_os_release
from tests.facts.system_helpers import assert_parses_or_raises_parse_error

UBUNTU_LIKE = """\
# written by hand for moefleet's tests
NAME="Examplix GNU/Linux"
VERSION="24.04.1 LTS (Nimble Narwhal)"
ID=examplix
PRETTY_NAME="Examplix 24.04.1 LTS"
VERSION_ID="24.04"
"""


def test_pretty_name_wins():
    assert parse_os_release(UBUNTU_LIKE) == "Examplix 24.04.1 LTS"


def test_name_and_version_when_pretty_name_is_missing():
    assert parse_os_release('NAME="Examplix"\nVERSION="9 (Blue)"\n') == "Examplix 9 (Blue)"
    assert parse_os_release("NAME=Examplix\n") == "Examplix"


def test_no_name_fields_gives_none():
    assert parse_os_release("ID=examplix\nVERSION_ID=3\n") is None


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('PRETTY_NAME="say \\"hi\\" for \\$5 \\\\ \\`x\\`"', 'say "hi" for $5 \\ `x`'),
        ('PRETTY_NAME="keeps \\n literally"', "keeps \\n literally"),
        ("PRETTY_NAME='single \"quoted\" $HOME'", 'single "quoted" $HOME'),
        ("PRETTY_NAME=Bare\\ words", "Bare words"),
        ('PRETTY_NAME="unterminated', "unterminated"),
        ('  PRETTY_NAME="indented"  ', "indented"),
    ],
)
def test_quoting(line, value):
    assert os_release_values(line)["PRETTY_NAME"] == value


@pytest.mark.parametrize("text", ["", "# only a comment\n", "not an assignment"])
def test_unrecognisable_input_raises(text):
    with pytest.raises(ParseError, match="os-release"):
        parse_os_release(text)


def test_fuzz_os_release():
    assert_parses_or_raises_parse_error(parse_os_release, UBUNTU_LIKE, (str, type(None)))
