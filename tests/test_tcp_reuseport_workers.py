"""examples/tcp_reuseport_workers.py, run as its page shows: connections
spread over the workers, a worker that dies restarted, a stop that ends
them all, another user kept off the port, and what becomes of connections
queued on a worker that is killed. Every test runs once per supported
Python, except those marked `once`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from conftest import (
    HERE,
    ROOT,
    TIMEOUT,
    Python,
    assert_port_in_use,
    bad_usage_exits_2,
    children,
    children_of,
    in_ns,
    namespace,
    needs_root,
    on,
    read_all,
    read_line,
    run,
    start_server,
    stream_echo,
)

SCRIPT = "examples/tcp_reuseport_workers.py"


def workers_of(pid: int) -> set[int]:
    """The supervisor's children: its workers (Linux /proc)."""
    return set(children_of(pid))


def lines_to(stream: IO[str], start: str) -> str:
    """The lines of stream up to one that starts with start, that one
    included (-v interleaves the workers' log lines with the
    supervisor's)."""
    lines = ""
    for _ in range(100):
        lines += read_line(stream)
        if lines.splitlines()[-1].startswith(start):
            return lines
    raise AssertionError(f"no line starting {start!r}: {lines}")


def served_by(port: int) -> int:
    """Connect, read the greeting, check the echo; the worker's pid."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as sock:
        greeting = sock.makefile("rb").readline()
        found = re.fullmatch(rb"worker (\d+)\n", greeting)
        assert found, greeting
        assert stream_echo(sock, b"ping") == b"ping"
    return int(found[1])


def test_connections_reach_every_worker_then_all_stop(python: Python) -> None:
    with start_server(
        "--workers", "3", "--greet", script=SCRIPT, python=python
    ) as server:
        workers = workers_of(server.proc.pid)
        assert len(workers) == 3
        seen = {served_by(server.port) for _ in range(60)}
        status, out, err = server.stop(signal.SIGTERM)
    # 60 connections hashed over 3 workers miss one with odds of 3 in 10^10
    assert seen == workers
    assert (status, out, err) == (0, "stopped: 3 workers, restarted 0\n", "")


def test_a_worker_that_dies_is_restarted(python: Python) -> None:
    with start_server(
        "--workers", "2", "--greet", script=SCRIPT, python=python
    ) as server:
        assert server.proc.stderr is not None
        first = workers_of(server.proc.pid)
        gone = min(first)
        os.kill(gone, signal.SIGKILL)
        line = read_line(server.proc.stderr)
        now = workers_of(server.proc.pid)
        assert len(now) == 2 and gone not in now
        assert line == (
            f"worker {gone} ended (killed by SIGKILL); started worker "
            f"{max(now - first)}\n"
        )
        assert {served_by(server.port) for _ in range(40)} == now
        status, out, _ = server.stop()
    assert (status, out) == (0, "stopped: 2 workers, restarted 1\n")


def test_a_plain_echo_for_the_cookbook_client_and_socat(
    python: Python,
) -> None:
    with start_server(
        "--workers", "2", script=SCRIPT, python=python
    ) as server:
        port = str(server.port)
        ours = run("examples/tcp_echo_client_blocking.py", "--port", port,
                   "hello", python=python)  # fmt: skip
        socat = subprocess.run(
            ["socat", "-", f"TCP:127.0.0.1:{port}"],
            input="hi there\n", capture_output=True, text=True,
            timeout=TIMEOUT,
        )  # fmt: skip
        server.stop()
    assert (ours.returncode, ours.stderr) == (0, "")
    assert ours.stdout.startswith("sent 5 bytes to 127.0.0.1:")
    assert (socat.returncode, socat.stdout) == (0, "hi there\n")


@pytest.mark.once
def test_each_worker_bounds_its_connections_and_their_idle_time() -> None:
    with start_server(
        "--workers", "1", "--greet", "--max-connections", "1",
        "--idle-timeout", "0.3", "-v", script=SCRIPT,
    ) as server:  # fmt: skip
        address = ("127.0.0.1", server.port)
        with socket.create_connection(address, TIMEOUT) as first:
            assert first.recv(64).startswith(b"worker ")
            with socket.create_connection(address, TIMEOUT) as second:
                assert second.recv(64) == b""  # over the limit: closed
            start = time.monotonic()
            while time.monotonic() - start < 0.6:  # twice the idle time
                first.sendall(b"x")  # a client at its own pace
                assert first.recv(64) == b"x"
                time.sleep(0.05)
            assert first.recv(64) == b""  # then idle for 0.3 s: closed
        _, _, err = server.stop()
    assert re.search(
        r"^workers: worker \d+: idle for 0.3 s: closed$", err, re.M
    )


@pytest.mark.once
def test_a_client_that_does_not_read_holds_no_one_up() -> None:
    # The worker stops reading while the echo waits (pause_writing), serves
    # others meanwhile, and goes on once the client reads (resume_writing).
    with start_server("--workers", "1", script=SCRIPT) as server:
        with socket.create_connection(server.address, TIMEOUT) as slow:
            slow.settimeout(0.5)
            sent = 0
            try:  # until the server takes no more: every buffer full
                while sent < 2**26:
                    sent += slow.send(b"x" * 65_536)
            except socket.timeout:
                pass
            assert (
                stream_echo(
                    socket.create_connection(server.address, TIMEOUT), b"hi"
                )
                == b"hi"
            )
            slow.shutdown(socket.SHUT_WR)
            slow.settimeout(TIMEOUT)
            echoed = len(read_all(slow))
        server.stop()
    assert echoed == sent > 0


@pytest.mark.once
def state(pid: int) -> str:
    """A process's state (Linux /proc): R, S, T (stopped), and so on."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_stop_ends_open_connections_and_stuck_workers() -> None:
    # One worker holds a connection; the other is stopped (SIGSTOP), so
    # that SIGTERM cannot end it: after STOP_WAIT, SIGKILL does.
    with (
        start_server("--workers", "2", "--greet", script=SCRIPT) as server,
        socket.create_connection(("127.0.0.1", server.port), TIMEOUT) as sock,
    ):
        serving = int(sock.recv(64).split()[1])
        [stuck] = workers_of(server.proc.pid) - {serving}
        os.kill(stuck, signal.SIGSTOP)
        # Stopped, before the SIGTERM: one that came while SIGSTOP was
        # still pending would be taken first (the lower number), and the
        # worker would end cleanly.
        deadline = time.monotonic() + TIMEOUT
        while state(stuck) != "T":
            assert time.monotonic() < deadline, "the worker never stopped"
            time.sleep(0.01)  # polling for the state, not a readiness sleep
        status, out, err = server.stop(signal.SIGTERM)
        assert sock.recv(64) == b""
    assert (status, out, err) == (0, "stopped: 2 workers, restarted 0\n", "")


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:  # no SO_REUSEPORT
        assert_port_in_use(HERE, SCRIPT, held.getsockname()[1])


