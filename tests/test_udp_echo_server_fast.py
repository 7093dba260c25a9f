"""examples/udp_echo_server_fast.py: what only the fast server does.

Its behaviour as a server (options, signals, safe defaults, IPv6, floods)
is tested by test_udp_echo_server_asyncio.py, which runs every test against
both servers. This file adds the one branch a real socket cannot reach on
demand: a full send buffer.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
from udp_echo_server_fast import Drainer


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
