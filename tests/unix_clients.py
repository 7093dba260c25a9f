"""What every Unix socket client here must do, as tests.

tests/test_unix_echo_client.py (stream) and
tests/test_unix_datagram_echo_client.py (datagrams) import these and say
which example they hold to them and its server (the `script`,
`server_script` and `kind` fixtures). Every test runs once per supported
Python.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from conftest import (
    Python,
    bad_usage_exits_2,
    run,
    start_unix_server,
    stop,
)


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "echo.sock"


def test_no_such_file_exits_1(
    python: Python, script: str, sock_path: Path
) -> None:
    result = run(script, "--path", str(sock_path), python=python)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {sock_path}: No such file or directory\n"


def test_a_stale_file_is_nothing_listening(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX, kind) as dead:
        dead.bind(str(sock_path))  # a file, and nobody listening
    for args in ([], ["--abstract"]):
        result = run(script, "--path", str(sock_path), *args, python=python)
        where = f"@{sock_path}" if args else sock_path
        assert (result.returncode, result.stderr) == (
            1, f"error: nothing is listening at {where}\n",
        )  # fmt: skip


def test_abstract_name(
    python: Python, script: str, server_script: str, tmp_path: Path
) -> None:
    name = f"cookbook-{Path(script).stem}-{os.getpid()}-{tmp_path.name}"
    with start_unix_server(
        server_script, name, "--abstract", python=python
    ) as server:
        result = run(script, "--abstract", "--path", name, python=python)
        assert stop(server)[0] == 0
    assert (result.returncode, result.stderr) == (0, "")
    assert f" bytes to @{name}: " in result.stdout


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--path", "x" * 108], "argument --path: must be 1 to 107 bytes "
         "(a Unix socket address has room for 108, with a NUL), not 108"),
        (["--timeout", "inf"], "argument --timeout: must be more than 0 "
         "and at most 3600 seconds, not inf"),
        (["--host", "::1"], "unrecognized arguments: --host"),
    ],
)  # fmt: skip
