"""The pages show what the code prints, and the README what CI runs.

Output blocks on the pages are docs/output/*.console files, embedded with
pymdownx.snippets. Each holds `$ command` lines and what followed them in a
terminal; this test runs those commands against a real server and compares,
allowing only for what varies between runs: the port (8888 on the page, a
free one here) and timings. `pytest --update-output` rewrites the files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import perf
import perf_http
import perf_tcp
import pytest
import timeline
from conftest import (
    PLAIN,
    ROOT,
    TIMEOUT,
    Python,
    end_group,
    in_ns,
    namespace,
    needs_root,
    on,
    port_of,
    read_line,
    reader_clone,
    run,
    spawn,
    start_server,
    started,
    stop,
    tcp_listener,
    two_hosts,
    udp_socket,
)
from connecting import *  # noqa: F403 (the lan fixture)
from test_tcp_keepalive import vanish, vanishing_peer

import net

OUTPUT = ROOT / "docs" / "output"
TIMING = re.compile(r"\d+\.\d+ m?s")
# (server, client) pairs whose transcripts are replayed together, and what
# stands in for a suspended server (Ctrl+Z) in the client's errors: a
# socket that takes what is sent and never answers.
PAIRS = [
    ("udp_echo_server_blocking", "udp_echo_client_blocking", udp_socket),
    ("udp_echo_server_asyncio", "udp_echo_client_asyncio", udp_socket),
    ("udp_echo_server_fast", "udp_echo_client_asyncio", udp_socket),
    ("tcp_echo_server_blocking", "tcp_echo_client_blocking", tcp_listener),
    ("tcp_framing_server", "tcp_framing_client", tcp_listener),
    ("tcp_echo_server_threads", "tcp_echo_client_blocking", tcp_listener),
    ("tcp_echo_server_selectors", "tcp_echo_client_blocking", tcp_listener),
    ("tcp_echo_server_asyncio", "tcp_echo_client_asyncio", tcp_listener),
    ("tcp_echo_server_fast", "tcp_echo_client_asyncio", tcp_listener),
]
NUMBER = re.compile(r" *\d[\d,.]*")  # with the padding that aligns it


def transcript(name: str) -> list[str]:
    """The commands of a transcript, in order."""
    text = (OUTPUT / f"{name}.console").read_text()
    return [line[2:] for line in text.splitlines() if line.startswith("$ ")]


def replay(
    commands: list[str],
    ports: dict[str, int] | None,
    cwd: Path = ROOT,
    interpreter: Python = PLAIN,
) -> str:
    """Run commands as a terminal would, in cwd; return the terminal's text.

    ports maps each port a page shows (8888 when it shows none) to the
    port of what the test started in its place; None: the examples take
    no port (Unix sockets), and a command that is not `python ...` runs
    in bash.
    """
    shown, status = [], 0
    for command in commands:
        shown.append(f"$ {command}")
        if command == "echo $?":
            shown.append(str(status))
            continue
        python, script, *args = shlex.split(command)
        if ports is None:  # Unix sockets: no ports to map
            result = (
                run(script, *args, cwd=cwd, merge=True, python=interpreter)
                if python == "python"
                else shell(command, cwd)
            )
            status = result.returncode
            shown += result.stdout.splitlines()
            continue
        assert python == "python", command
        if "--port" not in args:
            args += ["--port", "8888"]
        at = args.index("--port") + 1
        page_port, args[at] = args[at], str(ports[args[at]])
        result = run(script, *args, cwd=cwd, merge=True, python=interpreter)
        status = result.returncode
        text = result.stdout.replace(f":{args[at]}", f":{page_port}")
        shown += text.splitlines()
    return "\n".join(shown) + "\n"


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a page's shell command (stat, socat, ...) as a terminal would."""
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, text=True, timeout=TIMEOUT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def check(
    name: str, actual: str, update: bool, varies: re.Pattern[str] = TIMING
) -> None:
    """Compare with the page's transcript, except for what varies."""
    path = OUTPUT / f"{name}.console"
    if update:
        path.write_text(actual)
    expected = path.read_text()
    assert varies.sub("N", actual) == varies.sub("N", expected)


