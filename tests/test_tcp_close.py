"""examples/tcp_close.py, run as its page shows: what each way of ending a
connection sends, and, with `ss` as the witness in a namespace of the
test's own, what it leaves behind; socat restarted on a port in TIME_WAIT.
Every test runs once per supported Python, except those marked `once`."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator

import pytest
from conftest import (
    HERE,
    TIMEOUT,
    Python,
    assert_port_in_use,
    bad_usage_exits_2,
    end_group,
    in_ns,
    interrupt_while_waiting,
    namespace,
    on,
    port_of,
    run,
    spawn,
)

SCRIPT = "examples/tcp_close.py"
SHOWN = re.compile(
    r"the client sends 200,000 bytes to 127\.0\.0\.1:(\d+) and ends; the "
    r"server reads:\n"
    r"  close\(\)                200,000 bytes, then FIN\n"
    r"  shutdown\(SHUT_WR\)      200,000 bytes, then FIN; answer: b'got it'\n"
    r"  SO_LINGER 0, close\(\)   ([\d,]+) bytes, then RST\n"
    r"  close\(\), data unread   ([\d,]+) bytes, then RST\n"
    r"the server closes first, then a new one binds 127\.0\.0\.1:(\d+):\n"
    r"  without SO_REUSEADDR   Address already in use\n"
    r"  with SO_REUSEADDR      bound\n"
)


def shown(stdout: str) -> tuple[int, int]:
    """The port, and the bytes the server read before each RST: fewer
    than were sent, as what the client had not sent yet was thrown away.
    """
    found = SHOWN.fullmatch(stdout)
    assert found, stdout
    assert found[1] == found[4]
    lost = [int(found[i].replace(",", "")) for i in (2, 3)]
    assert all(got < 200_000 for got in lost), lost
    return int(found[1]), lost[0]


def test_each_way_of_ending_and_the_restart(python: Python) -> None:
    result = run(SCRIPT, python=python)
    assert (result.returncode, result.stderr) == (0, "")
    shown(result.stdout)


@pytest.fixture
def ns() -> Iterator[str]:
    with namespace() as name:
        yield name


def time_wait(ns: str) -> list[tuple[str, str]]:
    """Local and peer address of each connection in TIME_WAIT, by ss."""
    lines = in_ns(ns, "ss", "-tanH", "state", "time-wait").splitlines()
    return [(line.split()[2], line.split()[3]) for line in lines]


@pytest.mark.once
def test_the_side_that_closes_first_is_left_in_time_wait(ns: str) -> None:
    result = run(SCRIPT, python=on(HERE, ns))
    assert result.returncode == 0, result.stderr
    port, _ = shown(result.stdout)
    server = f"127.0.0.1:{port}"
    waiting = time_wait(ns)
    # The client's side, after close() and after shutdown(): it sent FIN
    # first. SO_LINGER 0 and unread data sent RST: nothing is left.
    assert [peer for _, peer in waiting].count(server) == 2, waiting
    # The server's side of the restart: it closed first.
    assert [local for local, _ in waiting].count(server) == 1, waiting
    assert len(waiting) == 3, waiting


@pytest.mark.once
def test_socat_cannot_listen_on_a_port_in_time_wait_without_reuseaddr(
    ns: str,
) -> None:
    result = run(SCRIPT, python=on(HERE, ns))
    port, _ = shown(result.stdout)
    listen = ["ip", "netns", "exec", ns, "socat",
              f"TCP4-LISTEN:{port},bind=127.0.0.1", "STDOUT"]  # fmt: skip
    refused = subprocess.run(
        listen, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert refused.returncode == 1
    assert "Address already in use" in refused.stderr
    listen[5] += ",reuseaddr"
    proc = subprocess.Popen(
        listen, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        assert port_of(proc.pid, "tcp") == port  # it listens there
    finally:
        end_group(proc)


@pytest.fixture
def small_buffers(ns: str) -> str:
    """A namespace whose TCP buffers hold 4 KiB each way: 200,000 bytes
    cannot be queued while the server does not read."""
    for sysctl in ("tcp_wmem", "tcp_rmem"):
        in_ns(ns, "sysctl", "-qw", f"net.ipv4.{sysctl}=4096 4096 4096")
    return ns


@pytest.mark.once
def test_a_send_that_cannot_be_queued_times_out_in_one_line(
    small_buffers: str,
) -> None:
    result = run(SCRIPT, "--timeout", "0.2", python=on(HERE, small_buffers))
    assert result.returncode == 1
    assert re.fullmatch(
        r"error: 127\.0\.0\.1:\d+: timed out\n", result.stderr
    ), result.stderr


def test_ctrl_c_exits_130_quietly(python: Python, small_buffers: str) -> None:
    with spawn(on(python, small_buffers), SCRIPT) as proc:
        interrupt_while_waiting(proc)  # in poll(), to send the rest
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (130, "")
    assert out.startswith("the client sends 200,000 bytes to ")


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        assert_port_in_use(HERE, SCRIPT, held.getsockname()[1])


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--size", "0"], "argument --size: must be from 1 to 1000000, "
         "not 0"),
        (["--timeout", "0"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not 0"),
        (["--port", "65536"], "argument --port: must be from 0 to 65535, "
         "not 65536"),
    ],
    SCRIPT,
)  # fmt: skip
