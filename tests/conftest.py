"""What the tests share: run examples as their pages show, with real peers.

Examples run as subprocesses from the repository root, the way a reader
runs them (`python examples/NAME.py ...`). Servers start on port 0 and are
found through their "listening on" line; nothing sleeps to wait.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import itertools
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import pytest

# Tests shared by several examples' test files live in these modules; let
# pytest explain their failed asserts as it does in test files.
pytest.register_assert_rewrite(
    "tcp_clients", "tcp_servers", "tls_clients", "tls_servers",
    "udp_clients", "udp_servers", "unix_clients", "unix_servers",
)  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "examples/udp_echo_client_asyncio.py"
SERVER = "examples/udp_echo_server_asyncio.py"
FAST_SERVER = "examples/udp_echo_server_fast.py"
BLOCKING_CLIENT = "examples/udp_echo_client_blocking.py"
BLOCKING_SERVER = "examples/udp_echo_server_blocking.py"
TIMEOUT = 30.0  # seconds: the most any one subprocess may take
# What a loaded machine may add to a wait that a test measures: a Python
# started under coverage, and three test processes on two cores (runs with
# two more busy processes took up to 3.9 s more than the wait itself).
SLACK = 5.0
# The most a run that moves 16 MiB or more may take. Its CPU cost grows
# with coverage's tracing and the machine's load: a 16 MiB TLS echo took
# over 30 s under coverage with both cores overloaded.
BULK_TIMEOUT = 3 * TIMEOUT
LISTENING = re.compile(r"listening on \[?([^\]]+)\]?:(\d+)")
# The Pythons every example test runs on. A developer without some of them
# can narrow the list, e.g. COOKBOOK_PYTHONS=3.11; CI runs them all.
VERSIONS = os.environ.get("COOKBOOK_PYTHONS", "3.9,3.10,3.11,3.12,3.13")
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


# Examples run in Python's development mode with every warning an error:
# an unclosed socket, a coroutine never awaited or a slow asyncio callback
# fails the test instead of scrolling past.
STRICT = ("-X", "dev", "-W", "error")
CURRENT = "{}.{}".format(*sys.version_info)


@dataclass(frozen=True)
class Python:
    """How to start an interpreter: its command and its environment."""

    command: tuple[str, ...] = (sys.executable, *STRICT)
    env: dict[str, str] = field(default_factory=dict)
    version: str = CURRENT
    measured: bool = True  # by coverage.py, if this venv's Python

    def environment(self) -> dict[str, str]:
        """The environment to start it in."""
        env = {**os.environ, **self.env}
        if self.measured:
            return env
        return {k: v for k, v in env.items() if not k.startswith(UNMEASURED)}

    @classmethod
    def find(cls, version: str) -> Python:
        """This venv's interpreter for its own version, pyenv's for others.

        Others find net.py through PYTHONPATH, as the examples' pages say.
        """
        if version == CURRENT:
            return cls()
        found = sorted(PYENV.glob(f"versions/{version}.*/bin/python{version}"))
        if not found:
            pytest.fail(f"no Python {version} under {PYENV}/versions")
        command = (str(found[-1]), *STRICT)
        return cls(command, {"PYTHONPATH": str(ROOT)}, version)

    def without_dev_mode(self) -> Python:
        """The same interpreter with -W error, without -X dev."""
        command = list(self.command)
        at = command.index("-X")
        del command[at : at + 2]
        return dataclasses.replace(self, command=tuple(command))

    def prefixed(self, *prefix: str) -> Python:
        """The same interpreter, started through prefix (say, ip netns)."""
        return dataclasses.replace(self, command=(*prefix, *self.command))


HERE = Python()  # for the examples
# Without the strict flags: for tools (python -m NAME), and for the
# transcripts on the pages, which show what a reader's plain `python`
# prints. Not measured by coverage.py: what the examples do there, their
# own tests do, measured; each measured process costs 0.1 s more.
PLAIN = Python((sys.executable,), measured=False)


# The Pythons between the ends and this venv's, where asyncio and ssl
# change from release to release; socket, selectors and threading do not.
MIDDLE = {"3.10", "3.12"}
CHANGING = re.compile(r"^import (asyncio|ssl)$", re.M)


def skipped_versions(name: str) -> set[str]:
    """The Pythons the tests of examples/NAME.py skip: MIDDLE, for an
    example (if it is one) with neither asyncio nor ssl."""
    example = ROOT / "examples" / f"{name}.py"
    if example.exists() and not CHANGING.search(example.read_text()):
        return MIDDLE & set(VERSIONS.split(","))
    return set()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test that takes `python` once per supported Python, or, if it
    is marked `once`, on this venv's Python alone (see pyproject.toml).
    The tests of an example that uses neither asyncio nor ssl (the module
    tests/test_NAME.py of examples/NAME.py) skip the MIDDLE ones."""
    if "python" not in metafunc.fixturenames:
        return
    versions = VERSIONS.split(",")
    name = metafunc.definition.path.stem.removeprefix("test_")
    skipped = skipped_versions(name)
    versions = [v for v in versions if v not in skipped] or versions
    if metafunc.definition.get_closest_marker("once"):
        versions = [CURRENT] if CURRENT in versions else versions[:1]
    metafunc.parametrize(
        "python", versions, indirect=True, ids=[f"py{v}" for v in versions]
    )