def check_pair(
    server_name: str,
    client_name: str,
    update: bool,
    cwd: Path = ROOT,
    errors: bool = False,
) -> None:
    """Replay a server's transcript and its client's (and, if errors, the
    client's errors transcript) against it, in cwd; compare each."""
    [command] = transcript(server_name)
    python, script, *args = shlex.split(command)
    assert python == "python", command
    with start_server(*args, script=script, cwd=cwd, python=PLAIN) as server:
        ports = {"8888": server.port}
        shown = {client_name: replay(transcript(client_name), ports, cwd)}
        if errors:
            shown[f"{client_name}_errors"] = replay(
                transcript(f"{client_name}_errors"), ports, cwd
            )
        _, rest, _ = server.stop()  # Ctrl+C in the server's terminal
    # The terminal echoes ^C where the cursor is, at the start of the line
    # the server then prints.
    shown[server_name] = (
        f"$ {command}\nlistening on {server.host}:8888\n^C{rest}"
    )
    for name, text in shown.items():
        check(name, text, update)


@pytest.mark.parametrize(("server_name", "client_name", "silent"), PAIRS)
def test_output_blocks_are_what_the_examples_print(
    server_name: str,
    client_name: str,
    silent: Callable[[], socket.socket],
    closed_port: int,
    closed_tcp_port: int,
    request: pytest.FixtureRequest,
) -> None:
    update = bool(request.config.getoption("--update-output"))
    check_pair(server_name, client_name, update)
    if not (OUTPUT / f"{client_name}_errors.console").exists():
        return  # the page shows no errors transcript
    # Where nothing listens: for TCP, a port held bound (not listening),
    # so that no other test's server takes it meanwhile.
    nothing = closed_tcp_port if silent is tcp_listener else closed_port
    with silent() as suspended:
        ports = {"8888": nothing, "9999": suspended.getsockname()[1]}
        errors = replay(transcript(f"{client_name}_errors"), ports)
    check(f"{client_name}_errors", errors, update)


@pytest.mark.parametrize(
    ("server_name", "client_name"),
    [
        ("tls_echo_server", "tls_echo_client"),
        ("tls_echo_server_asyncio", "tls_echo_client_asyncio"),
        ("starttls_server", "starttls_client"),
    ],
)
def test_tls_output_blocks_are_what_the_examples_print(
    server_name: str,
    client_name: str,
    dev_certs: Path,
    request: pytest.FixtureRequest,
) -> None:
    # From the top of a reader's clone, where the page's commands made
    # the certificates; the errors are those of a client of that server.
    update = bool(request.config.getoption("--update-output"))
    check_pair(server_name, client_name, update, dev_certs, errors=True)


def test_nodelay_output_block_is_what_it_prints(
    request: pytest.FixtureRequest,
) -> None:
    update = bool(request.config.getoption("--update-output"))
    shown = replay(transcript("tcp_nodelay"), None)
    check("tcp_nodelay", shown, update, NUMBER)  # times vary, not the rest


def test_keepalive_output_block_is_what_it_prints(
    request: pytest.FixtureRequest,
) -> None:
    # Against socat in a namespace of the test's own; the peer vanishes
    # (every packet dropped) once the client has heard from it.
    update = bool(request.config.getoption("--update-output"))
    shown = []
    for command in transcript("tcp_keepalive"):
        _, *argv = shlex.split(command)
        with (
            vanishing_peer() as (ns, port),
            spawn(on(PLAIN, ns), *argv, "--port", str(port)) as proc,
        ):
            assert proc.stdout is not None
            lines = read_line(proc.stdout)
            if "--every" in argv:  # the first echo, before it vanishes
                lines += read_line(proc.stdout)
            vanish(ns, port)
            out, err = proc.communicate(timeout=TIMEOUT)
        text = (lines + out + err).replace(f":{port}", ":8888")
        shown.append(f"$ {command}\n{text}")
    check("tcp_keepalive", "".join(shown), update)


