"""examples/socketpair_ipc.py: a parent and its child over socketpair(),
on every supported Python, with children that hang, die or time out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    interrupt_while_waiting,
    read_line,
    run,
)

SCRIPT = "examples/socketpair_ipc.py"
# The child is started with sys.executable alone: these make it as strict
# as the parent's -X dev -W error.
STRICT_ENV = {"PYTHONDEVMODE": "1", "PYTHONWARNINGS": "error"}
ECHOED = re.compile(
    r"sent (\d+) bytes(?: and (\S+)'s descriptor)? to child \d+: (.*)\n"
    r"received (\d+) bytes back: (.*)\n"
)


def strict(python: Python) -> Python:
    return Python(python.command, {**python.env, **STRICT_ENV}, python.version)


def test_default_message_round_trip(python: Python) -> None:
    result = run(SCRIPT, python=strict(python))
    assert (result.returncode, result.stderr) == (0, "")
    found = ECHOED.fullmatch(result.stdout)
    assert found
    assert found.group(1, 3, 4, 5) == (
        "13",
        "b'Hello, child!'",
        "13",
        "b'Hello, child!'",
    )


def test_binary_from_stdin_round_trip(python: Python) -> None:
    data = b"\0" * 1000 + os.urandom(8 * 2**20)  # far over the buffers
    result = run(SCRIPT, "-", python=strict(python), stdin=data)
    assert (result.returncode, result.stderr) == (0, "")
    found = ECHOED.fullmatch(result.stdout)
    assert found and found[1] == found[4] == str(len(data))


def test_the_child_reads_a_file_through_a_passed_descriptor(
    python: Python, tmp_path: Path
) -> None:
    file = tmp_path / "notes.txt"
    file.write_bytes(b" and what the file says")
    result = run(SCRIPT, "--pass-file", str(file), "-v", "hi",
                 python=strict(python))  # fmt: skip
    assert result.returncode == 0
    found = ECHOED.fullmatch(result.stdout)
    assert found and found.group(2, 4, 5) == (
        str(file),
        "25",
        "b'hi and what the file says'",
    )
    assert re.search(r"got 2 bytes and 1 file descriptor\(s\)", result.stderr)


# Imported by every Python that starts with this folder on its path: the
# child (and only it) stops itself before it runs any of the example, so
# that the test does what it wants to it, and to its parent, in time.
HOLD = """\
import os, signal, sys
if "--child" in sys.argv:
    os.kill(os.getpid(), signal.SIGSTOP)
"""
# With HOLD, and a file to pass: the parent too stops itself, at its first
# send (the only one through sendmsg(), which is audited), the child
# started and its socket's timeout running.
HOLD_BOTH = f"""{HOLD}\
elif "--pass-file" in sys.argv:
    def stop_at_send(event, args):
        if event == "socket.sendmsg":
            os.kill(os.getpid(), signal.SIGSTOP)
    sys.addaudithook(stop_at_send)
"""


def state(pid: int) -> str:
    """A process's state letter (Linux /proc): R, S, T (stopped), Z...;
    "gone" once it has been reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


def wait_for_state(pid: int, wanted: str) -> None:
    """Wait until process pid is in state wanted, or gone (its parent may
    have killed it first, as with a short --timeout), polling /proc."""
    deadline = time.monotonic() + TIMEOUT
    while state(pid) not in (wanted, "gone"):
        assert time.monotonic() < deadline, f"{pid} not in state {wanted}"
        time.sleep(0.01)  # not a wait for readiness: polling for it


