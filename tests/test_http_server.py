"""examples/http_server.py, run as its page shows, against clients nobody
here wrote: curl, Python's http.client and urllib, wrk and ab as load, and
Chromium (tests/test_browser.py loads the whole site from it). Also
peers that misbehave: paths that try to leave the root, requests over
every limit, a slowloris, a client that pipelines 100 requests and reads
nothing, requests split at every byte, and 1,000 connections at once.
Every test runs once per supported Python, except those marked `once`.
"""

from __future__ import annotations

import email.utils
import http.client
import io
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest
from conftest import (
    HERE,
    SLACK,
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    curl,
    read_all,
    read_line,
    rss,
    served,
)

SCRIPT = "examples/http_server.py"
HELLO = b"hello, world\n"
SECRET = b"the secret outside the root\n"
BIG = os.urandom(5 * 1024 * 1024)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to serve, and a secret beside it that must stay there."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_bytes(SECRET)
    www = tmp_path_factory.mktemp("www")
    (www / "hello.txt").write_bytes(HELLO)
    (www / "index.html").write_text("<h1>home</h1>\n")
    (www / "big.bin").write_bytes(BIG)
    (www / "sub").mkdir()
    (www / "sub" / "index.html").write_text("<h1>sub</h1>\n")
    (www / "sub" / "deep").mkdir()
    (www / "sub" / "deep" / "hello.txt").write_bytes(HELLO)
    (www / "empty").mkdir()  # no index.html: no listing either
    (www / ".env").write_bytes(SECRET)
    (www / "link-out").symlink_to(outside / "secret.txt")
    (www / "dir-out").symlink_to(outside)
    (www / "link-in").symlink_to(www / "hello.txt")
    os.mkfifo(www / "fifo")
    return www


@contextmanager
def serving(python: Python, root: Path, *args: str) -> Iterator[Server]:
    """The server on root; stopped after, unless the test stopped it."""
    with served(
        "--root", str(root), *args, script=SCRIPT, python=python
    ) as server:
        yield server


class Replies(io.BytesIO):
    """Bytes a server sent, read by http.client one response at a time."""

    def makefile(self, mode: str) -> Replies:
        return self

    def close(self) -> None:  # by each response, once read: not yet
        pass


