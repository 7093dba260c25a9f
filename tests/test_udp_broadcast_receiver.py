"""examples/udp_broadcast_receiver.py, run as its page shows, on loopback's
broadcast address, with its sender and socat; every supported Python."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from conftest import (
    ROOT,
    TIMEOUT,
    Python,
    Server,
    bad_usage_exits_2,
    drop,
    namespace,
    read_line,
    run,
    start_server,
    udp_socket,
)

sys.path.insert(0, str(ROOT / "examples"))
from udp_broadcast_receiver import serve

RECEIVER = "examples/udp_broadcast_receiver.py"
SENDER = "examples/udp_broadcast_sender.py"
BROADCAST = "127.255.255.255"


def heard(receiver: Server) -> str:
    """The next line the receiver printed: a datagram it heard."""
    assert receiver.proc.stdout is not None
    return read_line(receiver.proc.stdout)


def test_two_receivers_on_one_port_each_hear_and_answer(
    python: Python,
) -> None:
    with start_server("--name", "one", script=RECEIVER, python=python) as one:
        assert one.host == BROADCAST
        port = str(one.port)
        with start_server(
            "--name", "two", "--port", port, script=RECEIVER, python=python
        ) as two:
            sent = run(SENDER, "--port", port, "hello, all", python=python)
            lines = [heard(one), heard(two)]
            stopped = [one.stop(signal.SIGTERM), two.stop()]
    assert (sent.returncode, sent.stderr) == (0, "")
    out = sent.stdout.splitlines()
    assert out[0] == f"sent 10 bytes to {BROADCAST}:{port}"
    assert sorted(out[1:3]) == [
        f"answer from 127.0.0.1:{port}: b'one'",
        f"answer from 127.0.0.1:{port}: b'two'",
    ]
    assert out[3:] == ["2 answers"]
    for line in lines:
        assert line.startswith("from 127.0.0.1:") and "b'hello, all'" in line
    for status, rest, err in stopped:
        assert (status, rest, err) == (0, "stopped: heard 1 datagram\n", "")


def test_hears_a_broadcast_from_socat(python: Python) -> None:
    with start_server(script=RECEIVER, python=python) as receiver:
        subprocess.run(
            ["socat", "-u", "-",
             f"UDP4-DATAGRAM:{BROADCAST}:{receiver.port},broadcast"],
            input=b"from socat", check=True, timeout=TIMEOUT,
        )  # fmt: skip
        line = heard(receiver)
        assert receiver.stop()[0] == 0
    assert line.endswith(": b'from socat'\n")


def test_a_datagram_to_this_host_alone_is_not_heard(python: Python) -> None:
    # Bound to the broadcast address, it hears broadcasts only: a datagram
    # to 127.0.0.1 on the same port finds nobody there, and is refused.
    with start_server(script=RECEIVER, python=python) as receiver:
        with udp_socket() as sock:
            sock.connect(("127.0.0.1", receiver.port))
            sock.send(b"just you")
            with pytest.raises(ConnectionRefusedError):
                sock.recv(100)
        status, out, _ = receiver.stop()
    assert (status, out) == (0, "stopped: heard 0 datagrams\n")


def test_stops_once_idle_and_says_so(python: Python) -> None:
    with start_server(
        "--timeout", "0.5", script=RECEIVER, python=python
    ) as receiver:
        with udp_socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.sendto(b"once", (BROADCAST, receiver.port))
            assert sock.recv(100).startswith(b"receiver-")
        out, err = receiver.proc.communicate(timeout=TIMEOUT)
    assert (receiver.proc.returncode, err) == (0, "")
    assert out.endswith("nothing for 0.5 s: heard 1 datagram\n")


def test_hearing_nothing_at_all_exits_1(python: Python) -> None:
    with start_server(
        "--timeout", "0.3", script=RECEIVER, python=python
    ) as receiver:
        out, err = receiver.proc.communicate(timeout=TIMEOUT)
    assert (receiver.proc.returncode, out) == (1, "")
    assert err == (
        f"error: nothing heard on {BROADCAST}:{receiver.port} for 0.3 s\n"
    )


def test_an_address_not_on_this_machine_exits_1(python: Python) -> None:
    result = run(RECEIVER, "--host", "192.0.2.1", python=python)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: cannot listen on 192.0.2.1:8888: Cannot assign requested "
        "address\n"
    )


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--timeout", "inf"], "argument --timeout: must be more than 0 "
         "and at most 3600 seconds, not inf"),
        (["--port", "65536"], "argument --port: must be from 0 to 65535, "
         "not 65536"),
    ],
    RECEIVER,
)  # fmt: skip


def test_an_answer_it_cannot_send_is_logged_and_it_goes_on(
    python: Python,
) -> None:
    # In a namespace of the test's own, nftables drops its answers on the
    # way out: sendto() fails with EPERM.
    with namespace() as ns:
        inside = python.prefixed("ip", "netns", "exec", ns)
        with start_server(script=RECEIVER, python=inside) as receiver:
            drop(ns, f"udp sport {receiver.port} drop", hook="output")
            for _ in range(2):
                result = run(
                    SENDER, "--port", str(receiver.port), "--timeout", "0.2",
                    python=inside,
                )  # fmt: skip
                assert result.returncode == 1
            status, out, err = receiver.stop()
    assert (status, out.splitlines()[-1]) == (0, "stopped: heard 2 datagrams")
    assert err.count("answer lost: Operation not permitted\n") == 2


class SignalWhileAnswering:
    """A socket with one datagram waiting, on which a signal arrives while
    the receiver answers it: a moment a test cannot hit from outside."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def settimeout(self, timeout: float) -> None:
        pass

    def getsockname(self) -> tuple[str, int]:
        return (BROADCAST, 8888)

    def recvfrom(self, size: int) -> tuple[bytes, Any]:
        assert not self.sent, "waited for another datagram after the signal"
        return b"who?", ("127.0.0.1", 40_000)

    def sendto(self, data: bytes, addr: Any) -> int:
        signal.raise_signal(signal.SIGTERM)
        self.sent.append(data)
        return len(data)


def signal_mid_answer(serve: Callable[..., tuple[int, bool]]) -> None:
    """Run a receiver's serve() on SignalWhileAnswering: the answer goes,
    then it stops; the test's own signal handlers are put back."""
    sock = SignalWhileAnswering()
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        heard, idle = serve(sock, b"me", 5.0)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    assert (sock.sent, heard, idle) == ([b"me"], 1, False)


def test_a_signal_mid_answer_lets_it_finish_then_stops() -> None:
    signal_mid_answer(serve)
