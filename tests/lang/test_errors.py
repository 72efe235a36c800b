"""Every error kind of the contract, at its file, line and column."""

import pytest

from projects import lang
from projects.lang.errors import KINDS, MAX_ERRORS


def errors_of(text, files=None, variables=None, spec=False):
    sources = lang.MemorySources({"main.mln": text, **(files or {})})
    with pytest.raises(lang.MlnError) as caught:
        tree = lang.loads(text, "main.mln", variables, sources)
        if spec:
            lang.build_spec(tree)
    return caught.value.errors


def only_error(*args, **kwargs):
    errors = errors_of(*args, **kwargs)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def place(error):
    return (error.kind, error.file, error.line, error.col)


HOST = "global { project p }\n"

# kind -> (main file, other files, expected file, line, column, needs build_spec)
CASES = {
    "syntax": ("host a {\n    xen\n", {}, "main.mln", 1, 1, False),
    "unterminated-string": ('global {\n  motd "open\n}\n', {}, "main.mln", 2, 8, False),
    "include-not-found": ("global {\n    #include nothere.mln\n}\n", {}, "main.mln", 2, 5, False),
    "include-outside-roots": ("#include ../../etc/passwd\n", {}, "main.mln", 1, 1, False),
    "include-cycle": ("#include a.mln\n", {"a.mln": "\n#include main.mln\n"}, "a.mln", 2, 1, False),
    "include-depth": (
        "#include d1.mln\n",
        {f"d{i}.mln": f"#include d{i + 1}.mln\n" for i in range(1, 20)},
        "d16.mln",
        1,
        1,
        False,
    ),
    "bad-variable": ("global {\n    price 5$ \n}\n", {}, "main.mln", 2, 12, False),
    "undefined-variable": ("global {\n    project os$[gnum]\n}\n", {}, "main.mln", 2, 15, False),
    "duplicate-variable": ("global { $a = 1 }\nhost h {\n  $a = 2\n}\n", {}, "main.mln", 3, 3, False),
    "variable-cycle": ("global {\n  $a = x$b\n  $b = y$a\n}\n", {}, "main.mln", 2, 3, False),
    "duplicate-key": (HOST + "host a {\n  memory 1G\n  memory 2G\n}\n", {}, "main.mln", 4, 3, False),
    "unknown-block": (HOST + "hots a { }\n", {}, "main.mln", 2, 1, False),
    "invalid-name": (HOST + "host web_1 { }\n", {}, "main.mln", 2, 6, False),
    "unknown-superclass": (HOST + "host a {\n  superclass nope\n}\n", {}, "main.mln", 3, 14, False),
    "superclass-cycle": (
        HOST + "superclass x { superclass y }\nsuperclass y {\n superclass x\n}\n",
        {},
        "main.mln",
        4,
        13,
        False,
    ),
    "plugin": (
        "global {\n  project p\n  autoenum {\n    superclass n\n    numhosts many\n  }\n}\nsuperclass n { }\n",
        {},
        "main.mln",
        5,
        14,
        False,
    ),
    "address-outside-net": (
        "global {\n  project p\n  autoenum {\n    superclass n\n    numhosts 10\n"
        "    address auto\n    addresses_begin 250\n    net 10.0.0.0\n  }\n}\n"
        "superclass n { }\n",
        {},
        "main.mln",
        7,
        21,
        False,
    ),
    "missing-project": ("host a { }\n", {}, "main.mln", 1, 1, True),
    "unknown-switch": (HOST + "host a {\n  network eth0 { switch lan }\n}\n", {}, "main.mln", 3, 25, True),
    "bad-size": (HOST + "superclass s {\n  memory 12X\n}\nhost a { superclass s }\n", {}, "main.mln", 3, 10, True),
    "bad-address": (HOST + "host a {\n  network eth0 {\n    address 10.0.0.300\n  }\n}\n", {}, "main.mln", 4, 13, True),
    "bad-netmask": (HOST + "host a {\n  network eth0 {\n    netmask /24\n  }\n}\n", {}, "main.mln", 4, 13, True),
    "bad-value": (HOST + "host a {\n  vncdisplay one\n}\n", {}, "main.mln", 3, 14, True),
    "control-character": (HOST + "host a {\n  description ab\x00c\n}\n", {}, "main.mln", 3, 17, False),
    "too-large": (HOST + "host a {\n  $v = " + "x" * 5000 + "\n}\n", {}, "main.mln", 3, 3, False),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_error_kind_is_reported_at_its_file_line_and_column(kind):
    text, files, file, line, col, spec = CASES[kind]
    assert place(only_error(text, files, spec=spec)) == (kind, file, line, col)


def test_every_kind_of_error_has_a_case():
    assert set(KINDS) - {"unreadable-file"} == set(CASES)


def test_a_file_that_cannot_be_read_is_one_clear_error(tmp_path):
    with pytest.raises(lang.MlnError) as caught:
        lang.load(tmp_path / "missing.mln")
    assert caught.value.kind == "unreadable-file"
    assert "not found" in caught.value.message


def test_undefined_variable_names_the_variable():
    error = only_error("global {\n    project os$[gnum]\n}\n")
    assert error.name == "gnum"
    assert str(error) == "main.mln:2:15: error: undefined variable $gnum"


def test_duplicate_key_names_both_places():
    error = only_error(HOST + "host a {\n  memory 1G\n  memory 2G\n}\n")
    assert "main.mln:3:3" in error.message


def test_named_sub_block_given_twice_is_a_duplicate():
    error = only_error(HOST + "host a {\n  network eth0 { }\n  network eth0 { }\n}\n")
    assert place(error) == ("duplicate-key", "main.mln", 4, 3)


def test_host_defined_twice_is_a_duplicate_naming_both_places():
    error = only_error(HOST + "host a { }\nhost a { }\n")
    assert place(error) == ("duplicate-key", "main.mln", 3, 1) and "main.mln:2:1" in error.message


def test_error_inside_an_included_file_names_that_file():
    error = only_error("global {\n    #include part.mln\n}\n", {"part.mln": "# part\n  project $missing\n"})
    assert place(error) == ("undefined-variable", "part.mln", 2, 11)


def test_syntax_error_inside_an_included_file_names_that_file():
    error = only_error("#include part.mln\n", {"part.mln": "host a {\n}\n}\n"})
    assert place(error) == ("syntax", "part.mln", 3, 1)


def test_independent_errors_are_all_reported_in_reading_order():
    errors = errors_of("global {\n  project $p\n}\nhost a {\n  superclass nope\n  memory $m\n}\nhost a { }\n")
    assert [place(e)[0] for e in errors] == [
        "undefined-variable",
        "unknown-superclass",
        "undefined-variable",
        "duplicate-key",
    ]


def test_at_most_fifty_errors_are_reported():
    text = "global {\n" + "".join(f"  k{i} $v{i}\n" for i in range(80)) + "}\n"
    errors = errors_of(text)
    assert len(errors) == MAX_ERRORS
    assert str(lang.MlnErrors(errors)).count("\n") == MAX_ERRORS - 1


def test_a_variable_broken_by_its_definition_is_reported_once():
    errors = errors_of("global {\n  $a = $nothere\n  x $a\n  y $a\n}\n")
    assert [(e.kind, e.name, e.line) for e in errors] == [("undefined-variable", "nothere", 2)]


def test_unexpected_closing_brace_is_a_syntax_error():
    assert place(only_error("host a { }\n}\n")) == ("syntax", "main.mln", 2, 1)


def test_the_end_of_the_file_inside_a_block_points_at_the_block():
    error = only_error("host a {\n  network eth0 {\n    address dhcp\n}\n")
    assert place(error) == ("syntax", "main.mln", 1, 1) and "`host a`" in error.message


def test_include_without_a_path_is_a_syntax_error():
    assert place(only_error("#include\n")) == ("syntax", "main.mln", 1, 9)


def test_errors_are_mln_errors_whose_string_is_one_line_each():
    error = errors_of("global {\n  a $x\n  b $y\n}\n")
    text = str(lang.MlnErrors(error))
    assert text.splitlines() == [
        "main.mln:2:5: error: undefined variable $x",
        "main.mln:3:5: error: undefined variable $y",
    ]
