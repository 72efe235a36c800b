"""The language's bounds (issue 9, High #3): every input refused at its place, before it grows.

Memory is measured with tracemalloc around the call: each attack of the
security review (doubling variables, #include fan-out, autoenum) asked for
gigabytes before; now it is refused within a few MiB.
"""

import time
import tracemalloc

import pytest

from projects import lang
from projects.lang import Limits, parser
from projects.lang.limits import MiB

HOST = "global { project p }\n"


def error_of(text, files=None, limits=Limits(), spec=False):
    sources = lang.MemorySources({"main.mln": text, **(files or {})})
    with pytest.raises(lang.MlnError) as caught:
        tree = lang.loads(text, "main.mln", sources=sources, limits=limits)
        if spec:
            lang.build_spec(tree)
    return caught.value.errors[-1] if hasattr(caught.value, "errors") else caught.value


def place(error):
    return (error.kind, error.file, error.line, error.col)


class Peak:
    """Peak Python memory and time of the block."""

    def __enter__(self):
        tracemalloc.start()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.started
        self.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def doubling(levels):
    """479 bytes of these asked for 2.6 GB: each variable is the one before, twice."""
    lines = [HOST, "$v0 = abcdefghijklmnop"]
    lines += [f"$v{i} = $v{i - 1}$v{i - 1}" for i in range(1, levels + 1)]
    lines.append(f"host h {{ description $v{levels} }}")
    return "\n".join(lines) + "\n"


# --- control characters ---------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x0b", "\x1f"])
def test_a_control_character_in_a_word_is_refused_at_its_place(character):
    error = error_of(HOST + f"host a {{\n  description ab{character}c\n}}\n")
    assert place(error) == ("control-character", "main.mln", 3, 17)
    assert f"U+{ord(character):04X}" in error.message


def test_a_control_character_in_a_quoted_string_is_refused_too():
    error = error_of(HOST + 'host a {\n  description "x y\x00z"\n}\n')
    assert place(error) == ("control-character", "main.mln", 3, 19)


def test_a_nul_between_words_is_not_taken_for_a_space():
    assert place(error_of(HOST + "host a {\n  memory\x0064M\n}\n")) == ("control-character", "main.mln", 3, 9)


def test_tabs_and_crlf_line_ends_are_still_plain_text():
    tree = lang.loads('global {\r\n\tproject p\r\n\tmotd "a\tb"\r\n}\r\n')
    assert tree["project"] == "p" and tree["global"]["motd"] == "a\tb"


# --- file sizes ---------------------------------------------------------------------------------


def test_a_file_beyond_max_upload_is_refused_before_it_is_parsed():
    text = HOST + "# " + "x" * 2000 + "\n"
    error = error_of(text, limits=Limits(max_upload=1000))
    assert place(error) == ("too-large", "main.mln", 1, 1)
    assert "max_upload" in error.message and "1000 B" in error.message


def test_an_included_file_beyond_max_upload_is_refused_at_its_include():
    files = {"big.mln": "# " + "x" * 2000 + "\n"}
    error = error_of(HOST + "\n#include big.mln\n", files, limits=Limits(max_upload=1000))
    assert place(error) == ("too-large", "main.mln", 3, 1)
    assert "'big.mln'" in error.message and "max_upload" in error.message


def test_the_command_line_refuses_a_big_file_without_reading_it(tmp_path):
    path = tmp_path / "big.mln"
    with open(path, "w") as f:  # a sparse 120 MB file: reading it would show in the peak
        f.write(HOST)
        f.truncate(120_000_000)
    with Peak() as peak, pytest.raises(lang.MlnError) as caught:
        lang.load(path)
    assert caught.value.kind == "too-large" and "max_upload" in caught.value.message
    assert peak.bytes < 1 * MiB


# --- variables ----------------------------------------------------------------------------------


def test_doubling_variables_stop_at_max_value_length_without_growing():
    with Peak() as peak:
        error = error_of(doubling(30))
    # 16 characters doubled 9 times is 8192 > 4096: the word using $v8 twice is the first too long.
    assert place(error) == ("too-large", "main.mln", 12, 7)
    assert "max_value_length" in error.message
    assert peak.bytes < 4 * MiB and peak.seconds < 2


