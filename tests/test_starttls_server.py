"""examples/starttls_server.py, run as its page shows, with clients
nobody here wrote: Python's smtplib (SMTP.starttls()) and openssl
s_client -starttls smtp; the STARTTLS injection (a command sent with
STARTTLS, in the same segment), refused; the capabilities told again,
without STARTTLS, after the upgrade. Every test runs once per supported
Python, except those marked `once`."""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    read_all,
    read_line,
    served,
    tls_args,
)

SCRIPT = "examples/starttls_server.py"


@contextmanager
def serving(python: Python, certs: Path, *args: str) -> Iterator[Server]:
    """The server with certs' localhost certificate; stopped after,
    unless the test stopped it, with exit status 0."""
    with served(
        *tls_args(certs), *args, script=SCRIPT, python=python
    ) as server:
        yield server


def test_smtplib_upgrades_and_is_told_the_capabilities_again(
    python: Python, certs: Path
) -> None:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with serving(python, certs, "-v") as server:
        smtp = smtplib.SMTP("localhost", server.port, timeout=TIMEOUT)
        smtp.ehlo("client.example")
        assert smtp.has_extn("starttls")
        assert smtp.starttls(context=context)[0] == 220
        assert isinstance(smtp.sock, ssl.SSLSocket)
        assert smtp.sock.version() in ("TLSv1.2", "TLSv1.3")
        smtp.ehlo("client.example")  # again: what it offers now
        assert not smtp.has_extn("starttls")
        assert smtp.noop() == (250, b"2.0.0 OK")
        assert smtp.docmd("STARTTLS")[0] == 503  # TLS already
        smtp.close()  # no QUIT: EOF
        with socket.create_connection(server.address, TIMEOUT) as sock:
            lines_until_last(sock)  # the greeting, then EOF in plaintext
        status, _, err = server.stop()
    assert status == 0
    assert re.findall(r"^starttls: 127\.0\.0\.1:\d+: (.*)$", err, re.M) == [
        "in TLS: EOF", "EOF",
    ]  # fmt: skip
    assert re.search(r"^starttls: TLS: TLSv1\.[23] ", err, re.M)


def lines_until_last(sock: socket.socket) -> bytes:
    """A reply's lines, up to and with its last ("250 ...")."""
    data = b""
    while not re.search(rb"(^|\n)\d{3} [^\n]*\n$", data):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def ended(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection, with EOF or
    with a reset (it closed with bytes of ours unread)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_a_command_sent_with_starttls_is_refused_not_run(
    python: Python, certs: Path
) -> None:
    with (
        serving(python, certs, "-v") as server,
        socket.create_connection(server.address, TIMEOUT) as sock,
    ):
        assert lines_until_last(sock).startswith(b"220 ")
        sock.sendall(b"EHLO client.example\r\n")
        assert b"250-STARTTLS\r\n" in lines_until_last(sock)
        # The injection: a command right after STARTTLS, in one segment.
        sock.sendall(b"STARTTLS\r\nEHLO injected\r\n")
        assert read_all(sock) == (
            b"554 5.5.1 data after STARTTLS: closing\r\n"
        )
        status, _, err = server.stop()
    assert status == 0
    assert re.search(r": bytes after STARTTLS: refused$", err, re.M)


@pytest.mark.once
def test_openssl_s_client_starttls_smtp(python: Python, certs: Path) -> None:
    with serving(python, certs) as server:
        result = subprocess.run(
            ["openssl", "s_client", "-starttls", "smtp", "-connect",
             f"127.0.0.1:{server.port}", "-CAfile", str(certs / "ca.pem"),
             "-verify_return_error", "-verify_hostname", "localhost",
             "-quiet", "-crlf"],
            input="EHLO client.example\nNOOP\nQUIT\n", capture_output=True,
            text=True, timeout=TIMEOUT,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == (  # inside TLS: EHLO again, NOOP, QUIT
        "250-localhost\n250 HELP\n250 2.0.0 OK\n221 2.0.0 bye\n"
    )


@pytest.mark.once
def test_plaintext_commands_a_bad_handshake_and_the_limits(
    python: Python, certs: Path
) -> None:
    with serving(
        python, certs, "--idle-timeout", "1", "--max-connections", "2", "-v"
    ) as server:
        with socket.create_connection(server.address, TIMEOUT) as sock:
            lines_until_last(sock)
            for sent, answer in [
                (b"NOOP", b"250 2.0.0 OK"),
                (b"HELP", b"502 5.5.2 not implemented here"),
            ]:
                sock.sendall(sent + b"\r\n")
                assert lines_until_last(sock) == answer + b"\r\n"
            sock.sendall(b"STARTTLS\r\n")
            assert lines_until_last(sock).startswith(b"220 ")
            sock.sendall(b"not a TLS hello\r\n\r\n")
            ended(sock)  # a failed handshake: closed
        assert server.proc.stderr is not None  # and its thread done:
        assert read_line(server.proc.stderr).endswith(  # it has logged
            ": wrong version number\n"
        )
        with (
            socket.create_connection(server.address, TIMEOUT) as idle,
            socket.create_connection(server.address, TIMEOUT) as quitter,
        ):
            lines_until_last(quitter)
            with socket.create_connection(server.address, TIMEOUT) as over:
                assert read_all(over) == b""  # the third: closed at once
            quitter.sendall(b"QUIT\r\n")
            assert read_all(quitter) == b"221 2.0.0 bye\r\n"
            lines_until_last(idle)
            assert read_all(idle) == b""  # after 1 s of nothing
        with socket.create_connection(server.address, TIMEOUT) as sock:
            sock.sendall(b"x" * 1000)
            assert ended(sock).startswith(b"220 ")  # then closed
        with socket.create_connection(server.address, TIMEOUT) as sock:
            lines_until_last(sock)  # open at the stop: shut down
            status, out, err = server.stop()
            assert read_all(sock) == b""
    assert (status, out) == (0, "stopped: served 5 clients\n")
    assert re.findall(r"^starttls: [^ ]+ (.*)$", err, re.M) == [
        "refused: 2 connections open",
        "quit",
        "idle for 1 s",
        "a line over 1000 bytes",
        "EOF",
    ]


def test_a_port_in_use_is_one_line_and_exit_1(
    python: Python, certs: Path
) -> None:
    with serving(python, certs) as server:
        assert_port_in_use(python, SCRIPT, server.port, *tls_args(certs))


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--cert", "no-such.pem", "--key", "no-such.pem"], "cannot load "
         "--cert no-such.pem and --key no-such.pem: No such file or "
         "directory"),
        (["--max-connections", "0"], "argument --max-connections: must be "
         "from 1 to 10000, not 0"),
    ],
    script=SCRIPT,
)  # fmt: skip
