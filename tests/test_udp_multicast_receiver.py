"""examples/udp_multicast_receiver.py, run as its page shows, over IPv4 and
IPv6, on two hosts the tests make (network namespaces joined by a veth
pair, so nothing leaves the machine), with its sender and socat; every
supported Python."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from typing import Any

import pytest
from conftest import (
    ROOT,
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    in_ns,
    needs_root,
    on,
    read_line,
    run,
    start_server,
)

sys.path.insert(0, str(ROOT / "examples"))
from test_udp_broadcast_receiver import SignalWhileAnswering, signal_mid_answer

from udp_multicast_receiver import serve

RECEIVER = "examples/udp_multicast_receiver.py"
SENDER = "examples/udp_multicast_sender.py"

# What the receiver and the sender both refuse in their group options.
GROUP_ERRORS = [
    (["--host", "nowhere"], "argument --host: not a multicast group "
     "(224.0.0.0/4 or ff00::/8): 'nowhere'"),
    (["--interface", "nope0"], "argument --interface: no such interface: "
     "'nope0'"),
    (["--host", "ff02::1234"], "a link-local group (ff02::/16) needs "
     "--interface"),
]  # fmt: skip
GROUPS = {
    "ipv4": ("239.255.0.1", "239.255.0.2"),
    "ipv6": ("ff02::1234", "ff02::5678"),
}


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_members_hear_it_and_answer_others_do_not(
    python: Python, hosts: tuple[str, str], family: str
) -> None:
    a, b = hosts
    group, other = GROUPS[family]
    args = ("--interface", "eth0", "--timeout", "5")
    with start_server(
        "--host", group, "--name", "one", *args,
        script=RECEIVER, python=on(python, b),
    ) as one:  # fmt: skip
        port = str(one.port)
        with start_server(
            "--host", group, "--port", port, "--name", "two", *args,
            script=RECEIVER, python=on(python, b),
        ) as two, start_server(
            "--host", other, "--port", port, "--name", "elsewhere", *args,
            script=RECEIVER, python=on(python, b),
        ) as elsewhere:  # fmt: skip
            sent = run(
                SENDER, "--host", group, "--port", port,
                "--interface", "eth0", python=on(python, a),
            )  # fmt: skip
            results = [r.stop(signal.SIGTERM) for r in (one, two, elsewhere)]
    assert (sent.returncode, sent.stderr) == (0, "")
    answers = sorted(sent.stdout.splitlines()[1:3])
    assert [line.rsplit(": ", 1)[1] for line in answers] == [
        "b'one'",
        "b'two'",
    ]
    assert sent.stdout.endswith("2 answers\n")
    for status, out, err in results[:2]:
        assert (status, err) == (0, "")
        assert out.endswith(": b'Who is there?'\nstopped: heard 1 datagram\n")
    assert results[2] == (0, "stopped: heard 0 datagrams\n", "")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_joins_when_it_starts_and_leaves_when_it_stops(
    python: Python, hosts: tuple[str, str], family: str
) -> None:
    _, b = hosts
    group = GROUPS[family][0]
    kind = "inet6" if family == "ipv6" else "inet"

    def joined() -> bool:
        shown = in_ns(b, "ip", "maddr", "show", "dev", "eth0")
        return [kind, group] in (line.split() for line in shown.splitlines())

    assert not joined()
    with start_server(
        "--host", group, "--interface", "eth0",
        script=RECEIVER, python=on(python, b),
    ) as receiver:  # fmt: skip
        assert joined()
        assert receiver.stop(signal.SIGTERM)[0] == 0
    assert not joined()


def test_hears_socat(python: Python, hosts: tuple[str, str]) -> None:
    a, b = hosts
    with start_server(
        "--interface", "eth0", script=RECEIVER, python=on(python, b)
    ) as receiver:
        subprocess.run(
            ["ip", "netns", "exec", a, "socat", "-u", "-",
             f"UDP4-DATAGRAM:239.255.0.1:{receiver.port},"
             "ip-multicast-if=10.9.0.1"],
            input=b"from socat", check=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert receiver.proc.stdout is not None
        heard = read_line(receiver.proc.stdout)  # before it is stopped
        status, out, _ = receiver.stop()
    assert status == 0
    assert heard.startswith("from 10.9.0.1:")
    assert heard.endswith(": b'from socat'\n")
    assert out == "stopped: heard 1 datagram\n"


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--host", "10.0.0.1"], "argument --host: not a multicast group "
         "(224.0.0.0/4 or ff00::/8): '10.0.0.1'"),
        *GROUP_ERRORS,
    ],
    RECEIVER,
)  # fmt: skip


def test_a_port_it_may_not_bind_exits_1(python: Python) -> None:
    # Ports below 1024 need CAP_NET_BIND_SERVICE, which root loses here.
    needs_root("a port below 1024")
    result = run(
        RECEIVER, "--port", "7",
        python=python.prefixed(
            "setpriv", "--bounding-set", "-net_bind_service"
        ),
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: cannot join 239.255.0.1:7: Permission denied\n"
    )


def test_hearing_nothing_at_all_exits_1(
    python: Python, hosts: tuple[str, str]
) -> None:
    _, b = hosts
    with start_server(
        "--interface", "eth0", "--timeout", "0.3",
        script=RECEIVER, python=on(python, b),
    ) as receiver:  # fmt: skip
        out, err = receiver.proc.communicate(timeout=TIMEOUT)
    assert (receiver.proc.returncode, out) == (1, "")
    assert err == (
        f"error: nothing heard on 239.255.0.1:{receiver.port} for 0.3 s\n"
    )


class AnswerRefused(SignalWhileAnswering):
    """A socket with one datagram waiting, whose answer the kernel refuses
    (as nftables makes it in the broadcast receiver's test); then
    silence."""

    def recvfrom(self, size: int) -> tuple[bytes, Any]:
        if self.sent:
            raise socket.timeout
        return b"who?", ("127.0.0.1", 40_000)

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(data)
        raise PermissionError(1, "Operation not permitted")


def test_an_answer_it_cannot_send_is_logged_and_it_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock = AnswerRefused()
    heard, idle = serve(sock, b"me", 5.0)  # type: ignore[arg-type]
    assert (sock.sent, heard, idle) == ([b"me"], 1, True)
    assert caplog.messages == [
        "127.0.0.1:40000: answer lost: Operation not permitted"
    ]


def test_a_signal_mid_answer_lets_it_finish_then_stops() -> None:
    signal_mid_answer(serve)
