"""The `mln` command line as a user meets it: both entry points, usage mistakes."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MLN = [str(Path(sys.executable).parent / "mln")]
MANAGE = [sys.executable, str(ROOT / "manage.py"), "mln"]


def run(cmd, *args):
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT)


def test_no_verb_is_a_usage_mistake_with_exit_2():
    for cmd in (MLN, MANAGE):
        result = run(cmd)
        assert result.returncode == 2
        assert result.stderr.startswith("usage: mln")
        assert "Traceback" not in result.stderr


def test_unknown_verb_is_a_usage_mistake_with_exit_2():
    for cmd in (MLN, MANAGE):
        result = run(cmd, "frobnicate")
        assert result.returncode == 2
        assert "invalid choice" in result.stderr


def test_help_lists_the_path_overrides():
    result = run(MLN, "--help")
    assert result.returncode == 0
    assert "-P DIR" in result.stdout and "-T DIR" in result.stdout and "-F DIR" in result.stdout
