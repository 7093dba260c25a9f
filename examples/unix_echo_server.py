"""Unix domain echo server: the blocking TCP echo server on a socket file.

Shows AF_UNIX stream sockets: the blocking TCP echo server's accept loop,
echo and idle timeout on a path instead of a host and port. What is new
is the file: a stale one left by a server that died is removed (only a
socket, and only if nothing answers on it), its own is made with --mode
permissions (600 by default) and removed when it stops. With -v it logs
each client's process, user and group (SO_PEERCRED). --abstract uses
Linux's abstract namespace: no file.

    python examples/unix_echo_server.py
    python examples/unix_echo_server.py --path /tmp/echo.sock -v
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import stat
import struct
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import net

log = logging.getLogger("unix_server")

# --8<-- [start:lesson]
BACKLOG = 16  # connections the kernel queues while one is being served
CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def remove_stale(path: str) -> None:
    """Remove path if it is a socket file that nobody listens on."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):  # never remove what is not a socket (1)
        raise FileExistsError("it exists, and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)  # no wait: a full queue says EAGAIN
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # its server is gone
            os.unlink(path)
            log.info("%s: removed a stale socket file", path)
            return
        except BlockingIOError:  # its server is alive, with a full queue
            pass
        except OSError as exc:
            if exc.errno != errno.EPROTOTYPE:  # a server of the other kind
                raise
    raise OSError("another server is listening on it")


@contextmanager
def listening(path: str, abstract: bool, mode: int) -> Iterator[socket.socket]:
    """A Unix socket listening on path; its file removed again at the end."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
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
            sock.listen(BACKLOG)
            yield sock
        finally:
            # Remove the file, unless another server has replaced it.
            if made is not None and inode(path) == made:
                os.unlink(path)  # (2)


def inode(path: str) -> int | None:
    """The file's inode number: which file is at path now, if any."""
    try:
        return os.lstat(path).st_ino
    except FileNotFoundError:
        return None


def credentials(conn: socket.socket) -> str:
    """The client's process, user and group, as the kernel recorded them
    when it connected: they cannot be forged by the client."""
    pid, uid, gid = CREDENTIALS.unpack(
        conn.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, CREDENTIALS.size
        )
    )
    return f"pid {pid} uid {uid} gid {gid}"


def serve(
    listener: socket.socket, counts: Counts, idle_timeout: float
) -> None:
    """Serve one connection after another, for ever."""
    while True:
        conn, _ = listener.accept()  # a client's address: mostly none (3)
        with conn:
            counts.connections += 1
            peer = credentials(conn)
            log.info("%s: connected", peer)
            conn.settimeout(idle_timeout)  # for each recv() and sendall()
            try:
                while data := conn.recv(65_536):  # b"": the client's EOF
                    counts.bytes += len(data)
                    conn.sendall(data)
            except socket.timeout:  # TimeoutError from Python 3.10
                log.info("%s: idle for %g s: closed", peer, idle_timeout)
            except OSError as exc:  # reset by the peer, ...
                log.warning("%s: %s", peer, net.reason(exc))
            else:
                log.info("%s: done", peer)


# --8<-- [end:lesson]
class Counts:
    """What the server did, for the summary line."""

    connections = 0
    bytes = 0


EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, unix=True, exits=EXITS)
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    # SIGTERM stops the server the way Ctrl+C does; the with block below
    # then removes the socket file.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    where = net.format_unix(net.unix_address(args.path, args.abstract))
    counts = Counts()
    with ExitStack() as stack:
        try:
            listener = stack.enter_context(
                listening(args.path, args.abstract, args.mode)
            )
        except OSError as exc:  # in use, not a socket, no directory, ...
            return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
        try:
            print(f"listening on {where}", flush=True)
            serve(listener, counts, args.idle_timeout)
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
