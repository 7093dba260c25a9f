"""What every TLS echo client must do, as tests.

tests/test_tls_echo_client{,_asyncio}.py import these and say which example
they hold to them (the `script` fixture). Every test runs once per
supported Python, against OpenSSL's s_server, socat's OPENSSL-LISTEN, the
TLS servers of this cookbook (with good certificates and bad ones), a
plain TCP server and a peer that never answers.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import (
    BULK_TIMEOUT,
    TIMEOUT,
    Python,
    interrupt_while_waiting,
    openssl_server,
    run,
    spawn,
    start_server,
    tcp_listener,
    third_party,
    tls_args,
    usage_error,
)

ECHOED = re.compile(
    r"sent (\d+) bytes to 127\.0\.0\.1:\d+: (.*)\n"
    r"received \1 bytes in [\d.]+ ms: \2\n"
)
BINARY = b"\0" * 1000 + os.urandom(16 * 2**20)  # NUL bytes, then 16 MiB


def echo(
    python: Python,
    script: str,
    certs: Path,
    port: int,
    *args: str,
    stdin: bytes | None = None,
) -> tuple[int, str, str]:
    """Run the client against port, trusting certs' CA; return its exit
    status, stdout and stderr."""
    result = run(
        script, "--port", str(port), "--cafile", str(certs / "ca.pem"),
        "--server-name", "localhost", *args, python=python, stdin=stdin,
        timeout=BULK_TIMEOUT,  # for 16 MiB
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def failure(
    python: Python, script: str, certs: Path, port: int, *args: str
) -> str:
    """Run the client where it must fail: assert exit status 1, nothing on
    stdout and one line on stderr about 127.0.0.1:port; return the line's
    rest, what went wrong."""
    code, out, err = echo(python, script, certs, port, *args)
    assert (code, out) == (1, "")
    prefix = f"error: 127.0.0.1:{port}: "
    assert err.startswith(prefix) and err.count("\n") == 1, err
    return err.removeprefix(prefix).removesuffix("\n")


@pytest.mark.parametrize(
    "server", ["tls_echo_server", "tls_echo_server_asyncio"]
)
def test_echoes_with_each_tls_server_of_the_cookbook(
    python: Python, script: str, certs: Path, server: str
) -> None:
    with start_server(
        *tls_args(certs), script=f"examples/{server}.py", python=python
    ) as running:
        code, out, err = echo(python, script, certs, running.port)
    assert (code, err) == (0, "")
    found = ECHOED.fullmatch(out)
    assert found and found.group(1, 2) == ("14", "b'Hello, stream!'")


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_openssl_s_server_echoes_and_the_version_is_logged(
    python: Python, script: str, certs: Path, version: str
) -> None:
    with openssl_server(certs, version) as port:
        code, out, err = echo(python, script, certs, port, "-v", "hello")
    assert code == 0
    assert ECHOED.fullmatch(out), out
    assert f"tls_client: TLSv1.{version[-1]} " in err
    assert "peer: organizationName=trustme" in err


def test_a_tls_1_1_server_is_refused(
    python: Python, script: str, certs: Path
) -> None:
    # OpenSSL 3 allows TLS 1.1 only at security level 0.
    with openssl_server(
        certs, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"
    ) as port:
        said = failure(python, script, certs, port)
    assert said == "TLS handshake failed: tlsv1 alert protocol version"


@pytest.mark.load
def test_16_mib_of_binary_round_trip_through_socat(
    python: Python, script: str, certs: Path
) -> None:
    # nodelay: socat's 8 KiB writes, each waiting for the last one's ACK
    # (Nagle's algorithm), take 2 to 11 s for 16 MiB instead of 0.1 s.
    argv = [
        "socat",
        "OPENSSL-LISTEN:0,bind=127.0.0.1,fork,reuseaddr,verify=0,nodelay,"
        f"cert={certs / 'localhost.pem'},key={certs / 'localhost-key.pem'}",
        "EXEC:cat",
    ]
    with third_party(argv, "tcp") as port:
        code, out, err = echo(python, script, certs, port, "-", stdin=BINARY)
    assert (code, err) == (0, "")
    found = ECHOED.fullmatch(out)
    assert found and found[1] == str(len(BINARY))


@contextmanager
def tls_server(certs: Path, name: str) -> Iterator[int]:
    """The blocking TLS server with certs' certificate name; yield its port."""
    with start_server(
        *tls_args(certs, name), script="examples/tls_echo_server.py"
    ) as running:
        yield running.port