@pytest.fixture
def python(request: pytest.FixtureRequest) -> Python:
    """A supported Python, to launch the examples with: in development
    mode, except for a test marked `load` (see pyproject.toml)."""
    found = Python.find(request.param)
    if request.node.get_closest_marker("load"):
        return found.without_dev_mode()
    return found


# Orphans come to this process: whatever a test starts, and whatever that
# starts in turn (ncat's cat for each connection), becomes this process's
# child when its parent ends, so leaves_no_process() below can see it.
PR_SET_CHILD_SUBREAPER = 36


def pytest_configure(config: pytest.Config) -> None:
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children() -> dict[int, str]:
    """This process's live children (Linux /proc): pid and command line.
    Those that have ended (zombies) are reaped on the way."""
    live = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            pids = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that has just ended
            continue
        for pid in map(int, pids):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:  # reaped by its Popen meanwhile
                    pass
            else:
                live[pid] = command.replace(b"\0", b" ").decode().strip()
    return live


@pytest.fixture(autouse=True)
def leaves_no_process() -> Iterator[None]:
    """Fail a test that leaves a process running: every process a test
    starts, and everything those start, has ended when it ends (allowing
    a second for what was just signalled)."""
    before = set(children())
    yield
    deadline = time.monotonic() + 1
    while left := {
        pid: command
        for pid, command in children().items()
        if pid not in before
    }:
        if time.monotonic() > deadline:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"processes left running: {left}")
        time.sleep(0.01)  # not a wait for readiness: polling for it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-output",
        action="store_true",
        help="rewrite docs/output/*.console from what the examples print",
    )


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add a line to the run's summary: figures measured, files written."""

    def add(line: str) -> None:
        # Kept with the test's report, which pytest-xdist's workers send
        # to the main process, where the summary is written.
        request.node.user_properties.append(("report", line))

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in report.user_properties
        if name == "report"
    ]
    for line in dict.fromkeys(lines):  # in order, once each
        terminalreporter.write_line(line)


# In development mode asyncio logs every step of the event loop that takes
# over 0.1 s ("asyncio: Executing <Task ...> took 0.324 seconds"). On this
# 2-core machine, with the tests running three at a time, any step can: the
# line reports the machine's load, not a fault in the example, so it alone
# is taken out of what the tests compare. Every other warning stays.
SLOW_STEP = re.compile(r"^asyncio: Executing .* took \d+\.\d+ seconds\n", re.M)


def without_slow_steps(err: str) -> str:
    return SLOW_STEP.sub("", err)


class Process(subprocess.Popen[str]):
    """A started example; communicate() drops asyncio's slow-step lines."""

    def communicate(
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str, str]:
        out, err = super().communicate(input, timeout)
        return out, without_slow_steps(err or "")


