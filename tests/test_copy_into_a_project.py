"""A reader copies the examples and net.py into their own project.

The copies must run from an empty folder outside this repository, with the
standard library alone: `python -S -E` leaves out site-packages (where the
set-up installed net.py) and PYTHONPATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import (
    BLOCKING_CLIENT,
    BLOCKING_SERVER,
    CLIENT,
    ROOT,
    SERVER,
    STRICT,
    Python,
    run,
    start_server,
)


def test_examples_run_from_a_folder_of_their_own(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(ROOT)
    python3 = shutil.which("python3") or "python3"
    python = Python((python3, "-S", "-E", *STRICT))
    # The blocking pair needs net.py alone; the asyncio pair, the blocking
    # pair too, as their docstrings say.
    for files in [
        (BLOCKING_CLIENT, BLOCKING_SERVER, "net.py"),
        (CLIENT, SERVER),
    ]:
        for name in files:
            shutil.copy(ROOT / name, tmp_path)
        client, server_script = (Path(name).name for name in files[:2])
        with start_server(
            script=server_script, cwd=tmp_path, python=python
        ) as server:
            result = run(
                client, "--port", str(server.port), "copied",
                cwd=tmp_path, python=python,
            )  # fmt: skip
            status, summary, err = server.stop()
        assert (result.returncode, result.stderr) == (0, "")
        assert "received 6 bytes" in result.stdout
        assert (status, err) == (0, "")
        assert summary == "stopped: echoed 1 datagram, 6 bytes; ignored 0\n"
