"""examples/socks5_proxy.py, run as its page shows, with clients nobody
here wrote (curl --socks5 and --socks5-hostname, ncat --proxy-type
socks5) and a client driven by hand: every reply code, malformed
greetings, truncated requests, names of length 0 and 255, bytes after
the request, user names and passwords, and destinations it must refuse
(0.0.0.0, 10.x, 169.254.169.254, and names that lead to them). Every test
runs once per supported Python, except those marked `once`."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    curl,
    in_ns,
    namespace,
    needs_root,
    on,
    read_all,
    recv_exactly,
    reset_on_close,
    served,
    start_server,
    tcp_listener,
)
from connecting import etc

SCRIPT = "examples/socks5_proxy.py"


@contextmanager
def proxying(
    python: Python, *args: str, password: str = ""
) -> Iterator[Server]:
    """The proxy; stopped after, unless the test stopped it, with exit
    status 0. password: in SOCKS5_PASSWORD, for --user."""
    if password:
        python = dataclasses.replace(
            python, env={**python.env, "SOCKS5_PASSWORD": password}
        )
    with served(*args, script=SCRIPT, python=python) as proxy:
        yield proxy


def ipv4(address: str, port: int) -> bytes:
    """A CONNECT request to an IPv4 address."""
    packed = ipaddress.ip_address(address).packed
    kind = 1 if len(packed) == 4 else 4
    return bytes([5, 1, 0, kind]) + packed + struct.pack("!H", port)


def domain(name: bytes, port: int) -> bytes:
    """A CONNECT request to a name."""
    return bytes([5, 1, 0, 3, len(name)]) + name + struct.pack("!H", port)


def asked(
    proxy: Server, request: bytes, greeting: bytes = b"\5\1\0"
) -> tuple[socket.socket, int]:
    """Greet the proxy (no authentication), send request; return the
    connection and the reply's code, the reply read whole."""
    sock = socket.create_connection(proxy.address, TIMEOUT)
    sock.sendall(greeting + request)
    assert recv_exactly(sock, 2) == b"\5\0"
    head = recv_exactly(sock, 4)
    assert head[0] == 5, head
    recv_exactly(sock, {1: 4, 4: 16}[head[3]] + 2)  # the bound address
    return sock, head[1]


def test_connect_to_addresses_and_a_name_both_ways(python: Python) -> None:
    with (
        tcp_listener() as far4,
        tcp_listener("::1") as far6,
        proxying(python) as proxy,
    ):
        port4, port6 = far4.getsockname()[1], far6.getsockname()[1]
        for far, request in [
            (far4, ipv4("127.0.0.1", port4)),
            (far6, ipv4("::1", port6)),
            (far4, domain(b"localhost", port4)),
        ]:
            # Bytes right after the request, in the same segment, are
            # kept and forwarded once connected.
            sock, code = asked(proxy, request + b"early")
            with sock:
                assert code == 0
                accepted, _ = far.accept()
                with accepted:
                    accepted.settimeout(TIMEOUT)
                    assert recv_exactly(accepted, 5) == b"early"
                    accepted.sendall(b"back")
                    assert recv_exactly(sock, 4) == b"back"
                    sock.shutdown(socket.SHUT_WR)  # passed on, and the
                    assert accepted.recv(1) == b""  # other way goes on
                    accepted.sendall(b"after")
                assert read_all(sock) == b"after"
        status, out, _ = proxy.stop()
    assert (status, out) == (0, "stopped: served 3 clients\n")


REFUSALS = [  # request, reply code, what the log says
    (ipv4("10.1.2.3", 80), 2, "10.1.2.3: not in --allow 127.0.0.0/8, ::1/128"),
    (ipv4("0.0.0.0", 80), 2, "0.0.0.0: not in --allow"),
    (ipv4("169.254.169.254", 80), 2, "169.254.169.254: not in --allow"),
    # ::ffff:a00:1 before Python 3.13, ::ffff:10.0.0.1 from 3.13 on
    (ipv4("::ffff:10.0.0.1", 80), 2, ": not in --allow"),
    (domain(b"", 80), 4, "an empty name"),
    (domain(b"a" * 255, 80), 4, f"{'a' * 255}: "),  # a label over 63
    (domain("köln.test".encode(), 80), 4, "k\ufffd\ufffdln.test: "),
    (domain(b"no-such-host.invalid", 80), 4, "no-such-host.invalid: "),
    (b"\5\2\0\1\x7f\0\0\1\0\x50", 7, "command 2"),  # BIND
    (b"\5\3\0\1\x7f\0\0\1\0\x50", 7, "command 3"),  # UDP ASSOCIATE
    (b"\5\1\0\x09", 8, "address type 9"),
]


