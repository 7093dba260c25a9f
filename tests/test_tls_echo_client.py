"""examples/tls_echo_client.py, held to what every TLS echo client must do
(tests/tls_clients.py), on every supported Python."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEV_CA, Python, make_dev_certs, tls_pair
from tls_clients import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tls_echo_client.py"


def test_python_3_13_rejects_a_ca_without_critical_basic_constraints(
    python: Python, tmp_path: Path
) -> None:
    # The page's development CA, made the way older tutorials make theirs.
    recipe = DEV_CA.read_text()
    lax = recipe.replace("basicConstraints=critical,", "basicConstraints=")
    assert lax != recipe
    result = tls_pair(python, make_dev_certs(tmp_path, lax))
    if python.version == "3.13":  # VERIFY_X509_STRICT, by default
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.endswith(
            "certificate verify failed: "
            "Basic Constraints of CA cert not marked critical\n"
        )
    else:
        assert (result.returncode, result.stderr) == (0, "")
