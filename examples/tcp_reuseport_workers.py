"""SO_REUSEPORT: worker processes sharing one port, and their supervisor.

Shows a supervisor that holds the port and starts --workers processes,
each with a listening socket of its own on that port (SO_REUSEPORT): the
kernel spreads new connections across them, so each worker, an asyncio
echo server, can have a core. Only the same user may join the port. The
supervisor restarts a worker that dies, and stops them all on SIGINT or
SIGTERM. With --greet, each worker first tells each client its pid.

    python examples/tcp_reuseport_workers.py --workers 2 --greet
    python examples/tcp_echo_client_blocking.py
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import net

log = logging.getLogger("workers")


# --8<-- [start:lesson]
def bound(address: tuple[str, int]) -> socket.socket:
    """A socket bound to address that shares the port: with every other
    socket of this user that also sets SO_REUSEPORT, and no one else's."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)  # both options must be set before bind()
    except OSError:
        sock.close()
        raise
    return sock


def start_worker(
    address: tuple[str, int], work: Callable[[socket.socket], None]
) -> int:
    """Fork a worker with a listening socket of its own on address, which
    runs work(sock); return its pid."""
    with bound(address) as sock:
        sock.listen(BACKLOG)  # connections queue from now on
        pid = os.fork()
        if pid == 0:  # in the worker: this call never returns
            run_worker(sock, work)
        return pid  # the supervisor's copy of sock closes: the worker's alone


def run_worker(
    sock: socket.socket, work: Callable[[socket.socket], None]
) -> NoReturn:
    """The worker's life: work(sock), then the end of the process."""
    status = 1  # unless work() returns
    try:  # the signals the supervisor blocks, unblocked
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        work(sock)
        status = 0
    finally:
        os._exit(status)  # never back into the supervisor's code


def supervise(
    address: tuple[str, int],
    started: dict[int, float],
    work: Callable[[socket.socket], None],
) -> int:
    """Keep the workers started (pid: when) running until SIGINT or
    SIGTERM; stop them all then. Return how many it restarted."""
    restarts = quick = 0
    try:
        while True:  # signals are blocked: they wait here, in order
            info = signal.sigwaitinfo(STOPS | {signal.SIGCHLD})
            if info.si_signo != signal.SIGCHLD:
                return restarts
            for pid, status in ended(started):
                life = time.monotonic() - started.pop(pid)
                quick = quick + 1 if life < 1 else 0
                if quick > MAX_QUICK_DEATHS:
                    raise ChildProcessError("the workers keep ending")
                new = start_worker(address, work)
                started[new] = time.monotonic()
                restarts += 1
                print(f"worker {pid} ended ({describe(status)}); started "
                      f"worker {new}", file=sys.stderr,
                      flush=True)  # fmt: skip
    finally:
        stop_all(started)


# --8<-- [end:lesson]
STOPS = {signal.SIGINT, signal.SIGTERM}
BACKLOG = 128  # connections each worker's socket queues
# Linux 5.14+: 1 moves a closing socket's queued connections to another
# socket on its port; 0 (the default) resets them.
MIGRATE = Path("/proc/sys/net/ipv4/tcp_migrate_req")
MAX_QUICK_DEATHS = 5  # in a row, each within a second of its start
STOP_WAIT = 2.0  # seconds the workers have to stop, before SIGKILL


def ended(started: dict[int, float]) -> list[tuple[int, int]]:
    """The workers that have ended, with their wait status; never waits."""
    done = []
    for pid in list(started):
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited:
            done.append((pid, status))
    return done


