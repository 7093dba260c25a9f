"""examples/udp_echo_server_asyncio.py, held to what every UDP echo server
must do (tests/udp_servers.py), on every supported Python."""

from __future__ import annotations

import pytest
from conftest import SERVER
from udp_servers import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return SERVER
