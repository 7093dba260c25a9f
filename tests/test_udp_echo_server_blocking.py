"""examples/udp_echo_server_blocking.py, held to what every UDP echo server
must do (tests/udp_servers.py), on every supported Python; and what its
signal handler does when a signal comes mid-datagram."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest
from conftest import BLOCKING_SERVER, ROOT
from udp_servers import *  # noqa: F403

sys.path.insert(0, str(ROOT / "examples"))
from udp_echo_server_blocking import serve


@pytest.fixture
def script() -> str:
    return BLOCKING_SERVER


class SignalWhileSending:
    """A socket with one datagram waiting, on which a signal arrives while
    the server sends the echo: a moment a test cannot hit from outside."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 8888)

    def recvfrom_into(self, buffer: bytearray) -> tuple[int, Any]:
        assert not self.sent, "waited for another datagram after the signal"
        buffer[:4] = b"ping"
        return 4, ("127.0.0.1", 40_000)

    def sendto(self, data: memoryview, addr: Any) -> int:
        signal.raise_signal(signal.SIGTERM)
        self.sent.append(bytes(data))
        return len(data)


def test_a_signal_mid_datagram_lets_it_finish_then_stops() -> None:
    sock = SignalWhileSending()
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        counts = serve(sock)  # type: ignore[arg-type]
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    assert sock.sent == [b"ping"]
    assert (counts.datagrams, counts.bytes) == (1, 4)
