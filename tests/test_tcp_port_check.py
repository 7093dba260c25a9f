"""examples/tcp_port_check.py, run as its page shows: 1,000 ports at once,
ports that refuse, time out or have no route (in a small internet of the
tests' own, tests/connecting.py), and a wait for a server to start. Every
test runs once per supported Python."""

from __future__ import annotations

import re
import resource
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    in_ns,
    interrupt_while_waiting,
    run,
    spawn,
    usage_error,
    wait_until_in,
)
from connecting import *  # noqa: F403 (the lan fixture)
from connecting import (
    BLACK_HOLES,
    FILTERED,
    UNREACHABLE,
    bounded_by_timeout_with_a_silent_resolver,
    small_internet,
    timed,
)
from test_tcp_connect_happy_eyeballs import server

SCRIPT = "examples/tcp_port_check.py"


def check(
    python: Python, ns: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    return timed(python, ns, SCRIPT, *args)


def test_a_thousand_ports_at_once(
    python: Python, lan: str, report: Callable[[str], None]
) -> None:
    # socat listens on one port in the range; nothing else listens here.
    with server(lan) as port:
        low = max(1, port - 500)
        result, took = check(
            python, lan, "--ports", f"{low}-{low + 999}", "--timeout", "5"
        )
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines()[0] == f"127.0.0.1:{port} open"
    assert re.fullmatch(
        r"1000 ports in \d+\.\d\d s: (1 open, 999 refused|999 refused, "
        r"1 open)",
        result.stdout.splitlines()[1],
    )
    assert took < 5  # not one --timeout each: all at once
    report(f"tcp_port_check.py, 1,000 ports of 127.0.0.1: {took:.2f} s")


def test_each_outcome_is_named(python: Python, lan: str) -> None:
    result, took = check(
        python, lan, "--host", BLACK_HOLES[1], "--ports", "1-3",
        "--timeout", "0.5",
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines()[:3] == [
        f"{BLACK_HOLES[1]}:{port} timed out" for port in (1, 2, 3)
    ]
    assert took < 0.5 + SLACK  # each with its own deadline, all at once
    # A filtered port among refusing ones: each has its own deadline.
    result, took = check(
        python, lan, "--ports", f"{FILTERED - 1}-{FILTERED + 1}",
        "--timeout", "0.5",
    )  # fmt: skip
    assert result.stdout.splitlines()[0] == f"127.0.0.1:{FILTERED} timed out"
    assert re.fullmatch(
        r"3 ports in 0\.\d\d s: 1 refused, 1 timed out, 1 refused|"
        r"3 ports in 0\.\d\d s: 2 refused, 1 timed out",
        result.stdout.splitlines()[1],
    )
    result, _ = check(python, lan, "--host", UNREACHABLE, "--port", "80")
    assert result.stdout.splitlines()[0] == f"{UNREACHABLE}:80 unreachable"
    result, _ = check(python, lan, "--host", "::1", "--port", "1", "-v")
    assert (result.returncode, result.stderr) == (
        1,
        "port_check: [::1]:1 refused\n",
    )
    assert re.fullmatch(r"1 port in \d+\.\d\d s: 1 refused\n", result.stdout)


def test_wait_until_a_server_listens(python: Python) -> None:
    # The port is taken but not listening: refused, until listen().
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with spawn(
            python, SCRIPT, "--port", str(port), "--wait", "--timeout",
            str(TIMEOUT), "-v",
        ) as proc:  # fmt: skip
            # Listen once it has been refused and sleeps before it tries
            # again: x86_64 Linux's clock_nanosleep() for time.sleep() from
            # Python 3.11 on, pselect6() before.
            wait_until_in(proc, {"230", "270"})
            sock.listen()
            out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (0, "")
    assert out.startswith(f"127.0.0.1:{port} open\n")


def test_wait_gives_up_after_timeout(python: Python) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        start = time.monotonic()
        result = run(SCRIPT, "--port", str(port), "--wait", "--timeout",
                     "0.5", python=python)  # fmt: skip
        took = time.monotonic() - start
    assert (result.returncode, result.stderr) == (1, "")
    assert re.fullmatch(r"1 port in 0\.\d\d s: 1 refused\n", result.stdout)
    assert 0.5 <= took < 0.5 + SLACK


@pytest.mark.once
def test_concurrency_is_held_to_the_file_limit(python: Python) -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    result = subprocess.run(
        [*python.command, SCRIPT, "--concurrency", "100"],
        capture_output=True, text=True, timeout=TIMEOUT,
        preexec_fn=low_limit,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith(
        "error: argument --concurrency: must be from 1 to 48, not 100\n"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--ports", "200-100"], "argument --ports: out of order: "
         "200-100"),
        (["--ports", "0-5"], "argument --ports: must be from 1 to 65535, "
         "not 0"),
        (["--ports", "x"], "argument --ports: not a number: 'x'"),
        (["--concurrency", "0"], "argument --concurrency: must be from 1 "),
        (["--host", "a" * 254], "argument --host: must be 1 to 253 bytes, "
         "not 254"),
        (["--timeout", "inf"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not inf"),
    ],
)  # fmt: skip
@pytest.mark.once
def test_bad_usage_exits_2(
    python: Python, args: list[str], error: str
) -> None:
    assert usage_error(python, SCRIPT, *args).startswith(error)


def test_a_resolver_that_never_answers_is_waited_for_timeout_only(
    python: Python,
) -> None:
    bounded_by_timeout_with_a_silent_resolver(python, SCRIPT)


def test_ctrl_c_while_it_waits_exits_130(python: Python) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with spawn(
            python, SCRIPT, "--port", str(sock.getsockname()[1]), "--wait",
            "--timeout", "60",
        ) as proc:  # fmt: skip
            interrupt_while_waiting(proc, {"230", "270"})  # time.sleep()
            out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (130, "", "")


@pytest.mark.once
def test_a_connect_that_meets_itself_is_not_open(python: Python) -> None:
    # Where the only source port the kernel may pick is the port checked,
    # the connect reaches itself (a TCP simultaneous open): no listener.
    with small_internet() as ns:
        in_ns(ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40000")
        result, _ = check(python, ns, "--port", "40000", "-v")
    assert (result.returncode, result.stderr) == (
        1, "port_check: 127.0.0.1:40000 refused\n",
    )  # fmt: skip
