"""Quality gates: lint, format and strict typing over all the Python here.

Lines stop at 79 characters (pyproject.toml) so code fits the site's code
column without a scroll bar.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import PLAIN, TIMEOUT, children, run

GATES = {
    "ruff-lint": ["ruff", "check", "."],
    "ruff-format": ["ruff", "format", "--check", "."],
    "mypy-strict": ["mypy"],  # files and strict = true: pyproject.toml
}


@pytest.mark.parametrize("command", GATES.values(), ids=GATES.keys())
def test_gate_passes(command: list[str]) -> None:
    result = run("-m", *command, timeout=TIMEOUT * 4, python=PLAIN)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_process_left_behind_is_seen() -> None:
    # What every test's leaves_no_process() relies on: a process whose
    # parent has ended (sleep, once sh exits) is this process's child.
    started = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    pid = int(started.stdout)
    try:
        assert children()[pid] == "sleep 60"
    finally:
        os.kill(pid, signal.SIGKILL)
