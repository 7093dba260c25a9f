"""examples/tls_echo_server.py, held to what every TLS echo server must do
(tests/tls_servers.py), on every supported Python."""

from __future__ import annotations

import pytest
from tls_servers import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tls_echo_server.py"