class Reply(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def replies(data: bytes, *methods: str) -> list[Reply]:
    """The responses in data, to requests with these methods, in order,
    as http.client reads them; nothing may follow the last."""
    stream = Replies(data)
    found = []
    for method in methods:
        reply = http.client.HTTPResponse(cast(Any, stream), method=method)
        reply.begin()
        found.append(Reply(reply.status, reply.headers, reply.read()))
    assert stream.read() == b"", "more than the responses asked for"
    return found


def exchange(server: Server, data: bytes) -> bytes:
    """Send data and EOF; return all the server sends until it closes."""
    with socket.create_connection(server.address, TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def get(path: str, *fields: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: localhost", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_get_head_redirect_and_404_on_one_kept_alive_connection(
    python: Python, root: Path
) -> None:
    with serving(python, root) as server:
        conn = http.client.HTTPConnection(*server.address, timeout=TIMEOUT)
        conn.request("GET", "/hello.txt")
        reply = conn.getresponse()
        assert (reply.status, reply.read()) == (200, HELLO)
        sock = conn.sock
        assert reply.headers["Content-Type"] == "text/plain"
        assert reply.headers["Content-Length"] == str(len(HELLO))
        mtime = (root / "hello.txt").stat().st_mtime
        modified = email.utils.formatdate(int(mtime), usegmt=True)
        assert reply.headers["Last-Modified"] == modified
        conn.request("HEAD", "/hello.txt")
        head = conn.getresponse()
        assert (head.status, head.read()) == (200, b"")
        assert head.headers["Content-Length"] == str(len(HELLO))
        for path, status, body in [
            ("/", 200, b"<h1>home</h1>\n"),
            ("/sub/", 200, b"<h1>sub</h1>\n"),
            ("/sub", 301, b"301 Moved Permanently\n"),
            ("/sub?x=1", 301, b"301 Moved Permanently\n"),
            ("/empty/", 404, b"404 Not Found\n"),
            ("/nothing-here", 404, b"404 Not Found\n"),
            ("/hello.txt?query=ignored", 200, HELLO),
            ("/sub/deep/hello.txt", 200, HELLO),
            ("http://localhost/hello.txt", 200, HELLO),  # absolute form
            ("HTTP://localhost", 200, b"<h1>home</h1>\n"),
        ]:
            conn.request("GET", path)
            reply = conn.getresponse()
            assert (reply.status, reply.read()) == (status, body), path
            if status == 301:
                assert reply.headers["Location"] == "/sub/"
        assert conn.sock is sock  # never reconnected
        conn.close()
        status, out, err = server.stop(signal.SIGTERM)
    assert (status, out, err) == (0, "stopped: served 1 connection\n", "")


def test_pipelined_requests_are_answered_in_order(
    python: Python, root: Path
) -> None:
    with serving(python, root) as server:
        sent = (
            get("/hello.txt")
            + get("/sub/").replace(b"GET", b"HEAD")
            + get("/big.bin")
            + get("/nothing-here")
            + get("/", "Connection: keep-alive", version="1.0")
            + get("/hello.txt", version="1.0")  # 1.0: the last one
        )
        methods = ["GET", "HEAD", "GET", "GET", "GET", "GET"]
        got = replies(exchange(server, sent), *methods)
    assert [(r.status, r.body) for r in got] == [
        (200, HELLO), (200, b""), (200, BIG), (404, b"404 Not Found\n"),
        (200, b"<h1>home</h1>\n"), (200, HELLO),
    ]  # fmt: skip
    assert got[1].headers["Content-Length"] == "13"  # HEAD: as for GET
    assert got[4].headers["Connection"] == "keep-alive"
    assert got[5].headers["Connection"] == "close"


TRIES = [  # paths that try to leave the root, or to see what is hidden
    "/../outside0/secret.txt",
    "/%2e%2e/outside0/secret.txt",
    "/%2E%2E%2Foutside0%2Fsecret.txt",
    "/sub/../../outside0/secret.txt",
    "/link-out",
    "/dir-out/secret.txt",
    "/link-in",  # a link inside: no symlink is followed
    "//etc/passwd",
    "/%2Fetc%2Fpasswd",
    "/hello.txt%00.html",
    "/.env",
    "/%2eenv",
    "/sub/.",
    "/%ff%fe",
]


def test_paths_never_leave_the_root(python: Python, root: Path) -> None:
    with serving(python, root) as server:
        sent = b"".join(get(path) for path in TRIES) + get("/fifo")
        data = exchange(server, sent)
    assert SECRET not in data and b"root:" not in data
    got = replies(data, *["GET"] * (len(TRIES) + 1))
    assert [r.status for r in got] == [404] * len(TRIES) + [403]


LIMITS = [  # what is sent, the status, why
    (b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\n\r\n", 414, "line"),
    (b"GET /" + b"a" * 9000, 414, "line-unfinished"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", 400, "cut-short"),
    (get("/", "X: " + "a" * 32_768), 431, "fields-size"),
    (get("/", *[f"X-{i}: y" for i in range(100)]), 431, "fields-count"),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 8000,
        431,
        "fields-unfinished",
    ),
    (get("/", "Content-Length: 5") + b"hello", 413, "body"),
    (get("/", "Transfer-Encoding: chunked") + b"0\r\n\r\n", 413, "chunked"),
    (get("/", "Content-Length: -1"), 400, "length-negative"),
    (get("/", "Content-Length: 1, 2"), 400, "length-list"),
    (get("/", "Content-Length: 1", "Content-Length: 1"), 400, "length-twice"),
    (get("/").replace(b"GET", b"POST"), 405, "post"),
    (get("/").replace(b"GET", b"DELETE"), 405, "delete"),
    (get("/").replace(b"GET", b"BREW"), 501, "unknown-method"),
    (b"GET /\r\n\r\n", 400, "http-0.9"),
    (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "two-spaces"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "no-host"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "space-before-colon"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "folded"),
    (b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "bare-lf"),
    (b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400, "bare-cr"),
    (b"GET / HTTP/1.1\r\nHost: x\0\r\n\r\n", 400, "nul"),
    (b"GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "authority-form"),
    (b"GET / HTTP/2.0\r\n\r\n", 505, "http-2.0"),
    (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, "http-1.2"),
    (b"GET / HTTP/1\r\nHost: x\r\n\r\n", 400, "http-1"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "h2-preface"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "tls"),
]


def test_every_limit_has_its_status_and_closes(
    python: Python, root: Path
) -> None:
    with serving(python, root) as server:
        for sent, status, why in LIMITS:
            if sent.endswith(b"\r\n\r\n"):  # a request, and one more
                sent += get("/hello.txt")  # that is never answered
            data = exchange(server, sent)
            [reply] = replies(data, "GET")  # and nothing after it
            assert reply.status == status, why
            assert reply.headers["Connection"] == "close", why
            if status == 405:
                assert reply.headers["Allow"] == "GET, HEAD"


@pytest.mark.once
def test_curl_keeps_the_connection_and_gets_whole_files(root: Path) -> None:
    with serving(HERE, root) as server:
        url = f"http://127.0.0.1:{server.port}"
        # Two files on one connection; -r asks for a range: this server
        # sends the whole file instead, with 200, as RFC 9110 allows.
        result = curl("-v", "-r", "0-4", f"{url}/hello.txt", f"{url}/big.bin")
        assert result.stdout == HELLO + BIG
        assert "Re-using existing connection" in result.stderr.decode()
        assert result.stderr.count(b"< HTTP/1.1 200 OK") == 2
        head = curl("-I", f"{url}/hello.txt").stdout.decode()
        assert head.startswith("HTTP/1.1 200 OK\r\n")
        assert "Content-Length: 13\r\n" in head
        assert "Content-Type: text/plain\r\n" in head
        with urllib.request.urlopen(f"{url}/big.bin", timeout=TIMEOUT) as f:
            assert f.read() == BIG
        status, out, err = server.stop()
    assert (status, out, err) == (0, "stopped: served 3 connections\n", "")


@pytest.mark.once
@pytest.mark.load
def test_wrk_and_ab_as_load(python: Python, root: Path) -> None:
    with serving(python, root) as server:
        url = f"http://127.0.0.1:{server.port}/hello.txt"
        wrk = subprocess.run(
            ["wrk", "-t1", "-c20", "-d1s", url],
            capture_output=True, text=True, timeout=TIMEOUT, check=True,
        )  # fmt: skip
        assert "requests in" in wrk.stdout
        assert "Socket errors" not in wrk.stdout
        assert "Non-2xx" not in wrk.stdout
        ab = subprocess.run(
            ["ab", "-k", "-n", "2000", "-c", "20", url],
            capture_output=True, text=True, timeout=TIMEOUT, check=True,
        )  # fmt: skip
        assert re.search(r"^Complete requests:\s+2000$", ab.stdout, re.M)
        assert re.search(r"^Failed requests:\s+0$", ab.stdout, re.M)
        assert re.search(r"^Keep-Alive requests:\s+2000$", ab.stdout, re.M)
        status, _, err = server.stop()
    assert (status, err) == (0, "")


@pytest.mark.once
def test_a_slowloris_and_an_idle_client_get_408_then_eof(root: Path) -> None:
    with serving(HERE, root, "--timeout", "1") as server:
        with (
            socket.create_connection(server.address, TIMEOUT) as idle,
            socket.create_connection(server.address, TIMEOUT) as slow,
        ):
            started = time.monotonic()
            slow.settimeout(0.2)
            sent = get("/hello.txt")
            for byte in sent:  # a byte every 0.2 s: never done in time
                slow.sendall(bytes([byte]))
                try:
                    data = slow.recv(4096)
                    break
                except socket.timeout:
                    continue
            slow.settimeout(TIMEOUT)
            data += read_all(slow)
            took = time.monotonic() - started
            [reply] = replies(data, "GET")
            assert reply.status == 408
            assert 1 <= took < 1 + SLACK
            [reply] = replies(read_all(idle), "GET")
            assert reply.status == 408
            # Its EOF sent, the server reads and drops what still comes,
            # for 2 s; then it closes, and what comes after gets a reset.
            ended = time.monotonic()
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                while time.monotonic() - ended < 2 + SLACK:  # bounded
                    idle.sendall(b"x")
                    time.sleep(0.1)  # a byte every 0.1 s, not a wait
            assert 2 <= time.monotonic() - ended < 2 + SLACK
        status, _, err = server.stop()
    assert (status, err) == (0, "")


@pytest.mark.once
@pytest.mark.load
def test_a_client_that_pipelines_100_and_reads_nothing(
    python: Python, root: Path
) -> None:
    # 100 requests for 5 MiB each: the server sends what the socket
    # takes, then waits, its memory flat, and serves others meanwhile;
    # after --timeout with nothing read, it drops the connection.
    with serving(python, root, "--timeout", "2", "-v") as server:
        before = rss(server.proc.pid)
        with socket.create_connection(server.address, TIMEOUT) as greedy:
            greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)
            # 100 x 600 bytes: more than the 40 KiB it keeps unanswered,
            # so it stops reading too, and the kernel holds the rest.
            greedy.sendall(get("/big.bin", "X-Pad: " + "x" * 512) * 100)
            started = time.monotonic()
            for _ in range(5):
                assert exchange(server, get("/hello.txt")).endswith(HELLO)
            assert rss(server.proc.pid) - before < 16 * 1024 * 1024
            assert server.proc.stderr is not None
            while "not reading" not in (line := read_line(server.proc.stderr)):
                # requests served, the wait for the reader; and -X dev's
                # asyncio debug mode says that it serves
                assert LOG_LINE.match(line) or re.search(
                    "slow to read|is serving", line
                ), line
            assert line.endswith(": not reading its replies: closed\n")
            assert 2 <= time.monotonic() - started < 2 + SLACK
            # What was in the sockets' buffers, then EOF: not even the
            # first reply whole (its Content-Length tells the client).
            assert len(read_all(greedy)) < len(BIG)
        status, _, err = server.stop()
    assert (status, err) == (0, "")


@pytest.mark.once
def test_requests_split_at_every_byte(root: Path) -> None:
    sent = get("/hello.txt", "User-Agent: split")
    with serving(HERE, root) as server:
        with socket.create_connection(server.address, TIMEOUT) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = sock.makefile("rb")
            for cut in range(1, len(sent)):
                sock.sendall(sent[:cut])
                sock.sendall(sent[cut:])
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += stream.readline()
                assert head.startswith(b"HTTP/1.1 200 OK\r\n"), cut
                assert stream.read(len(HELLO)) == HELLO
            for byte in sent:  # one byte a segment
                sock.sendall(bytes([byte]))
            sock.shutdown(socket.SHUT_WR)
            assert stream.read().endswith(b"\r\n\r\n" + HELLO)
        status, _, err = server.stop()
    assert (status, err) == (0, "")


@pytest.mark.once
@pytest.mark.load
def test_1000_connections_at_once_then_the_limit(
    python: Python, root: Path
) -> None:
    with serving(python, root, "--max-connections", "1000") as server:
        socks = [
            socket.create_connection(server.address, TIMEOUT)
            for _ in range(1000)
        ]
        try:
            for sock in socks:
                sock.sendall(get("/hello.txt"))
            for sock in socks:
                data = b""
                while not data.endswith(HELLO):
                    data += sock.recv(4096)
            [over] = replies(exchange(server, get("/")), "GET")
            assert over.status == 503
        finally:
            for sock in socks:
                sock.close()
        status, out, err = server.stop()
    assert (status, out, err) == (0, "stopped: served 1000 connections\n", "")


LOG_LINE = re.compile(
    r"http: 127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(.*)" (\d{3}) (\d+|-)'
)


@pytest.mark.once
def test_each_request_is_a_line_in_the_common_log_format(root: Path) -> None:
    with serving(HERE, root, "-v") as server:
        exchange(server, get("/hello.txt") + get("/x\x1b[2J\"").replace(
            b"GET", b"HEAD") + b"BREW / HTTP/1.1\r\n\r\n")  # fmt: skip
        status, _, err = server.stop(signal.SIGTERM)
    assert status == 0
    logged = [m.groups() for m in LOG_LINE.finditer(err)]
    assert logged == [
        ("GET /hello.txt HTTP/1.1", "200", "13"),
        ("HEAD /x\\x1b[2J\\x22 HTTP/1.1", "404", "-"),
        ("BREW / HTTP/1.1", "501", "20"),
    ]


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--root", "no-such-folder"], "argument --root: not a folder: "
         "'no-such-folder'"),
        (["--root", "README.md"], "argument --root: not a folder: "
         "'README.md'"),
        (["--port", "65536"], "argument --port: must be from 0 to 65535, "
         "not 65536"),
        (["--timeout", "0"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not 0"),
        (["--max-connections", "0"], "argument --max-connections: must be "
         "from 1 to 100000, not 0"),
    ],
    script=SCRIPT,
)  # fmt: skip


def test_a_port_in_use_is_one_line_and_exit_1(
    python: Python, root: Path
) -> None:
    with serving(python, root) as server:
        assert_port_in_use(python, SCRIPT, server.port)


@pytest.mark.once
def test_a_file_that_shrinks_as_it_is_sent_ends_the_connection(
    python: Python, tmp_path: Path
) -> None:
    # The length was sent first: a shorter body would be read as part of
    # the next reply, so the server drops the connection instead.
    (tmp_path / "log.txt").write_bytes(b"x" * (32 << 20))
    with (
        serving(python, tmp_path) as server,
        socket.create_connection(server.address, TIMEOUT) as sock,
    ):
        sock.sendall(get("/log.txt"))
        assert sock.recv(65_536)
        os.truncate(tmp_path / "log.txt", 1000)
        assert len(read_all(sock)) < 32 << 20


@pytest.mark.once
def test_a_slow_reader_is_waited_for_and_a_stop_gives_it_2_s(
    python: Python, root: Path
) -> None:
    with (
        serving(python, root, "-v") as server,
        socket.create_connection(server.address, TIMEOUT) as reader,
        socket.create_connection(server.address, TIMEOUT) as idle,
    ):
        reader.sendall(get("/big.bin") * 10)
        assert server.proc.stderr is not None
        while "slow to read" not in read_line(server.proc.stderr):
            pass  # the socket's buffers are full: the server waits
        got = 0
        while got < len(BIG):  # then the server goes on
            got += len(reader.recv(1 << 20))
        idle.sendall(get("/hello.txt"))
        assert idle.recv(4096).endswith(HELLO)
        started = time.monotonic()
        status, out, _ = server.stop(signal.SIGTERM)
        assert 2 <= time.monotonic() - started < 2 + SLACK
        assert read_all(idle) == b""  # closed at once
    assert (status, out) == (0, "stopped: served 2 connections\n")