def test_a_certificate_for_another_host_is_one_line_and_exit_1(
    python: Python, script: str, certs: Path
) -> None:
    # Python's own check (the others are OpenSSL's: below, once).
    with tls_server(certs, "localhost") as port:
        said = failure(python, script, certs, port, "--server-name",
                       "example.org")  # fmt: skip
    assert said == (
        "TLS handshake failed: certificate verify failed: Hostname "
        "mismatch, certificate is not valid for 'example.org'."
    )


@pytest.mark.parametrize(
    ("cert", "reason"),
    [
        ("other", "unable to get local issuer certificate"),
        ("self", "self-signed certificate"),
        ("expired", "certificate has expired"),
        ("future", "certificate is not yet valid"),
    ],
    ids=["other-ca", "self-signed", "expired", "not-yet-valid"],
)
@pytest.mark.once
def test_a_certificate_that_fails_a_check_is_one_line_and_exit_1(
    python: Python, script: str, certs: Path, cert: str, reason: str
) -> None:
    with tls_server(certs, cert) as port:
        said = failure(python, script, certs, port)
    assert said == (
        f"TLS handshake failed: certificate verify failed: {reason}"
    )


def test_a_plain_tcp_server_is_one_line_and_exit_1(
    python: Python, script: str, certs: Path
) -> None:
    # The TCP echo server sends the client's hello back: not a TLS answer.
    with start_server(script="examples/tcp_echo_server_blocking.py") as tcp:
        said = failure(python, script, certs, tcp.port)
    assert said == "TLS handshake failed: unexpected message"


HANDSHAKE_TIMEOUT = {  # what each client says of it
    "examples/tls_echo_client.py": "no TLS handshake",
    "examples/tls_echo_client_asyncio.py": "no connection and TLS handshake",
}


def test_a_server_that_never_answers_the_hello_times_out(
    python: Python, script: str, certs: Path, tcp_peer: socket.socket
) -> None:
    port = tcp_peer.getsockname()[1]
    said = failure(python, script, certs, port, "--timeout", "0.5")
    assert said == f"{HANDSHAKE_TIMEOUT[script]} within 0.5 s"


def test_a_server_that_closes_in_the_handshake_is_named_as_such(
    python: Python, script: str, certs: Path, tcp_peer: socket.socket
) -> None:
    # As socat's TCP-LISTEN with SYSTEM:true does: read the hello, close.
    client = spawn(
        python, script, "--port", str(tcp_peer.getsockname()[1]),
        "--cafile", str(certs / "ca.pem"), "--server-name", "localhost",
    )  # fmt: skip
    conn, _ = tcp_peer.accept()
    with conn:
        conn.settimeout(TIMEOUT)
        assert conn.recv(65_536)[:1] == b"\x16"  # the whole hello
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out) == (1, "")
    assert err == (
        f"error: 127.0.0.1:{tcp_peer.getsockname()[1]}: TLS handshake "
        "failed: the server closed the connection\n"
    )


def test_ctrl_c_in_the_handshake_ends_it_with_130(
    python: Python, script: str, certs: Path, tcp_peer: socket.socket
) -> None:
    client = spawn(
        python, script, "--port", str(tcp_peer.getsockname()[1]),
        "--cafile", str(certs / "ca.pem"),
    )  # fmt: skip
    conn, _ = tcp_peer.accept()
    with conn:
        assert conn.recv(5)[:1] == b"\x16"  # a TLS handshake record: hello
        interrupt_while_waiting(client)
        out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")


def test_nothing_listening_is_one_line_and_exit_1(
    python: Python, script: str, certs: Path, closed_tcp_port: int
) -> None:
    code, out, err = echo(python, script, certs, closed_tcp_port)
    assert (code, out) == (1, "")
    assert (
        err == f"error: nothing is listening at 127.0.0.1:{closed_tcp_port}\n"
    )


def test_a_file_that_cannot_be_loaded_is_a_usage_error(
    python: Python, script: str, certs: Path
) -> None:
    missing = str(certs / "missing.pem")
    assert usage_error(python, script, "--cafile", missing) == (
        f"cannot load --cafile {missing}: No such file or directory"
    )
    cert = str(certs / "localhost.pem")  # its key is in another file
    assert usage_error(python, script, "--cert", cert) == (
        f"cannot load --cert {cert} and --key {cert}: PEM lib"
    )


