"""examples/udp_multicast_sender.py, run as its page shows, on two hosts the
tests make (network namespaces joined by a veth pair, so nothing leaves the
machine): loopback, TTL, socat, silence; every supported Python."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    on,
    read_line,
    run,
    start_server,
    third_party,
    udp_socket,
)
from test_udp_multicast_receiver import GROUP_ERRORS

SENDER = "examples/udp_multicast_sender.py"
RECEIVER = "examples/udp_multicast_receiver.py"


@pytest.mark.parametrize(
    ("ttl", "heard_there"), [("1", True), ("0", False)], ids=["ttl1", "ttl0"]
)
@pytest.mark.once
def test_loopback_is_on_and_the_ttl_says_how_far_it_goes(
    python: Python, hosts: tuple[str, str], ttl: str, heard_there: bool
) -> None:
    # A receiver on the sender's own host hears it (loopback); one on the
    # other host only if the TTL lets the datagram leave (0: it may not).
    a, b = hosts
    args = ("--interface", "eth0", "--timeout", "5")
    with start_server(
        "--name", "here", *args, script=RECEIVER, python=on(python, a)
    ) as here:
        port = str(here.port)
        with start_server(
            "--name", "there", "--port", port, *args,
            script=RECEIVER, python=on(python, b),
        ) as there:  # fmt: skip
            sent = run(
                SENDER, "--port", port, "--interface", "eth0", "--ttl", ttl,
                "-v", python=on(python, a),
            )  # fmt: skip
            stopped = [r.stop(signal.SIGTERM) for r in (here, there)]
    assert sent.returncode == 0
    assert f"udp_sender: interface 2, TTL {ttl}, loopback on\n" in sent.stderr
    assert "b'here'" in sent.stdout
    assert ("b'there'" in sent.stdout) == heard_there
    assert stopped[0][1].endswith("stopped: heard 1 datagram\n")
    heard = "1 datagram" if heard_there else "0 datagrams"
    assert stopped[1][1].endswith(f"stopped: heard {heard}\n")


@pytest.mark.once
def test_socat_as_a_member_answers(
    python: Python, hosts: tuple[str, str]
) -> None:
    a, b = hosts
    argv = ["ip", "netns", "exec", b, "socat",
            "UDP4-RECVFROM:0,ip-add-membership=239.255.0.1:eth0,reuseaddr,"
            "fork", "PIPE"]  # fmt: skip
    with third_party(argv, "udp") as port:
        result = run(
            SENDER, "--port", str(port), "--interface", "eth0", "ping",
            python=on(python, a),
        )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert f"answer from 10.9.0.2:{port}: b'ping'\n" in result.stdout


def test_nobody_in_the_group_is_no_answer(
    python: Python, hosts: tuple[str, str]
) -> None:
    a, _ = hosts
    with udp_socket() as free:
        port = free.getsockname()[1]  # any port: the host is the test's own
    result = run(
        SENDER, "--host", "ff02::1234", "--port", str(port),
        "--interface", "eth0", "--timeout", "0.3", python=on(python, a),
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (
        1, f"sent 13 bytes to [ff02::1234]:{port}\n",
    )  # fmt: skip
    assert result.stderr == (
        f"error: [ff02::1234]:{port}: no answer within 0.3 s\n"
    )


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--ttl", "256"], "argument --ttl: must be from 0 to 255, not 256"),
        (["--host", "127.0.0.1"], "argument --host: not a multicast group "
         "(224.0.0.0/4 or ff00::/8): '127.0.0.1'"),
        *GROUP_ERRORS,
    ],
    SENDER,
)  # fmt: skip


def test_no_interface_and_no_route_is_unreachable(
    python: Python, hosts: tuple[str, str]
) -> None:
    # The hosts have no default route: without --interface, the kernel
    # finds no way to the group.
    a, _ = hosts
    result = run(SENDER, python=on(python, a))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: 239.255.0.1:8888: Network is unreachable\n"


def test_answers_that_keep_coming_cannot_hold_it(
    python: Python, hosts: tuple[str, str], tmp_path: Path
) -> None:
    # A member of the group on host b answers without end; the sender
    # prints each answer into a file, which never makes it wait.
    a, b = hosts
    member = subprocess.Popen(
        [*on(python, b).command, "-c", FLOOD_BACK],
        env={**os.environ, **python.env}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert member.stdout is not None
        port = read_line(member.stdout).strip()
        with (tmp_path / "out").open("w+") as out:
            result = subprocess.run(
                [*on(python, a).command, SENDER, "--port", port,
                 "--interface", "eth0", "--timeout", "0.3"],
                env={**os.environ, **python.env}, stdout=out, stderr=out,
                timeout=TIMEOUT,
            )  # fmt: skip
            out.seek(0)
            assert (result.returncode, out.read()[-9:]) == (0, " answers\n")
    finally:
        member.kill()
        member.wait(TIMEOUT)


# A group member that answers the first datagram it hears, for ever (until
# it is killed, or after 10**5 answers).
FLOOD_BACK = """\
import socket
group = socket.inet_aton("239.255.0.1")
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("239.255.0.1", 0))
index = socket.if_nametoindex("eth0")
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                group + bytes(4) + index.to_bytes(4, "little"))
print(sock.getsockname()[1], flush=True)
_, addr = sock.recvfrom(100)
for _ in range(10**5):
    try:
        sock.sendto(b"me too", addr)
    except OSError:
        break
"""
