"""Unix domain echo client: the blocking TCP echo client on a socket file.

Shows a client of an AF_UNIX stream socket: connect() to a path (or, with
--abstract, to a name in Linux's abstract namespace), then the blocking
TCP client's echo, imported from tcp_echo_client_blocking.py (copy both
and net.py): a thread sends and half-closes while the main thread reads
the echo to the server's EOF. Every send and read is bounded by
--timeout; connect() succeeds or fails at once.

Start a Unix echo server, then:

    python examples/unix_echo_client.py
    python examples/unix_echo_client.py --path /tmp/echo.sock "Hi there"
    head -c 64M /dev/urandom | python examples/unix_echo_client.py -

Exit status: 0 the echo matched, 1 failure (no such file, refused,
permission denied, timed out, an echo cut short or different), 2 bad
usage, 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import logging
import socket
import sys
import time

import net
from tcp_echo_client_blocking import (
    EchoError,
    echo,
    echoed,
    parse_args,
    parser,
)

log = logging.getLogger("unix_client")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, parser(__doc__, unix=True))
    net.setup_logging(args.verbose)
    address = net.unix_address(args.path, args.abstract)
    where = net.format_unix(address)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(args.timeout)  # each send and each read
            try:
                sock.connect(address)  # no such file, refused, no access (1)
            except BlockingIOError:  # EAGAIN: it does not wait for room (2)
                return net.fail(f"{where}: the server's queue is full")
            start = time.perf_counter()
            echo(sock, args.data, log)
            seconds = time.perf_counter() - start
    except socket.timeout:  # a read waited --timeout
        return net.fail(f"{where}: nothing received for {args.timeout:g} s")
    except (KeyboardInterrupt, OSError, EchoError) as exc:
        return net.failed(exc, where, where)
    return echoed(args.data, where, seconds)


if __name__ == "__main__":
    sys.exit(main())
