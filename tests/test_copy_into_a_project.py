"""A reader copies the examples and net.py into their own project.

The copies must run from an empty folder outside this repository, with the
standard library alone: `python -S -E` leaves out site-packages (where the
set-up installed net.py) and PYTHONPATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import CLIENT, ROOT, SERVER, STRICT, Python, run, start_server


def test_examples_run_from_a_folder_of_their_own(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(ROOT)
    for name in (CLIENT, SERVER, "net.py"):
        shutil.copy(ROOT / name, tmp_path)
    python3 = shutil.which("python3") or "python3"
    python = Python((python3, "-S", "-E", *STRICT))
    with start_server(
        script="udp_echo_server_asyncio.py", cwd=tmp_path, python=python
    ) as server:
        result = run(
            "udp_echo_client_asyncio.py",
            "--port",
            str(server.port),
            "copied",
            cwd=tmp_path,
            python=python,
        )
        status, summary, err = server.stop()
    assert (result.returncode, result.stderr) == (0, "")
    assert "received 6 bytes" in result.stdout
    assert (status, err) == (0, "")
    assert summary == "stopped: echoed 1 datagram, 6 bytes; ignored 0\n"
