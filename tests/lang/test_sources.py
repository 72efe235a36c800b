"""Where includes come from: the filesystem under its roots, or a course's own files."""

import pytest

from projects import lang


def test_memory_sources_resolve_relative_and_absolute_names():
    files = {
        "main.mln": "#include sub/a.mln\n",
        "sub/a.mln": "#include b.mln\n#include /c.mln\n",
        "sub/b.mln": "host b { }\n",
        "c.mln": "host c { }\n",
    }
    tree = lang.loads(files["main.mln"], "main.mln", sources=lang.MemorySources(files))
    assert list(tree["hosts"]) == ["b", "c"]


def test_memory_sources_hold_nothing_outside_the_course():
    with pytest.raises(lang.MlnError) as caught:
        lang.loads("#include ../secret.mln\n", "main.mln", sources=lang.MemorySources({}))
    assert caught.value.kind == "include-outside-roots"


def test_text_without_sources_can_include_nothing():
    with pytest.raises(lang.MlnError) as caught:
        lang.loads("#include x.mln\n")
    assert caught.value.kind == "include-not-found"


def test_directory_sources_refuse_a_path_leaving_the_roots(tmp_path):
    (tmp_path / "outside.mln").write_text("host x { }\n")
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "p.mln").write_text("#include ../outside.mln\n")
    with pytest.raises(lang.MlnError) as caught:
        lang.load(tmp_path / "course" / "p.mln")
    assert (caught.value.kind, caught.value.line, caught.value.col) == ("include-outside-roots", 1, 1)


def test_directory_sources_refuse_a_symlink_leaving_the_roots(tmp_path):
    (tmp_path / "outside.mln").write_text("host x { }\n")
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "link.mln").symlink_to(tmp_path / "outside.mln")
    (tmp_path / "course" / "p.mln").write_text("#include link.mln\n")
    with pytest.raises(lang.MlnError) as caught:
        lang.load(tmp_path / "course" / "p.mln")
    assert caught.value.kind == "include-outside-roots"


def test_sixteen_levels_of_includes_are_allowed():
    files = {f"d{i}.mln": f"#include d{i + 1}.mln\n" for i in range(16)}
    files["d16.mln"] = "host deep { }\n"
    tree = lang.loads(files["d0.mln"], "d0.mln", sources=lang.MemorySources(files))
    assert list(tree["hosts"]) == ["deep"]
