"""examples/tcp_nodelay.py, run as its page shows: three ways to send a
request, timed, and each way it can fail. Every test runs once per
supported Python, except those marked `once`; no test asserts a time."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import pytest
from conftest import (
    HERE,
    TIMEOUT,
    Python,
    assert_port_in_use,
    bad_usage_exits_2,
    interrupt_while_waiting,
    run,
    spawn,
)

SCRIPT = "examples/tcp_nodelay.py"
ROW = re.compile(
    r"  (two writes, Nagle on|two writes, TCP_NODELAY|one write) +"
    r"p50 +([\d,]+) us   p99 +([\d,]+) us"
)


def test_times_each_way(python: Python) -> None:
    result = run(SCRIPT, "--count", "3", python=python)
    assert (result.returncode, result.stderr) == (0, "")
    first, *rows = result.stdout.splitlines()
    assert re.fullmatch(
        r"3 requests of 4 \+ 100 bytes to 127\.0\.0\.1, each answered at "
        r"once:",
        first,
    )
    found = [ROW.fullmatch(row) for row in rows]
    assert [m[1] for m in found if m] == [
        "two writes, Nagle on", "two writes, TCP_NODELAY", "one write",
    ]  # fmt: skip


@pytest.mark.once
def test_the_figures_of_the_page(report: Callable[[str], None]) -> None:
    result = run(SCRIPT)  # as the page runs it: 40 requests each way
    assert (result.returncode, result.stderr) == (0, "")
    for m in map(ROW.fullmatch, result.stdout.splitlines()[1:]):
        assert m
        report(f"tcp_nodelay.py, {m[1]}: p50 {m[2]} us, p99 {m[3]} us")


@pytest.mark.once
def test_a_read_that_waits_too_long_is_one_line_and_exit_1() -> None:
    # --timeout 1 ms: the first way's answer comes after a delayed ACK.
    result = run(SCRIPT, "--count", "1", "--timeout", "0.001")
    assert result.returncode == 1
    assert re.fullmatch(
        r"error: 127\.0\.0\.1:\d+: timed out\n", result.stderr
    ), result.stderr


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        assert_port_in_use(HERE, SCRIPT, held.getsockname()[1])


def test_ctrl_c_exits_130_quietly(python: Python) -> None:
    with spawn(python, SCRIPT, "--count", "10000") as proc:
        interrupt_while_waiting(proc)  # in poll(), for an answer
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (130, "")
    assert out.startswith("10000 requests of ")


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--count", "0"], "argument --count: must be from 1 to 10000, "
         "not 0"),
        (["--size", "0"], "argument --size: must be from 1 to 65536, not 0"),
        (["--timeout", "nan"], "argument --timeout: must be more than 0 "
         "and at most 3600 seconds, not nan"),
        (["--host", ""], "argument --host: must be 1 to 253 bytes, not 0"),
    ],
    SCRIPT,
)  # fmt: skip
