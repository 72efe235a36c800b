"""Flat `key value` files such as mln.conf, read with the language's lexical rules."""

from pathlib import Path

import pytest

from projects import lang

CONF = Path(__file__).parent / "cases" / "mln.conf"


def test_mln_conf_reads_in_order_with_repeated_keys():
    statements = lang.parse_statements(CONF.read_text(), "mln.conf")
    keys = [key for key, _, _ in statements]
    assert keys.count("daemon_status_query") == 2
    assert ("daemon_allow", "192.168.10.*") in [(k, v) for k, v, _ in statements]
    assert statements[0] == ("projects", "/opt/mln/projects", lang.Position("mln.conf", 2, 1))


def test_quotes_comments_equals_and_flags_follow_the_language():
    text = 'motd "lab #3" # note\nkey = a  b\nflag\nhash pa#ss\n'
    assert [(k, v) for k, v, _ in lang.parse_statements(text)] == [
        ("motd", "lab #3"),
        ("key", "a b"),
        ("flag", True),
        ("hash", "pa#ss"),
    ]


def test_blocks_are_errors_with_their_position():
    with pytest.raises(lang.MlnError) as caught:
        lang.parse_statements("a 1\nb {\n}\n", "x.conf")
    assert (caught.value.file, caught.value.line, caught.value.col) == ("x.conf", 2, 1)
