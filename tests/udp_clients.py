"""What every UDP echo client must do, as tests, run as its page shows.

tests/test_udp_echo_client_{blocking,asyncio}.py import these and say
which example they hold to them (the `script` fixture). Every test runs
once per supported Python (the `python` fixture).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    bad_usage_exits_2,
    flood,
    interrupt_while_waiting,
    run,
    spawn,
    start_server,
    udp_socket,
)

WAIT = "must be more than 0 and at most 3600 seconds,"
ECHOED = re.compile(
    r"sent (\d+) bytes to (\S+): (.*)\n"
    r"received \1 bytes in ([\d.]+) ms \((\d+) attempts?\): \3\n"
)


def echo(python: Python, script: str, port: int, *args: str) -> re.Match[str]:
    """Run the client against port; assert it succeeded; parse its output."""
    result = run(script, "--port", str(port), *args, python=python)
    assert (result.returncode, result.stderr) == (0, "")
    found = ECHOED.fullmatch(result.stdout)
    assert found, result.stdout
    return found


def start_client(
    python: Python, script: str, port: int, *args: str
) -> subprocess.Popen[str]:
    return spawn(python, script, "--port", str(port), *args)


def test_default_message_is_echoed(
    python: Python, script: str, server: Server
) -> None:
    found = echo(python, script, server.port)
    peer = f"127.0.0.1:{server.port}"
    assert found.group(1, 2, 3, 5) == ("16", peer, "b'Hello, datagram!'", "1")


@pytest.mark.parametrize(
    "typed",
    ["Grüße, UDP".encode(), b"caf\xe9 \xff\xfe"],  # UTF-8, and not UTF-8
    ids=["utf-8", "not-utf-8"],
)
def test_command_line_bytes_reach_the_wire_as_typed(
    python: Python, script: str, peer: socket.socket, typed: bytes
) -> None:
    # subprocess hands os.fsdecode()'d text to the OS as the original
    # bytes, as a shell would pass them.
    client = start_client(
        python,
        script,
        peer.getsockname()[1],
        "--timeout",
        "5",
        os.fsdecode(typed),
    )
    data, addr = peer.recvfrom(65535)
    peer.sendto(data, addr)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, err, data) == (0, "", typed)
    assert f"sent {len(typed)} bytes" in out
    assert out.endswith(f": {typed!r}\n")


def test_message_from_stdin(
    python: Python, script: str, server: Server
) -> None:
    message = bytes(range(256)) * 100  # binary, 25,600 bytes
    result = run(
        script, "--port", str(server.port), "-", stdin=message, python=python
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "sent 25600 bytes" in result.stdout
    assert "received 25600 bytes" in result.stdout


def test_ctrl_c_while_waiting_exits_130_quietly(
    python: Python, script: str, peer: socket.socket
) -> None:
    client = start_client(
        python, script, peer.getsockname()[1], "--timeout", "30"
    )
    peer.recvfrom(65535)  # it has sent, and now waits for the echo
    interrupt_while_waiting(client)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "b''"), (65_507, "b'" + "x" * 35 + "...")],  # cut at 40 characters
)
def test_empty_and_largest_datagrams(
    python: Python, script: str, server: Server, size: int, shown: str
) -> None:
    found = echo(python, script, server.port, "x" * size)
    assert (found[1], found[3]) == (str(size), shown)


def test_over_ipv6(python: Python, script: str) -> None:
    with start_server("--host", "::1", python=python) as server:
        found = echo(python, script, server.port, "--host", "::1")
    assert found[2] == f"[::1]:{server.port}"


def test_buffer_sizes_are_set_before_traffic(
    python: Python, script: str, server: Server
) -> None:
    result = run(
        script, "--port", str(server.port), "-v",
        "--recv-bufsize", "65536", "--send-bufsize", "32768",
        python=python,
    )  # fmt: skip
    assert result.returncode == 0
    # Linux doubles what it is asked for; -v reports the effective sizes.
    err = result.stderr
    assert "SO_RCVBUF: asked for 65536, the kernel gave 131072" in err
    assert "SO_SNDBUF: asked for 32768, the kernel gave 65536" in err
    assert "SO_RCVBUF=131072 SO_SNDBUF=65536 SO_REUSEADDR=0" in err


def test_buffer_size_is_capped_at_the_system_maximum(
    python: Python, script: str, server: Server
) -> None:
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    result = run(
        script, "--port", str(server.port), "-v",
        "--recv-bufsize", str(2**30), python=python,
    )  # fmt: skip
    assert result.returncode == 0
    assert f"SO_RCVBUF={2 * rmem_max} " in result.stderr
    assert f"system maximum, {rmem_max})" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_nothing_listening_fails_at_once(
    python: Python, script: str, host: str
) -> None:
    with udp_socket(host) as sock:
        port = sock.getsockname()[1]  # free once the socket closes
    started = time.monotonic()
    result = run(
        script, "--host", host, "--port", str(port), "--timeout", "10",
        python=python,
    )  # fmt: skip
    assert time.monotonic() - started < 5  # far less than one --timeout
    assert (result.returncode, result.stdout) == (1, "")
    peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    assert result.stderr == f"error: nothing is listening at {peer}\n"


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on sock, without blocking."""
    sock.setblocking(False)
    datagrams = []
    while True:
        try:
            datagrams.append(sock.recv(65535))
        except BlockingIOError:
            return datagrams


