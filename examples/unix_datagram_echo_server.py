"""Unix domain datagram echo server: datagrams between local processes.

Shows AF_UNIX datagram sockets. As with UDP, each recvfrom_into() returns
one whole datagram and the sender's address, and the echo goes back to
that address. Unlike UDP, nothing is lost: a sender waits while the
receiver's queue is full. And a sender that bound no address of its own
has none: there is nowhere to send its echo, so the server counts it as
ignored. The socket file is handled as unix_echo_server.py handles its
own (a stale one removed, --mode permissions, removed on exit), and the
loop stops on a signal as udp_echo_server_blocking.py's does, only
between datagrams. Both are imported: copy them, the files they import
and net.py.

    python examples/unix_datagram_echo_server.py
    python examples/unix_datagram_echo_server.py --path /tmp/echo.sock -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from contextlib import ExitStack

import net
from udp_echo_server_blocking import Counted, Stop, stopped
from unix_echo_server import listening

log = logging.getLogger("unix_server")

# The largest datagram the default buffers let through is a little under
# 212,992 bytes (net.core.wmem_default); a larger buffer cuts none short.
BUFFER = 256 * 1024


def serve(sock: socket.socket, counts: Counted) -> None:
    """Echo datagrams on sock until SIGINT or SIGTERM."""
    stop = Stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    verbose = log.isEnabledFor(logging.INFO)
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    try:
        print(f"listening on {net.format_unix(sock.getsockname())}",
              flush=True)  # fmt: skip
        while True:
            stop.waiting = True  # first, then look: no signal is missed
            if stop.asked:
                break
            size, addr = sock.recvfrom_into(buffer)
            stop.waiting = False
            if not addr:  # a sender bound to no address (1)
                counts.ignored += 1
                log.info("ignored %d bytes: the sender has no address", size)
                continue
            peer = net.format_unix(addr)
            try:
                sock.sendto(view[:size], addr)
            except OSError as exc:  # the sender is gone already, ...
                log.warning("%s: reply of %d bytes lost: %s", peer, size,
                            net.reason(exc))  # fmt: skip
                continue
            counts.datagrams += 1
            counts.bytes += size
            if verbose:
                log.info("%s: echoed %d bytes", peer, size)
    except KeyboardInterrupt:  # a signal, while waiting
        pass


def main(argv: list[str] | None = None) -> int:
    args = net.parser(__doc__, server=True, unix=True).parse_args(argv)
    net.setup_logging(args.verbose)
    where = net.format_unix(net.unix_address(args.path, args.abstract))
    counts = Counted()
    with ExitStack() as stack:
        try:
            sock = stack.enter_context(
                listening(
                    args.path, args.abstract, args.mode, socket.SOCK_DGRAM
                )
            )
        except OSError as exc:  # in use, not a socket, no directory, ...
            return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
        serve(sock, counts)
    print(stopped(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
