"""A peer that never reads what a server sends must not hold the server.

Every datagram server answers each datagram to its sender: with one such
sender, it answers everyone else, and SIGINT or SIGTERM stops it within a
second while that sender is still there. Every stream server, with a
client whose echo fills every buffer between them, stops as soon, and
logs nothing that went wrong: nothing did."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Process,
    Python,
    on,
    run,
    start_server,
    start_unix_server,
    tls_args,
)

# What is tested is the kernel's part (full queues, a send that would
# wait); each server's signal handling is tested on every Python apart.
pytestmark = pytest.mark.once

FLOOD = 500  # datagrams sent, far more than the sender's queue holds
DATAGRAM = b"x" * 1000
UDP_SERVERS = [
    "examples/udp_echo_server_blocking.py",
    "examples/udp_echo_server_asyncio.py",
    "examples/udp_echo_server_fast.py",
]
BROADCAST_RECEIVER = "examples/udp_broadcast_receiver.py"
UNIX_SERVER = "examples/unix_datagram_echo_server.py"


def never_reads(sock: socket.socket, address: Any) -> None:
    """Make sock a sender that never reads: a small receive queue, filled
    many times over by the answers to FLOOD datagrams sent to address."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)  # a Unix sender waits while the server is full
    for _ in range(FLOOD):
        sock.sendto(DATAGRAM, address)


def answered(sock: socket.socket, address: Any, data: bytes) -> bytes:
    """Send data to address until an answer comes (a UDP datagram may be
    dropped at the server's full queue): what came back."""
    deadline = time.monotonic() + TIMEOUT
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        sock.sendto(data, address)
        try:
            return sock.recv(65_536)
        except socket.timeout:
            continue
    raise TimeoutError(f"no answer from {address} within {TIMEOUT} s")


def stops_at_once(
    proc: Process, signum: int, report: Callable[[str], None], name: str
) -> tuple[int, str, str]:
    """Signal proc; return its exit status and output, once it has ended
    within a second (and the scheduler's slack); report how long it took."""
    start = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=1 + SLACK)
    took = time.monotonic() - start
    report(f"stopped with a sender that never reads, {name}, "
           f"{signal.Signals(signum).name}: {took:.3f} s")  # fmt: skip
    return proc.returncode, out, err


SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])