def test_each_refusal_has_its_reply_code(
    python: Python, closed_tcp_port: int
) -> None:
    refused = (ipv4("127.0.0.1", closed_tcp_port), 5, "Connection refused")
    with proxying(python, "-v") as proxy:
        for request, code, _ in [*REFUSALS, refused]:
            sock, got = asked(proxy, request)
            with sock:
                assert (got, read_all(sock)) == (code, b""), request
        status, _, err = proxy.stop()
    assert status == 0
    logged = re.findall(r"^socks5: [^ ]+ 0 bytes up, 0 down: (.*)$", err, re.M)
    assert len(logged) == len(REFUSALS) + 1
    for (_, code, why), line in zip([*REFUSALS, refused], logged):
        assert line.startswith(f"refused ({code}): ") and why in line, line


MALFORMED = [  # what the client sends, what it gets back before EOF
    (b"\4\1\0", b"", "version 4, not 5"),  # a SOCKS4 client
    (b"\5", b"", "cut short"),
    (b"\5\1\2", b"\5\xff", "no method in common"),  # user/password only
    (b"\5\1\0\5\1", b"\5\0", "cut short"),  # a request cut short
    (b"\5\1\0\4\1\0\1", b"\5\0", "version 4, not 5"),
]


def test_malformed_greetings_and_requests_are_closed(python: Python) -> None:
    with proxying(python, "-v") as proxy:
        for sent, answer, _ in MALFORMED:
            with socket.create_connection(proxy.address, TIMEOUT) as sock:
                sock.sendall(sent)
                sock.shutdown(socket.SHUT_WR)
                assert read_all(sock) == answer, sent
        status, _, err = proxy.stop()
    assert status == 0
    logged = re.findall(r": not SOCKS5: (.*)$", err, re.M)
    assert logged == [why for *_, why in MALFORMED]


def test_a_user_name_and_password(python: Python) -> None:
    with tcp_listener() as far, proxying(
        python, "--user", "ada", password="s3cret"
    ) as proxy:  # fmt: skip
        port = far.getsockname()[1]
        tries = [(b"ada", b"s3cret", 0), (b"ada", b"wrong", 1),
                 (b"bob", b"s3cret", 1)]  # fmt: skip
        for name, password, status in tries:
            with socket.create_connection(proxy.address, TIMEOUT) as sock:
                sock.sendall(b"\5\1\2")  # user name and password
                assert recv_exactly(sock, 2) == b"\5\2"
                sock.sendall(bytes([1, len(name)]) + name
                             + bytes([len(password)]) + password)  # fmt: skip
                assert recv_exactly(sock, 2) == bytes([1, status])
                if status:
                    assert read_all(sock) == b""
                    continue
                sock.sendall(ipv4("127.0.0.1", port))
                assert recv_exactly(sock, 10)[1] == 0
                far.accept()[0].close()
        with socket.create_connection(proxy.address, TIMEOUT) as sock:
            sock.sendall(b"\5\1\0")  # no authentication: not accepted
            assert read_all(sock) == b"\5\xff"


@pytest.mark.once
def test_curl_and_ncat_through_it(
    python: Python, socat_tcp_server: int
) -> None:
    with (
        start_server("--root", "examples/www",
                     script="examples/http_server.py") as http,
        proxying(python, "--user", "ada", password="s3cret") as proxy,
    ):  # fmt: skip
        for option in ("--socks5", "--socks5-hostname"):
            result = curl(
                option,
                f"127.0.0.1:{proxy.port}",
                "--proxy-user",
                "ada:s3cret",
                f"http://localhost:{http.port}/hello.txt",
            )
            assert result.stdout == b"hello, world\n"
        result = subprocess.run(
            ["ncat", "--proxy-type", "socks5", "--proxy",
             f"127.0.0.1:{proxy.port}", "--proxy-auth", "ada:s3cret",
             "127.0.0.1", str(socat_tcp_server)],
            input=b"through ncat\n", capture_output=True, timeout=TIMEOUT,
            check=True,
        )  # fmt: skip
        assert result.stdout == b"through ncat\n"