@pytest.mark.once
def test_a_worker_that_stops_cleanly_is_replaced_too() -> None:
    with start_server("--workers", "2", "--greet", script=SCRIPT) as server:
        assert server.proc.stderr is not None
        serving = served_by(server.port)  # its signal handlers are set
        os.kill(serving, signal.SIGTERM)
        assert read_line(server.proc.stderr).startswith(
            f"worker {serving} ended (exit status 0); started worker "
        )
        assert server.stop()[:2] == (0, "stopped: 2 workers, restarted 1\n")


@pytest.mark.once
def test_workers_end_when_the_supervisor_is_killed() -> None:
    # SIGKILL to the supervisor: it can do nothing, and its workers see
    # their end of its pipe close, and stop.
    with start_server("--workers", "2", script=SCRIPT) as server:
        workers = workers_of(server.proc.pid)
        server.proc.kill()
        server.proc.communicate(timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while any(Path(f"/proc/{pid}").exists() for pid in workers):
            assert time.monotonic() < deadline, "workers left running"
            children()  # reaps them: the test is their subreaper now
            time.sleep(0.01)  # not a wait for readiness: polling for it


@pytest.mark.once
def test_workers_that_keep_dying_stop_it_with_exit_1() -> None:
    with start_server("--workers", "1", script=SCRIPT) as server:
        assert server.proc.stderr is not None
        [pid] = workers_of(server.proc.pid)
        for _ in range(5):  # each within a second of its start
            os.kill(pid, signal.SIGKILL)
            line = read_line(server.proc.stderr)
            found = re.fullmatch(rf"worker {pid} ended .*; started worker "
                                 r"(\d+)\n", line)  # fmt: skip
            assert found, line
            pid = int(found[1])
        os.kill(pid, signal.SIGKILL)
        out, err = server.proc.communicate(timeout=TIMEOUT)
    assert (server.proc.returncode, out) == (1, "")
    assert err == "error: the workers keep ending\n"


@pytest.mark.once
def test_another_user_cannot_join_the_port() -> None:
    needs_root("setpriv, to run as another user")
    # A copy another user can read, run by the system's Python.
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        for name in (SCRIPT, "net.py"):
            shutil.copy(ROOT / name, folder)
        other, port = as_another_user(Path(folder))
    assert (other.returncode, other.stdout) == (1, "")
    assert other.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def as_another_user(
    folder: Path,
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the copy in folder as nobody on the port of a running server,
    and then a second server as this user; what nobody's did, and the
    port."""
    with start_server("--workers", "1", script=SCRIPT) as server:
        other = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "/usr/bin/python3", "tcp_reuseport_workers.py",
             "--port", str(server.port)],
            cwd=folder, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        # The same user can: a second supervisor shares the port.
        with start_server(
            "--workers", "1", "--port", str(server.port), script=SCRIPT
        ) as same:
            assert same.port == server.port
            same.stop()
        server.stop()
    return other, server.port


# Opens 20 connections, says so, and once told (a line on stdin) reads
# each one's first line: the worker that took it, or a reset.
CLIENTS = """
import socket, sys
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port), 30) for _ in range(20)]
print("connected", flush=True)
sys.stdin.readline()
for sock in socks:
    try:
        print(sock.makefile("rb").readline().decode().strip() or "eof")
    except ConnectionResetError:
        print("reset")
