"""TLS echo server, blocking: the TCP echo server, encrypted and verified.

Shows ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and a blocking
server that survives every failed handshake: it accepts plain TCP, then
wraps each connection with context.wrap_socket(server_side=True) inside
the code that serves that one connection, so a plaintext client, a
rejected certificate or a stalled handshake (--handshake-timeout) costs
one log line. TLS 1.2 at least; --client-ca asks clients for a
certificate (mutual TLS). Make a certificate as its page shows, then:

    python examples/tls_echo_server.py
    python examples/tls_echo_server.py --port 0 -v --client-ca ca.pem
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import sys

import net

log = logging.getLogger("tcp_server")


# --8<-- [start:lesson]
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
        tls = context.wrap_socket(  # the handshake (1)
            conn, server_side=True, suppress_ragged_eofs=False
        )
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
        try:  # the TCP server's echo, to the client's close_notify (2)
            while data := tls.recv(65_536):
                counts.bytes += len(data)
                tls.sendall(data)
        except ssl.SSLEOFError:  # TCP's end, with no close_notify before
            log.info("%s: closed without close_notify", peer)
            return
        tls.unwrap()  # our close_notify: the echo was all (3)


def serve(
    listener: socket.socket, counts: Counts, args: argparse.Namespace
) -> None:
    """Serve one connection after another, for ever."""
    while True:
        conn, addr = listener.accept()
        with conn:  # closed however serving it ends
            counts.connections += 1
            peer = net.format_address(addr)
            log.info("%s: connected", peer)
            try:
                echo_tls(conn, counts, args.context, args.handshake_timeout,
                         args.idle_timeout)  # fmt: skip
            except socket.timeout:  # TimeoutError from Python 3.10
                log.info("%s: idle for %g s: closed", peer, args.idle_timeout)
            except OSError as exc:  # a failed handshake, a reset, ...
                log.warning("%s: %s", peer, net.reason(exc))
            else:
                log.info("%s: done", peer)


# --8<-- [end:lesson]
class Counts:
    """What the server did, for the summary line."""

    connections = 0
    bytes = 0


EXITS = """\
Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage (a
certificate or key that cannot be loaded)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--cert",
        default="localhost.pem",
        metavar="FILE",
        help="the server's certificate, then any intermediate CA "
        "certificates, PEM (default: %(default)s)",
    )
    parser.add_argument(
        "--key",
        default="localhost-key.pem",
        metavar="FILE",
        help="the certificate's private key, PEM (default: %(default)s)",
    )
    parser.add_argument(
        "--client-ca",
        metavar="FILE",
        help="require a client certificate signed by a CA in this PEM "
        "file (default: none asked for)",
    )
    parser.add_argument(
        "--handshake-timeout",
        type=net.seconds,
        default=5.0,
        metavar="S",
        help="close a connection whose TLS handshake is not done in this "
        "long (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    args.context = server_context(args, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    # SIGTERM stops the server the way Ctrl+C does: KeyboardInterrupt
    # leaves whatever call is waiting, and with blocks close the sockets.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        family, _, _, _, address = socket.getaddrinfo(
            args.host, args.port, type=socket.SOCK_STREAM
        )[0]
        # create_server() sets SO_REUSEADDR: a restarted server may bind
        # while connections of the last one linger in TIME_WAIT.
        listener = socket.create_server(address, family=family, backlog=16)
    except OSError as exc:  # address in use, not an address here, ...
        where = net.format_address((args.host, args.port))
        print(f"error: cannot listen on {where}: {net.reason(exc)}",
              file=sys.stderr)  # fmt: skip
        return 1
    with listener:
        where = net.format_address(listener.getsockname())
        log.info("%s", net.describe(listener))
        if net.reachable_from_elsewhere(listener):
            log.warning("%s is reachable from other machines", where)
        counts = Counts()
        try:
            print(f"listening on {where}", flush=True)
            serve(listener, counts, args)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM: see above
            pass
    print(
        f"stopped: served {counts.connections} "
        f"connection{'' if counts.connections == 1 else 's'}, "
        f"echoed {counts.bytes} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