def test_close_output_block_is_what_it_prints(
    request: pytest.FixtureRequest,
) -> None:
    # In a namespace of the test's own, so that ss shows only what the
    # example left behind, and port 8888 is free; byte counts vary.
    update = bool(request.config.getoption("--update-output"))
    shown = []
    with namespace() as ns:
        for command in transcript("tcp_close"):
            argv = shlex.split(command)
            if argv[0] == "python":
                text = run(*argv[1:], python=on(PLAIN, ns), merge=True).stdout
            else:  # ss, whose lines end in spaces the page need not show
                text = re.sub(r" +\n", "\n", in_ns(ns, *argv))
            shown.append(f"$ {command}\n{text}")
    check("tcp_close", "".join(shown), update, NUMBER)


def test_reuseport_output_blocks_are_what_they_print(
    request: pytest.FixtureRequest,
) -> None:
    # In a namespace of the test's own, on the page's port; socat is the
    # client. Which worker takes a connection, and the pids, vary.
    update = bool(request.config.getoption("--update-output"))
    [command] = transcript("tcp_reuseport_workers")
    _, *argv = shlex.split(command)
    with namespace() as ns, started(argv, on(PLAIN, ns)) as (server, line):
        clients = "".join(
            f"$ {client}\n" + in_ns(ns, "bash", "-c", client)
            for client in transcript("tcp_reuseport_workers_clients")
        )
        _, rest, _ = stop(server)
    check("tcp_reuseport_workers_clients", clients, update, NUMBER)
    check("tcp_reuseport_workers", f"$ {command}\n{line}^C{rest}", update)


# The chat page's session: who does what, in turn (None: starts the
# client its transcript shows), and how many lines that makes each print.
SESSION = [
    ("ada", None, {"ada": 2}),
    ("bob", None, {"ada": 2, "bob": 2}),
    ("cy", None, {"ada": 1, "bob": 1, "cy": 1}),
    ("cy", "/nick cy", {"ada": 1, "bob": 1, "cy": 1}),
    ("ada", "hi all", {"ada": 1, "bob": 1, "cy": 1}),
    ("bob", "/who", {"bob": 1}),
    ("cy", "/quit", {"ada": 1, "bob": 1, "cy": 1}),
]


def test_chat_session_is_what_the_three_saw(
    request: pytest.FixtureRequest,
) -> None:
    # Three clients, each driven through its standard input; after each
    # step the test reads every line the step makes each client print, so
    # the session is the same every run. A terminal echoes what its user
    # types: each person's transcript shows it in place. Then Ctrl+C in
    # the server's terminal.
    update = bool(request.config.getoption("--update-output"))
    [server_command] = transcript("chat_server_asyncio")
    _, *argv = shlex.split(server_command)
    shown: dict[str, str] = {}
    clients: dict[str, subprocess.Popen[str]] = {}
    with started([*argv, "--port", "0"], PLAIN) as (server, line):
        port = line.rsplit(":", 1)[1].strip()
        try:
            for who, typed, lines in SESSION:
                if typed is None:
                    [command] = transcript(f"chat_client_{who}")
                    _, *args = shlex.split(command)
                    clients[who] = subprocess.Popen(
                        [*PLAIN.command, *args, "--port", port],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        text=True, cwd=ROOT,
                    )  # fmt: skip
                    shown[who] = f"$ {command}\n"
                else:
                    shown[who] += typed + "\n"
                    stdin = clients[who].stdin
                    assert stdin is not None
                    stdin.write(typed + "\n")
                    stdin.flush()
                for name, count in lines.items():
                    stdout = clients[name].stdout
                    assert stdout is not None
                    shown[name] += "".join(
                        read_line(stdout) for _ in range(count)
                    )
            _, rest, _ = stop(server)
            for name, client in clients.items():
                shown[name] += client.communicate(timeout=TIMEOUT)[0]
        finally:
            for client in clients.values():
                if client.poll() is None:
                    client.kill()
                    client.communicate(timeout=TIMEOUT)
    for name, text in shown.items():
        check(f"chat_client_{name}", text, update)
    where = line.replace(f":{port}", ":8888")
    check("chat_server_asyncio", f"$ {server_command}\n{where}^C{rest}",
          update)  # fmt: skip


