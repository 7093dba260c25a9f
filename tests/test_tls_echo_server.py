"""examples/tls_echo_server.py, held to what every TLS echo server must do
(tests/tls_servers.py), on every supported Python."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import TIMEOUT, Python, tls_pair
from tls_servers import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tls_echo_server.py"


def test_the_pages_development_certificate_passes_strict_checks(
    python: Python, dev_certs: Path
) -> None:
    verify = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", "ca.pem",
         "localhost.pem"],
        cwd=dev_certs, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert verify.stdout == "localhost.pem: OK\n"
    # As the page runs them: the server's default --cert and --key.
    result = tls_pair(python, dev_certs, "--host", "localhost")
    assert (result.returncode, result.stderr) == (0, "")