@contextmanager
def tls_peer(
    certs: Path,
    serve: Callable[[ssl.SSLSocket], None],
    client_ca: bool = False,
) -> Iterator[int]:
    """A TLS server that the test drives by hand, for one connection: serve
    does the handshake and what follows. Yields the port; the connection
    stays open until the test is done with it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_args(certs)[1::2])
    if client_ca:
        context.load_verify_locations(certs / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED
    done = threading.Event()

    def run() -> None:
        conn, _ = listener.accept()
        with context.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            serve(tls)
            done.wait(TIMEOUT)

    with tcp_listener() as listener:
        thread = threading.Thread(target=run)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            done.set()
            thread.join(TIMEOUT)


def reject_without_a_certificate(tls: ssl.SSLSocket) -> None:
    with contextlib.suppress(ssl.SSLError):  # sends the alert
        tls.do_handshake()


def echo_then_close_without_close_notify(tls: ssl.SSLSocket) -> None:
    tls.do_handshake()
    tls.sendall(tls.recv(100))
    tls.shutdown(socket.SHUT_RDWR)  # TCP's end, not TLS's


def close_notify_before_the_echo(tls: ssl.SSLSocket) -> None:
    tls.do_handshake()
    tls.recv(100)
    # close_notify; the client, its echo cut short, need not send its own.
    with contextlib.suppress(ssl.SSLError):
        tls.unwrap()


def test_a_server_that_wants_a_client_certificate_is_one_line_and_exit_1(
    python: Python, script: str, certs: Path
) -> None:
    # TLS 1.3: the client's side of the handshake is done before the server
    # checks the client's certificate; the client's first read gets the
    # verdict.
    with tls_peer(certs, reject_without_a_certificate, client_ca=True) as port:
        said = failure(python, script, certs, port)
    assert said == "TLS failed: tlsv13 alert certificate required"


def test_a_server_that_closes_without_close_notify_after_the_echo(
    python: Python, script: str, certs: Path
) -> None:
    # As asyncio's TLS servers do before Python 3.11: the echo was whole.
    with tls_peer(certs, echo_then_close_without_close_notify) as port:
        code, out, err = echo(python, script, certs, port, "hi")
    assert (code, err) == (0, "")
    assert ECHOED.fullmatch(out)


def echo_then_never_end_tls(tls: ssl.SSLSocket) -> None:
    tls.do_handshake()
    tls.sendall(tls.recv(100))  # and no close_notify, until the test ends


def test_a_server_that_never_answers_close_notify_after_the_echo(
    python: Python, script: str, certs: Path
) -> None:
    # The echo came back whole; only the server's goodbye is missing.
    with tls_peer(certs, echo_then_never_end_tls) as port:
        code, out, err = echo(
            python, script, certs, port, "--timeout", "0.5", "hi"
        )
    assert code == 0
    assert ECHOED.fullmatch(out)
    assert err == (
        "tls_client: no close_notify from the server within 0.5 s; the echo "
        "was whole\n"
    )


def test_a_server_that_ends_tls_before_the_echo_is_one_line_and_exit_1(
    python: Python, script: str, certs: Path
) -> None:
    with tls_peer(certs, close_notify_before_the_echo) as port:
        said = failure(python, script, certs, port, "hi")
    assert said == "the server closed the connection after 0 of 2 bytes"


def handshake_then_say_nothing(tls: ssl.SSLSocket) -> None:
    tls.do_handshake()


def test_a_server_that_never_echoes_times_out(
    python: Python, script: str, certs: Path
) -> None:
    with tls_peer(certs, handshake_then_say_nothing) as port:
        said = failure(python, script, certs, port, "--timeout", "0.5")
    assert said == "nothing received for 0.5 s"


def echo_other_bytes(tls: ssl.SSLSocket) -> None:
    tls.do_handshake()
    tls.sendall(tls.recv(100).replace(b"i", b"o"))


def echo_and_more(tls: ssl.SSLSocket) -> None:
    tls.do_handshake()
    tls.sendall(tls.recv(100) + b" and more")


@pytest.mark.parametrize(
    ("serve", "said"),
    [
        (echo_other_bytes, "the echo differs from the message at byte 1"),
        (echo_and_more, "the server sent more than 2 bytes"),
    ],
    ids=["different", "longer"],
)
def test_a_reply_that_is_not_the_echo_is_one_line_and_exit_1(
    python: Python,
    script: str,
    certs: Path,
    serve: Callable[[ssl.SSLSocket], None],
    said: str,
) -> None:
    with tls_peer(certs, serve) as port:
        assert failure(python, script, certs, port, "hi") == said