def test_the_happy_eyeballs_timeline_is_drawn_from_its_transcript() -> None:
    assert timeline.PICTURE.read_text() == timeline.render(
        timeline.TRANSCRIPT.read_text()
    ), "stale: run python tests/timeline.py"


def test_connecting_output_blocks_are_what_the_examples_print(
    lan: str, request: pytest.FixtureRequest
) -> None:
    # In the tests' small internet (tests/connecting.py), which the pages
    # describe, with socat as the echo server on 8888: the namespace is
    # the tests' own, so the port can be the page's.
    update = bool(request.config.getoption("--update-output"))
    python = on(PLAIN, lan)
    socat = subprocess.Popen(
        ["ip", "netns", "exec", lan, "socat",
         "TCP4-LISTEN:8888,bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"],
        start_new_session=True,
    )  # fmt: skip
    try:
        port_of(socat.pid, "tcp")  # listening
        for name in (
            "resolve", "resolve_errors", "tcp_connect_happy_eyeballs",
            "tcp_connect_happy_eyeballs_errors", "tcp_port_check",
        ):  # fmt: skip
            check(name, replay(transcript(name), None, ROOT, python), update)
    finally:
        end_group(socat)
    [command] = transcript("tcp_echo_server_dualstack")
    _, *argv = shlex.split(command)
    with started(argv, python) as (server, line):
        assert server.stdout is not None
        lines = line + read_line(server.stdout)
        clients = replay(
            transcript("tcp_echo_server_dualstack_clients"), None, ROOT,
            python,
        )  # fmt: skip
        _, rest, _ = stop(server)
    check("tcp_echo_server_dualstack_clients", clients, update)
    check("tcp_echo_server_dualstack", f"$ {command}\n{lines}^C{rest}", update)


