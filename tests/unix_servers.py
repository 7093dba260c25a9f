"""What every Unix socket server here must do with its socket file.

tests/test_unix_echo_server.py (stream) and
tests/test_unix_datagram_echo_server.py (datagrams) import these and say
which example they hold to them (the `script` and `kind` fixtures). Every
test runs once per supported Python.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    needs_root,
    run,
    start_unix_server,
    started,
    stop,
    stream_echo,
    usage_error,
)

# Without CAP_DAC_OVERRIDE, root is held to a file's permissions like
# anyone else: a test's way to be a user the permissions keep out.
AS_ANYONE = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "echo.sock"


def echo_of(address: str | Path, kind: int, data: bytes) -> bytes:
    """Send data to a Unix echo server; return what came back."""
    with socket.socket(socket.AF_UNIX, kind) as sock:
        sock.settimeout(TIMEOUT)
        if kind == socket.SOCK_DGRAM:
            sock.bind("")  # an address for the echo to come back to
        sock.connect(str(address))
        if kind == socket.SOCK_DGRAM:
            sock.send(data)
            return sock.recv(len(data) + 1)
        return stream_echo(sock, data)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_makes_a_file_only_its_user_may_use_and_removes_it(
    python: Python, script: str, kind: int, sock_path: Path, signum: int
) -> None:
    with start_unix_server(script, sock_path, python=python) as server:
        mode = sock_path.stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600  # srw-------
        assert echo_of(sock_path, kind, b"hello") == b"hello"
        status, out, err = stop(server, signum)
    assert (status, err) == (0, "")
    assert out.startswith("stopped: ")
    assert not sock_path.exists()


def test_mode_says_who_may_connect(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    with start_unix_server(
        script, sock_path, "--mode", "660", python=python
    ) as server:
        assert stat.S_IMODE(sock_path.stat().st_mode) == 0o660
        assert stop(server)[0] == 0


def test_restarts_after_sigkill_over_the_stale_file(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    with start_unix_server(script, sock_path, python=python) as server:
        server.kill()  # no chance to clean up
        server.wait(timeout=TIMEOUT)
    assert stat.S_ISSOCK(sock_path.stat().st_mode)  # left behind
    with start_unix_server(script, sock_path, "-v", python=python) as again:
        assert echo_of(sock_path, kind, b"again") == b"again"
        status, _, err = stop(again)
    assert status == 0
    assert f"unix_server: {sock_path}: removed a stale socket file\n" in err


def test_never_removes_a_file_that_is_not_a_socket(
    python: Python, script: str, sock_path: Path
) -> None:
    sock_path.write_text("precious")
    result = run(script, "--path", str(sock_path), python=python)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on {sock_path}: it exists, and is not a "
        "socket\n"
    )
    assert sock_path.read_text() == "precious"


@pytest.mark.parametrize("other", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_leaves_a_live_server_alone(
    python: Python, script: str, kind: int, sock_path: Path, other: int
) -> None:
    # Whether a stream or a datagram socket listens there: the file is in
    # use, and removing it would cut that server off from its clients.
    with socket.socket(socket.AF_UNIX, other) as live:
        live.bind(str(sock_path))
        if other == socket.SOCK_STREAM:
            live.listen()
        result = run(script, "--path", str(sock_path), python=python)
        assert stat.S_ISSOCK(sock_path.stat().st_mode)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on {sock_path}: another server is listening "
        "on it\n"
    )


def test_leaves_a_live_server_with_a_full_queue_alone_at_once(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    # A server that accepts nothing for now (stopped, or busy): its queue
    # is full, and a probe that waited for room in it could wait for ever.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(sock_path))
        live.listen(1)
        queued = []
        for _ in range(100):  # Linux queues backlog + 1
            queued.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            queued[-1].setblocking(False)
            try:
                queued[-1].connect(str(sock_path))
            except BlockingIOError:  # full
                break
        result = run(script, "--path", str(sock_path), python=python)
        for sock in queued:
            sock.close()
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on {sock_path}: another server is listening "
        "on it\n"
    )


def test_a_socket_file_it_may_not_use_is_left_alone(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    # Another user's socket file, that this server may not even try: it
    # cannot tell whether it is stale, so it stays.
    needs_root("holding root to file permissions")
    with socket.socket(socket.AF_UNIX, kind) as other:
        other.bind(str(sock_path))
    os.chown(sock_path, 65534, 65534)
    os.chmod(sock_path, 0o600)
    result = run(
        script, "--path", str(sock_path), python=python.prefixed(*AS_ANYONE)
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on {sock_path}: Permission denied\n"
    )
    assert stat.S_ISSOCK(sock_path.stat().st_mode)


def test_a_file_removed_under_it_is_no_error(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    with start_unix_server(script, sock_path, python=python) as server:
        sock_path.unlink()  # by hand, or by a cleaner of /tmp
        status, out, err = stop(server)
    assert (status, err) == (0, "")
    assert out.startswith("stopped: ")


def test_path_up_to_the_system_limit(
    python: Python, script: str, kind: int, tmp_path: Path
) -> None:
    longest = tmp_path / ("x" * (107 - len(str(tmp_path)) - 1))
    assert len(str(longest)) == 107
    with start_unix_server(script, longest, python=python) as server:
        assert echo_of(longest, kind, b"long") == b"long"
        assert stop(server)[0] == 0
    error = usage_error(python, script, "--path", f"{longest}y")
    assert error == (
        "argument --path: must be 1 to 107 bytes (a Unix socket address "
        "has room for 108, with a NUL), not 108"
    )


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--path", ""], "argument --path: must be 1 to 107 bytes (a Unix "
         "socket address has room for 108, with a NUL), not 0"),
        (["--mode", "999"], "argument --mode: must be octal permissions "
         "from 000 to 777, not '999'"),
        (["--mode", "1777"], "argument --mode: must be octal permissions "
         "from 000 to 777, not '1777'"),
        (["--port", "8888"], "unrecognized arguments: --port 8888"),
    ],
)  # fmt: skip


def test_a_folder_it_may_not_write_exits_1(
    python: Python, script: str, tmp_path: Path
) -> None:
    needs_root("holding root to file permissions")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    result = run(
        script, "--path", str(folder / "echo.sock"),
        python=python.prefixed(*AS_ANYONE),
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on {folder}/echo.sock: Permission denied\n"
    )


def test_no_such_folder_exits_1(
    python: Python, script: str, tmp_path: Path
) -> None:
    path = tmp_path / "none" / "echo.sock"
    result = run(script, "--path", str(path), python=python)
    assert (result.returncode, result.stderr) == (
        1,
        f"error: cannot listen on {path}: No such file or directory\n",
    )


def test_the_file_permissions_are_the_access_control(
    python: Python, script: str, kind: int, sock_path: Path
) -> None:
    # To connect, a process needs write permission on the socket file.
    needs_root("holding root to file permissions")
    for mode, said in [("600", "PermissionError"), ("666", "connected")]:
        with start_unix_server(
            script, sock_path, "--mode", mode, python=python
        ) as server:
            os.chown(sock_path, 65534, 65534)  # as if "nobody" ran it
            result = run(
                "-c", CONNECT, str(sock_path), str(int(kind)),
                python=python.prefixed(*AS_ANYONE),
            )  # fmt: skip
            assert result.stdout == f"{said}\n", result.stderr
            assert stop(server)[0] == 0


CONNECT = """
import socket, sys
with socket.socket(socket.AF_UNIX, int(sys.argv[2])) as sock:
    try:
        sock.connect(sys.argv[1])
    except PermissionError:
        print("PermissionError")
    else:
        print("connected")
"""


def test_abstract_name_makes_no_file(
    python: Python, script: str, kind: int, tmp_path: Path
) -> None:
    name = f"cookbook-test-{os.getpid()}-{tmp_path.name}"
    with start_unix_server(
        script, name, "--abstract", python=python
    ) as server:
        assert echo_of("\0" + name, kind, b"no file") == b"no file"
        assert stop(server)[0] == 0
    assert list(tmp_path.iterdir()) == []


def test_a_path_that_is_not_utf8_shows_its_bytes_escaped(
    python: Python,
    script: str,
    kind: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A file name is bytes: anything but "/" and NUL. A stdout that takes
    # UTF-8 alone (a UTF-8 locale's, or PYTHONIOENCODING=utf-8) cannot
    # print \xff as it is.
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8")
    path = os.fsencode(tmp_path) + b"/\xff.sock"
    argv = [script, "--path", os.fsdecode(path)]
    with started(argv, python) as (server, line):
        assert line == f"listening on {tmp_path}/\\xff.sock\n"
        assert echo_of(os.fsdecode(path), kind, b"bytes") == b"bytes"
        status, out, err = stop(server)
    assert (status, err) == (0, "")
    assert out.startswith("stopped: ")
    assert not os.path.exists(path)  # removed, as any other