"""


@pytest.mark.once
@pytest.mark.parametrize("migrate", [0, 1])
def test_connections_queued_on_a_killed_worker(
    migrate: int, report: Callable[[str], None]
) -> None:
    # Worker A is stopped (SIGSTOP): connections hashed to it wait in its
    # queue. Killed, its socket closes: those connections are reset,
    # unless net.ipv4.tcp_migrate_req moves them to another listener.
    with namespace() as ns:
        in_ns(ns, "sysctl", "-qw", f"net.ipv4.tcp_migrate_req={migrate}")
        python = on(HERE, ns)
        with start_server(
            "--workers", "2", "--greet", "-v", script=SCRIPT, python=python
        ) as server:
            assert server.proc.stderr is not None
            a = min(workers_of(server.proc.pid))
            os.kill(a, signal.SIGSTOP)
            clients = subprocess.Popen(
                [*python.command, "-c", CLIENTS, str(server.port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert clients.stdout is not None
            assert read_line(clients.stdout) == "connected\n"
            os.kill(a, signal.SIGKILL)
            said = lines_to(server.proc.stderr, f"worker {a} ended")
            out, _ = clients.communicate("go\n", timeout=TIMEOUT)
            server.stop()
    # With -v, said at start when such connections will be reset:
    warning = "tcp_migrate_req is 0: connections queued on a worker that ends"
    assert (warning in said) == (not migrate), said
    lines = out.splitlines()
    resets = lines.count("reset")
    report(f"tcp_migrate_req={migrate}: {resets} of 20 queued connections "
           "reset when their worker was killed")  # fmt: skip
    assert len(lines) == 20
    assert all(line == "reset" or line.startswith("worker ") for line in lines)
    assert f"worker {a}" not in lines
    if migrate:
        assert resets == 0  # each moved to a live worker and served
    else:
        assert 0 < resets < 20  # those hashed to A: odds of none, 1 in 10^6


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--workers", "0"], "argument --workers: must be from 1 to 64, "
         "not 0"),
        (["--workers", "65"], "argument --workers: must be from 1 to 64, "
         "not 65"),
        (["--idle-timeout", "0"], "argument --idle-timeout: must be more "
         "than 0 and at most 3600 seconds, not 0"),
        (["--max-connections", "0"], "argument --max-connections: must be "
         "from 1 to 100000, not 0"),
    ],
    SCRIPT,
)  # fmt: skip