@SIGNALS
@pytest.mark.parametrize("script", UDP_SERVERS)
def test_udp_servers(
    python: Python,
    script: str,
    signum: int,
    report: Callable[[str], None],
) -> None:
    with (
        start_server(script=script, python=python) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stuck,
    ):
        stuck.bind(("127.0.0.1", 0))
        never_reads(stuck, server.address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            assert answered(other, server.address, b"me?") == b"me?"
        status, out, _ = stops_at_once(server.proc, signum, report, script)
    assert status == 0
    assert out.startswith("stopped: echoed ")


@SIGNALS
def test_broadcast_receiver(
    python: Python, signum: int, report: Callable[[str], None]
) -> None:
    with (
        start_server(
            "--name", "here", script=BROADCAST_RECEIVER, python=python
        ) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stuck,
    ):
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        stuck.bind(("127.0.0.1", 0))
        never_reads(stuck, receiver.address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            assert answered(other, receiver.address, b"who?") == b"here"
        status, out, _ = stops_at_once(
            receiver.proc, signum, report, BROADCAST_RECEIVER
        )
    assert status == 0
    assert "stopped" in out


@SIGNALS
def test_unix_datagram_server(
    python: Python,
    signum: int,
    tmp_path: Path,
    report: Callable[[str], None],
) -> None:
    # Unix datagrams are not dropped: without MSG_DONTWAIT, the server's
    # sendto() would wait for this sender to read, for ever, and no other
    # client would be answered.
    path = tmp_path / "d.sock"
    with (
        start_unix_server(UNIX_SERVER, path, python=python) as server,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stuck,
    ):
        stuck.bind(str(tmp_path / "stuck.sock"))
        never_reads(stuck, str(path))
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as other:
            other.bind(str(tmp_path / "other.sock"))
            assert answered(other, str(path), b"me?") == b"me?"
        status, out, err = stops_at_once(server, signum, report, UNIX_SERVER)
    assert (status, err) == (0, "")
    # What the sender's queue took was echoed; the rest was dropped.
    found = re.fullmatch(STOPPED_UNIX, out)
    assert found, out
    echoed, dropped = int(found[1]), int(found[2])
    assert echoed >= 2 and dropped > 0
    assert echoed - 1 + dropped == FLOOD


STOPPED_UNIX = (
    r"stopped: echoed (\d+) datagrams, \d+ bytes; ignored 0, dropped (\d+)\n"
)


def test_multicast_receiver(
    python: Python, hosts: tuple[str, str], report: Callable[[str], None]
) -> None:
    # A sender on the other host, sending to the group and never reading.
    a, b = hosts
    group = "239.255.0.1"
    with start_server(
        "--host", group, "--interface", "eth0", "--name", "here",
        script="examples/udp_multicast_receiver.py", python=on(python, b),
    ) as receiver:  # fmt: skip
        stuck = subprocess.Popen(
            ["ip", "netns", "exec", a, "python3", "-c", NEVER_READS, group,
             str(receiver.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert stuck.stdout is not None
            assert stuck.stdout.readline() == f"sent {FLOOD}\n"
            sent = run(
                "examples/udp_multicast_sender.py", "--host", group,
                "--port", str(receiver.port), "--interface", "eth0",
                python=on(python, a),
            )  # fmt: skip
            assert "b'here'" in sent.stdout, sent.stdout + sent.stderr
            status, out, _ = stops_at_once(
                receiver.proc, signal.SIGTERM, report, "multicast receiver"
            )
        finally:
            stuck.communicate(timeout=TIMEOUT)  # its stdin closed: it ends
    assert status == 0
    assert "stopped" in out


NEVER_READS = f"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                socket.inet_aton("10.9.0.1"))
for _ in range({FLOOD}):
    sock.sendto(b"x" * 1000, (sys.argv[1], int(sys.argv[2])))
print("sent {FLOOD}", flush=True)
sys.stdin.read()  # until the test is done: the answers are never read
"""


def fill(sock: socket.socket | ssl.SSLSocket) -> int:
    """Send until the server takes no more for half a second (its replies
    unread, every buffer between the two full), at most 64 MiB; return
    how much it took."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(0.5)
    sent = 0
    try:
        while sent < 2**26:
            sent += sock.send(b"x" * 65_536)
    except (socket.timeout, ssl.SSLWantWriteError):
        pass
    return sent


STREAM_SERVERS = [
    "examples/tcp_echo_server_blocking.py",
    "examples/tcp_echo_server_threads.py",
    "examples/tcp_echo_server_selectors.py",
    "examples/tcp_echo_server_asyncio.py",
    "examples/tcp_echo_server_fast.py",
    "examples/tls_echo_server.py",
    "examples/tls_echo_server_asyncio.py",
]


@pytest.mark.parametrize("script", STREAM_SERVERS)
def test_stream_servers(
    python: Python,
    script: str,
    certs: Path,
    report: Callable[[str], None],
) -> None:
    tls = "tls_" in script
    args = tls_args(certs) if tls else ()
    with start_server(*args, script=script, python=python) as server:
        sock: socket.socket | ssl.SSLSocket
        sock = socket.create_connection(server.address, TIMEOUT)
        if tls:
            context = ssl.create_default_context(cafile=certs / "ca.pem")
            sock = context.wrap_socket(sock, server_hostname="localhost")
        with sock:
            assert fill(sock) > 0
            status, out, err = stops_at_once(
                server.proc, signal.SIGTERM, report, script
            )
    assert (status, err) == (0, "")
    assert out.startswith("stopped: served 1 connection, echoed ")


def test_unix_stream_server(
    python: Python, tmp_path: Path, report: Callable[[str], None]
) -> None:
    path = tmp_path / "s.sock"
    script = "examples/unix_echo_server.py"
    with (
        start_unix_server(script, path, python=python) as server,
        socket.socket(socket.AF_UNIX) as sock,
    ):
        sock.connect(str(path))
        assert fill(sock) > 0
        status, out, err = stops_at_once(
            server, signal.SIGTERM, report, script
        )
    assert (status, err) == (0, "")
    assert out.startswith("stopped: served 1 connection, echoed ")
