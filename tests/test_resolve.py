"""examples/resolve.py, run as its page shows, in a small internet of the
tests' own (tests/connecting.py): names from a hosts file and from
dnsmasq, checked against getent and dig, and a resolver that never
answers. Every test runs once per supported Python."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    bad_usage_exits_2,
    interrupt_while_waiting,
    on,
    spawn,
)
from connecting import *  # noqa: F403 (the lan fixture)
from connecting import (
    bounded_by_timeout_with_a_silent_resolver,
    silent_resolver,
    timed,
)

SCRIPT = "examples/resolve.py"


def resolve(
    python: Python, ns: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return timed(python, ns, SCRIPT, *args)[0]


def addresses(out: str) -> list[str]:
    """The addresses resolve.py printed, in its order."""
    return re.findall(r"^  IPv[46]  TCP  \[?([^\]\s]+?)\]?:\d+$", out, re.M)


def getent(ns: str, name: str) -> list[str]:
    """glibc's own answer, in its order: getent ahosts, one per address."""
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "getent", "ahosts",
         name], capture_output=True, text=True, check=True, timeout=SLACK,
    ).stdout  # fmt: skip
    return list(dict.fromkeys(line.split()[0] for line in out.splitlines()))


def test_a_name_from_the_hosts_file_in_the_order_to_try(
    python: Python, lan: str
) -> None:
    result = resolve(python, lan, "--host", "dual.test", "--port", "443")
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"dual\.test port 443: 2 addresses in \d+\.\d ms, in the order to "
        r"try them",
        lines[0],
    )
    assert addresses(result.stdout) == getent(lan, "dual.test")
    assert addresses(result.stdout) == ["fd00::1", "127.0.0.1"]
    assert "canonical name: dual.test" in lines
    assert "name of fd00::1: dual.test" in lines


def test_a_name_from_dns_matches_dig(python: Python, lan: str) -> None:
    result = resolve(python, lan, "--host", "dns.test")
    assert (result.returncode, result.stderr) == (0, "")
    dig = {
        kind: subprocess.run(
            ["ip", "netns", "exec", lan, "dig", "+short", "@127.0.0.1",
             "dns.test", kind], capture_output=True, text=True, check=True,
            timeout=SLACK,
        ).stdout.split()
        for kind in ("A", "AAAA")
    }  # fmt: skip
    assert sorted(addresses(result.stdout)) == sorted(dig["A"] + dig["AAAA"])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--host", "nosuch.test"], "cannot resolve nosuch.test: Name or "
         "service not known"),
        (["--host", "dns4.test", "--family", "6"], "cannot resolve "
         "dns4.test: no IPv6 address (it has 127.0.0.1)"),
        (["--host", "v4only.test", "--family", "6"], "cannot resolve "
         "v4only.test: no IPv6 address (it has 127.0.0.1)"),
        (["--host", "nosuch.test", "--family", "6"], "cannot resolve "
         "nosuch.test: Name or service not known"),
    ],
)  # fmt: skip
def test_each_failure_is_one_line_and_exit_1(
    python: Python, lan: str, args: list[str], error: str
) -> None:
    result = resolve(python, lan, *args)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {error}\n"


def test_a_resolver_that_never_answers_is_waited_for_timeout_only(
    python: Python,
) -> None:
    # The thread still waiting inside glibc is left behind.
    bounded_by_timeout_with_a_silent_resolver(python, SCRIPT)


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--host", ""], "argument --host: must be 1 to 253 bytes, not 0"),
        (["--host", "a" * 254], "argument --host: must be 1 to 253 bytes, "
         "not 254"),
        (["--family", "5"], "argument --family: invalid choice: '5' "
         "(choose from 'any', '4', '6')"),
        (["--timeout", "0"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not 0"),
    ],
    SCRIPT,
)  # fmt: skip


def test_an_address_without_a_name_says_why(python: Python, lan: str) -> None:
    # dnsmasq here answers for .test alone: it refuses the reverse lookup.
    result = resolve(python, lan, "--host", "192.0.2.9")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1] == (
        "name of 192.0.2.9: no name (Host name lookup failure)"
    )
    with silent_resolver() as ns:
        result = resolve(python, ns, "--host", "192.0.2.9", "--timeout", "0.5")
    assert result.stdout.splitlines()[-1] == (
        "name of 192.0.2.9: no name (no answer from the resolver within 0.5 s)"
    )


def test_ctrl_c_while_it_waits_for_the_resolver_exits_130(
    python: Python,
) -> None:
    with (
        silent_resolver() as ns,
        spawn(
            on(python, ns), SCRIPT, "--host", "slow.test", "--timeout", "60"
        ) as proc,
    ):
        interrupt_while_waiting(proc, {"202"})  # futex(): queue.get()
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (130, "", "")
