"""examples/tcp_echo_server_fast.py, held to what every server of many
clients must do (tests/tcp_servers.py), on every supported Python."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import HERE, ROOT, Python, start_server
from tcp_servers import *  # noqa: F403
from tcp_servers import echo_of, out_of_file_descriptors


@pytest.fixture
def script() -> str:
    return "examples/tcp_echo_server_fast.py"


def test_out_of_file_descriptors_it_pauses_then_accepts(
    python: Python, script: str
) -> None:
    out_of_file_descriptors(python, script)


# The page's way to run it on uvloop, as a script of the reader's own.
ON_UVLOOP = """\
import asyncio, sys, uvloop
import tcp_echo_server_fast

asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
sys.exit(tcp_echo_server_fast.main())
"""


def test_runs_on_uvloop(tmp_path: Path) -> None:
    (tmp_path / "on_uvloop.py").write_text(ON_UVLOOP)
    uvloop = Python(HERE.command, {"PYTHONPATH": str(ROOT / "examples")})
    with start_server(
        script=str(tmp_path / "on_uvloop.py"), python=uvloop
    ) as server:
        payload = os.urandom(2_000_000)
        assert echo_of(server, payload) == payload
        status, out, err = server.stop(signal.SIGTERM)
    assert (status, err) == (0, "")
    assert (
        out == f"stopped: served 1 connection, echoed {len(payload)} bytes\n"
    )
