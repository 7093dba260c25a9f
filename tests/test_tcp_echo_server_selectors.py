"""examples/tcp_echo_server_selectors.py, held to what every server of many
clients must do (tests/tcp_servers.py), on every supported Python."""

from __future__ import annotations

import pytest
from conftest import Python
from tcp_servers import *  # noqa: F403
from tcp_servers import out_of_file_descriptors


@pytest.fixture
def script() -> str:
    return "examples/tcp_echo_server_selectors.py"


def test_out_of_file_descriptors_it_pauses_then_accepts(
    python: Python, script: str
) -> None:
    out_of_file_descriptors(python, script)