@contextmanager
def parent_and_child(
    python: Python,
    tmp_path: Path,
    *args: str,
    stdin: Path | None = None,
    hold: str = HOLD,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start the example with -v; yield it and its child's pid once the
    child has stopped itself (HOLD), before doing anything."""
    (tmp_path / "sitecustomize.py").write_text(hold)
    path = os.pathsep.join([str(tmp_path), *python.env.values()])
    with open(stdin or os.devnull, "rb") as source:
        proc = subprocess.Popen(
            [*python.command, SCRIPT, "-v", *args],
            env={**os.environ, **STRICT_ENV, "PYTHONPATH": path},
            stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
    try:
        assert proc.stderr is not None
        started = re.fullmatch(r"socketpair: started child (\d+)\n",
                               read_line(proc.stderr))  # fmt: skip
        assert started
        child = int(started[1])
        wait_for_state(child, "T")
        yield proc, child
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def test_a_child_that_never_answers_is_killed_after_the_timeout(
    python: Python, tmp_path: Path
) -> None:
    with parent_and_child(python, tmp_path, "--timeout", "0.5") as (
        proc,
        child,
    ):
        code, out, err = finish(proc)  # the child stays stopped
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (  # after the -v lines
        f"error: child {child} did not answer within 0.5 s: killed it"
    )
    with pytest.raises(ProcessLookupError):  # and reaped
        os.kill(child, 0)


def test_a_child_that_dies_ends_the_parents_wait_at_once(
    python: Python, tmp_path: Path
) -> None:
    # The parent closed its copy of the child's end, so the child's death
    # ends the parent's read, not the timeout. The child died with the
    # message unread: a Unix socket then resets, rather than end of file.
    with parent_and_child(python, tmp_path, "--timeout", "20") as (
        proc,
        child,
    ):
        assert proc.stderr and "then end of file" in read_line(proc.stderr)
        os.kill(child, signal.SIGKILL)
        code, out, err = finish(proc)
    assert (code, out, err) == (
        1,
        "",
        f"error: child {child} ended (killed by SIGKILL): "
        "Connection reset by peer\n",
    )


def test_a_file_cut_short_before_the_child_reads_it(
    python: Python, tmp_path: Path
) -> None:
    file = tmp_path / "notes.txt"
    file.write_bytes(b" and what the file says")
    with parent_and_child(
        python, tmp_path, "--pass-file", str(file), "hi"
    ) as (proc, child):
        file.write_bytes(b"")
        os.kill(child, signal.SIGCONT)
        code, out, err = finish(proc)
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        f"error: child {child} ended (exit status 0) after sending back "
        "2 of 25 bytes"
    )


def test_a_child_that_dies_while_the_parent_sends(
    python: Python, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    big.write_bytes(os.urandom(8 * 2**20))  # the parent blocks sending it
    with parent_and_child(python, tmp_path, "-", stdin=big) as (proc, child):
        os.kill(child, signal.SIGKILL)
        code, out, err = finish(proc)
    assert (code, out) == (1, "")
    assert re.fullmatch(
        rf"error: child {child} ended \(killed by SIGKILL\): "
        r"(Broken pipe|Connection reset by peer)\n",
        err,
    )


def test_a_child_whose_parent_stalls_times_out_on_its_own(
    python: Python, tmp_path: Path
) -> None:
    file = tmp_path / "notes.txt"
    file.write_bytes(b" and what the file says")
    with parent_and_child(
        python, tmp_path, "--timeout", "0.5", "--pass-file", str(file), "hi",
        hold=HOLD_BOTH,
    ) as (proc, child):  # fmt: skip
        wait_for_state(proc.pid, "T")  # stopped at its send (HOLD_BOTH)
        os.kill(child, signal.SIGCONT)
        try:
            wait_for_state(child, "Z")  # its read timed out; not yet reaped
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        code, out, err = finish(proc)
    assert (code, out, err) == (
        1,
        "",
        f"error: child {child}: timed out\n"
        f"error: child {child} ended (exit status 1): Broken pipe\n",
    )


def test_ctrl_c_ends_parent_and_child_with_130(
    python: Python, tmp_path: Path
) -> None:
    with parent_and_child(python, tmp_path) as (proc, child):
        assert proc.stderr and "then end of file" in read_line(proc.stderr)
        interrupt_while_waiting(proc)  # while it waits for the reply
        code, out, err = finish(proc)
    assert (code, out, err) == (130, "", "")
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--timeout", "0"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not 0"),
        (["--pass-file", "no/such/file"],
         "not a file this user may read: no/such/file"),
        (["--pass-file", "docs"], "not a file this user may read: docs"),
        (["--pass-file", "README.md", ""],
         "a file descriptor needs a message to go with"),
    ],
    SCRIPT,
    ids=["timeout", "no-file", "a-folder", "empty-message"],
)  # fmt: skip
