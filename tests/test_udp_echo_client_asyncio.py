"""examples/udp_echo_client_asyncio.py, held to what every UDP echo client
must do (tests/udp_clients.py), on every supported Python."""

from __future__ import annotations

import asyncio
import sys

import pytest
from conftest import CLIENT, ROOT
from udp_clients import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return CLIENT


def test_an_error_after_the_echo_changes_nothing() -> None:
    # An ICMP error can arrive after the echo, in the same turn of the
    # event loop: the answer stands.
    sys.path.insert(0, str(ROOT / "examples"))
    from udp_echo_client_asyncio import EchoClientProtocol

    async def settle() -> bytes:
        protocol = EchoClientProtocol(b"ping")
        protocol.datagram_received(b"ping", ("127.0.0.1", 7_000))
        protocol.error_received(ConnectionRefusedError())
        return await protocol.reply

    assert asyncio.run(settle()) == b"ping"