def test_a_definition_longer_than_max_value_length_names_its_variable():
    error = error_of(HOST + "$a = " + "x" * 3000 + "\n$b = $a tail " + "y" * 1200 + "\nhost h { description $b }\n")
    assert place(error) == ("too-large", "main.mln", 3, 1)
    assert "$b" in error.message and "4096" in error.message


def test_substitution_stops_at_max_expansion_for_the_whole_project():
    # 4000 characters used 2000 times: 8 MB of words if it were made.
    uses = "".join(f"host h{i} {{ description $big }}\n" for i in range(2000))
    with Peak() as peak:
        error = error_of(HOST + "$big = " + "x" * 4000 + "\n" + uses)
    assert error.kind == "too-large" and "max_expansion" in error.message
    assert error.line == 2 + 4 * MiB // 4000 + 1  # the use that crossed 4 MiB
    assert peak.bytes < 16 * MiB


def test_caller_values_count_against_max_expansion_too():
    uses = "".join(f"host h{i} {{ description $v }}\n" for i in range(20))
    with pytest.raises(lang.MlnError) as caught:
        lang.loads(HOST + uses, variables={"v": "x" * 100}, limits=Limits(max_expansion=1000))
    assert "max_expansion" in caught.value.errors[-1].message


# --- statements after #include splicing -------------------------------------------------------------


def fan_out(levels, leaf="superclass s { memory 1M }\n"):
    """Ten includes per file, `levels` deep: 10**levels copies of the leaf."""
    files = {f"f{n}.mln": f"#include f{n + 1}.mln\n" * 10 for n in range(1, levels)}
    files[f"f{levels}.mln"] = leaf
    return HOST + "#include f1.mln\n" * 10, files


def test_include_fan_out_stops_at_max_statements_while_splicing():
    text, files = fan_out(7)  # 10 million statements before; 2.2 KB of these took 2.1 GB and 29 s
    with Peak() as peak:
        error = error_of(text, files)
    assert error.kind == "too-large" and "more than 50000 statements" in error.message
    assert "max_statements" in error.message
    assert peak.seconds < 10 and peak.bytes < 32 * MiB


def test_includes_of_empty_files_count_as_statements():
    text, files = fan_out(7, leaf="")
    error = error_of(text, files, limits=Limits(max_statements=1000))
    assert error.kind == "too-large" and error.file.startswith("f")


def test_a_project_within_max_statements_is_spliced_whole():
    text, files = fan_out(2, leaf="host h$index { }\n")
    with pytest.raises(lang.MlnError) as caught:  # 100 copies of one host: duplicates, but all spliced
        lang.loads(text, "main.mln", sources=lang.MemorySources({"main.mln": text, **files}))
    assert all(e.kind == "duplicate-key" for e in caught.value.errors)


# --- hosts -----------------------------------------------------------------------------------------


def autoenum(count):
    return (
        f"global {{\n  project p\n  autoenum {{\n    superclass s\n    numhosts {count}\n  }}\n}}\nsuperclass s {{ }}\n"
    )


def test_autoenum_beyond_max_hosts_is_refused_before_any_host_is_made():
    with Peak() as peak:
        error = error_of(autoenum(10**15))
    assert place(error) == ("too-large", "main.mln", 3, 3)
    assert "would make 1000000000000000 hosts" in error.message and "max_hosts" in error.message
    assert peak.seconds < 1 and peak.bytes < 1 * MiB


def test_autoenum_of_5000_hosts_is_beyond_the_default_max_hosts():
    error = error_of(autoenum(5000))
    assert error.kind == "too-large" and "at most 1000" in error.message


def test_a_count_of_thousands_of_digits_is_refused_not_a_crash():
    assert error_of(autoenum("9" * 5000)).kind == "too-large"


def test_more_host_blocks_than_max_hosts_are_refused_at_the_first_one_beyond():
    text = HOST + "".join(f"host h{i} {{ }}\n" for i in range(12))
    error = error_of(text, limits=Limits(max_hosts=10))
    assert place(error) == ("too-large", "main.mln", 12, 1)
    assert "12 hosts" in error.message


