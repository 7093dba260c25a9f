"""examples/tcp_echo_server_threads.py, held to what every server of many
clients must do (tests/tcp_servers.py), on every supported Python."""

from __future__ import annotations

import pytest
from tcp_servers import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tcp_echo_server_threads.py"
