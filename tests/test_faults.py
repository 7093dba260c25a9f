"""The UDP examples under faults: loss, duplication, delay, reordering.

Loss is real: the tests make their own network namespace and drop
datagrams there with nftables (root only; CI requires it). Duplication,
delay and reordering come from a seeded relay between client and server
(tests/relay.py). Every test runs once per supported Python, and each
client test once per client (the `client` fixture).
"""

from __future__ import annotations

import random
import re
import time

import pytest
from conftest import (
    BLOCKING_CLIENT,
    BLOCKING_SERVER,
    CLIENT,
    FAST_SERVER,
    SERVER,
    Python,
    Server,
    drop,
    namespace,
    run,
    start_server,
)
from relay import Relay

FAST = ("--timeout", "0.2")  # waits 0.2, 0.4, 0.8, 1.6 s...
TIME_MS = re.compile(r"in ([\d.]+) ms \((\d+) attempts?\)")


@pytest.fixture(params=[BLOCKING_CLIENT, CLIENT], ids=["blocking", "asyncio"])
def client(request: pytest.FixtureRequest) -> str:
    """Each UDP echo client in turn."""
    return str(request.param)


def client_through(
    python: Python, client: str, relay: Relay, *args: str
) -> tuple[float, int]:
    """Run the client via the relay; return (milliseconds, attempts)."""
    result = run(
        client, "--port", str(relay.address[1]), *FAST, *args, python=python
    )
    assert (result.returncode, result.stderr) == (0, "")
    [(ms, attempts)] = TIME_MS.findall(result.stdout)
    return float(ms), int(attempts)


@pytest.mark.once
def test_duplicates_count_once(
    python: Python, client: str, server: Server
) -> None:
    with Relay(server.address, lambda d, n, data: [0, 0, 0]) as relay:
        _, attempts = client_through(python, client, relay)
    assert attempts == 1
    # Three copies of one request reached the server, and all were echoed.
    assert server.stop()[1].startswith("stopped: echoed 3 datagrams")


def test_late_echo_of_an_earlier_attempt_is_the_answer(
    python: Python, client: str, server: Server
) -> None:
    # Every echo takes 1 s. The client resends at 0.5 s, then takes the
    # first attempt's echo, arriving at 1 s, as the answer: the bytes are
    # the same, as its page says. (Wide margins: under load the relay
    # once sent the echo 0.15 s late, and --timeout 0.2 then saw a third
    # attempt; with echoes at 0.75 s, a client held up 0.25 s after its
    # first send once took that echo before resending.)
    def slow_replies(direction: str, n: int, data: bytes) -> list[float]:
        return [1.0] if direction == "reply" else [0]

    with Relay(server.address, slow_replies) as relay:
        ms, attempts = client_through(
            python, client, relay, "--timeout", "0.5"
        )
    assert attempts == 2  # the second waits up to 1.5 s: no third
    assert 1000 <= ms < 1500  # not the second echo, at 1.5 s


def test_delayed_reply_inside_the_timeout(
    python: Python, client: str, server: Server
) -> None:
    with Relay(server.address, lambda d, n, data: [0.1]) as relay:
        ms, attempts = client_through(python, client, relay, "--timeout", "1")
    assert attempts == 1
    assert ms >= 200  # 0.1 s each way


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.once
def test_random_loss_duplication_and_reordering(
    python: Python, client: str, server: Server, seed: int
) -> None:
    rng = random.Random(seed)

    def faults(direction: str, n: int, data: bytes) -> list[float]:
        # 30% lost; the rest arrive once or twice, 0 to 50 ms late.
        copies = 0 if rng.random() < 0.3 else rng.choice([1, 1, 2])
        return [rng.uniform(0, 0.05) for _ in range(copies)]

    with Relay(server.address, faults) as relay:
        client_through(python, client, relay, "--retries", "10")


