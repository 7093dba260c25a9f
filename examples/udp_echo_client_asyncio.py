"""UDP echo client with asyncio: send one datagram, wait for its echo.

Shows asyncio's datagram API (a DatagramProtocol and
loop.create_datagram_endpoint) on a socket this program creates and
configures itself, so buffer sizes are set before any traffic. Every wait is
bounded: with no echo within --timeout the datagram is sent again, up to
--retries times, each wait twice as long as the one before (at most eight
times --timeout); a refused port ends the wait at once.

The options, the socket and the output are the blocking client's
(udp_echo_client_blocking.py, which this imports: copy both and net.py).
Start an echo server, then:

    python examples/udp_echo_client_asyncio.py
    python examples/udp_echo_client_asyncio.py --port 9999 -v "Hi there"
    head -c 1000 /dev/urandom | python examples/udp_echo_client_asyncio.py -

Exit status: 0 echo received, 1 network failure, 2 bad usage, 130
interrupted (Ctrl+C).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import net
from udp_echo_client_blocking import MAX_BACKOFF, plural
from udp_echo_client_blocking import main as run_client

log = logging.getLogger("udp_client")


class EchoClientProtocol(asyncio.DatagramProtocol):
    """Settles self.reply with the echo, or with the first socket error."""

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.reply: asyncio.Future[bytes] = (
            asyncio.get_running_loop().create_future()
        )

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Only the first exact echo is the answer. (1)
        if data == self.message and not self.reply.done():
            self.reply.set_result(data)
        else:  # a duplicate echo, or not an echo of our message at all
            peer = net.format_address(addr)
            log.info("ignored %d bytes from %s", len(data), peer)

    def error_received(self, exc: Exception) -> None:
        # On a connected socket an ICMP "port unreachable" arrives here as
        # ConnectionRefusedError: nobody is listening, so stop waiting. An
        # error that comes after the echo is too late to matter.
        if not self.reply.done():
            self.reply.set_exception(exc)


async def echo(
    sock: socket.socket, message: bytes, timeout: float, retries: int
) -> tuple[int, float]:
    """Send until the echo comes back; return (attempts, seconds taken)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: EchoClientProtocol(message),
        sock=sock,  # our socket (2)
    )
    start = loop.time()
    try:
        for attempt in range(1, retries + 2):
            net.send_datagram(transport, sock, message)
            wait = timeout * min(2 ** (attempt - 1), MAX_BACKOFF)
            # wait(), unlike wait_for(), leaves the future alone. (3)
            done, _ = await asyncio.wait([protocol.reply], timeout=wait)
            if done:
                protocol.reply.result()  # raises the socket error, if any
                return attempt, loop.time() - start
            log.info("attempt %d: no echo within %.3g s", attempt, wait)
        seconds = loop.time() - start
        raise TimeoutError(
            f"no echo after {plural(attempt, 'attempt')} in {seconds:.1f} s"
        )
    finally:
        transport.close()


def main(argv: list[str] | None = None) -> int:
    return run_client(
        argv, lambda *args: asyncio.run(echo(*args)), description=__doc__
    )


if __name__ == "__main__":
    sys.exit(main())