def test_silent_peer_gets_retries_then_exit_1(
    python: Python, script: str, peer: socket.socket
) -> None:
    port = peer.getsockname()[1]
    started = time.monotonic()
    result = run(
        script, "--port", str(port), "--timeout", "0.2", "--retries", "2",
        python=python,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert re.fullmatch(
        rf"error: 127\.0\.0\.1:{port}: no echo after 3 attempts in 1\.\d s\n",
        result.stderr,
    )
    assert received(peer) == [b"Hello, datagram!"] * 3
    assert 1.4 <= elapsed < 1.4 + 5  # waits 0.2 + 0.4 + 0.8 s, then stops


def test_backoff_doubles_and_is_capped(
    python: Python, script: str, peer: socket.socket
) -> None:
    result = run(
        script, "--port", str(peer.getsockname()[1]), "-v",
        "--timeout", "0.01", "--retries", "5", python=python,
    )  # fmt: skip
    assert result.returncode == 1
    waits = re.findall(r"no echo within ([\d.]+) s", result.stderr)
    assert waits == ["0.01", "0.02", "0.04", "0.08", "0.08", "0.08"]


def test_retry_is_answered(
    python: Python, script: str, peer: socket.socket
) -> None:
    client = start_client(
        python, script, peer.getsockname()[1], "--timeout", "0.2"
    )
    first, _ = peer.recvfrom(65535)
    second, addr = peer.recvfrom(65535)  # the first went unanswered
    peer.sendto(second, addr)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, err) == (0, "")
    assert first == second
    assert "(2 attempts)" in out


def test_datagram_that_is_not_the_echo_is_ignored(
    python: Python, script: str, peer: socket.socket
) -> None:
    client = start_client(
        python, script, peer.getsockname()[1], "-v", "--timeout", "5"
    )
    data, addr = peer.recvfrom(65535)
    peer.sendto(b"not the echo", addr)
    peer.sendto(data, addr)
    peer.sendto(data, addr)  # a duplicate, after the answer
    out, err = client.communicate(timeout=TIMEOUT)
    assert client.returncode == 0
    assert "(1 attempt)" in out
    assert f"ignored 12 bytes from 127.0.0.1:{peer.getsockname()[1]}" in err


def test_echo_from_another_address_is_not_an_answer(
    python: Python, script: str, peer: socket.socket
) -> None:
    # The socket is connected to the server, so the kernel drops datagrams
    # from anyone else, even with the right bytes: the client times out.
    client = start_client(
        python,
        script,
        peer.getsockname()[1],
        "--timeout",
        "0.3",
        "--retries",
        "0",
    )
    data, addr = peer.recvfrom(65535)
    with udp_socket() as stranger:
        stranger.sendto(data, addr)
    _, err = client.communicate(timeout=TIMEOUT)
    assert client.returncode == 1
    assert "no echo after 1 attempt in" in err


def test_against_a_third_party_echo_server(
    python: Python, script: str, socat_server: int
) -> None:
    found = echo(python, script, socat_server, "hello, socat")
    assert found[3] == "b'hello, socat'"


BYTES = "must be from 1 to 2147483647,"


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--port", "x"], "argument --port: not a number: 'x'"),
        (["--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
        (
            ["--port", "65536"],
            "argument --port: must be from 1 to 65535, not 65536",
        ),
        *[
            (["--timeout", value], f"argument --timeout: {WAIT} not {value}")
            for value in ("-1", "0", "nan", "inf", "3601")
        ],
        (["--timeout", "soon"], "argument --timeout: not a number: 'soon'"),
        (
            ["--retries", "-1"],
            "argument --retries: must be from 0 to 20, not -1",
        ),
        (
            ["--retries", "21"],
            "argument --retries: must be from 0 to 20, not 21",
        ),
        (["--recv-bufsize", "0"], f"argument --recv-bufsize: {BYTES} not 0"),
        (["x" * 65_508], "message is 65508 bytes, over 65507"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)  # fmt: skip


@pytest.mark.once
def test_a_flood_of_strays_cannot_hold_it(
    python: Python, script: str, peer: socket.socket
) -> None:
    # Datagrams that are not the echo, sent as fast as the test can, for
    # as long as the client runs: it still ends when its waits do.
    client = start_client(
        python, script, peer.getsockname()[1], "--timeout", "0.3",
        "--retries", "1",
    )  # fmt: skip
    _, addr = peer.recvfrom(65_535)
    started = time.monotonic()
    flood(peer, addr, client)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out) == (1, "")
    assert "no echo after 2 attempts in" in err
    assert time.monotonic() - started < 0.9 + 5  # 0.3 + 0.6 s, and load