def cpu_limit(seconds: int | None) -> Callable[[], None] | None:
    """What a child runs before the program: a CPU-time limit, if any.

    A client that spins instead of waiting uses a CPU second per second;
    the kernel kills it at the limit (SIGXCPU), and the test sees that.
    """
    if seconds is None:
        return None
    return lambda: resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))


# What starts coverage.py in a child process (coverage's own, and
# pytest-cov's): left out of a tool's environment.
UNMEASURED = ("COVERAGE_PROCESS_", "COV_CORE_")


def run(
    *argv: str,
    cwd: Path = ROOT,
    timeout: float = TIMEOUT,
    python: Python = HERE,
    merge: bool = False,
    cpu: int | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python *argv` (an example, or -m tool) to its end.

    merge=True sends stderr into stdout, as a terminal shows them; cpu
    limits the CPU seconds it may use; stdin is bytes to feed it.
    """
    env = python.environment()
    if (
        argv[0] == "-m"
    ):  # a tool (mkdocs, ruff...): not measured, twice as fast
        env = {k: v for k, v in env.items() if not k.startswith(UNMEASURED)}
    result = subprocess.run(
        [*python.command, *argv],
        cwd=cwd,
        env=env,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        timeout=timeout,
        preexec_fn=cpu_limit(cpu),
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        os.fsdecode(result.stdout),
        without_slow_steps(os.fsdecode(result.stderr or b"")),
    )


def spawn(
    python: Python,
    *argv: str,
    cpu: int | None = None,
    stdin: IO[bytes] | None = None,
) -> Process:
    """Start `python *argv` from the repository root; the test ends it.

    stdin is a file to read from (a pipe could not hold 64 MiB while the
    test does something else).
    """
    return Process(
        [*python.command, *argv],
        cwd=ROOT,
        env=python.environment(),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=cpu_limit(cpu),
    )


def needs_root(why: str) -> None:
    """Skip a test that needs root where it lacks it, but fail it in CI.

    .ci/run sets COOKBOOK_REQUIRE_ROOT=1, so such tests cannot silently
    skip there.
    """
    if os.geteuid() == 0:
        return
    if os.environ.get("COOKBOOK_REQUIRE_ROOT"):
        pytest.fail(f"needs root for {why}")
    pytest.skip(f"needs root for {why}")


_names = itertools.count()


@contextmanager
def namespace() -> Iterator[str]:
    """A network namespace with only loopback, deleted afterwards."""
    needs_root("network namespaces")
    name = f"cookbook-{os.getpid()}-{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=TIMEOUT)
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "set", "lo", "up"],
            check=True,
            timeout=TIMEOUT,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], timeout=TIMEOUT)


def drop(ns: str, *rules: str, hook: str = "input") -> None:
    """Add nftables rules to a hook of the namespace."""
    subprocess.run(
        ["ip", "netns", "exec", ns, "nft",
         f"add table inet t; add chain inet t c "
         f"{{ type filter hook {hook} priority 0; }}; "
         + "; ".join(f"add rule inet t c {rule}" for rule in rules)],
        check=True,
        timeout=TIMEOUT,
    )  # fmt: skip


@contextmanager
def two_hosts() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth pair, as two hosts on one
    cable: eth0 in each, 10.9.0.1/24 and 10.9.0.2/24, IPv6 link-local
    addresses usable at once (no duplicate detection), and no route out:
    nothing sent there leaves them. Yields their names."""
    with namespace() as a, namespace() as b:
        for ns in (a, b):
            in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        in_ns(a, "ip", "link", "add", "eth0", "type", "veth", "peer",
              "name", "eth0", "netns", b)  # fmt: skip
        for ns, address in ((a, "10.9.0.1/24"), (b, "10.9.0.2/24")):
            in_ns(ns, "ip", "address", "add", address, "dev", "eth0")
            in_ns(ns, "ip", "link", "set", "eth0", "up")
        # The link-local IPv6 addresses come once both ends are up.
        deadline = time.monotonic() + TIMEOUT
        for ns in (a, b):
            while "fe80::" not in in_ns(
                ns, "ip", "-6", "address", "show", "dev", "eth0", "scope",
                "link", "-tentative",
            ):  # fmt: skip
                assert time.monotonic() < deadline, "no link-local address"
                time.sleep(0.01)  # not a wait for readiness: polling for it
        yield a, b


@pytest.fixture
def hosts() -> Iterator[tuple[str, str]]:
    """Two hosts on one cable: see two_hosts()."""
    with two_hosts() as names:
        yield names


def on(python: Python, ns: str) -> Python:
    """The interpreter, run in network namespace ns."""
    return python.prefixed("ip", "netns", "exec", ns)


def flood(
    sock: socket.socket,
    addr: Any,
    client: subprocess.Popen[str],
    data: bytes = b"not the echo",
) -> None:
    """Send data to addr as fast as possible while client runs: at most
    TIMEOUT seconds and 10**6 datagrams."""
    deadline = time.monotonic() + TIMEOUT
    for _ in range(10**6):
        if client.poll() is not None or time.monotonic() > deadline:
            return
        try:
            sock.sendto(data, addr)
        except OSError:  # refused: the client has just closed its socket
            return


def in_ns(ns: str, *command: str) -> str:
    """Run a command in network namespace ns; return what it printed."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *command],
        check=True, capture_output=True, text=True, timeout=TIMEOUT,
    ).stdout  # fmt: skip


# x86_64 Linux's calls that wait: poll, select, epoll_wait, pselect6,
# ppoll, epoll_pwait, epoll_pwait2.
WAITING_CALLS = {"7", "23", "232", "270", "271", "281", "441"}


def wait_until_in(
    proc: subprocess.Popen[str], calls: set[str] = WAITING_CALLS
) -> None:
    """Return once proc's main thread waits in poll() or the like (or in
    one of calls: x86_64 Linux's number for a system call, alone or with
    its first argument, "0 0x0" for a read() of stdin).
    /proc/PID/syscall names the call the main thread is in."""
    deadline = time.monotonic() + TIMEOUT
    syscall = Path(f"/proc/{proc.pid}/syscall")
    while True:
        call = syscall.read_text().split()  # number, arguments... or "running"
        if call[0] in calls or " ".join(call[:2]) in calls:
            return
        assert time.monotonic() < deadline, "it never waited"
        time.sleep(0.005)  # not a wait for readiness: polling for it


def interrupt_while_waiting(
    proc: subprocess.Popen[str], calls: set[str] = WAITING_CALLS
) -> None:
    """Send SIGINT once proc's main thread waits (see wait_until_in()).

    A signal that lands between Python's last look at its signals and the
    system call that then waits is seen only when that wait ends: a race
    of microseconds for a person at Ctrl+C, but one a test that signals
    just as the client reaches its wait hits now and then (1 in 150 seen
    here).
    """
    wait_until_in(proc, calls)
    proc.send_signal(signal.SIGINT)


def read_line(stream: IO[str], timeout: float = TIMEOUT) -> str:
    """Read one line from a pipe, waiting at most timeout seconds.

    A thread reads it: the next line may already be in the stream's buffer,
    read along with the last one, where select() on the pipe cannot see it.
    """
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.append(stream.readline()), daemon=True
    )
    reader.start()
    reader.join(timeout)
    if not lines:
        raise TimeoutError(f"no line within {timeout} s")
    return lines[0]


@dataclass
class Server:
    """A running example server and the address it printed."""

    proc: Process
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str, str]:
        """Signal the server; return (exit status, rest of stdout, stderr)."""
        return stop(self.proc, signum)


def stop(proc: Process, signum: int = signal.SIGINT) -> tuple[int, str, str]:
    """Signal a process; return (exit status, rest of stdout, stderr)."""
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


@contextmanager
def started(
    argv: list[str], python: Python, cwd: Path = ROOT
) -> Iterator[tuple[Process, str]]:
    """Start `python *argv`; yield it and its first line, once printed;
    kill it after, if it still runs."""
    proc = Process(
        [*python.command, *argv],
        cwd=cwd,
        env=python.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc, read_line(proc.stdout)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


@contextmanager
def start_unix_server(
    script: str, path: Path | str, *args: str, python: Python = HERE
) -> Iterator[Process]:
    """Start a Unix socket server on path (a name, with --abstract)."""
    with started([script, "--path", str(path), *args], python) as (proc, line):
        shown = f"@{path}" if "--abstract" in args else str(path)
        assert line == f"listening on {shown}\n", line
        yield proc


@contextmanager
def start_server(
    *args: str,
    script: str = SERVER,
    cwd: Path = ROOT,
    python: Python = HERE,
) -> Iterator[Server]:
    """Start a server on a free port (unless args name one); stop it after."""
    argv = [script, "--port", "0", *args]
    with started(argv, python, cwd) as (proc, line):
        found = LISTENING.match(line)
        assert found, f"expected 'listening on', got {line!r}"
        yield Server(proc, found[1], int(found[2]))


@contextmanager
def served(*args: str, script: str, python: Python) -> Iterator[Server]:
    """start_server(), and at the end, unless the test stopped it, a stop
    with exit status 0 (so that coverage.py saves what it measured)."""
    with start_server(*args, script=script, python=python) as running:
        yield running
        if running.proc.poll() is None:
            assert running.stop()[0] == 0


@pytest.fixture
def server(python: Python) -> Iterator[Server]:
    """The example echo server, on 127.0.0.1 and a free port."""
    with start_server(python=python) as running:
        yield running


def read_all(sock: socket.socket) -> bytes:
    """Read a stream socket to its peer's EOF."""
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


def stream_echo(sock: socket.socket, payload: bytes) -> bytes:
    """Send payload on a connected stream socket (a thread writes while
    this one reads), half-close, and read the echo to the peer's EOF."""

    def send() -> None:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        return read_all(sock)
    finally:
        sender.join(TIMEOUT)


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    """A UDP socket bound to a free port, with a bounded receive wait."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(TIMEOUT)
    return sock


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    """A UDP socket the test drives by hand: it answers only when told."""
    with udp_socket() as sock:
        yield sock


@pytest.fixture
def closed_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (freed just now)."""
    with udp_socket() as sock:
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def closed_tcp_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that refuses connections while the test
    runs: bound, so no one else takes it (and a client that tries again
    and again cannot connect to itself), but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def port_of(pid: int, table: str = "udp") -> int:
    """The local port of the socket process pid holds (Linux /proc).

    table is udp, udp6, tcp or tcp6; for TCP, only a listening socket
    counts. It waits, briefly, for the socket to appear.
    """
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        inodes = set()
        for link in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = link.readlink().name
            except FileNotFoundError:  # closed since the listing
                continue
            if target.startswith("socket:"):
                inodes.add(target.strip("socket:[]"))
        # The process's own view: it may be in another network namespace.
        table_path = Path(f"/proc/{pid}/net/{table}")
        for line in table_path.read_text().splitlines()[1:]:
            fields = line.split()
            listening = table.startswith("udp") or fields[3] == "0A"
            if fields[9] in inodes and listening:
                return int(fields[1].split(":")[1], 16)
        time.sleep(0.01)  # not a wait for readiness: polling for it
    raise LookupError(f"process {pid} has no {table} socket")


@contextmanager
def unix_peer(argv: list[str], path: Path) -> Iterator[None]:
    """Run a program nobody here wrote as a server on the Unix socket
    path (PATH in argv); yield once it listens there; stop it after."""
    proc = subprocess.Popen(
        [arg.replace("PATH", str(path)) for arg in argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not unix_listening(path):
            assert time.monotonic() < deadline, f"nothing listens on {path}"
            time.sleep(0.01)  # not a wait for readiness: polling for it
        yield
    finally:
        end_group(proc)


def unix_listening(path: Path) -> bool:
    """Whether a datagram socket is bound to path, or a stream socket
    listens on it (Linux /proc/net/unix: ..., Flags, Type, ..., Path)."""
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if (
            len(fields) == 8
            and fields[-1] == str(path)
            and (fields[4] == "0002" or fields[3] == "00010000")  # ACCEPTCON
        ):
            return True
    return False


@pytest.fixture
def socat_server() -> Iterator[int]:
    """A third-party echo server (socat) on 127.0.0.1; yields its port."""
    proc = subprocess.Popen(
        ["socat", "-d", "-d", "UDP4-RECVFROM:0,bind=127.0.0.1,fork", "PIPE"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        # socat prints this once bound, but shows port 0: ask /proc.
        assert "receiving on" in read_line(proc.stderr)
        yield port_of(proc.pid)
    finally:
        end_group(proc)
        proc.communicate(timeout=TIMEOUT)


@contextmanager
def third_party(argv: list[str], table: str) -> Iterator[int]:
    """Start a peer nobody here wrote, listening on a free port; yield it.

    Such programs show port 0 as they were told, so /proc tells the port.
    """
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield port_of(proc.pid, table)
    finally:
        end_group(proc)


def end_group(proc: subprocess.Popen[Any]) -> None:
    """End a program started with start_new_session=True and everything
    it started (ncat's and socat's child for each connection): SIGTERM to
    its process group, then wait for it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole group has ended already
        pass
    proc.wait(timeout=TIMEOUT)


# socat forks a cat for each connection; cat ends at the client's EOF, and
# socat passes that on: a half-close comes back as the end of the echo.
SOCAT_TCP_ECHO = "socat TCP4-LISTEN:0,bind=127.0.0.1,fork,reuseaddr EXEC:cat"
# ncat runs cat the same way, but it is no echo server for a stream: it
# closes the connection at the client's EOF, before cat has written all of
# the echo, and with a large message it stalls (it blocks writing to cat
# while cat blocks writing to it). Tests use it to show how clients fail.
NCAT_TCP_ECHO = "ncat -l -k 127.0.0.1 0 --exec /bin/cat"


@pytest.fixture
def socat_tcp_server() -> Iterator[int]:
    """A third-party TCP echo server (socat) on 127.0.0.1; yields its port."""
    with third_party(SOCAT_TCP_ECHO.split(), "tcp") as port:
        yield port


@pytest.fixture
def ncat_tcp_server() -> Iterator[int]:
    """ncat running cat for each connection on 127.0.0.1; yields its port."""
    with third_party(NCAT_TCP_ECHO.split(), "tcp") as port:
        yield port


def tcp_listener(host: str = "127.0.0.1", backlog: int = 8) -> socket.socket:
    """A TCP socket listening on a free port, with bounded waits."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(backlog)
    listener.settimeout(TIMEOUT)
    return listener


@pytest.fixture
def tcp_peer() -> Iterator[socket.socket]:
    """A listening TCP socket the test drives by hand: it accepts when told."""
    with tcp_listener() as listener:
        yield listener


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A TCP port whose listener never accepts and whose queue is full.

    With listen(0) the kernel queues one connection; the test makes it. A
    further connect gets no answer to its SYN and hangs until it times out.
    """
    with tcp_listener(backlog=0) as listener:
        queued = socket.create_connection(listener.getsockname(), TIMEOUT)
        with queued:
            yield listener.getsockname()[1]


def run_page_script(page: str) -> subprocess.CompletedProcess[str]:
    """Run a page's ```sh block with bash -e, as a reader pasting it into
    a script would: as it stands, port 9000 and all, in a network
    namespace of its own, where no other test's program can hold it."""
    text = (ROOT / "docs" / page).read_text()
    [script] = re.findall(r"```sh\n(.*?)```", text, re.S)
    assert "--port 9000" in script
    with namespace() as ns:
        return subprocess.run(
            ["ip", "netns", "exec", ns, "bash", "-e", "-c", script],
            cwd=ROOT,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                 + os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )  # fmt: skip


def assert_nothing_listening(
    python: Python, script: str, port: int, *args: str
) -> None:
    """A client sent to a port where nothing listens: one line, exit 1."""
    result = run(script, "--port", str(port), *args, python=python, stdin=b"")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: nothing is listening at 127.0.0.1:{port}\n"
    )