def test_generated_and_written_hosts_count_together():
    text = autoenum(8) + "".join(f"host h{i} {{ }}\n" for i in range(3))
    assert error_of(text, limits=Limits(max_hosts=10)).kind == "too-large"


def test_a_superclass_copied_into_every_host_stops_at_max_statements_as_it_is_inherited():
    # 40,000 settings inherited by 1,000 hosts: 40 million copies before (GBs); now refused.
    text = (
        "global {\n  project p\n  autoenum { superclass s; numhosts 1000 }\n}\nsuperclass s {\n"
        + "".join(f"  k{i} v\n" for i in range(40000))
        + "}\n"
    )
    with Peak() as peak:
        error = error_of(text)
    assert place(error) == ("too-large", "main.mln", 3, 3)
    assert "more than 50000 settings" in error.message and "max_statements" in error.message
    assert peak.bytes < 200 * MiB


# --- the parse cache -------------------------------------------------------------------------------


def test_the_parse_cache_is_bounded_by_bytes_not_by_count():
    parser.clear_parse_cache()
    limits = Limits(parse_cache_bytes=1 * MiB)
    for n in range(100):  # 100 texts of about 125 KB of trees each: 12 MB if all were kept
        text = HOST + "".join(f"superclass s{n}x{i} {{ memory 64M }}\n" for i in range(50))
        lang.loads(text, f"t{n}.mln", limits=limits)
    assert 0 < parser._cache.currsize <= 1 * MiB
    assert len(parser._cache) < 100
    parser.set_parse_cache_bytes(Limits().parse_cache_bytes)


def test_a_text_larger_than_the_whole_cache_is_parsed_but_not_kept():
    parser.clear_parse_cache()
    lang.loads(HOST + "# " + "x" * 5000 + "\n", limits=Limits(parse_cache_bytes=1000))
    assert len(parser._cache) == 0
    parser.set_parse_cache_bytes(Limits().parse_cache_bytes)


# --- names and addresses in the spec -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.b", "-a", "a/b", "a b", "x" * 101])
def test_a_project_name_pool_names_cannot_hold_is_refused(name):
    error = error_of(f'global {{ project "{name}" }}\n', spec=True)
    assert error.kind == "invalid-name" and error.line == 1


@pytest.mark.parametrize("name", ["eth0/x", "eth0:1", "x" * 16, "0eth", "eth0: {}"])
def test_an_interface_name_that_is_no_linux_name_is_refused(name):
    error = error_of(HOST + f'host a {{\n  network "{name}" {{ address dhcp }}\n}}\n', spec=True)
    assert place(error) == ("invalid-name", "main.mln", 3, 11)


def test_a_gateway_that_is_no_address_is_refused():
    error = error_of(HOST + "host a {\n  network eth0 {\n    gateway 10.0.0.1]\n  }\n}\n", spec=True)
    assert place(error) == ("bad-address", "main.mln", 4, 13)


@pytest.mark.parametrize("value", ['"10.0.0.1 evil: [x]"', "nameserver.example"])
def test_a_nameserver_that_is_no_address_is_refused(value):
    error = error_of(HOST + f"host a {{\n  nameserver {value}\n}}\n", spec=True)
    assert place(error) == ("bad-address", "main.mln", 3, 14)


def test_plain_interface_names_gateways_and_nameservers_pass():
    spec = lang.build_spec(
        lang.loads(
            HOST + "host a {\n  nameserver 10.0.0.2 10.0.0.3\n  network eth0.10 {\n"
            "    address 10.0.0.5\n    gateway 10.0.0.1\n  }\n}\n"
        )
    )
    assert spec.hosts["a"].interfaces[0].gateway == "10.0.0.1"


@pytest.mark.parametrize("value", ["9" * 5000, "\u00b2", "1" * 30])
def test_a_number_too_long_or_not_ascii_is_a_clear_error(value):
    error = error_of(HOST + f"host a {{\n  vcpus {value}\n}}\n", spec=True)
    assert error.kind == "bad-value"


def test_a_size_with_hundreds_of_digits_is_a_clear_error():
    assert error_of(HOST + "host a {\n  memory " + "9" * 400 + "G\n}\n", spec=True).kind == "bad-size"
