"""The code stays formatted and linted by the rules in pyproject.toml (issue 34, point 6).

ruff is pinned in the test extra, since its formatting moves between versions; a line the
formatter cannot split (a long string) is still held to 120 characters by the linter's E501.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = shutil.which("ruff")
pytestmark = pytest.mark.skipif(RUFF is None, reason="ruff is in the test extra: pip install -e '.[test]'")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RUFF, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_code_is_formatted():
    done = run("format", "--check", "--quiet", ".")
    assert done.returncode == 0, f"run `ruff format .`; files it would change:\n{done.stdout}{done.stderr}"


def test_code_passes_the_linter():
    done = run("check", "--output-format", "concise", ".")
    assert done.returncode == 0, f"`ruff check .` found:\n{done.stdout}{done.stderr}"


def test_the_linter_catches_a_long_line(tmp_path):
    """The rules are read from pyproject.toml and hold lines to 120 characters: a test that can fail."""
    bad = tmp_path / "long.py"
    bad.write_text('X = "' + "a" * 130 + '"\n')
    done = run("check", "--config", str(ROOT / "pyproject.toml"), "--output-format", "concise", str(bad))
    assert done.returncode == 1 and "E501" in done.stdout