@pytest.mark.parametrize(
    ("server_name", "client_name"),
    [
        ("unix_echo_server", "unix_echo_client"),
        ("unix_datagram_echo_server", "unix_datagram_echo_client"),
    ],
)
def test_unix_output_blocks_are_what_the_examples_print(
    server_name: str,
    client_name: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # From the top of a reader's clone, where the server makes echo.sock,
    # its default path; the errors are those of a second server and a
    # client beside the first.
    update = bool(request.config.getoption("--update-output"))
    reader_clone(tmp_path)
    [command] = transcript(server_name)
    _, *argv = shlex.split(command)
    with started(argv, PLAIN, tmp_path) as (server, line):
        assert line == "listening on echo.sock\n"
        shown = {
            name: replay(transcript(name), None, tmp_path)
            for name in (client_name, f"{client_name}_errors")
        }
        _, rest, _ = stop(server)
    shown[server_name] = f"$ {command}\n{line}^C{rest}"
    for name, text in shown.items():
        check(name, text, update)


# What differs from run to run in the one-to-many transcripts: timings,
# ports before a datagram's bytes, and which receiver answered first.
ONE_TO_MANY_VARIES = re.compile(
    rf"{TIMING.pattern}|(?<=:)\d+(?=: b')|b'(one|two)'"
)


@pytest.mark.parametrize("kind", ["broadcast", "multicast"])
def test_one_to_many_output_blocks_are_what_the_examples_print(
    kind: str, request: pytest.FixtureRequest
) -> None:
    # Two receivers on one port, in two terminals; the sender in a third.
    # Multicast runs on a host of the tests' own, whose eth0 (a veth) is
    # 10.9.0.1: its receivers hear the sender through loopback.
    update = bool(request.config.getoption("--update-output"))
    with ExitStack() as stack:
        python = PLAIN
        if kind == "multicast":
            host, _ = stack.enter_context(two_hosts())
            python = PLAIN.prefixed("ip", "netns", "exec", host)
        check_one_to_many(f"udp_{kind}", python, update)


def check_one_to_many(prefix: str, python: Python, update: bool) -> None:
    names = [f"{prefix}_receiver", f"{prefix}_receiver_two"]
    commands = [transcript(name)[0] for name in names]
    argvs = [shlex.split(command)[1:] for command in commands]
    with start_server(*argvs[0][1:], script=argvs[0][0], python=python) as one:
        port = str(one.port)
        with start_server(
            *argvs[1][1:], "--port", port, script=argvs[1][0], python=python
        ) as two:
            with udp_socket() as free:
                silent = free.getsockname()[1]  # nobody there once closed
            ports = {"8888": one.port, "9999": silent}
            shown = {
                name: replay(transcript(name), ports, interpreter=python)
                for name in (f"{prefix}_sender", f"{prefix}_sender_errors")
            }
            for name, command, receiver in zip(names, commands, (one, two)):
                _, rest, _ = receiver.stop()  # Ctrl+C in its terminal
                heard, summary = rest.rsplit("\n", 2)[:2]
                where = net.format_address((receiver.host, 8888))
                shown[name] = (
                    f"$ {command}\nlistening on {where}\n"
                    f"{heard}\n^C{summary}\n"
                )
    for name, text in shown.items():
        check(name, text, update, ONE_TO_MANY_VARIES)


def test_socketpair_output_block_says_what_it_prints(
    request: pytest.FixtureRequest,
) -> None:
    # Its own process and its child's: no server, no port.
    update = bool(request.config.getoption("--update-output"))
    shown = []
    for command in transcript("socketpair_ipc"):
        python, script, *args = shlex.split(command)
        assert python == "python", command
        result = run(script, *args, merge=True, python=PLAIN)
        shown += [f"$ {command}", *result.stdout.splitlines()]
    text = "\n".join(shown) + "\n"
    check("socketpair_ipc", text, update, varies=re.compile(r"child \d+"))


def test_bench_output_block_says_what_the_bench_prints(
    request: pytest.FixtureRequest,
) -> None:
    # Every figure varies between runs; every line must still say the same.
    update = bool(request.config.getoption("--update-output"))
    with start_server(python=PLAIN) as server:
        shown = replay(transcript("udp_echo_bench"), {"8888": server.port})
    check("udp_echo_bench", shown, update, varies=NUMBER)


def test_tcp_bench_output_block_says_what_the_bench_prints(
    request: pytest.FixtureRequest,
) -> None:
    update = bool(request.config.getoption("--update-output"))
    with start_server(
        script="examples/tcp_echo_server_fast.py", python=PLAIN
    ) as server:
        shown = replay(transcript("tcp_echo_bench"), {"8888": server.port})
    check("tcp_echo_bench", shown, update, varies=NUMBER)


def test_naive_client_output_block_says_what_it_prints(
    request: pytest.FixtureRequest,
) -> None:
    update = bool(request.config.getoption("--update-output"))
    with start_server(
        script="examples/tcp_echo_server_blocking.py", python=PLAIN
    ) as server:
        shown = replay(
            transcript("tcp_echo_client_naive"), {"8888": server.port}
        )
    check("tcp_echo_client_naive", shown, update, varies=NUMBER)


@pytest.mark.parametrize(
    "script", [perf, perf_tcp, perf_http], ids=["udp", "tcp", "http"]
)
def test_performance_page_is_rendered_from_its_saved_results(
    script: Any,
) -> None:
    # Its tables and chart come from the benchmark's JSON alone: none is
    # edited by hand, and none is left behind when the renderer changes.
    results = json.loads(script.RESULTS.read_text())
    for path, text in script.render(results).items():
        assert path.read_text() == text, (
            f"{path.name} is stale: run python tests/{script.__name__}.py "
            "--render"
        )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci[-1]
    assert command.startswith("sh tests/setup.sh && ")
    assert "python -m pytest -n 3 --cov --cov-fail-under=100" in command
    assert f"\n{command}\n" in readme


def test_setup_names_what_it_cannot_install_in_one_line() -> None:
    # A user who may not install (nobody), on a machine where only sh and
    # the commands setup.sh itself uses are on the PATH.
    needs_root("running the set-up as another user")
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # for nobody
        for program in ("sh", "id", "python3", "tr", "sudo"):
            found = shutil.which(program)
            if found:
                (Path(folder) / program).symlink_to(found)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "env", f"PATH={folder}", "sh", "tests/setup.sh"],
            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "setup: missing: socat ncat openssl chromium ip nft ss dnsmasq dig "
        "curl wrk ab; install them with: sudo apt-get install socat ncat "
        "openssl chromium fonts-liberation iproute2 nftables dnsmasq-base "
        "bind9-dnsutils curl wrk apache2-utils\n"
    )