def reset_on_close(sock: socket.socket) -> None:
    """SO_LINGER on with a time of 0: the socket's close() sends RST, not
    FIN, and throws away what is unsent."""
    linger = struct.pack("ii", 1, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read size bytes, however they arrive; EOF before is an error."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def curl(
    *args: str, ns: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run curl, quiet but for errors, failing on an HTTP error, within
    10 s; in network namespace ns if given."""
    where = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run(
        [*where, "curl", "-sS", "--fail", "--max-time", "10", *args],
        capture_output=True, timeout=TIMEOUT, check=check,
    )  # fmt: skip


def each_gets_its_own_echo(socks: list[socket.socket]) -> None:
    """Send on each socket its number, in 8 digits, all before any is
    read; assert that each reads its own back."""
    for i, sock in enumerate(socks):
        sock.sendall(b"%08d" % i)
    for i, sock in enumerate(socks):
        got = b""
        while len(got) < 8 and (chunk := sock.recv(8 - len(got))):
            got += chunk
        assert got == b"%08d" % i


def children_of(pid: int) -> list[int]:
    """The live children of process pid (Linux /proc)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in found.split()]


def rss(pid: int) -> int:
    """The resident memory of process pid, in bytes (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found
    return int(found[1]) * 1024


def assert_port_in_use(
    python: Python, script: str, port: int, *args: str
) -> None:
    """A server started on a port that another holds: one line, exit 1."""
    result = run(script, "--port", str(port), *args, python=python)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def warning_when_reachable(python: Python, script: str, *args: str) -> str:
    """Start a TCP server on 0.0.0.0 and stop it; return what it logged,
    with the warning every server gives there (asserted here) left out."""
    with start_server(
        "--host", "0.0.0.0", *args, script=script, python=python
    ) as running:
        _, _, err = running.stop()
    warning = (
        f"tcp_server: 0.0.0.0:{running.port} is reachable from other "
        "machines\n"
    )
    assert warning in err
    return err.replace(warning, "")


def usage_error(python: Python, script: str, *args: str) -> str:
    """Run script with bad arguments: assert exit status 2, nothing on
    stdout and no traceback; return the error, without the program name."""
    result = run(script, *args, python=python)
    assert (result.returncode, result.stdout) == (2, "")
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    prefix = f"{Path(script).name}: error: "
    assert last.startswith(prefix), last
    return last.removeprefix(prefix)


def bad_usage_exits_2(
    cases: list[tuple[list[str], str]],
    script: str | None = None,
    ids: list[str] | None = None,
) -> Callable[..., None]:
    """A test that runs script (by default, the module's `script` fixture)
    with each case's arguments, and checks that it is bad usage with that
    error (see usage_error()). Once: argparse is the same on every Python.
    """

    @pytest.mark.parametrize(("args", "error"), cases, ids=ids)
    @pytest.mark.once
    def test(
        python: Python,
        args: list[str],
        error: str,
        request: pytest.FixtureRequest,
    ) -> None:
        name = script or request.getfixturevalue("script")
        assert usage_error(python, name, *args) == error

    return test


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of throwaway TLS certificates, made with trustme; PEM files.

    ca.pem is the CA that signs localhost.pem (key: localhost-key.pem, for
    localhost, 127.0.0.1 and ::1), client.pem (a client's, with its key) and
    the bad ones: expired.pem, future.pem (not yet valid). other.pem is
    signed by another CA, self.pem is that CA's own (self-signed).
    """
    import trustme  # only these tests need it

    folder = tmp_path_factory.mktemp("certs")
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(folder / "ca.pem")
    good = ca.issue_cert("localhost", "127.0.0.1", "::1")
    good.cert_chain_pems[0].write_to_path(folder / "localhost.pem")
    good.private_key_pem.write_to_path(folder / "localhost-key.pem")
    now = datetime.now(timezone.utc)
    day = timedelta(days=1)
    for name, cert in {
        "expired": ca.issue_cert(
            "localhost", not_before=now - 9 * day, not_after=now - day
        ),
        "future": ca.issue_cert(
            "localhost", not_before=now + day, not_after=now + 9 * day
        ),
        "other": other.issue_cert("localhost", "127.0.0.1"),
        "client": ca.issue_cert("reader@example.com", common_name="a reader"),
    }.items():
        cert.private_key_and_cert_chain_pem.write_to_path(
            folder / f"{name}.pem"
        )
    (folder / "self.pem").write_bytes(
        other.private_key_pem.bytes() + other.cert_pem.bytes()
    )
    return folder


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once by `mkdocs build --strict`, whose messages are
    in its build.log. The first of pytest-xdist's processes to ask builds
    it, in the folder they share; the others wait for it."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:  # a worker's own: popen-gwN
        shared = shared.parent
    with open(shared / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        folder = shared / "site"
        if not folder.exists():
            result = run(
                "-m", "mkdocs", "build", "--strict", "--site-dir",
                str(folder), timeout=TIMEOUT * 4, python=PLAIN,
            )  # fmt: skip
            (shared / "build.log").write_text(
                f"exit status {result.returncode}\n{result.stderr}"
            )
    return folder


def site_build_log(folder: Path) -> str:
    """What the build of built_site() said."""
    return (folder.parent / "build.log").read_text()


def tls_args(certs: Path, name: str = "localhost") -> tuple[str, ...]:
    """A TLS server's options for certs' certificate name (and its key)."""
    key = "localhost-key" if name == "localhost" else name
    return (
        "--cert",
        str(certs / f"{name}.pem"),
        "--key",
        str(certs / f"{key}.pem"),
    )


@contextmanager
def openssl_server(certs: Path, *options: str) -> Iterator[int]:
    """openssl s_server as an echo server for one connection, on a free
    port of 127.0.0.1; yield the port, and check that it ended well.

    -quiet: what the client sends comes out on stdout, and what goes in on
    stdin is sent back. A thread relays one to the other.
    """
    proc = subprocess.Popen(
        ["openssl", "s_server", "-quiet", "-naccept", "1",
         "-accept", "127.0.0.1:0", "-cert", str(certs / "localhost.pem"),
         "-key", str(certs / "localhost-key.pem"), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def relay() -> None:
        assert proc.stdout and proc.stdin
        with proc.stdin, proc.stdout:
            while data := os.read(proc.stdout.fileno(), 65_536):
                proc.stdin.write(data)
                proc.stdin.flush()

    relaying = threading.Thread(target=relay, daemon=True)
    relaying.start()
    try:
        yield port_of(proc.pid, "tcp")
        proc.wait(TIMEOUT)  # -naccept 1: it ends after one connection
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
        relaying.join(TIMEOUT)


DEV_CA = ROOT / "docs" / "snippets" / "dev_ca.sh"  # the TLS page's recipe


def reader_clone(folder: Path) -> Path:
    """Make folder what the top of a reader's clone holds for running the
    examples: examples/ and net.py, copies, not links. The pages' commands
    run from there, as the home page says."""
    shutil.copytree(ROOT / "examples", folder / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "net.py", folder)
    return folder


def make_dev_certs(folder: Path, recipe: str | None = None) -> Path:
    """Make folder a reader's clone, and run the TLS page's commands (or
    recipe, a variant) there, as the page says."""
    subprocess.run(
        ["bash", "-e", "-c", recipe or DEV_CA.read_text()],
        cwd=reader_clone(folder),
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    return folder


@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reader's clone with the page's development CA and certificate."""
    return make_dev_certs(tmp_path_factory.mktemp("clone"))


def tls_pair(
    python: Python, folder: Path, *client_args: str
) -> subprocess.CompletedProcess[str]:
    """Start the blocking TLS server in folder, with its default --cert
    and --key, and run the blocking client against it, trusting ca.pem."""
    with start_server(
        script="examples/tls_echo_server.py", cwd=folder, python=python
    ) as server:
        return run(
            "examples/tls_echo_client.py", "--port", str(server.port),
            "--cafile", "ca.pem", *client_args, cwd=folder, python=python,
        )  # fmt: skip
