"""examples/udp_broadcast_sender.py, run as its page shows, on loopback's
broadcast address, against its receiver, socat, silence and a flood;
every supported Python."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    flood,
    run,
    start_server,
    third_party,
)

SENDER = "examples/udp_broadcast_sender.py"
RECEIVER = "examples/udp_broadcast_receiver.py"
BROADCAST = "127.255.255.255"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket that hears broadcasts on a free port and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((BROADCAST, 0))
        sock.settimeout(TIMEOUT)
        yield sock


def test_without_so_broadcast_the_kernel_refuses(
    python: Python, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    result = run(
        SENDER, "--port", str(port), "--without-so-broadcast", python=python
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {BROADCAST}:{port}: Permission denied\n"


def test_no_answer_waits_out_the_timeout_and_exits_1(
    python: Python, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    started = time.monotonic()
    result = run(
        SENDER, "--port", str(port), "--timeout", "0.3", python=python
    )
    elapsed = time.monotonic() - started
    assert listener.recv(100) == b"Who is there?"  # it was heard
    assert (result.returncode, result.stdout) == (
        1, f"sent 13 bytes to {BROADCAST}:{port}\n",
    )  # fmt: skip
    assert result.stderr == (
        f"error: {BROADCAST}:{port}: no answer within 0.3 s\n"
    )
    assert 0.3 <= elapsed < 0.3 + 5


def test_answers_that_keep_coming_cannot_hold_it(
    python: Python, listener: socket.socket, tmp_path: Path
) -> None:
    # It prints each answer: into a file, which, unlike a pipe nobody
    # reads, never makes it wait.
    port = listener.getsockname()[1]
    with (tmp_path / "out").open("w+") as out:
        sender = subprocess.Popen(
            [*python.command, SENDER, "--port", str(port), "--timeout", "0.3"],
            env={**os.environ, **python.env}, stdout=out, stderr=out,
            text=True,
        )  # fmt: skip
        _, addr = listener.recvfrom(100)
        flood(listener, addr, sender, b"me too")
        assert sender.wait(timeout=TIMEOUT) == 0
        out.seek(0)
        assert out.read().endswith(" answers\n")


@pytest.mark.once
def test_socat_as_a_receiver_answers(python: Python) -> None:
    # socat echoes each datagram to its sender: the answer is the message.
    argv = [
        "socat",
        f"UDP4-RECVFROM:0,bind={BROADCAST},reuseaddr,fork",
        "PIPE",
    ]
    with third_party(argv, "udp") as port:
        result = run(SENDER, "--port", str(port), "ping", python=python)
    assert (result.returncode, result.stderr) == (0, "")
    assert f"answer from 127.0.0.1:{port}: b'ping'\n" in result.stdout


def test_its_own_receiver_answers_with_its_name(python: Python) -> None:
    with start_server(
        "--name", "kitchen", script=RECEIVER, python=python
    ) as receiver:
        result = run(SENDER, "--port", str(receiver.port), python=python)
        assert receiver.stop()[0] == 0
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.endswith(
        f"answer from 127.0.0.1:{receiver.port}: b'kitchen'\n1 answer\n"
    )


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--timeout", "0"], "argument --timeout: must be more than 0 "
         "and at most 3600 seconds, not 0"),
        (["--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
    ],
    SENDER,
)  # fmt: skip
