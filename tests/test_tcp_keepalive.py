"""examples/tcp_keepalive.py, run as its page shows, against socat: a peer
that answers, closes or resets, and, in a namespace of the test's own, a
peer that vanishes (nftables drops everything once connected). Every test
runs once per supported Python, except those marked `once`."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from conftest import (
    HERE,
    SOCAT_TCP_ECHO,
    TIMEOUT,
    Python,
    assert_nothing_listening,
    bad_usage_exits_2,
    drop,
    in_ns,
    interrupt_while_waiting,
    namespace,
    on,
    read_line,
    reset_on_close,
    run,
    spawn,
    third_party,
)

SCRIPT = "examples/tcp_keepalive.py"
CONNECTED = re.compile(
    r"connected to 127\.0\.0\.1:(\d+): keepalive (\d+) s \+ (\d+) x (\d+) "
    r"s, user timeout ([\d.]+) s\n"
)
MARGIN = 1.5  # seconds a test allows beyond the kernel's own deadline


def test_it_sends_every_s_and_prints_the_echo(
    python: Python, socat_tcp_server: int
) -> None:
    port = str(socat_tcp_server)
    result = run(
        SCRIPT, "--port", port, "--every", "0.1", "--duration", "0.35",
        "ping\n", python=python,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    first, *echoes, last = result.stdout.splitlines(keepends=True)
    match = CONNECTED.fullmatch(first)
    assert match and match.groups() == (port, "5", "3", "1", "8")
    assert 2 <= len(echoes) <= 4 and set(echoes) == {"ping\n"}
    assert last == "still connected after 0.35 s\n"


@pytest.mark.once
def test_ncat_as_the_server(ncat_tcp_server: int) -> None:
    result = run(
        SCRIPT, "--port", str(ncat_tcp_server), "--every", "0.2",
        "--duration", "1", "hi\n",
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.endswith("hi\nstill connected after 1 s\n")


def test_a_server_that_closes_ends_it_with_exit_0(
    python: Python, tcp_peer: socket.socket
) -> None:
    port = str(tcp_peer.getsockname()[1])
    with spawn(python, SCRIPT, "--port", port) as proc:
        conn, _ = tcp_peer.accept()
        with conn:
            conn.sendall(b"bye\n")
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (0, "")
    assert re.fullmatch(
        r"connected to .*\nbye\nthe server closed the connection after "
        r"\d+\.\d s\n",
        out,
    ), out


@pytest.mark.once
def test_a_reset_is_one_line_and_exit_1(tcp_peer: socket.socket) -> None:
    port = str(tcp_peer.getsockname()[1])
    with spawn(HERE, SCRIPT, "--port", port) as proc:
        conn, _ = tcp_peer.accept()
        assert proc.stdout is not None
        assert CONNECTED.fullmatch(read_line(proc.stdout))  # not yet reset
        reset_on_close(conn)
        conn.close()
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (
        1, f"error: 127.0.0.1:{port}: Connection reset by peer\n"
    )  # fmt: skip
    assert out == ""


@pytest.mark.once
def test_nothing_listening_is_one_line_and_exit_1(
    closed_tcp_port: int,
) -> None:
    assert_nothing_listening(HERE, SCRIPT, closed_tcp_port)


def test_ctrl_c_exits_130_quietly(
    python: Python, socat_tcp_server: int
) -> None:
    with spawn(python, SCRIPT, "--port", str(socat_tcp_server)) as proc:
        assert proc.stdout is not None
        assert CONNECTED.fullmatch(read_line(proc.stdout))
        interrupt_while_waiting(proc)  # in select(), for the server
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (130, "", "")


@pytest.mark.once
def test_a_system_without_an_option_says_so_and_goes_on(
    socat_tcp_server: int,
) -> None:
    # As on macOS or Windows, where socket has no TCP_USER_TIMEOUT.
    code = (
        "import runpy, socket, sys; del socket.TCP_USER_TIMEOUT; "
        "sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    result = run(
        "-c", code, SCRIPT, "--port", str(socat_tcp_server),
        "--duration", "0.1",
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (
        0,
        "warning: this system has no socket.TCP_USER_TIMEOUT; its default "
        "applies\n",
    )
    assert result.stdout.endswith("\nstill connected after 0.1 s\n")


@contextmanager
def vanishing_peer() -> Iterator[tuple[str, int]]:
    """A namespace with socat echoing on its loopback; yields the
    namespace and socat's port. The test makes the peer vanish with
    vanish()."""
    with namespace() as ns:
        argv = ["ip", "netns", "exec", ns, *SOCAT_TCP_ECHO.split()]
        with third_party(argv, "tcp") as port:
            yield ns, port


def vanish(ns: str, port: int) -> None:
    """Drop every packet to and from port: neither FIN nor RST, ever."""
    drop(ns, f"tcp dport {port} drop", f"tcp sport {port} drop")


def keepalive_timer(ns: str, port: int) -> float:
    """Seconds left on the keepalive timer of the client's connection to
    port, as `ss -o` shows it: timer:(keepalive,1.2sec,0) or 560ms."""
    shown = in_ns(
        ns, "ss", "-tnoH", "state", "established", "dport", f"{port}"
    )
    found = re.search(r"timer:\(keepalive,([\d.]+)(ms|sec),\d+\)", shown)
    assert found, shown
    return float(found[1]) / (1000 if found[2] == "ms" else 1)


def gives_up(
    ns: str, port: int, report: Callable[[str], None], *args: str
) -> tuple[str, float]:
    """Start the client on the namespace's peer with args, make the peer
    vanish once connected; return what it said and how long it took."""
    python = on(HERE, ns)
    with spawn(python, SCRIPT, "--port", str(port), *args) as proc:
        assert proc.stdout is not None
        assert CONNECTED.fullmatch(read_line(proc.stdout))
        start = time.monotonic()
        timer = keepalive_timer(ns, port)
        vanish(ns, port)
        _, err = proc.communicate(timeout=TIMEOUT)
        took = time.monotonic() - start
    assert proc.returncode == 1, err
    report(f"tcp_keepalive.py {' '.join(args)}: gave up after {took:.2f} s")
    return err, timer


@pytest.mark.once
def test_an_idle_peer_that_vanishes_is_noticed_by_keepalive(
    report: Callable[[str], None],
) -> None:
    # Idle 1 s, then probes 1 s apart, two at most: it gives up 3 s after
    # it last heard from the peer (the connect).
    with vanishing_peer() as (ns, port):
        err, timer = gives_up(ns, port, report, "--idle", "1", "--count", "2")
    assert 0 < timer <= 1  # ss shows the keepalive timer running
    found = re.fullmatch(
        rf"error: 127\.0\.0\.1:{port}: the peer is gone: keepalive probes "
        r"unanswered, nothing heard for (\d+\.\d) s\n",
        err,
    )
    assert found, err
    assert 3 <= float(found[1]) <= 3 + MARGIN


@pytest.mark.once
def test_unacknowledged_data_is_bounded_by_the_user_timeout(
    report: Callable[[str], None],
) -> None:
    # Keepalive would wait 60 s; the data sent after the peer vanished
    # waits 1.5 s for an ACK, then the kernel gives up.
    with vanishing_peer() as (ns, port):
        err, _ = gives_up(
            ns, port, report, "--idle", "60", "--user-timeout", "1.5",
            "--every", "0.2",
        )  # fmt: skip
    found = re.fullmatch(
        rf"error: 127\.0\.0\.1:{port}: the peer is gone: data "
        r"unacknowledged, nothing heard for (\d+\.\d) s\n",
        err,
    )
    assert found, err
    assert 1.5 <= float(found[1]) <= 1.5 + 0.2 + MARGIN


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--idle", "0"], "argument --idle: must be from 1 to 32767, not 0"),
        (["--idle", "32768"], "argument --idle: must be from 1 to 32767, "
         "not 32768"),
        (["--interval", "0"], "argument --interval: must be from 1 to "
         "32767, not 0"),
        (["--count", "128"], "argument --count: must be from 1 to 127, "
         "not 128"),
        (["--user-timeout", "0"], "argument --user-timeout: must be more "
         "than 0 and at most 3600 seconds, not 0"),
        (["--every", "inf"], "argument --every: must be more than 0 and at "
         "most 3600 seconds, not inf"),
        (["--duration", "-1"], "argument --duration: must be more than 0 "
         "and at most 3600 seconds, not -1"),
    ],
    SCRIPT,
)  # fmt: skip