@pytest.mark.parametrize(
    ("rules", "args", "attempts"),
    [
        # numgen inc counts 0, 1, 2, ...: drops the 1st and 2nd of each 3.
        (["udp dport PORT numgen inc mod 3 != 2 drop"], [], "3 attempts"),
        (["udp sport PORT numgen inc mod 3 != 2 drop"], [], "3 attempts"),
        (
            [
                "udp dport PORT numgen random mod 10 < 3 drop",
                "udp sport PORT numgen random mod 10 < 3 drop",
            ],
            ["--retries", "12"],
            "",
        ),
    ],
    ids=["requests-2-of-3", "replies-2-of-3", "both-30-percent"],
)
@pytest.mark.once
def test_completes_through_loss(
    python: Python,
    client: str,
    rules: list[str],
    args: list[str],
    attempts: str,
) -> None:
    with namespace() as ns:
        inside = python.prefixed("ip", "netns", "exec", ns)
        with start_server(python=inside) as server:
            drop(ns, *(r.replace("PORT", str(server.port)) for r in rules))
            result = run(
                client, "--port", str(server.port), *FAST, *args,
                python=inside,
            )  # fmt: skip
            assert server.stop()[0] == 0
    assert (result.returncode, result.stderr) == (0, "")
    assert f"({attempts}" in result.stdout


@pytest.mark.once
def test_everything_lost_exits_1_within_its_bound(
    python: Python, client: str
) -> None:
    with namespace() as ns:
        inside = python.prefixed("ip", "netns", "exec", ns)
        with start_server(python=inside) as server:
            drop(ns, f"udp dport {server.port} drop")
            started = time.monotonic()
            result = run(
                client, "--port", str(server.port), *FAST, python=inside
            )
            elapsed = time.monotonic() - started
            assert server.stop()[1].startswith("stopped: echoed 0 datagrams")
    assert result.returncode == 1
    # 0.2 + 0.4 + 0.8 + 1.6 s of waiting, and whatever a busy machine adds
    said = re.search(r"no echo after 4 attempts in (\d+\.\d) s", result.stderr)
    assert said and float(said[1]) >= 3.0
    assert 3.0 <= elapsed < 3.0 + 5


@pytest.mark.once
def test_unreachable_network_exits_1(python: Python, client: str) -> None:
    # The namespace has loopback only: no route leads anywhere else, so
    # connect() fails at once and nothing is sent.
    with namespace() as ns:
        inside = python.prefixed("ip", "netns", "exec", ns)
        result = run(client, "--host", "192.0.2.1", python=inside)
    assert result.returncode == 1
    assert result.stderr == "error: 192.0.2.1:8888: Network is unreachable\n"


@pytest.mark.parametrize(
    ("script", "logged"),
    [
        (
            BLOCKING_SERVER,
            ["reply of 1 bytes lost: ", "reply of 0 bytes lost: "],
        ),
        (SERVER, ["udp_server: socket error: ", "reply of 0 bytes lost: "]),
        (FAST_SERVER, ["reply lost: "]),
    ],
    ids=["blocking", "asyncio", "fast"],
)
@pytest.mark.once
def test_server_logs_replies_it_cannot_send_and_goes_on(
    python: Python, script: str, logged: list[str]
) -> None:
    # Dropped on output, a reply makes the server's send fail (EPERM); the
    # textbook server hears of it through asyncio's error_received for a
    # non-empty reply, directly for b"".
    with namespace() as ns:
        inside = python.prefixed("ip", "netns", "exec", ns)
        with start_server(python=inside, script=script) as server:
            drop(ns, f"udp sport {server.port} drop", hook="output")
            for message in ("x", ""):
                result = run(
                    CLIENT, "--port", str(server.port), "--timeout", "0.2",
                    "--retries", "0", message, python=inside,
                )  # fmt: skip
                assert result.returncode == 1
            status, _, err = server.stop()
    assert status == 0
    for text in logged:
        assert f"{text}[Errno 1] Operation not permitted" in err