@pytest.mark.once
def test_a_destination_that_does_not_accept_in_time_is_ttl_expired(
    python: Python, full_backlog: int
) -> None:
    with proxying(python, "--timeout", "1") as proxy:
        sock, code = asked(proxy, ipv4("127.0.0.1", full_backlog))
        with sock:
            assert code == 6


HOSTS = """127.0.0.1 localhost
10.1.2.3 intranet.test
169.254.169.254 metadata.test
0.0.0.0 zero.test
"""


@pytest.mark.once
def test_names_that_lead_where_it_may_not_go_are_refused(
    python: Python,
) -> None:
    # In a namespace whose hosts file has the names: the proxy, and curl.
    needs_root("a network namespace with a hosts file of its own")
    with namespace() as ns, etc(ns, HOSTS, "127.0.0.1"):
        in_ns(ns, "ip", "link", "set", "lo", "up")
        with proxying(on(python, ns), "-v") as proxy:
            for name in ("intranet.test", "metadata.test", "zero.test"):
                result = curl(
                    "--socks5-hostname",
                    f"127.0.0.1:{proxy.port}",
                    f"http://{name}/",
                    ns=ns,
                    check=False,
                )
                assert result.returncode == 97, result.stderr  # proxy said no
            status, _, err = proxy.stop()
        assert status == 0
        assert re.findall(r"refused \(2\): (\S+): not in --allow", err) == [
            "intranet.test", "metadata.test", "zero.test",
        ]  # fmt: skip
        # Allowed, but the namespace has no route there: code 3.
        with proxying(on(python, ns), "--allow", "10.0.0.0/8") as proxy:
            result = curl(
                "--socks5",
                f"127.0.0.1:{proxy.port}",
                "http://10.1.2.3/",
                ns=ns,
                check=False,
            )
    assert (result.returncode, result.stderr) == (
        97,
        b"curl: (97) Can't complete SOCKS5 connection to 10.1.2.3. (3)\n",
    )


def test_a_port_in_use_is_one_line_and_exit_1(python: Python) -> None:
    with proxying(python) as proxy:
        assert_port_in_use(python, SCRIPT, proxy.port)


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--allow", "everywhere"], "argument --allow: not a network: "
         "'everywhere'"),
        (["--user", "a" * 256], "argument --user: must be 1 to 255 bytes, "
         "not 256"),
        (["--user", "ada"], "--user needs SOCKS5_PASSWORD: 1 to 255 bytes"),
        (["--port", "65536"], "argument --port: must be from 0 to 65535, "
         "not 65536"),
    ],
    script=SCRIPT,
)  # fmt: skip


@pytest.mark.once
def test_a_quiet_client_an_idle_one_a_reset_and_a_stop(
    python: Python,
) -> None:
    with (
        tcp_listener() as far,
        proxying(python, "--timeout", "1", "--idle-timeout", "1",
                 "--max-connections", "1", "-v") as proxy,
        socket.create_connection(proxy.address, TIMEOUT) as quiet,
    ):  # fmt: skip
        port = far.getsockname()[1]
        assert read_all(quiet) == b""  # it said nothing for 1 s
        sock, code = asked(proxy, ipv4("127.0.0.1", port))
        with sock, far.accept()[0] as accepted:
            assert code == 0
            for i in range(4):  # one way moves, every 0.4 s, the other
                if i:  # not: the connection is not idle
                    time.sleep(0.4)
                sock.sendall(b".")
                assert accepted.recv(1) == b"."
            started = time.monotonic()  # then neither moves for 1 s
            assert read_all(sock) == b""
            assert 1 <= time.monotonic() - started < 1 + SLACK
        sock, code = asked(proxy, ipv4("127.0.0.1", port))
        with sock, far.accept()[0] as accepted:
            reset_on_close(accepted)
            accepted.close()
            assert read_all(sock) == b""
        sock, code = asked(proxy, ipv4("127.0.0.1", port))
        with sock, far.accept()[0] as accepted:  # open at the stop
            with socket.create_connection(proxy.address, TIMEOUT) as over:
                assert read_all(over) == b""  # one too many: closed
            status, _, err = proxy.stop()
            assert read_all(sock) == b""
    assert status == 0
    assert re.findall(r"^socks5: [^ ]+ \d+ bytes up, \d+ down: (.*)$", err,
                      re.M) == [
        "nothing for 1 s", f"to 127.0.0.1:{port}: idle",
        f"to 127.0.0.1:{port}: reset", "the proxy is stopping",
    ]  # fmt: skip
