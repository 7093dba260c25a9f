"""TLS echo server, blocking: the TCP echo server, encrypted and verified.

Shows ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and a blocking
server that survives every failed handshake. It accepts plain TCP, then
wraps each connection with context.wrap_socket(server_side=True) inside
the code that serves that one connection: a plaintext client, an HTTP
request, a client that rejects the certificate or one that never
finishes the handshake (--handshake-timeout) costs one log line, and the
server goes on to the next. TLS 1.2 is the oldest version it accepts.

--cert and --key name the server's certificate chain and key (PEM).
With --client-ca it asks every client for a certificate and accepts only
one signed by that CA (mutual TLS). With -v it logs, for each connection,
the TLS version, the cipher and the client certificate's subject.

The rest (options, "listening on", idle timeout, signals, summary) is the
blocking TCP echo server's, imported from tcp_echo_server_blocking.py:
copy both files and net.py. Make a certificate as its page shows, then:

    python examples/tls_echo_server.py
    python examples/tls_echo_server.py --port 0 -v --client-ca ca.pem

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage (a
certificate or key that cannot be loaded).
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import sys
from functools import partial

import net
from tcp_echo_server_blocking import Counts, echo, parser, run, serve

log = logging.getLogger("tcp_server")


def tls_parser(
    description: str | None, many: bool = False
) -> argparse.ArgumentParser:
    """The TCP server's options, and the TLS ones."""
    new = parser(description, many)
    new.add_argument(
        "--cert",
        default="localhost.pem",
        metavar="FILE",
        help="the server's certificate, then any intermediate CA "
        "certificates, PEM (default: %(default)s)",
    )
    new.add_argument(
        "--key",
        default="localhost-key.pem",
        metavar="FILE",
        help="the certificate's private key, PEM (default: %(default)s)",
    )
    new.add_argument(
        "--client-ca",
        metavar="FILE",
        help="require a client certificate signed by a CA in this PEM "
        "file (default: none asked for)",
    )
    new.add_argument(
        "--handshake-timeout",
        type=net.seconds,
        default=5.0,
        metavar="S",
        help="close a connection whose TLS handshake is not done in this "
        "long (default: %(default)s)",
    )
    return new


def server_context(
    args: argparse.Namespace, options: argparse.ArgumentParser
) -> ssl.SSLContext:
    """The TLS settings of the server: safe defaults, and args' files.

    A file that cannot be loaded is a usage error (exit status 2).
    """
    # For a server: it proves who it is; it checks clients only if asked.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # 3.9's default: 1.0
    try:
        context.load_cert_chain(args.cert, args.key)
    except OSError as exc:  # no such file, not PEM, key does not match...
        files = f"--cert {args.cert} and --key {args.key}"
        options.error(f"cannot load {files}: {net.reason(exc)}")
    if args.client_ca:
        try:
            context.load_verify_locations(args.client_ca)
        except OSError as exc:
            files = f"--client-ca {args.client_ca}"
            options.error(f"cannot load {files}: {net.reason(exc)}")
        context.verify_mode = ssl.CERT_REQUIRED  # no certificate: no TLS
    return context


def echo_tls(
    conn: socket.socket,
    counts: Counts,
    *,
    context: ssl.SSLContext,
    handshake_timeout: float,
    idle_timeout: float,
) -> None:
    """Do the TLS handshake on a new connection, then echo over it.

    Any failure is raised to the caller, which logs it and serves the next
    connection: the handshake is part of serving this one.
    """
    peer = net.format_address(conn.getpeername())
    # TLS sends records of its own (session tickets) before the echo: with
    # Nagle's algorithm on, the echo would wait for their ACK, which the
    # client delays by up to 40 ms.
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(handshake_timeout)
    try:
        tls = context.wrap_socket(conn, server_side=True)  # handshake (1)
    except socket.timeout:  # TimeoutError from Python 3.10 on
        raise ConnectionError(
            f"no TLS handshake within {handshake_timeout:g} s"
        ) from None
    except ssl.SSLError as exc:  # not TLS, not a version or cipher we
        # share, our certificate rejected, no client certificate...
        reason = net.reason(exc)
        raise ConnectionError(f"TLS handshake failed: {reason}") from None
    with tls:
        log.info("%s: %s", peer, net.describe_tls(tls))
        tls.settimeout(idle_timeout)
        echo(tls, counts)  # to the client's close_notify, or its EOF (2)
        tls.unwrap()  # our close_notify: the echo was all (3)


def main(argv: list[str] | None = None) -> int:
    options = tls_parser(__doc__)
    args = options.parse_args(argv)
    handle = partial(
        echo_tls,
        context=server_context(args, options),
        handshake_timeout=args.handshake_timeout,
        idle_timeout=args.idle_timeout,
    )
    return run(
        args, partial(serve, handle=handle, idle_timeout=args.idle_timeout)
    )


if __name__ == "__main__":
    sys.exit(main())
