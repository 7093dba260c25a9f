"""Quality gates: lint, format and strict typing over all the Python here.

Lines stop at 79 characters (pyproject.toml) so code fits the site's code
column without a scroll bar.
"""

from __future__ import annotations

import pytest
from conftest import PLAIN, TIMEOUT, run

GATES = {
    "ruff-lint": ["ruff", "check", "."],
    "ruff-format": ["ruff", "format", "--check", "."],
    "mypy-strict": ["mypy"],  # files and strict = true: pyproject.toml
}


@pytest.mark.parametrize("command", GATES.values(), ids=GATES.keys())
def test_gate_passes(command: list[str]) -> None:
    result = run("-m", *command, timeout=TIMEOUT * 4, python=PLAIN)
    assert result.returncode == 0, result.stdout + result.stderr
