"""examples/starttls_client.py, run as its page shows: against the
STARTTLS server recipe, and against servers scripted here that do what
an attacker on the path can do (take STARTTLS out of the capabilities,
add bytes after the 220) or what a server may (refuse STARTTLS, show a
certificate for another name). Every test runs once per supported
Python, except those marked `once`."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    assert_nothing_listening,
    bad_usage_exits_2,
    run,
    start_server,
    tcp_listener,
    tls_args,
)

SCRIPT = "examples/starttls_client.py"
EXCHANGE = """\
S: 220 localhost ESMTP starttls_server.py ready
C: EHLO client.example
S: 250-localhost
S: 250-STARTTLS
S: 250 HELP
C: STARTTLS
S: 220 2.0.0 ready to start TLS
-- TLS: TLSv1.3 TLS_AES_256_GCM_SHA384, peer: ...
C: EHLO client.example
S: 250-localhost
S: 250 HELP
C: {message}
S: {answer}
C: QUIT
S: 221 2.0.0 bye
"""


def client(
    python: Python, certs: Path, port: int, *args: str
) -> tuple[int, str, str]:
    result = run(
        SCRIPT, "--port", str(port), "--host", "localhost", "--cafile",
        str(certs / "ca.pem"), *args, python=python,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_the_exchange_with_the_server_recipe(
    python: Python, certs: Path
) -> None:
    with start_server(
        *tls_args(certs), script="examples/starttls_server.py"
    ) as server:
        status, out, err = client(python, certs, server.port)
        assert (status, err) == (0, "")
        assert shown(out) == EXCHANGE.format(
            message="NOOP", answer="250 2.0.0 OK"
        )
        status, out, err = client(python, certs, server.port, "VRFY ada")
        assert shown(out) == EXCHANGE.format(
            message="VRFY ada", answer="502 5.5.2 not implemented here"
        )
    assert (status, err) == (
        1,
        f"error: 127.0.0.1:{server.port}: 'VRFY ada' answered with 502\n",
    )


def shown(out: str) -> str:
    """What the client printed, the server certificate's subject (which
    trustme makes anew each run) left out."""
    return re.sub(r"(?<=, peer: ).*", "...", out)


@contextmanager
def scripted(*answers: bytes) -> Iterator[int]:
    """A server that sends each answer after a line from the client (the
    first at once), then closes; yields its port."""
    listener = tcp_listener()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            for i, answer in enumerate(answers):
                if i:
                    lines.readline()
                conn.sendall(answer)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(TIMEOUT)
        listener.close()


ATTACKS = [  # the server's answers, what the client says
    ([b"220 hi\r\n", b"250-mail\r\n250 HELP\r\n"],
     "STARTTLS not offered: nothing sent in plaintext"),
    ([b"220 hi\r\n", b"250 STARTTLS\r\n", b"220 go\r\n250 injected\r\n"],
     "bytes after the 220 to STARTTLS"),
    ([b"220 hi\r\n", b"250 STARTTLS\r\n", b"454 not now\r\n"],
     "STARTTLS answered with 454, not 220"),
    ([b"554 go away\r\n"], "greeted with 554, not 220"),
    ([b"HTTP/1.1 400 Bad Request\r\n"],
     "not a reply: 'HTTP/1.1 400 Bad Request'"),
    ([b"220" + b"-" * 1000], "a reply line over 1000 bytes"),
    ([], "the server closed the connection"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "said"), ATTACKS,
    ids=["stripped", "injected", "refused", "not-220", "not-smtp",
         "long-line", "closed"],
)  # fmt: skip
@pytest.mark.once
def test_it_will_not_go_on_in_plaintext(
    python: Python, certs: Path, answers: list[bytes], said: str
) -> None:
    with scripted(*answers) as port:
        status, out, err = client(python, certs, port)
    assert (status, err) == (1, f"error: 127.0.0.1:{port}: {said}\n")
    assert "C: NOOP" not in out


def test_bytes_after_the_220_to_starttls_are_refused(
    python: Python, certs: Path
) -> None:
    test_it_will_not_go_on_in_plaintext(python, certs, *ATTACKS[1])


@pytest.mark.once
def test_a_certificate_for_another_name(python: Python, certs: Path) -> None:
    with start_server(
        *tls_args(certs), script="examples/starttls_server.py"
    ) as server:
        status, _, err = client(
            python, certs, server.port, "--server-name", "example.org"
        )
    assert status == 1
    assert re.fullmatch(
        r"error: 127\.0\.0\.1:\d+: TLS handshake failed: certificate verify "
        r"failed: Hostname mismatch, certificate is not valid for "
        r"'example.org'\.\n", err,
    )  # fmt: skip


@pytest.mark.once
def test_nothing_listening_and_silence(
    python: Python, closed_tcp_port: int, certs: Path
) -> None:
    assert_nothing_listening(python, SCRIPT, closed_tcp_port)
    with tcp_listener() as silent:  # accepts (the kernel), says nothing
        port = silent.getsockname()[1]
        status, _, err = client(python, certs, port, "--timeout", "0.5")
    assert (status, err) == (
        1, f"error: 127.0.0.1:{port}: no reply within 0.5 s\n",
    )  # fmt: skip


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["NOOP\r\nQUIT"], "the message is one command: no CR or LF"),
        (["--cafile", "no-such.pem"], "cannot load --cafile no-such.pem: "
         "No such file or directory"),
    ],
    script=SCRIPT,
)  # fmt: skip
