"""Unix domain datagram echo server: datagrams between local processes.

Shows AF_UNIX datagram sockets. As with UDP, each recvfrom_into() returns
one whole datagram and the sender's address, and the echo goes back to
that address. Unlike UDP, a sender waits while the receiver's queue is
full; so the server sends with MSG_DONTWAIT, and drops (and counts) an
echo whose sender does not read, rather than wait on it. A sender bound
to no address has none to answer: ignored. The socket file is handled as
the Unix stream server handles its own.

    python examples/unix_datagram_echo_server.py
    python examples/unix_datagram_echo_server.py --path /tmp/echo.sock -v
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import net

log = logging.getLogger("unix_server")

# --8<-- [start:lesson]
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
            try:  # never wait for one sender: the others wait behind it
                sock.sendto(view[:size], socket.MSG_DONTWAIT, addr)
            except BlockingIOError:  # its queue is full: it is not reading
                counts.dropped += 1
                log.info("%s: dropped an echo of %d bytes: the sender's "
                         "queue is full", peer, size)  # fmt: skip
                continue
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


def remove_stale(path: str) -> None:
    """Remove path if it is a socket file that nobody listens on."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):  # never remove what is not a socket
        raise FileExistsError("it exists, and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # its server is gone
            os.unlink(path)
            log.info("%s: removed a stale socket file", path)
            return
        except OSError as exc:
            if exc.errno != errno.EPROTOTYPE:  # a server of the other kind
                raise
    raise OSError("another server is listening on it")


@contextmanager
def listening(path: str, abstract: bool, mode: int) -> Iterator[socket.socket]:
    """A Unix socket bound to path; its file removed again at the end."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if abstract:
            sock.bind(net.unix_address(path, abstract))
        else:
            remove_stale(path)
            # bind() makes the file, with the umask's permissions: set
            # them before, not with chmod() after, when a client could
            # already have connected.
            old = os.umask(0o777 & ~mode)
            try:
                sock.bind(path)
            finally:
                os.umask(old)
        made = None if abstract else inode(path)
        try:
            yield sock
        finally:
            # Remove the file, unless another server has replaced it.
            if made is not None and inode(path) == made:
                os.unlink(path)  #


def inode(path: str) -> int | None:
    """The file's inode number: which file is at path now, if any."""
    try:
        return os.lstat(path).st_ino
    except FileNotFoundError:
        return None


# --8<-- [end:lesson]
class Stop:
    """The handler of SIGINT and SIGTERM. A handler that raises can break
    into any line, between a send and its count say; this one raises only
    while serve() waits, and otherwise lets the datagram in hand finish."""

    def __init__(self) -> None:
        self.asked = False
        self.waiting = False

    def __call__(self, signum: int, frame: object) -> None:
        self.asked = True
        if self.waiting:
            raise KeyboardInterrupt  # leaves recvfrom_into()


@dataclass
class Counted:
    datagrams: int = 0
    bytes: int = 0
    ignored: int = 0
    dropped: int = 0


EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."


def main(argv: list[str] | None = None) -> int:
    parser = net.parser(__doc__, server=True, unix=True, exits=EXITS)
    args = parser.parse_args(argv)
    net.setup_logging(args.verbose)
    where = net.format_unix(net.unix_address(args.path, args.abstract))
    counts = Counted()
    with ExitStack() as stack:
        try:
            sock = stack.enter_context(
                listening(args.path, args.abstract, args.mode)
            )
        except OSError as exc:  # in use, not a socket, no directory, ...
            return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
        serve(sock, counts)
    count = counts.datagrams
    print(
        f"stopped: echoed {count} datagram{'' if count == 1 else 's'}, "
        f"{counts.bytes} bytes; ignored {counts.ignored}, "
        f"dropped {counts.dropped}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
