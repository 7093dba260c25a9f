"""examples/tls_echo_client.py, held to what every TLS echo client must do
(tests/tls_clients.py), on every supported Python."""

from __future__ import annotations

import pytest
from tls_clients import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tls_echo_client.py"
