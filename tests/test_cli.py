"""What every example's command line promises, checked for each example.

`--help` shows the docstring and every option with a line of help and, for
an option that takes a value, its default. Every network client says in one
line, with exit status 1, that a name does not resolve.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time

import pytest
from conftest import (
    CURRENT,
    ROOT,
    SLACK,
    TIMEOUT,
    Python,
    interrupt_while_waiting,
    on,
    run,
    skipped_versions,
    spawn,
)
from connecting import *  # noqa: F403 (the lan fixture)
from connecting import BLACK_HOLES
from test_site import EXAMPLES

# One option in --help: its flags, its metavar if it takes a value, and its
# help text, which may run on over indented lines.
# Unix socket clients take a path, which is never looked up, not a host;
# the connecting recipes look a name up first.
CLIENTS = [
    name
    for name in EXAMPLES
    if re.search(r"_client(_|$)", name) and not name.startswith("unix_")
] + ["resolve", "tcp_connect_happy_eyeballs", "tcp_port_check"]
# Every example that takes a message, "-" for standard input.
READERS = [
    name
    for name in EXAMPLES
    if "net.message_bytes(" in (ROOT / "examples" / f"{name}.py").read_text()
]
ENTRY = re.compile(
    r"^  (-[^\s,]+(?:, -[^\s,]+)*)( [A-Z:]+)?(.*(?:\n {6,}.*)*)", re.M
)


# Each example's --help, on this venv's Python, and on those its own tests
# skip (conftest.MIDDLE): so every example starts on every Python.
HELP = [
    (name, version)
    for name in EXAMPLES
    for version in [CURRENT, *sorted(skipped_versions(name))]
]


@pytest.mark.parametrize(("name", "version"), HELP)
def test_help_shows_every_option_with_its_default(
    name: str, version: str
) -> None:
    # Not measured: what --help runs, every test of the example runs too.
    python = dataclasses.replace(Python.find(version), measured=False)
    result = run(f"examples/{name}.py", "--help", python=python)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"usage: {name}.py ")
    assert "\nExit status: 0 " in result.stdout
    entries = ENTRY.findall(result.stdout)
    assert len(entries) >= 4  # -h, --host, --port (or --path, --abstract), -v
    for flags, metavar, text in entries:
        assert text.strip(), f"{flags}: no help"
        if metavar:  # an option that takes a value: its default, or
            words = " ".join(text.split())  # that it has none
            assert "default: " in words or "(required)" in words, (
                f"{flags}: no default"
            )


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.once
def test_a_name_that_does_not_resolve_is_one_line_and_exit_1(
    python: Python, name: str
) -> None:
    host = "no-such-host.invalid"  # .invalid never resolves (RFC 6761)
    result = run(f"examples/{name}.py", "--host", host, python=python)
    assert (result.returncode, result.stdout) == (1, "")
    assert re.fullmatch(
        rf"error: cannot resolve {host}: [^\n]+\n", result.stderr
    )


@pytest.mark.parametrize("name", READERS)
@pytest.mark.once  # net.message_bytes() alone: the same on every Python
def test_ctrl_c_while_it_reads_stdin_exits_130_quietly(
    python: Python, name: str
) -> None:
    # A person typing a message, who thinks better of it: the terminal
    # stays open, and Ctrl+C comes while the client waits in read().
    read_end, write_end = os.pipe()
    with (
        open(read_end, "rb") as terminal,
        open(write_end, "wb"),
        spawn(python, f"examples/{name}.py", "-", stdin=terminal) as proc,
    ):
        interrupt_while_waiting(proc, {"0 0x0"})  # read() of stdin
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (130, "", "")


@pytest.mark.parametrize(
    "name",
    [name for name in CLIENTS if name not in ("resolve", "tcp_echo_bench")],
)  # the benchmark takes loopback only; resolve.py sends nothing there
@pytest.mark.once
def test_every_client_keeps_its_timeout_when_every_packet_is_dropped(
    python: Python, name: str, lan: str
) -> None:
    # In the tests' small internet, where all sent to 10.254.0.1 is
    # dropped: a TCP connect waits, a UDP send fails at once (EPERM).
    start = time.monotonic()
    result = run(
        f"examples/{name}.py", "--host", BLACK_HOLES[1], "--timeout", "0.5",
        python=on(python, lan),
    )  # fmt: skip
    took = time.monotonic() - start
    assert result.returncode == 1
    assert result.stderr.count("\n") <= 1, result.stderr  # no traceback
    assert took < 0.5 + SLACK
