"""examples/tls_echo_client.py, held to what every TLS echo client must do
(tests/tls_clients.py), on every supported Python."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, TIMEOUT, Python, run, start_server
from tls_clients import *  # noqa: F403


@pytest.fixture
def script() -> str:
    return "examples/tls_echo_client.py"


def test_python_3_13_rejects_a_ca_without_critical_basic_constraints(
    python: Python, tmp_path: Path
) -> None:
    # The page's development CA, made the way older tutorials make theirs.
    recipe = (ROOT / "docs" / "snippets" / "dev_ca.sh").read_text()
    lax = recipe.replace("basicConstraints=critical,", "basicConstraints=")
    assert lax != recipe
    subprocess.run(
        ["bash", "-e", "-c", lax], cwd=tmp_path, check=True,
        capture_output=True, timeout=TIMEOUT,
    )  # fmt: skip
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    with start_server(
        script="examples/tls_echo_server.py", cwd=tmp_path, python=python
    ) as server:
        result = run(
            "examples/tls_echo_client.py", "--port", str(server.port),
            "--cafile", "ca.pem", cwd=tmp_path, python=python,
        )  # fmt: skip
    if python.version == "3.13":  # VERIFY_X509_STRICT, by default
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.endswith(
            "certificate verify failed: "
            "Basic Constraints of CA cert not marked critical\n"
        )
    else:
        assert (result.returncode, result.stderr) == (0, "")
