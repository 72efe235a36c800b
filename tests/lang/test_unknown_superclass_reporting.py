"""An unknown superclass (or a cycle of them) does not hide the file's other errors.

The host that names it is still checked as it is written, and every other host
as usual, so one `mln check` lists every error, in reading order.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from projects.lang import MlnErrors, loads

MLN = str(Path(sys.executable).parent / "mln")

FILE = """global { project badsc }
host a {
    superclass nosuch
    memory lots
}
host b {
    memory 12Q
    network eth0 { address 300.1.1.1 }
}
"""


def messages(text):
    with pytest.raises(MlnErrors) as raised:
        loads(text, "bad.mln")
    return [(e.line, e.col, e.kind, e.message) for e in raised.value.errors]


def test_errors_after_an_unknown_superclass_are_all_reported_in_order():
    found = messages(FILE)
    assert [line for line, _, _, _ in found] == [3, 4, 7, 8]
    assert found[0][2] == "unknown-superclass" and "unknown-superclass" not in {kind for _, _, kind, _ in found[1:]}
    assert found[0][3] == "unknown superclass 'nosuch'"
    assert "memory 'lots' of host a" in found[1][3] and "address '300.1.1.1' of host b eth0" in found[3][3]


def test_a_superclass_cycle_does_not_hide_a_bad_value_either():
    text = (
        "global { project cyc }\nsuperclass x { superclass y }\nsuperclass y { superclass x }\n"
        "host a { superclass x\n memory lots }\n"
    )
    kinds = [kind for _, _, kind, _ in messages(text)]
    assert kinds == ["superclass-cycle", "bad-size"]


def test_an_unknown_superclass_alone_is_the_only_error():
    found = messages("global { project one }\nhost a {\n    superclass nosuch\n    memory 64M\n}\n")
    assert [kind for _, _, kind, _ in found] == ["unknown-superclass"]


def test_mln_check_prints_every_error_after_an_unknown_superclass(tmp_path):
    (tmp_path / "bad.mln").write_text(FILE)
    result = subprocess.run([MLN, "check", "-f", "bad.mln"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "bad.mln:3:16: error: unknown superclass 'nosuch'"
    assert [line.split(": error:")[0] for line in lines] == [
        "bad.mln:3:16",
        "bad.mln:4:12",
        "bad.mln:7:12",
        "bad.mln:8:28",
    ]
