"""Properties over generated input: the formatter round-trips, and nothing but MlnError escapes."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects import lang
from projects.lang.formatter import quote, write
from projects.lang.parser import Include, Statement, Word, parse

NOWHERE = lang.Position("<generated>", 1, 1)

word_texts = st.one_of(
    st.from_regex(r"[A-Za-z_$][A-Za-z0-9_.$=-]{0,8}", fullmatch=True),
    # Control characters are refused by the lexer (test_limits.py); tab stays allowed in strings.
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\t"), max_size=12),
)


def word(text):
    return Word(text, quote(text), NOWHERE, quoted=quote(text) != text)


def statements(depth=0):
    simple = st.lists(word_texts, min_size=1, max_size=4).map(lambda ws: Statement([word(w) for w in ws]))
    include = word_texts.map(lambda p: Include(word(p), NOWHERE))
    options = [simple, include]
    if depth < 3:
        block = st.tuples(st.lists(word_texts, min_size=1, max_size=2), st.deferred(lambda: statements(depth + 1)))
        options.append(block.map(lambda t: Statement([word(w) for w in t[0]], t[1], NOWHERE)))
    return st.lists(st.one_of(options), max_size=5)


def shape(nodes):
    result = []
    for node in nodes:
        if isinstance(node, Include):
            result.append(("#include", node.path.text))
        else:
            result.append((tuple(w.text for w in node.words), None if node.body is None else shape(node.body)))
    return result


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_written_syntax_trees_parse_back_to_the_same_tree(tree):
    text = write(tree)
    assert shape(parse(text).statements) == shape(tree)
    assert lang.format(text) == text


soup = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            ";",
            "\n",
            " ",
            "#include x.mln",
            "#include",
            "# c",
            '"a b"',
            '"open',
            "$x",
            "$$",
            "$[y]",
            "$",
            "host",
            "global",
            "switch",
            "superclass",
            "project",
            "=",
            "web-1",
            "network",
            "eth0",
            "address",
            "dhcp",
            "autoenum",
            "numhosts 3",
            "apache",
            "memory 1G",
            "$x = $y",
            "$y = $x",
            "switch lan",
            "\\",
            "\t",
        ]
    ),
    max_size=40,
).map("".join)


def only_mln_errors(text):
    for call in (
        lambda: lang.loads(text, sources=lang.MemorySources({"x.mln": text})),
        lambda: lang.format(text),
        lambda: lang.parse_statements(text),
    ):
        try:
            result = call()
        except lang.MlnError as exc:
            assert str(exc)
            continue
        if isinstance(result, dict) and result.get("project"):
            try:
                lang.build_spec(result)
                lang.check(result)
            except lang.MlnError:
                pass


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(soup)
def test_token_soup_raises_nothing_but_mln_errors(text):
    only_mln_errors(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_raise_nothing_but_mln_errors(data):
    only_mln_errors(data.decode("latin-1"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_raises_nothing_but_mln_errors(text):
    only_mln_errors(text)