def describe(status: int) -> str:
    """A wait status in words: "exit status 1", "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def stop_all(started: dict[int, float]) -> None:
    """SIGTERM to every worker; SIGKILL to those not gone within
    STOP_WAIT seconds; wait for each."""
    for pid in started:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while started and time.monotonic() < deadline:
        for pid, _ in ended(started):
            del started[pid]
        signal.sigtimedwait({signal.SIGCHLD}, 0.05)
    for pid in started:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class Echo(asyncio.Protocol):
    """A worker's echo on one connection: an asyncio Protocol, the
    fastest of the cookbook's asyncio servers. Reading pauses while the
    client does not take the echo; a connection idle for --idle-timeout
    is closed."""

    transport: asyncio.Transport

    def __init__(self, args: argparse.Namespace, open_: set[Echo]) -> None:
        self.args, self.open = args, open_
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()  # when data last arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # TCP's is one
        self.transport = transport
        if len(self.open) >= self.args.max_connections:
            self.transport.abort()
            return
        self.open.add(self)
        if self.args.greet:
            self.transport.write(f"worker {os.getpid()}\n".encode())
        self.timer = self.loop.call_later(self.args.idle_timeout, self.idle)

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        self.transport.write(data)

    def idle(self) -> None:
        left = self.last + self.args.idle_timeout - self.loop.time()
        if left > 0:  # data came meanwhile: look again then
            self.timer = self.loop.call_later(left, self.idle)
            return
        log.info("worker %d: idle for %g s: closed", os.getpid(),
                 self.args.idle_timeout)  # fmt: skip
        self.transport.abort()

    def pause_writing(self) -> None:  # the client is behind
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.open:
            self.open.discard(self)
            self.timer.cancel()


async def serve(
    sock: socket.socket, lifeline: int, args: argparse.Namespace
) -> None:
    """One worker's server on its own listening socket, until SIGINT or
    SIGTERM, or until the supervisor is gone: lifeline is a pipe's end
    that only the supervisor's end keeps open."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOPS:
        loop.add_signal_handler(signum, stop.set)
    loop.add_reader(lifeline, stop.set)  # EOF: the supervisor has ended
    open_: set[Echo] = set()
    server = await loop.create_server(
        lambda: Echo(args, open_), sock=sock, backlog=BACKLOG
    )
    async with server:
        await stop.wait()
        server.close()
        for echo in list(open_):
            echo.transport.abort()


def worker(
    holder: socket.socket, args: argparse.Namespace
) -> Callable[[socket.socket], None]:
    """What each worker runs on its listening socket: the echo server."""
    lifeline, alive = os.pipe()  # the supervisor holds alive, and no one else

    def work(sock: socket.socket) -> None:
        holder.close()  # the supervisor's, inherited: not the worker's
        os.close(alive)
        asyncio.run(serve(sock, lifeline, args))

    return work


EXITS = """\
Exit status: 0 stopped by a signal, 1 cannot listen or the workers keep
ending, 2 bad usage."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--workers",
        type=lambda text: net.bounded_int(text, 1, 64),
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes, 1 to 64 (default: %(default)s, the cores)",
    )
    parser.add_argument(
        "--greet",
        action="store_true",
        help="send each client a first line: the worker's pid",
    )
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=lambda text: net.bounded_int(text, 1, 100_000),
        default=1000,
        metavar="N",
        help="close at once a connection over this many, in each worker "
        "(default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    where = net.format_address((args.host, args.port))
    try:
        *_, address = socket.getaddrinfo(
            args.host, args.port, type=socket.SOCK_STREAM
        )[0]
        # holds the port, even between workers
        holder = bound((str(address[0]), int(address[1])))
    except OSError as exc:  # in use (by another user, too), no address
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPS | {signal.SIGCHLD})
    with holder:
        address = holder.getsockname()[:2]
        work = worker(holder, args)
        started = {start_worker(address, work): time.monotonic()
                   for _ in range(args.workers)}  # fmt: skip
        print(f"listening on {net.format_address(address)}", flush=True)
        log.info("started %s", " ".join(map(str, started)))
        if MIGRATE.exists() and MIGRATE.read_text().strip() == "0":
            log.info("%s is 0: connections queued on a worker that ends "
                     "are reset", MIGRATE)  # fmt: skip
        try:
            restarts = supervise(address, started, work)
        except ChildProcessError as exc:
            return net.fail(str(exc))
    print(f"stopped: {args.workers} workers, restarted {restarts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
