"""Talk to a child process over socket.socketpair(): no port, no path.

Shows socket.socketpair(): two connected sockets, with no address on any
network and no file on disk. The parent keeps one end and hands the other
to a child it starts (pass_fds); each closes the end it does not use, so
when one side exits or dies the other reads end of file instead of
waiting for ever. The child echoes what the parent sends; with
--pass-file, the parent also passes an open file descriptor
(socket.send_fds()), and the child sends the file's bytes back too.

    python examples/socketpair_ipc.py "Hello, child"
    python examples/socketpair_ipc.py --pass-file README.md -v
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import net

log = logging.getLogger("socketpair")


# --8<-- [start:lesson]
def read_to_eof(sock: socket.socket) -> bytes:
    """Read until the other end has shut down its sending side, or closed."""
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


def child(fd: int, timeout: float) -> int:
    """The child: echo what the parent sent, then the passed file's bytes."""
    with socket.socket(fileno=fd) as sock:  # the end the parent passed on
        sock.settimeout(timeout)
        # The first read also takes any file descriptors sent with it (1)
        first, fds, _, _ = socket.recv_fds(sock, 65_536, maxfds=1)
        message = first + read_to_eof(sock)  # b"" at once after an EOF
        reply = message
        for passed in fds:  # a file the parent opened, open here too
            with open(passed, "rb") as file:
                reply += file.read()
        log.info("child %d: got %d bytes and %d file descriptor(s)",
                 os.getpid(), len(message), len(fds))  # fmt: skip
        sock.sendall(reply)
    return 0  # closing the socket is the parent's end of file (2)


def start_child(
    end: socket.socket, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    """Start this script as the child, with end as its only extra fd."""
    fd = end.fileno()
    command = [sys.executable, os.path.abspath(__file__), "--child", str(fd),
               "--timeout", str(args.timeout)]  # fmt: skip
    if args.verbose:
        command.append("-v")
    # A session of its own: Ctrl+C reaches the parent only, which ends it.
    return subprocess.Popen(command, pass_fds=[fd], start_new_session=True)


def exchange(sock: socket.socket, message: bytes, file: Path | None) -> bytes:
    """Send the message (and the file's descriptor), then read the reply."""
    if file is None:
        sock.sendall(message)
    else:
        with open(file, "rb") as opened:
            # A descriptor goes with one byte at least: the message's first.
            sent = socket.send_fds(sock, [message[:1]], [opened.fileno()])
            sock.sendall(message[sent:])
    sock.shutdown(socket.SHUT_WR)  # that was all: the child's end of file
    log.info("sent %d bytes, then end of file", len(message))
    return read_to_eof(sock)


def ended(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """Wait for the child to exit, killing it after timeout seconds (at
    once for 0); say how it ended."""
    try:
        status = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the echo matched, 1 the child failed (nothing back in
time, ended early, or sent something else), 2 bad usage, 130
interrupted (Ctrl+C)."""


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(
        description=__doc__,
        epilog=EXITS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net.add_message(options, "Hello, child!")
    options.add_argument(
        "--pass-file",
        type=Path,
        metavar="FILE",
        help="open FILE and pass its descriptor to the child (default: none)",
    )
    net.add_timeout(
        options,
        5.0,
        "the longest wait for the child's reply (default: %(default)s)",
    )
    options.add_argument(
        "-v", "--verbose", action="store_true", help="log on stderr"
    )
    options.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = options.parse_args(argv)
    net.setup_logging(args.verbose)
    if args.child is not None:
        try:
            return child(args.child, args.timeout)
        except OSError as exc:  # timed out, the parent gone, ...
            return net.fail(f"child {os.getpid()}: {net.reason(exc)}")
    file = args.pass_file
    if file is not None and not (file.is_file() and os.access(file, os.R_OK)):
        options.error(f"not a file this user may read: {file}")
    message = net.message_bytes(args.message)
    if args.pass_file is not None and not message:
        options.error("a file descriptor needs a message to go with")
    expected = message
    if args.pass_file is not None:
        expected += args.pass_file.read_bytes()
    ours, theirs = socket.socketpair()
    with ours:
        with theirs:
            proc = start_child(theirs, args)
        # Our copy of the child's end is closed now: the child's exit is
        # the only way to our end of file.
        try:
            log.info("started child %d", proc.pid)
            ours.settimeout(args.timeout)
            reply = exchange(ours, message, args.pass_file)
        except socket.timeout:
            ended(proc, 0)
            return net.fail(f"child {proc.pid} did not answer within "
                            f"{args.timeout:g} s: killed it")  # fmt: skip
        except KeyboardInterrupt:  # Ctrl+C
            ended(proc, 0)
            return 128 + signal.SIGINT
        except OSError as exc:  # the child's end closed while we sent
            how = ended(proc, args.timeout)
            return net.fail(f"child {proc.pid} ended ({how}): "
                            f"{net.reason(exc)}")  # fmt: skip
    how = ended(proc, args.timeout)
    if reply != expected:  # cut short, or not the bytes sent
        short = len(reply) < len(expected)
        back = f"{len(reply)} of {len(expected)} bytes" if short else "others"
        return net.fail(f"child {proc.pid} ended ({how}) after sending "
                        f"back {back}")  # fmt: skip
    passed = f" and {args.pass_file}'s descriptor" if args.pass_file else ""
    print(f"sent {len(message)} bytes{passed} to child {proc.pid}: "
          f"{net.shorten(message)}")  # fmt: skip
    print(f"received {len(reply)} bytes back: {net.shorten(reply)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
