"""What every TLS echo server must do, as tests.

tests/test_tls_echo_server{,_asyncio}.py import these and say which example
they hold to them (the `script` fixture). Every test runs once per
supported Python, against OpenSSL's s_client, socat's OPENSSL address, both
TLS clients of this cookbook and peers that are not TLS at all.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    BULK_TIMEOUT,
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    read_line,
    reset_on_close,
    run,
    start_server,
    tls_args,
    usage_error,
    warning_when_reachable,
)

CLIENTS = [
    "examples/tls_echo_client.py",
    "examples/tls_echo_client_asyncio.py",
]
BINARY = os.urandom(16 * 2**20) + b"\0" * 1000  # 16 MiB and NUL bytes
LOGGED = re.compile(r"tcp_server: 127\.0\.0\.1:\d+: (.*)")


@pytest.fixture
def server(python: Python, script: str, certs: Path) -> Iterator[Server]:
    with start_server(
        "-v", *tls_args(certs), script=script, python=python
    ) as running:
        yield running


def logged(err: str) -> list[str]:
    """What the server logged about its connections, in order."""
    return [found[1] for found in map(LOGGED.fullmatch, err.splitlines())
            if found and found[1] != "connected"]  # fmt: skip


def closed_by_the_server(sock: socket.socket) -> None:
    """Read to the end of the connection: the server's EOF, or its reset
    (when it closed with what was sent unread; an alert may come first)."""
    try:
        while sock.recv(65_536):
            pass
    except ConnectionResetError:
        pass


def log_until(server: Server, last: str = "done") -> str:
    """What the server logs, up to a line that ends with last (by default,
    the end of a connection that went well)."""
    assert server.proc.stderr
    lines = [read_line(server.proc.stderr)]
    while not lines[-1].endswith(f": {last}\n"):
        lines.append(read_line(server.proc.stderr))
    return "".join(lines)


def tls_connect(
    server: Server, certs: Path, cafile: str = "ca.pem"
) -> ssl.SSLSocket:
    """Connect with TLS, trusting the CAs of cafile in certs."""
    context = ssl.create_default_context(cafile=certs / cafile)
    with socket.create_connection(server.address, TIMEOUT) as sock:
        # The TLS socket takes over the connection; sock is then closed.
        return context.wrap_socket(sock, server_hostname="localhost")


@pytest.mark.parametrize("client", CLIENTS, ids=["blocking", "asyncio"])
@pytest.mark.load
def test_16_mib_of_binary_round_trip_with_each_client(
    python: Python, client: str, server: Server, certs: Path
) -> None:
    result = run(
        client, "--port", str(server.port), "--cafile", str(certs / "ca.pem"),
        "--server-name", "localhost", "-", stdin=BINARY, python=python,
        timeout=BULK_TIMEOUT,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"sent {len(BINARY)} bytes to ")
    code, out, err = server.stop(signal.SIGTERM)
    assert (code, out) == (0, f"stopped: served 1 connection, echoed "
                              f"{len(BINARY)} bytes\n")  # fmt: skip
    assert logged(err) == [
        "TLSv1.3 TLS_AES_256_GCM_SHA384, peer: none",
        "done",
    ]


def test_each_bad_peer_costs_one_log_line_and_the_server_goes_on(
    python: Python, script: str, certs: Path
) -> None:
    with start_server(
        "-v", "--handshake-timeout", "1", "--idle-timeout", "1",
        *tls_args(certs),
        script=script, python=python,
    ) as server:  # fmt: skip
        for plain in [
            b"hello\n",
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ]:
            with socket.create_connection(server.address, TIMEOUT) as sock:
                sock.sendall(plain)
                closed_by_the_server(sock)
        with socket.create_connection(server.address, TIMEOUT) as sock:
            closed_by_the_server(sock)  # silent: closed after 1 s
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_connect(server, certs, "other.pem")  # rejects the server
        old = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}",
             "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert old.returncode == 1
        with tls_connect(server, certs) as tls:
            tls.sendall(b"ping")
            assert tls.recv(100) == b"ping"
            # close_notify, and the server's back, but for asyncio's before
            # Python 3.11: it closes without.
            with contextlib.suppress(ssl.SSLEOFError):
                tls.unwrap()
        with tls_connect(server, certs) as tls:
            assert tls.recv(100) == b""  # idle: closed after 1 s
        err = log_until(server, "idle for 1 s: closed")
        code, out, rest = server.stop()
    assert (code, out) == (
        0,
        "stopped: served 7 connections, echoed 4 bytes\n",
    )
    assert logged(err + rest) == [
        "TLS handshake failed: wrong version number",
        "TLS handshake failed: http request",
        "no TLS handshake within 1 s",
        "TLS handshake failed: tlsv1 alert unknown ca",
        "TLS handshake failed: unsupported protocol",
        "TLSv1.3 TLS_AES_256_GCM_SHA384, peer: none",
        "done",
        "TLSv1.3 TLS_AES_256_GCM_SHA384, peer: none",
        "idle for 1 s: closed",
    ]


def talk(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a third-party TLS client interactively: send a line, wait for its
    echo, then end its input (it then ends TLS and exits)."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(b"over TLS\n")
        proc.stdin.flush()
        # The asyncio servers drop what they have not yet written when the
        # client ends TLS: so end only once the echo is back.
        echo = proc.stdout.readline()
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
    return subprocess.CompletedProcess(argv, proc.returncode, echo + out, err)


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_openssl_s_client_verifies_and_echoes(
    version: str, server: Server, certs: Path
) -> None:
    result = talk(
        ["openssl", "s_client", "-quiet", "-no_ign_eof", version,
         "-connect", f"127.0.0.1:{server.port}", "-verify_return_error",
         "-verify_hostname", "localhost", "-CAfile", str(certs / "ca.pem")]
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, b"over TLS\n")
    [described, done] = logged(log_until(server))
    assert described.startswith(f"TLSv1.{version[-1]} ")
    assert described.endswith(", peer: none")
    assert done == "done"


def test_socat_openssl_client_verifies_and_echoes(
    server: Server, certs: Path
) -> None:
    result = talk(
        ["socat", "-", f"OPENSSL:127.0.0.1:{server.port},"
         f"cafile={certs / 'ca.pem'},commonname=localhost"]
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, b"over TLS\n")
    assert logged(log_until(server))[-1] == "done"


def test_clients_that_end_tcp_without_close_notify_are_no_failure(
    server: Server, certs: Path
) -> None:
    # ncat --ssl at the end of its input, and the Python docs' own ssl
    # client (a with block around wrap_socket()): each ends TCP after a
    # good echo, with no close_notify. Neither is a failure.
    result = talk(["ncat", "--ssl", "127.0.0.1", str(server.port)])
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with (
        socket.create_connection(server.address, TIMEOUT) as sock,
        context.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"the docs")
        assert tls.recv(100) == b"the docs"
    # And one that ends TCP at once after its message, then reads.
    with (
        socket.create_connection(server.address, TIMEOUT) as sock,
        context.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"ragged")
        tls.shutdown(socket.SHUT_WR)  # TCP's FIN, not TLS's close_notify
        with contextlib.suppress(OSError):  # the echo may be cut short
            while tls.recv(100):
                pass
    assert (result.returncode, result.stdout) == (0, b"over TLS\n")
    assert server.proc.stderr is not None
    said: list[str] = []
    while sum(line in ("done", "closed by the client") for line in said) < 3:
        said += logged(read_line(server.proc.stderr))
    assert server.stop() == (
        0, "stopped: served 3 connections, echoed 23 bytes\n", ""
    )  # fmt: skip
    assert not [line for line in said if not line.startswith("TLSv1")
                and line not in ("done", "closed by the client",
                                 "closed without close_notify")]  # fmt: skip


def test_mutual_tls_admits_only_a_client_with_a_certificate(
    python: Python, script: str, certs: Path
) -> None:
    ca = str(certs / "ca.pem")
    with start_server(
        "-v", "--client-ca", ca, *tls_args(certs), script=script,
        python=python,
    ) as server:  # fmt: skip
        common = ("--port", str(server.port), "--cafile", ca)
        good = run(CLIENTS[0], *common, "--cert", str(certs / "client.pem"),
                   python=python)  # fmt: skip
        assert (good.returncode, good.stderr) == (0, "")
        bad = run(CLIENTS[0], *common, python=python)
        code, out, err = server.stop(signal.SIGTERM)
    # TLS 1.3: the client's side of the handshake is done before the server
    # checks its certificate; its first read gets the verdict (the alert),
    # or only the end of the connection when the alert was lost.
    assert bad.returncode == 1
    [line] = bad.stderr.splitlines()
    assert line.startswith(f"error: 127.0.0.1:{server.port}: ")
    assert (code, out) == (
        0,
        "stopped: served 2 connections, echoed 14 bytes\n",
    )
    [described, _, refused] = logged(err)  # _: done
    assert described.endswith(", commonName=a reader")
    assert refused == "TLS handshake failed: peer did not return a certificate"


def test_a_file_that_cannot_be_loaded_is_a_usage_error(
    python: Python, script: str, certs: Path
) -> None:
    cert, key = tls_args(certs)[1::2]
    other = str(certs / "other.pem")
    for args, error in [
        (["--cert", f"{cert}.missing"], f"--cert {cert}.missing and --key "
         f"{key}: No such file or directory"),
        (["--key", other], f"--cert {cert} and --key {other}: "
         "key values mismatch"),
        (["--client-ca", key], f"--client-ca {key}: "
         "no certificate or crl found"),
    ]:  # fmt: skip
        # The last of an option given twice counts. --port 0: were a file
        # loaded after all, the server would not hold on to port 8888.
        argv = ["--port", "0", *tls_args(certs), *args]
        assert usage_error(python, script, *argv) == f"cannot load {error}"


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1(
    python: Python, script: str, server: Server, certs: Path
) -> None:
    assert_port_in_use(python, script, server.port, *tls_args(certs))


@pytest.mark.once
def test_warns_when_reachable_from_other_machines(
    python: Python, script: str, certs: Path
) -> None:
    warning_when_reachable(python, script, *tls_args(certs))


def test_a_client_that_resets_mid_echo_is_one_line(
    server: Server, certs: Path
) -> None:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    raw = socket.create_connection(server.address, TIMEOUT)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"x" * 100_000)  # more than the echo can hold
        reset_on_close(tls)
    # The server logs the reset (-v: a line for each step before it); or,
    # when OpenSSL reports it as an end with no close_notify, that.
    assert server.proc.stderr is not None
    while re.search(r"TLSv1| SO_RCVBUF=|: connected$",
                    line := read_line(server.proc.stderr)):  # fmt: skip
        pass
    assert server.stop()[0] == 0
    assert re.search(
        r": (Connection reset by peer|Broken pipe|EOF occurred in violation "
        r"of protocol.*|.*UNEXPECTED_EOF.*|closed without close_notify)$",
        line.rstrip("\n"),
    ), line
