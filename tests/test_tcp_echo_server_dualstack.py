"""examples/tcp_echo_server_dualstack.py, held to what every server of many
clients must do (tests/tcp_servers.py), and run as its page shows: --host
localhost where that name has both addresses (in a small internet of the
tests' own, tests/connecting.py), --host :: with IPv4 clients, and the
default. Clients: its own, socat and ncat. Its tests run on the venv's
Python alone (the `once` marker): see pytestmark."""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest
from conftest import (
    LISTENING,
    TIMEOUT,
    Python,
    in_ns,
    on,
    read_line,
    run,
    started,
    stream_echo,
    usage_error,
)
from connecting import *  # noqa: F403 (the lan fixture)
from connecting import small_internet
from tcp_servers import *  # noqa: F403

# Its subject is the network (addresses, families, sockets); its echo is
# the asyncio streams server's, held to the same suite on every Python.
pytestmark = pytest.mark.once

SCRIPT = "examples/tcp_echo_server_dualstack.py"
CLIENT = "examples/tcp_echo_client_blocking.py"


@pytest.fixture
def script() -> str:
    return SCRIPT


def third_party_echo(ns: str, host: str, port: int, program: str) -> str:
    """What socat or ncat, run in ns, got back for one line."""
    argv = {
        "socat": ["socat", "-", f"TCP:{host}:{port}"],
        "ncat": ["ncat", host, str(port)],
    }[program]
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], input="one line\n",
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    ).stdout  # fmt: skip


def test_localhost_is_both_addresses_on_one_port(
    python: Python, lan: str
) -> None:
    argv = [SCRIPT, "--host", "localhost", "--port", "0", "-v"]
    with started(argv, on(python, lan)) as (server, first):
        assert server.stdout is not None
        second = read_line(server.stdout)
        found = [LISTENING.match(line) for line in (first, second)]
        assert all(found)
        hosts = {m[1] for m in found if m}
        ports = {m[2] for m in found if m}
        assert hosts == {"127.0.0.1", "::1"} and len(ports) == 1
        port = int(ports.pop())
        for host, program in (("127.0.0.1", "socat"), ("::1", "ncat")):
            assert third_party_echo(lan, host, port, program) == "one line\n"
        for host in ("127.0.0.1", "::1"):
            result = run(CLIENT, "--host", host, "--port", str(port),
                         python=on(python, lan))  # fmt: skip
            assert (result.returncode, result.stderr) == (0, "")
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=TIMEOUT)
    assert (server.returncode, out) == (
        0, "stopped: served 4 connections, echoed 46 bytes\n"
    )  # fmt: skip
    assert "tcp_server: [::1]:" in err and "tcp_server: 127.0.0.1:" in err


def test_one_dual_stack_socket_shows_ipv4_peers_as_mapped(
    python: Python,
) -> None:
    argv = [SCRIPT, "--host", "::", "--port", "0", "-v"]
    with started(argv, python) as (server, line):
        found = LISTENING.match(line)
        assert found and found[1] == "::"
        with socket.create_connection(("127.0.0.1", int(found[2]))) as sock:
            assert stream_echo(sock, b"over IPv4") == b"over IPv4"
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=TIMEOUT)
    assert (server.returncode, out) == (
        0, "stopped: served 1 connection, echoed 9 bytes\n"
    )  # fmt: skip
    assert (
        f"tcp_server: [::]:{found[2]} is reachable from other machines\n"
        in err
    )
    assert "tcp_server: [::ffff:127.0.0.1]:" in err


def test_by_default_loopback_only(python: Python) -> None:
    with started([SCRIPT, "--port", "0"], python) as (server, line):
        found = LISTENING.match(line)
        assert found and found[1] == "127.0.0.1"
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=TIMEOUT)
    assert (server.returncode, out, err) == (
        0, "stopped: served 0 connections, echoed 0 bytes\n", ""
    )  # fmt: skip


def test_a_port_in_use_on_one_address_is_one_line_and_exit_1(
    python: Python, lan: str
) -> None:
    # ::1 is free, 127.0.0.1 is not: it listens on neither.
    hold = (
        "import socket, sys; s = socket.create_server(('127.0.0.1', 0)); "
        "print(s.getsockname()[1], flush=True); sys.stdin.read()"
    )
    argv = ["ip", "netns", "exec", lan, "python3", "-c", hold]
    holder = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        port = read_line(holder.stdout).strip()
        result = run(SCRIPT, "--host", "localhost", "--port", port,
                     python=on(python, lan))  # fmt: skip
    finally:
        holder.communicate(timeout=TIMEOUT)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on localhost:{port}: Address already in use\n"
    )


def test_an_empty_host_is_bad_usage(python: Python) -> None:
    assert usage_error(python, SCRIPT, "--host", "") == (
        "argument --host: must be 1 to 253 bytes, not 0"
    )


def test_no_port_free_on_every_address_is_one_line_and_exit_1(
    python: Python,
) -> None:
    # Port 0, where the only port the kernel may pick is taken on one of
    # localhost's two addresses: each try gets that port, and fails.
    with small_internet() as ns:
        in_ns(ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40000")
        hold = (
            "import socket, sys; s = socket.create_server(('127.0.0.1', "
            "40000)); print('held', flush=True); sys.stdin.read()"
        )
        holder = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-c", hold],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout is not None
            assert read_line(holder.stdout) == "held\n"
            result = run(SCRIPT, "--host", "localhost", "--port", "0",
                         python=on(python, ns))  # fmt: skip
        finally:
            holder.communicate(timeout=TIMEOUT)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: cannot listen on localhost:0: no port free on every address "
        "in 10 tries\n"
    )
