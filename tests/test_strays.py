"""Datagrams that never stop cannot hold a client past its deadline.

Each loop that waits for an answer checks the clock before each read. The
flood tests of each example reach the end of that loop only when the
flooding test outruns the client; under load the client may run out of
time inside a read instead. Here each loop runs in this process on a
socket that always has one more stray datagram, so the clock, and nothing
else, ends it.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import udp_broadcast_sender
import udp_echo_client_blocking
import udp_multicast_sender
import unix_datagram_echo_client


class Strays:
    """A socket whose next read always has a datagram, never the answer."""

    def settimeout(self, timeout: float | None) -> None:
        pass

    def send(self, data: bytes) -> int:
        return len(data)

    def recv(self, size: int) -> bytes:
        return b"a stray"

    def recvfrom(self, size: int) -> tuple[bytes, Any]:
        return b"a stray", ("127.0.0.1", 9)


def test_the_unix_datagram_client_stops_at_its_deadline() -> None:
    with pytest.raises(socket.timeout):
        unix_datagram_echo_client.echo(Strays(), b"hi", 0.05)  # type: ignore[arg-type]


def test_the_udp_client_stops_at_its_deadline() -> None:
    with pytest.raises(TimeoutError, match="no echo after 1 attempt"):
        udp_echo_client_blocking.echo(Strays(), b"hi", 0.05, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sender", [udp_broadcast_sender, udp_multicast_sender]
)
def test_the_senders_stop_collecting_at_their_deadline(
    sender: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = sender.collect(Strays(), 0.05)
    assert answers > 0
    assert (
        capsys.readouterr().out.count("answer from 127.0.0.1:9: ") == answers
    )
