"""examples/udp_echo_client_blocking.py, held to what every UDP echo client
must do (tests/udp_clients.py), on every supported Python."""

from __future__ import annotations

import pytest
from conftest import BLOCKING_CLIENT
from udp_clients import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return BLOCKING_CLIENT
