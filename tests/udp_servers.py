"""What every UDP echo server must do, as tests, run as its page shows.

tests/test_udp_echo_server_{blocking,asyncio,fast}.py import these and say
which example they hold to them (the `script` fixture). Every test runs
once per supported Python (the `python` fixture).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from burst import udp_stats, wait_drained
from conftest import (
    TIMEOUT,
    Python,
    Server,
    bad_usage_exits_2,
    needs_root,
    rss,
    run,
    start_server,
    udp_socket,
)
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.fixture
def server(python: Python, script: str) -> Iterator[Server]:
    with start_server(python=python, script=script) as running:
        yield running


def echo_of(server: Server, payload: bytes) -> tuple[bytes, Any]:
    with udp_socket(server.host) as sock:
        sock.sendto(payload, server.address)
        return sock.recvfrom(65_535)


def test_prints_where_it_listens(server: Server) -> None:
    assert server.host == "127.0.0.1"
    assert 0 < server.port < 65_536


@pytest.mark.parametrize(
    "payload",
    [b"", b"hello", bytes(range(256)), os.urandom(1_400), b"x" * 65_507],
    ids=["empty", "text", "every-byte", "random-1400", "largest"],
)
def test_echoes_every_datagram_unchanged(
    server: Server, payload: bytes
) -> None:
    assert echo_of(server, payload) == (payload, server.address)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_it_with_a_summary(server: Server, signum: int) -> None:
    echo_of(server, b"abc")
    echo_of(server, b"")
    status, out, err = server.stop(signum)
    summary = "stopped: echoed 2 datagrams, 3 bytes; ignored 0\n"
    assert (status, out, err) == (0, summary, "")


def test_summary_of_one_datagram(server: Server) -> None:
    echo_of(server, b"hello")
    summary = server.stop()[1]
    assert summary == "stopped: echoed 1 datagram, 5 bytes; ignored 0\n"


def test_over_ipv6(python: Python, script: str) -> None:
    with start_server("--host", "::1", python=python, script=script) as server:
        assert server.host == "::1"
        data, (host, port, _flow, _scope) = echo_of(server, b"six")
        assert (data, host, port) == (b"six", "::1", server.port)
        assert server.stop()[0] == 0


def test_verbose_logs_each_datagram_and_socket_facts(
    python: Python, script: str
) -> None:
    with start_server(
        "-v", "--recv-bufsize", "65536", "--send-bufsize", "32768",
        python=python, script=script,
    ) as loud:  # fmt: skip
        with udp_socket() as sock:
            sock.sendto(b"hi", loud.address)
            sock.recv(100)
            client = f"127.0.0.1:{sock.getsockname()[1]}"
        _, _, err = loud.stop()
    facts = f"UDP 127.0.0.1:{loud.port} SO_RCVBUF=131072 SO_SNDBUF=65536"
    assert f"{facts} SO_REUSEADDR=0 SO_REUSEPORT=0" in err
    assert f"udp_server: {client}: echoed 2 bytes\n" in err


def test_port_in_use_exits_1(
    python: Python, server: Server, script: str
) -> None:
    # Without SO_REUSEADDR (never set here) a second bind fails, so no
    # other process can share the port and take some of its datagrams.
    result = run(script, "--port", str(server.port), python=python)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{server.port}: "
        "Address already in use\n"
    )


def test_reuse_port_lets_two_servers_share_a_port(
    python: Python, script: str
) -> None:
    with start_server("--reuse-port", python=python, script=script) as first:
        port = str(first.port)
        with start_server(
            "--reuse-port", "--port", port, python=python, script=script
        ) as second:
            assert second.port == first.port
            assert echo_of(second, b"either")[0] == b"either"
            assert second.stop()[0] == 0
        assert first.stop()[0] == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_warns_when_reachable_from_other_machines(
    python: Python, host: str, script: str
) -> None:
    # Binding a wildcard address sends nothing anywhere.
    with start_server("--host", host, python=python, script=script) as server:
        status, _, err = server.stop()
    assert status == 0
    assert err == (
        f"udp_server: {'[::]' if host == '::' else host}:{server.port} is "
        "reachable from other machines: anyone there can make this server "
        "send datagrams\n"
    )


def test_no_warning_on_loopback(server: Server) -> None:
    assert server.stop()[2] == ""


@pytest.mark.parametrize("source_port", [7, 19, 37])
def test_ignores_small_service_ports_and_says_so(
    python: Python, script: str, source_port: int
) -> None:
    # An echo or chargen service at the source could bounce replies back
    # and forth forever; the server neither answers nor crashes.
    needs_root("binding a port below 1024")
    with start_server("-v", python=python, script=script) as server:
        with socket.socket(type=socket.SOCK_DGRAM) as service:
            service.bind(("127.0.0.1", source_port))
            service.sendto(b"loop?", server.address)
        assert echo_of(server, b"next")[0] == b"next"  # still serving
        _, summary, err = server.stop()
    assert summary == "stopped: echoed 1 datagram, 4 bytes; ignored 1\n"
    ignored = f"udp_server: 127.0.0.1:{source_port}: ignored: a service port"
    assert ignored in err.splitlines()


def test_never_sends_more_than_it_received(server: Server) -> None:
    sent = [b"", b"a", b"bb" * 100, os.urandom(9_000)]
    with udp_socket() as sock:
        for payload in sent:
            sock.sendto(payload, server.address)
        replies = [sock.recv(65_535) for _ in sent]
    assert sorted(replies) == sorted(sent)  # one reply each, same size
    total = sum(map(len, sent))
    assert server.stop()[1].startswith(f"stopped: echoed 4 datagrams, {total}")


BYTES = "must be from 1 to 2147483647,"


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--port", "x"], "argument --port: not a number: 'x'"),
        (["--port", "-1"], "argument --port: must be from 0 to 65535, not -1"),
        (
            ["--port", "65536"],
            "argument --port: must be from 0 to 65535, not 65536",
        ),
        (["--send-bufsize", "-5"], f"argument --send-bufsize: {BYTES} not -5"),
        (["extra"], "unrecognized arguments: extra"),
    ],
)


def test_address_not_on_this_machine_exits_1(
    python: Python, script: str
) -> None:
    # TEST-NET-1 (RFC 5737) is never a local address; nothing is sent.
    result = run(script, "--host", "192.0.2.1", python=python)
    assert result.returncode == 1
    assert result.stderr == (
        "error: cannot listen on 192.0.2.1:8888: "
        "Cannot assign requested address\n"
    )


def test_answers_a_third_party_client(server: Server) -> None:
    # socat sends stdin as one datagram, prints the reply, and quits half
    # a second (-t) after stdin ends.
    result = subprocess.run(
        ["socat", "-t", "0.5", "-", f"UDP4:127.0.0.1:{server.port}"],
        input="hello from socat\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert (result.returncode, result.stdout) == (0, "hello from socat\n")


def test_echoes_arbitrary_payloads_and_keeps_serving(server: Server) -> None:
    # Hypothesis draws small payloads byte by byte; large ones, up to the
    # limit, come from a seeded generator (its buffer is too small to draw
    # 65,507 bytes itself).
    payloads = st.one_of(
        st.binary(max_size=2_048),
        st.builds(
            lambda n, seed: random.Random(seed).randbytes(n),
            st.integers(0, 65_507),
            st.integers(),
        ),
    )

    @settings(max_examples=150, deadline=None, database=None)
    @given(payloads)
    def echoed_unchanged(payload: bytes) -> None:
        assert echo_of(server, payload) == (payload, server.address)

    echoed_unchanged()
    assert echo_of(server, b"still here")[0] == b"still here"
    assert server.stop()[0] == 0


BURST = 30_000  # datagrams: enough to overflow any server's socket


@pytest.mark.once
@pytest.mark.load
def test_survives_a_burst_and_counts_its_losses(
    python: Python,
    server: Server,
    report: Callable[[str], None],
    script: str,
) -> None:
    rss_before = rss(server.proc.pid) // 1024
    result = run(
        "tests/burst.py",
        "--port",
        str(server.port),
        "--count",
        str(BURST),
        "--seconds",
        "20",
        timeout=60,
    )  # fmt: skip  (a separate process, bounded in count and time)
    tally = json.loads(result.stdout)
    wait_drained(server.port)
    dropped = udp_stats(server.port)[1]
    rss_after = rss(server.proc.pid) // 1024
    assert echo_of(server, b"right after")[0] == b"right after"
    status, summary, err = server.stop()
    echoed = int(re.findall(r"echoed (\d+)", summary)[0]) - 1
    report(
        f"burst, {Path(script).stem}, Python {python.version}: "
        f"sent {tally['sent']:,} in {tally['seconds']} s, "
        f"server echoed {echoed:,}, kernel dropped {dropped:,} "
        f"at its socket, sender got {tally['echoes']:,} echoes; "
        f"server RSS {rss_before:,} -> {rss_after:,} kB"
    )
    assert (status, err) == (0, "")
    assert tally["sent"] == BURST
    # Every datagram the server did not echo was dropped, and counted, by
    # the kernel at the server's socket: none went missing uncounted.
    assert echoed + dropped == tally["sent"]
    assert rss_after - rss_before < 16_000  # kB: no growth with the load
