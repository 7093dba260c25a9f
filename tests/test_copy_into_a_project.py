"""A reader copies one example and net.py into their own project.

Every example imports the standard library and net alone, and runs when
copied with net.py into an empty folder outside this repository, with the
standard library alone: `python -S -E` leaves out site-packages (where the
set-up installed net.py) and PYTHONPATH. Each server runs with its client
copied into another folder, on the oldest Python (each example's own tests
run it on the newest).
"""

from __future__ import annotations

import ast
import shutil
import socket
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import (
    PYENV,
    ROOT,
    STRICT,
    TIMEOUT,
    VERSIONS,
    Python,
    on,
    read_all,
    run,
    start_server,
    started,
    stop,
    tls_args,
    two_hosts,
)
from test_site import EXAMPLES

ALLOWED = set(sys.stdlib_module_names) | {"net", "__future__"}
ENDS = VERSIONS.split(",")[:1]  # the oldest


def imported(name: str) -> set[str]:
    """The top-level modules an example imports."""
    tree = ast.parse((ROOT / "examples" / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_imports_only_the_standard_library_and_net(
    name: str,
) -> None:
    assert imported(name) <= ALLOWED, imported(name) - ALLOWED


# Each server, the client that runs against it, and what else each takes
# (CERTS: the test certificates; PATH: a Unix socket's path). Every
# example is in one pair, or runs alone.
PAIRS = [
    ("udp_echo_server_blocking", "udp_echo_client_blocking", ()),
    ("udp_echo_server_asyncio", "udp_echo_client_asyncio", ()),
    ("udp_echo_server_fast", "udp_echo_bench", ("--duration", "1")),
    ("tcp_echo_server_blocking", "tcp_echo_client_blocking", ()),
    ("tcp_echo_server_threads", "tcp_echo_client_naive", ("--size", "1000")),
    ("tcp_echo_server_selectors", "tcp_echo_client_asyncio", ()),
    ("tcp_echo_server_asyncio", "tcp_echo_bench", ("--duration", "1")),
    ("tcp_echo_server_fast", "tcp_echo_client_blocking", ()),
    ("tcp_framing_server", "tcp_framing_client", ()),
    ("tls_echo_server", "tls_echo_client", ("CERTS",)),
    ("tls_echo_server_asyncio", "tls_echo_client_asyncio", ("CERTS",)),
    ("starttls_server", "starttls_client", ("CERTS",)),
    ("unix_echo_server", "unix_echo_client", ("PATH",)),
    ("unix_datagram_echo_server", "unix_datagram_echo_client", ("PATH",)),
    ("udp_broadcast_receiver", "udp_broadcast_sender", ()),
    ("udp_multicast_receiver", "udp_multicast_sender", ("HOSTS",)),
    ("tcp_echo_server_dualstack", "tcp_connect_happy_eyeballs", ()),
    ("tcp_echo_server_dualstack", "tcp_port_check", ()),
    ("tcp_echo_server_threads", "tcp_keepalive", ("--duration", "0.1")),
    ("tcp_reuseport_workers", "tcp_echo_client_blocking", ()),
    ("chat_server_asyncio", "chat_client", ()),
]
# What runs alone, and what it takes.
ALONE = {
    "socketpair_ipc": ("hi",),
    "resolve": ("--host", "localhost"),
    "tcp_nodelay": ("--count", "1"),
    "tcp_close": ("--size", "1000"),
}


# Servers whose clients are programs nobody here wrote.
SERVED = {"http_server", "tcp_relay", "socks5_proxy"}


def test_every_example_is_copied_and_run() -> None:
    paired = {name for server, client, _ in PAIRS for name in (server, client)}
    assert paired | set(ALONE) | SERVED == set(EXAMPLES)


def bare(version: str) -> Python:
    """The interpreter of that version, with no site-packages and no
    PYTHONPATH: the standard library alone."""
    found = sorted(PYENV.glob(f"versions/{version}.*/bin/python{version}"))
    command = str(found[-1]) if found else shutil.which("python3") or ""
    return Python((command, "-S", "-E", *STRICT), {}, version)


def copied(name: str, folder: Path) -> Path:
    """A folder of its own with the example and net.py in it."""
    folder.mkdir()
    shutil.copy(ROOT / "examples" / f"{name}.py", folder)
    shutil.copy(ROOT / "net.py", folder)
    return folder


@pytest.mark.parametrize("version", ENDS)
@pytest.mark.parametrize(
    ("server", "client", "extra"), PAIRS, ids=[p[0] for p in PAIRS]
)
def test_a_copied_server_serves_a_copied_client(
    version: str,
    server: str,
    client: str,
    extra: tuple[str, ...],
    tmp_path: Path,
    certs: Path,
) -> None:
    assert not tmp_path.is_relative_to(ROOT)
    python = bare(version)
    there, here = (
        copied(server, tmp_path / "a"),
        copied(client, tmp_path / "b"),
    )
    server_args: list[str] = []
    client_args: list[str] = []
    if "CERTS" in extra:
        server_args = list(tls_args(certs))
        client_args = ["--cafile", str(certs / "ca.pem"), "--server-name",
                       "localhost"]  # fmt: skip
    else:
        client_args = list(extra)
    if "PATH" in extra:
        path = str(tmp_path / "echo.sock")
        server_args, client_args = ["--path", path], ["--path", path]
    if "HOSTS" in extra:
        with two_hosts() as (a, b):
            args = ["--interface", "eth0"]
            with start_server(
                *args, script=f"{server}.py", cwd=there, python=on(python, b)
            ) as running:
                result = run(
                    f"{client}.py", "--port", str(running.port), *args,
                    cwd=here, python=on(python, a),
                )  # fmt: skip
                status = running.stop()[0]
    elif "PATH" in extra:
        argv = [f"{server}.py", *server_args]
        with started(argv, python, cwd=there) as (proc, line):
            assert line.startswith("listening on "), line
            result = run(f"{client}.py", *client_args, cwd=here, python=python)
            status = stop(proc)[0]
    else:
        with start_server(
            *server_args, script=f"{server}.py", cwd=there, python=python
        ) as running:
            result = run(
                f"{client}.py", "--port", str(running.port), *client_args,
                cwd=here, python=python, stdin=b"",
            )  # fmt: skip
            status = running.stop()[0]
    assert (result.returncode, status) == (0, 0), result.stderr


@pytest.mark.parametrize("version", ENDS)
@pytest.mark.parametrize("name", ALONE)
def test_what_runs_alone_runs_copied(
    version: str, name: str, tmp_path: Path
) -> None:
    here = copied(name, tmp_path / "a")
    result = run(f"{name}.py", *ALONE[name], cwd=here, python=bare(version))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("version", ENDS)
def test_a_copied_http_server_serves_its_folder(
    version: str, tmp_path: Path
) -> None:
    here = copied("http_server", tmp_path / "a")
    with start_server(
        script="http_server.py", cwd=here, python=bare(version)
    ) as running:
        url = f"http://127.0.0.1:{running.port}/net.py"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
            assert reply.read() == (ROOT / "net.py").read_bytes()
        assert running.stop()[0] == 0


@pytest.mark.parametrize("version", ENDS)
def test_a_copied_relay_forwards_to_an_echo(
    version: str, tmp_path: Path, socat_tcp_server: int
) -> None:
    here = copied("tcp_relay", tmp_path / "a")
    with start_server(
        "--to", f"127.0.0.1:{socat_tcp_server}", script="tcp_relay.py",
        cwd=here, python=bare(version),
    ) as running:  # fmt: skip
        with socket.create_connection(running.address, TIMEOUT) as sock:
            sock.sendall(b"hi")
            sock.shutdown(socket.SHUT_WR)
            assert read_all(sock) == b"hi"
        assert running.stop()[0] == 0


@pytest.mark.parametrize("version", ENDS)
def test_a_copied_socks5_proxy_connects_to_an_echo(
    version: str, tmp_path: Path, socat_tcp_server: int
) -> None:
    here = copied("socks5_proxy", tmp_path / "a")
    with start_server(
        script="socks5_proxy.py", cwd=here, python=bare(version)
    ) as running:
        with socket.create_connection(running.address, TIMEOUT) as sock:
            port = socat_tcp_server.to_bytes(2, "big")
            sock.sendall(b"\5\1\0" + b"\5\1\0\1\x7f\0\0\1" + port + b"hi")
            sock.shutdown(socket.SHUT_WR)
            assert read_all(sock)[12:] == b"hi"  # after 05 00 and the reply
        assert running.stop()[0] == 0
