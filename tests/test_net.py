"""net.py, the helper the examples share: unit tests on real sockets."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import udp_socket

import net


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        yield s


def test_format_address() -> None:
    assert net.format_address(("127.0.0.1", 8888)) == "127.0.0.1:8888"
    assert net.format_address(("::1", 8888, 0, 0)) == "[::1]:8888"


def test_unix_addresses_as_the_kernel_gives_them_back(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unbound:
        assert net.format_unix(unbound.getsockname()) == "unnamed"
        unbound.bind(net.unix_address("cookbook-net-test", abstract=True))
        assert net.format_unix(unbound.getsockname()) == "@cookbook-net-test"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as named:
        named.bind(net.unix_address(str(tmp_path / "a.sock"), abstract=False))
        assert net.format_unix(named.getsockname()) == f"{tmp_path}/a.sock"


def test_max_buffer_size_reads_proc() -> None:
    rmem = int(Path("/proc/sys/net/core/rmem_max").read_text())
    wmem = int(Path("/proc/sys/net/core/wmem_max").read_text())
    assert net.max_buffer_size(socket.SO_RCVBUF) == rmem
    assert net.max_buffer_size(socket.SO_SNDBUF) == wmem


def test_max_buffer_size_is_none_where_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert net.max_buffer_size(socket.SO_REUSEADDR) is None
    monkeypatch.setattr(net, "SYSCTLS", tmp_path / "absent")  # as on macOS
    assert net.max_buffer_size(socket.SO_RCVBUF) is None


def test_set_buffer_sizes_returns_what_the_kernel_gave(
    sock: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="net")
    assert net.set_buffer_sizes(sock, 50_000, 60_000) == (100_000, 120_000)
    assert net.buffer_sizes(sock) == (100_000, 120_000)
    assert "SO_RCVBUF: asked for 50000, the kernel gave 100000" in caplog.text


def test_set_buffer_sizes_is_capped(sock: socket.socket) -> None:
    recv, _ = net.set_buffer_sizes(sock, recv=2**30)
    assert recv == 2 * (net.max_buffer_size(socket.SO_RCVBUF) or 0)


def test_set_buffer_sizes_leaves_none_alone(sock: socket.socket) -> None:
    before = net.buffer_sizes(sock)
    assert net.set_buffer_sizes(sock) == before


def test_reuse_port_lets_two_sockets_bind_one_port() -> None:
    taken, other = udp_socket(), socket.socket(type=socket.SOCK_DGRAM)
    with taken, other, pytest.raises(OSError):  # without it: in use
        other.bind(taken.getsockname())
    a = socket.socket(type=socket.SOCK_DGRAM)
    b = socket.socket(type=socket.SOCK_DGRAM)
    with a, b:
        assert net.reuse_port(a) and net.reuse_port(b)
        a.bind(("127.0.0.1", 0))
        b.bind(a.getsockname())
        assert "SO_REUSEADDR=0 SO_REUSEPORT=1" in net.describe(b)


def test_describe_unconnected_and_connected(sock: socket.socket) -> None:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    assert net.describe(sock).startswith(f"UDP 127.0.0.1:{port} SO_RCVBUF=")
    sock.connect(("127.0.0.1", 9))
    assert f"UDP 127.0.0.1:{port} -> 127.0.0.1:9 SO_RCVBUF=" in net.describe(
        sock
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        assert net.describe(tcp).startswith("TCP 0.0.0.0:0 ")


@pytest.mark.parametrize("payload", [b"", b"data"])
@pytest.mark.parametrize("connected", [False, True])
def test_send_datagram_sends_empty_ones_too(
    payload: bytes, connected: bool
) -> None:
    async def send() -> None:
        loop = asyncio.get_running_loop()
        with udp_socket() as receiver:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            addr = receiver.getsockname()
            if connected:
                sock.connect(addr)
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, sock=sock
            )
            net.send_datagram(
                transport, sock, payload, None if connected else addr
            )
            assert receiver.recv(100) == payload
            transport.close()

    asyncio.run(send())


def test_reuse_port_warns_where_the_system_has_none(
    sock: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT")  # as on Windows
    assert net.reuse_port(sock) is False
    assert "SO_REUSEPORT is not available here: not defined" in caplog.text
    assert "SO_REUSEPORT" not in net.describe(sock)


def test_reuse_port_warns_when_the_kernel_refuses(
    sock: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(socket, "SO_REUSEPORT", 12_345)  # no such option
    assert net.reuse_port(sock) is False
    assert "SO_REUSEPORT is not available here: [Errno" in caplog.text


@pytest.mark.parametrize("text", ["0.5", "1e-3", "3600"])
def test_seconds_accepts_a_bounded_wait(text: str) -> None:
    assert net.seconds(text) == float(text)


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "3600.5", "x"])
def test_seconds_refuses_waits_that_never_end_or_make_no_sense(
    text: str,
) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        net.seconds(text)


def test_message_bytes_are_the_bytes_typed() -> None:
    assert net.message_bytes(os.fsdecode(b"\xff\xfe")) == b"\xff\xfe"
    assert net.message_bytes("é") == "é".encode()