def test_setup_names_a_missing_python(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", "tests/setup.sh"],
        cwd=ROOT,
        env={**os.environ, "COOKBOOK_PYTHONS": "3.11,2.1",
             "PYENV_ROOT": str(tmp_path)},
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"setup: no Python 3.11 2.1 under {tmp_path}/versions; install "
        "each with pyenv install VERSION, or test on fewer, e.g. "
        "COOKBOOK_PYTHONS=3.11\n"
    )


# What changes from run to run in HTTP: dates (the Date field, a file's
# Last-Modified, the common log format's time).
HTTP_DATES = re.compile(
    r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"
    r"|\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}"
)


def test_http_output_blocks_are_what_curl_and_the_server_print(
    request: pytest.FixtureRequest,
) -> None:
    # The server in one terminal (its log lines as they come), curl and
    # ncat in another; then Ctrl+C in the server's.
    update = bool(request.config.getoption("--update-output"))
    [server_command] = transcript("http_server")
    _, *argv = shlex.split(server_command)
    shown = []
    with started([*argv, "--port", "0"], PLAIN) as (server, line):
        port = line.rsplit(":", 1)[1].strip()
        for command in transcript("http_server_curl"):
            result = shell(command.replace("8888", port), ROOT)
            text = result.stdout.replace(f":{port}", ":8888")
            shown += [f"$ {command}", *text.splitlines()]
        _, rest, err = stop(server)
    check("http_server_curl", "\n".join(shown) + "\n", update, HTTP_DATES)
    where = line.replace(f":{port}", ":8888")
    check("http_server", f"$ {server_command}\n{where}{err}^C{rest}", update,
          HTTP_DATES)  # fmt: skip


@pytest.mark.parametrize("name", ["tcp_relay", "socks5_proxy"])
def test_in_the_middle_output_blocks_are_what_they_and_curl_print(
    name: str, request: pytest.FixtureRequest
) -> None:
    # The HTTP server recipe stands for the page's port 8000; the relay
    # or the proxy in one terminal, curl in another; then Ctrl+C in the
    # first. Byte counts and ports vary.
    update = bool(request.config.getoption("--update-output"))
    [command] = transcript(name)
    _, *argv = shlex.split(command)
    shown = []
    with start_server(
        "--root", "examples/www", script="examples/http_server.py"
    ) as http:
        argv = [a.replace("8000", str(http.port)) for a in argv]
        with started([*argv, "--port", "0"], PLAIN) as (server, line):
            port = line.rsplit(":", 1)[1].strip()
            curls = transcript(f"{name}_curl")
            for curl in curls:
                mapped = curl.replace("8888", port)
                result = shell(mapped.replace("8000", str(http.port)), ROOT)
                shown += [f"$ {curl}", *result.stdout.splitlines()]
            # A line for each connection, once it has ended: then Ctrl+C.
            assert server.stderr is not None
            logged = "".join(read_line(server.stderr) for _ in curls)
            _, rest, err = stop(server)
            err = logged + err
    err = err.replace(f":{http.port}", ":8000")
    where = line.replace(f":{port}", ":8888")
    varies = re.compile(f"{HTTP_DATES.pattern}|{NUMBER.pattern}")
    check(f"{name}_curl", "\n".join(shown) + "\n", update, varies)
    check(name, f"$ {command}\n{where}{err}^C{rest}", update, varies)
