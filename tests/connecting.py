"""A small internet in a network namespace, for the connecting recipes.

In it: loopback with 127.0.0.1 and ::1; a veth pair whose one end has
10.254.0.2/24 and fd00::2/64, so that 10.254.0.1 and fd00::1 are routable
neighbours, whose SYNs nftables drops (black holes: a connect() to them
waits out its timeout), as it drops those to 127.0.0.1 port 9 (a filtered
port among refusing ones); no route anywhere else (203.0.113.1: unreachable
at once); its own hosts file, and dnsmasq answering for *.test on
127.0.0.1:53 (A and AAAA records; NXDOMAIN for any other name under
.test). `ip netns exec` mounts /etc/netns/NAME/hosts and resolv.conf over
/etc's for each command run there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    in_ns,
    namespace,
    on,
    read_line,
    run,
)

BLACK_HOLES = ("fd00::1", "10.254.0.1")
FILTERED = 9  # on 127.0.0.1: the port whose SYNs are dropped
UNREACHABLE = "203.0.113.1"  # TEST-NET-3 (RFC 5737): no route to it here
HOSTS = """\
127.0.0.1 localhost
::1 localhost
fd00::1 dual.test
127.0.0.1 dual.test
fd00::1 dead.test
10.254.0.1 dead.test
127.0.0.1 v4only.test
"""
DNS = {"dns.test": ("127.0.0.1", "::1"), "dns4.test": ("127.0.0.1",)}


@contextmanager
def etc(ns: str, hosts: str, nameserver: str) -> Iterator[None]:
    """The namespace's own hosts file and resolv.conf."""
    folder = Path("/etc/netns") / ns
    folder.mkdir(parents=True)
    try:
        (folder / "hosts").write_text(hosts)
        (folder / "resolv.conf").write_text(f"nameserver {nameserver}\n")
        yield
    finally:
        shutil.rmtree(folder)


@contextmanager
def small_internet() -> Iterator[str]:
    """The namespace this module's docstring describes; yields its name."""
    with namespace() as ns, etc(ns, HOSTS, "127.0.0.1"):
        in_ns(ns, "ip", "link", "add", "d0", "type", "veth", "peer", "name",
              "d1")  # fmt: skip
        for link in ("d0", "d1"):
            in_ns(ns, "ip", "link", "set", link, "up")
        in_ns(ns, "ip", "address", "add", "10.254.0.2/24", "dev", "d0")
        in_ns(ns, "ip", "address", "add", "fd00::2/64", "dev", "d0", "nodad")
        in_ns(ns, "nft", "add table inet t; add chain inet t c { type filter "
              "hook output priority 0; }; add rule inet t c ip6 daddr "
              f"{BLACK_HOLES[0]} drop; add rule inet t c ip daddr "
              f"{BLACK_HOLES[1]} drop; add rule inet t c ip daddr 127.0.0.1 "
              f"tcp dport {FILTERED} drop")  # fmt: skip
        pid_file = Path(f"/run/dnsmasq-{ns}.pid")
        records = [f"--address=/{name}/{address}"
                   for name, addresses in DNS.items()
                   for address in addresses]  # fmt: skip
        # It forks once its socket is bound: listening when this returns.
        in_ns(ns, "dnsmasq", "--no-resolv", "--no-hosts", "--port=53",
              "--listen-address=127.0.0.1", "--bind-interfaces",
              "--local=/test/", f"--pid-file={pid_file}", "--user=root",
              *records)  # fmt: skip
        try:
            yield ns
        finally:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def lan() -> Iterator[str]:
    """A small internet (see small_internet()), shared by a module's tests."""
    with small_internet() as ns:
        yield ns


SILENT = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
print("ready", flush=True)
while sock.recv(4096):  # reads every query, answers none
    pass
"""


@contextmanager
def silent_resolver() -> Iterator[str]:
    """A namespace whose resolver reads every query and never answers:
    a lookup of a name not in its hosts file waits on glibc's own limits
    (5 s, twice). Yields its name."""
    with namespace() as ns, etc(ns, "127.0.0.1 localhost\n", "127.0.0.1"):
        resolver = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-c", SILENT],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert resolver.stdout is not None
            assert read_line(resolver.stdout) == "ready\n"
            yield ns
        finally:
            resolver.kill()
            resolver.communicate(timeout=TIMEOUT)


def timed(
    python: Python, ns: str, script: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run script in namespace ns; what it did, and how long it took."""
    start = time.monotonic()
    result = run(script, *args, python=on(python, ns))
    return result, time.monotonic() - start


def bounded_by_timeout_with_a_silent_resolver(
    python: Python, script: str
) -> None:
    """A name that only a resolver that never answers could resolve: the
    script says so in one line, exit status 1, within --timeout (where
    glibc alone would wait 10 s)."""
    with silent_resolver() as ns:
        result, took = timed(
            python, ns, script, "--host", "slow.test", "--timeout", "0.5"
        )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: cannot resolve slow.test: no answer from the resolver within "
        "0.5 s\n"
    )
    assert took < 0.5 + SLACK
