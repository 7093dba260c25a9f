"""examples/tcp_connect_happy_eyeballs.py, run as its page shows, in a small
internet of the tests' own (tests/connecting.py): a name whose first
address is a black hole, addresses that refuse, time out or have no route,
with socat and ncat as the servers. Every test runs once per supported
Python."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    end_group,
    interrupt_while_waiting,
    on,
    port_of,
    spawn,
)
from connecting import *  # noqa: F403 (the lan fixture)
from connecting import (
    UNREACHABLE,
    bounded_by_timeout_with_a_silent_resolver,
    timed,
)

SCRIPT = "examples/tcp_connect_happy_eyeballs.py"
ATTEMPT = re.compile(
    r"^ *(\d+\.\d{3}) s  (\S+) +(.+?)(?: at (\d+\.\d{3}) s)?$"
)


@contextmanager
def server(ns: str, program: str = "socat") -> Iterator[int]:
    """An echo server nobody here wrote, on 127.0.0.1 in ns; its port."""
    argv = {
        "socat": ["socat", "TCP4-LISTEN:0,bind=127.0.0.1,fork,reuseaddr",
                  "EXEC:cat"],
        "ncat": ["ncat", "-l", "-k", "127.0.0.1", "0", "--exec", "/bin/cat"],
    }[program]  # fmt: skip
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, *argv], start_new_session=True
    )
    try:
        yield port_of(proc.pid, "tcp")
    finally:
        end_group(proc)


def connect(
    python: Python, ns: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    return timed(python, ns, SCRIPT, *args)


def attempts(out: str) -> list[tuple[float, str, str, float | None]]:
    """Each attempt printed: started, address, outcome, ended."""
    return [
        (float(m[1]), m[2], m[3], float(m[4]) if m[4] else None)
        for m in map(ATTEMPT.match, out.splitlines())
        if m
    ]


@pytest.mark.parametrize("program", ["socat", "ncat"])
def test_a_black_holed_first_address_costs_one_delay(
    python: Python, lan: str, program: str, report: Callable[[str], None]
) -> None:
    with server(lan, program) as port:
        result, took = connect(
            python, lan, "--host", "dual.test", "--port", str(port)
        )
    assert (result.returncode, result.stderr) == (0, "")
    [(s1, a1, o1, e1), (s2, a2, o2, e2)] = attempts(result.stdout)
    assert (a1, o1) == (f"[fd00::1]:{port}", "abandoned")
    assert (a2, o2) == (f"127.0.0.1:{port}", "connected")
    assert s2 - s1 >= 0.25  # the second, after --delay
    assert e1 == e2  # the first is dropped when the second wins
    assert result.stdout.splitlines()[-1].startswith(
        f"connected to 127.0.0.1:{port} in "
    )
    report(f"Happy Eyeballs to dual.test ({program}): connected in "
           f"{took:.3f} s, IPv4 started at {s2:.3f} s")  # fmt: skip


def test_plain_create_connection_waits_out_the_timeout(
    python: Python, lan: str, report: Callable[[str], None]
) -> None:
    with server(lan) as port:
        result, took = connect(
            python, lan, "--host", "dual.test", "--port", str(port),
            "--plain", "--timeout", "0.5",
        )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    found = re.fullmatch(
        rf"connected to 127\.0\.0\.1:{port} in (\d+\.\d+) s "
        r"\(create_connection\)\n",
        result.stdout,
    )
    assert found and float(found[1]) >= 0.5  # all of it on fd00::1
    report(f"create_connection() to dual.test: {found[1]} s with "
           f"--timeout 0.5 ({took:.3f} s in all)")  # fmt: skip


def test_when_every_address_times_out_it_says_so_for_each(
    python: Python, lan: str
) -> None:
    result, took = connect(
        python, lan, "--host", "dead.test", "--port", "80", "--timeout", "1.5"
    )  # the lookup counts too: 0.5 s was all spent on it once, under load
    assert result.returncode == 1
    [(_, a1, o1, e1), (_, a2, o2, e2)] = attempts(result.stdout)
    assert [(a1, o1), (a2, o2)] == [
        ("[fd00::1]:80", "timed out"),
        ("10.254.0.1:80", "timed out"),
    ]
    assert e1 == e2  # both at the one deadline
    assert result.stderr == (
        "error: cannot connect to dead.test port 80: [fd00::1]:80 timed out; "
        "10.254.0.1:80 timed out\n"
    )
    assert took < 1.5 + SLACK  # both in one --timeout, not one each


def test_refused_and_unreachable_move_on_at_once(
    python: Python, lan: str
) -> None:
    result, _ = connect(python, lan, "--host", "localhost", "--port", "1")
    assert result.returncode == 1
    assert [(a, o) for _, a, o, _ in attempts(result.stdout)] == [
        ("[::1]:1", "connection refused"),
        ("127.0.0.1:1", "connection refused"),
    ]
    result, _ = connect(python, lan, "--host", UNREACHABLE, "--port", "80")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot connect to {UNREACHABLE} port 80: {UNREACHABLE}:80 "
        "network is unreachable\n"
    )


@pytest.mark.once
def test_plain_create_connection_names_no_address_in_its_errors(
    python: Python, lan: str
) -> None:
    # Python 3.11's all_errors=True: an ExceptionGroup, one error each.
    result, _ = connect(
        python, lan, "--host", "dead.test", "--port", "80", "--plain",
        "--timeout", "0.5",
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: cannot connect to dead.test port 80: timed out; timed out\n"
    )


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--delay", "0"], "argument --delay: must be more than 0 and at "
         "most 3600 seconds, not 0"),
        (["--delay", "nan"], "argument --delay: must be more than 0 and at "
         "most 3600 seconds, not nan"),
        (["--host", ""], "argument --host: must be 1 to 253 bytes, not 0"),
        (["--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
    ],
    SCRIPT,
)  # fmt: skip


def test_what_time_left_untried_is_named_too(python: Python, lan: str) -> None:
    # --timeout 0.2, shorter than --delay: the second address never starts.
    result, took = connect(
        python, lan, "--host", "dead.test", "--port", "80", "--timeout", "0.2"
    )
    assert result.returncode == 1
    assert [(a, o) for _, a, o, _ in attempts(result.stdout)] == [
        ("[fd00::1]:80", "timed out"),
        ("10.254.0.1:80", "not tried"),
    ]
    assert took < 0.2 + SLACK


def test_a_resolver_that_never_answers_is_waited_for_timeout_only(
    python: Python,
) -> None:
    bounded_by_timeout_with_a_silent_resolver(python, SCRIPT)


def test_ctrl_c_while_connecting_exits_130(python: Python, lan: str) -> None:
    with spawn(
        on(python, lan), SCRIPT, "--host", "dead.test", "--timeout", "60"
    ) as proc:
        interrupt_while_waiting(proc)  # in select()
        _, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (130, "")
