"""examples/tcp_echo_client_blocking.py, held to what every TCP echo client
must do (tests/tcp_clients.py), on every supported Python."""

from __future__ import annotations

import pytest
from tcp_clients import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tcp_echo_client_blocking.py"
