"""docs/socket_options.md: each row of its tables, checked on a real
socket. The option exists; it can be set at its level with a value of its
type; it reads back what the page says; its bounds hold; and a recipe the
row names shows it. Also the two mistakes the page opens with."""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import ROOT

PAGE = ROOT / "docs" / "socket_options.md"
ROW = re.compile(
    r"^\| \[`(\w+)`\]\[[\w-]+\] \| `(\w+)` \| ([^|]+) \| ([^|]+) \| "
    r"([^|]+) → ([^|]+) \| [^|]+ \| ([^|]+) \|$",
    re.M,
)
ROWS = ROW.findall(PAGE.read_text())
NAMES = {  # what the page's expressions may use
    "pack": struct.pack, "inet_aton": socket.inet_aton,
    "inet_pton": socket.inet_pton, "AF_INET6": socket.AF_INET6,
    "getpid": os.getpid, "getuid": os.getuid, "getgid": os.getgid,
}  # fmt: skip


def value(cell: str) -> Any:
    """The Python expression in a cell, between backticks, evaluated."""
    found = re.fullmatch(r"`(.+)`", cell.strip())
    assert found, cell
    return eval(found[1], {"__builtins__": {"bytes": bytes}}, NAMES)


@contextmanager
def socket_for(name: str, level: str) -> Iterator[socket.socket]:
    """A socket the option applies to, as the page's introduction says."""
    if name == "SO_PEERCRED":
        one, other = socket.socketpair()
        with one, other:
            yield one
        return
    family, kind = {
        "IPPROTO_IP": (socket.AF_INET, socket.SOCK_DGRAM),
        "IPPROTO_IPV6": (socket.AF_INET6, socket.SOCK_DGRAM),
    }.get(level, (socket.AF_INET, socket.SOCK_STREAM))
    with socket.socket(family, kind) as sock:
        yield sock


def test_the_page_has_every_row() -> None:
    assert len(ROWS) == 24
    used = {name for name, *_ in ROWS}
    for path in [*(ROOT / "examples").glob("*.py"), ROOT / "net.py"]:
        for option in re.findall(
            r"socket\.((?:SO|TCP|IP|IPV6)_[A-Z_]+)\b", path.read_text()
        ):
            if option.endswith(("_DROP_MEMBERSHIP", "_LEAVE_GROUP")):
                continue  # in the row of the option that joins
            assert option in used, f"{path.name}: {option} has no row"


@pytest.mark.parametrize(
    ("name", "level", "kind", "when", "tried", "reads", "shown"),
    ROWS,
    ids=[row[0] for row in ROWS],
)
def test_each_row_holds_on_a_real_socket(
    name: str, level: str, kind: str, when: str, tried: str, reads: str,
    shown: str,
) -> None:  # fmt: skip
    assert hasattr(socket, name), f"this Python has no socket.{name}"
    option, at = getattr(socket, name), getattr(socket, level)
    fmt = re.search(r'struct `"(\w+)"`', kind)
    with socket_for(name, level) as sock:
        if tried.strip() == "read only":
            with pytest.raises(OSError) as refused:
                sock.setsockopt(at, option, 0)
            assert refused.value.errno == errno.ENOPROTOOPT
        else:
            given = value(tried)
            assert isinstance(given, bytes) == bool(fmt), kind
            if fmt:  # packed with the format the row names
                assert f'pack("{fmt[1]}"' in tried
            sock.setsockopt(at, option, given)
        if reads.strip() == "cannot be read":
            with pytest.raises(OSError) as unreadable:
                sock.getsockopt(at, option, 64)
            assert unreadable.value.errno == errno.ENOPROTOOPT
        else:
            expected = value(reads)
            if isinstance(expected, bytes):
                got: Any = sock.getsockopt(at, option, len(expected))
            elif fmt:
                size = struct.calcsize(fmt[1])
                got = struct.unpack(fmt[1], sock.getsockopt(at, option, size))
            else:
                got = sock.getsockopt(at, option)
            assert got == expected
        bounds = re.search(r"(\d+) to (\d+)", kind)
        if bounds:  # both ends taken, one past the top refused
            low, high = int(bounds[1]), int(bounds[2])
            for ok in (low, high):
                sock.setsockopt(at, option, ok)
                assert sock.getsockopt(at, option) == ok
            with pytest.raises(OSError) as out_of_range:
                sock.setsockopt(at, option, high + 1)
            assert out_of_range.value.errno == errno.EINVAL
    pages = re.findall(r"\]\((\w+)\.md\)", shown)
    assert pages or shown.strip() == "none"
    assert not pages or any(
        name in text
        for page in pages
        for text in (
            (ROOT / "docs" / f"{page}.md").read_text(),
            *[p.read_text() for p in ROOT.glob(f"examples/{page}.py")],
        )
    ), f"{name}: none of {pages} shows it"


def test_the_wrong_level_and_the_wrong_type_fail_as_the_page_says() -> None:
    with socket.socket() as sock:
        with pytest.raises(OSError) as wrong_level:
            sock.setsockopt(socket.SOL_SOCKET, socket.TCP_FASTOPEN, 5)
        assert wrong_level.value.errno == errno.ENOPROTOOPT == 92
        with pytest.raises(OSError) as wrong_type:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 5)
        assert wrong_type.value.errno == errno.EINVAL
        assert struct.calcsize("ll") == 16
