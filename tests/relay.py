"""A UDP relay that injects faults between a client and a server.

It listens on 127.0.0.1, forwards what a client sends to the server and
the server's replies back to the client. A faults function decides, for the
n-th datagram in each direction, when copies of it are delivered:

    []          drop it          [0, 0]   duplicate it
    [0]         pass it          [0.45]   delay it by 0.45 s

Delaying one datagram past the next reorders them. Faults drawn from
random.Random(seed) repeat exactly for the same seed, so a failure
reproduces.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

Faults = Callable[[str, int, bytes], list[float]]  # (direction, n, data)


class Relay:
    """Use as a context manager; clients send to relay.address."""

    def __init__(self, server: tuple[str, int], faults: Faults) -> None:
        self.faults = faults
        self.front = socket.socket(type=socket.SOCK_DGRAM)  # clients' side
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(type=socket.SOCK_DGRAM)  # server's side
        self.back.connect(server)
        self.address: tuple[str, int] = self.front.getsockname()
        self.client: Any = None  # the last client heard from
        self.counts = {"request": 0, "reply": 0}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.forward, daemon=True)

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.front.close()
        self.back.close()

    def forward(self) -> None:
        due: list[tuple[float, int, str, bytes]] = []  # a heap, by time
        order = itertools.count()
        with selectors.DefaultSelector() as selector:
            selector.register(self.front, selectors.EVENT_READ, "request")
            selector.register(self.back, selectors.EVENT_READ, "reply")
            while not self.stopping.is_set():
                wait = 0.05  # to notice self.stopping
                if due:
                    wait = min(wait, max(due[0][0] - time.monotonic(), 0))
                for key, _ in selector.select(wait):
                    direction: str = key.data
                    if direction == "request":
                        data, self.client = self.front.recvfrom(65_535)
                    else:
                        data = self.back.recv(65_535)
                    n = self.counts[direction]
                    self.counts[direction] += 1
                    for delay in self.faults(direction, n, data):
                        at = time.monotonic() + delay
                        heapq.heappush(due, (at, next(order), direction, data))
                while due and due[0][0] <= time.monotonic():
                    _, _, direction, data = heapq.heappop(due)
                    if direction == "request":
                        self.back.send(data)
                    else:
                        self.front.sendto(data, self.client)
