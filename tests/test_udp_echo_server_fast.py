"""examples/udp_echo_server_fast.py, held to what every UDP echo server
must do (tests/udp_servers.py: options, signals, safe defaults, IPv6,
floods), on every supported Python; and the one branch a real socket
cannot reach on demand: a full send buffer.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import FAST_SERVER, ROOT
from udp_servers import *  # noqa: F403

sys.path.insert(0, str(ROOT / "examples"))
from udp_echo_server_fast import Drainer


@pytest.fixture
def script() -> str:
    return FAST_SERVER


class FullSendBuffer:
    """A socket with one datagram waiting and no room to send: EAGAIN.

    Loopback empties a send buffer faster than a test can fill it, so the
    kernel's refusal is staged here instead.
    """

    def __init__(self) -> None:
        self.waiting = [b"ping"]

    def recvfrom_into(self, buffer: bytearray) -> tuple[int, Any]:
        if not self.waiting:
            raise BlockingIOError
        data = self.waiting.pop()
        buffer[: len(data)] = data
        return len(data), ("127.0.0.1", 40_000)

    def sendto(self, data: bytes, addr: Any) -> int:
        raise BlockingIOError


def test_reply_is_dropped_and_counted_when_the_send_buffer_is_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drainer = Drainer(FullSendBuffer())  # type: ignore[arg-type]
    drainer.drain()
    assert (drainer.datagrams, drainer.unsent) == (0, 1)
    assert "send buffer full: replies dropped: 1" in caplog.text
