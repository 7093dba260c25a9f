"""examples/chat_server_asyncio.py, run as its page shows: people who
chat, 200 at once, one who never reads, lines at the limits, bad bytes,
nicks, socat and ncat as a person at a terminal, and a stop that tells
everyone. Every test runs once per supported Python, except those marked
`once`."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from conftest import (
    HERE,
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    reset_on_close,
    rss,
    start_server,
)

SCRIPT = "examples/chat_server_asyncio.py"


class Person:
    """A client driven by the test: it sends lines and reads lines."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(server.address, TIMEOUT)
        self.lines = self.sock.makefile("rb")

    def say(self, line: bytes) -> None:
        self.sock.sendall(line + b"\n")

    def hear(self) -> str:
        return self.lines.readline().decode()

    def hear_until(self, last: str) -> list[str]:
        """Lines, up to the one that is last."""
        heard = [self.hear()]
        while heard[-1] not in (last, ""):
            heard.append(self.hear())
        return heard

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


@contextmanager
def people(server: Server, count: int) -> Iterator[list[Person]]:
    """count people, joined in turn (each has heard itself join)."""
    joined = []
    try:
        for i in range(count):
            joined.append(Person(server))
            assert joined[-1].hear() == f"* guest{i + 1} joined\n"
        yield joined
    finally:
        for person in joined:
            person.close()


def test_three_people_chat(python: Python) -> None:
    with (
        start_server(script=SCRIPT, python=python) as server,
        people(server, 3) as (ada, bob, cy),
    ):
        ada.say(b"/nick ada")
        bob.say(b"/nick ada")  # taken
        assert bob.hear_until("! nick taken: ada\n")[-1] == (
            "! nick taken: ada\n"
        )
        bob.say(b"/nick bob")
        cy.say(b"hi, \xc3\xa9veryone")
        cy.say(b"/who")
        assert cy.hear_until("* here: ada, bob, guest3\n") == [
            "* guest1 is now ada\n", "* guest2 is now bob\n",
            "<guest3> hi, éveryone\n", "* here: ada, bob, guest3\n",
        ]  # fmt: skip
        cy.say(b"/quit")
        assert cy.hear_until("") == ["* bye\n", ""]
        assert ada.hear_until("* guest3 left (quit)\n")[-2:] == [
            "<guest3> hi, éveryone\n", "* guest3 left (quit)\n",
        ]  # fmt: skip
        status, out, err = server.stop(signal.SIGTERM)
        for person in (ada, bob):
            assert person.hear_until("")[-2:] == [
                "* the server is shutting down\n", "",
            ]  # fmt: skip
    assert (status, out, err) == (0, "stopped: 3 clients joined\n", "")


@pytest.mark.once
@pytest.mark.load
def test_200_people_each_hear_everything_in_the_same_order(
    python: Python,
) -> None:
    async def crowd(port: int) -> list[list[bytes]]:
        streams = [
            await asyncio.open_connection("127.0.0.1", port)
            for _ in range(200)
        ]
        for reader, _ in streams:  # each has joined, and heard it
            await reader.readuntil(b"joined\n")
        for i, (_, writer) in enumerate(streams):
            writer.write(b"message %d\n" % i)

        async def hear(reader: asyncio.StreamReader) -> list[bytes]:
            heard: list[bytes] = []
            while len(heard) < 200:
                line = await reader.readline()
                assert line, "closed early"
                if line.startswith(b"<"):
                    heard.append(line)
            return heard

        heard = await asyncio.wait_for(
            asyncio.gather(*(hear(reader) for reader, _ in streams)), TIMEOUT
        )
        for _, writer in streams:
            writer.close()
        return heard

    with start_server(script=SCRIPT, python=python) as server:
        heard = asyncio.run(crowd(server.port))
        server.stop()
    assert sorted(heard[0]) == sorted(
        b"<guest%d> message %d\n" % (i + 1, i) for i in range(200)
    )
    assert all(each == heard[0] for each in heard)  # one order for all


@pytest.mark.once
@pytest.mark.load
def test_one_who_never_reads_is_cut_off_and_the_rest_go_on(
    python: Python, report: Callable[[str], None]
) -> None:
    with (
        start_server(script=SCRIPT, python=python) as server,
        people(server, 2) as (talker, sleeper),
    ):
        sleeper.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        before = rss(server.proc.pid)
        line = b"x" * 1000
        sent = 0
        while sent < 100 * 2**20:  # 100 MiB said, at the most
            talker.say(line)
            sent += len(line)
            heard = talker.hear()
            if heard.startswith("* guest2 was disconnected"):
                break
        grew = rss(server.proc.pid) - before
        talker.say(b"still here")  # after the echo of the last line
        assert talker.hear_until("<guest1> still here\n")[-1] == (
            "<guest1> still here\n"
        )
        server.stop()
    assert heard == (
        "* guest2 was disconnected: not reading: its queue of 256 lines "
        "is full\n"
    )
    report(f"chat: cut off a client that never read after {sent:,} bytes "
           f"said; server memory grew {grew / 1024:,.0f} KiB")  # fmt: skip
    assert grew < 16 * 2**20


@pytest.mark.once
def test_lines_at_the_limits_and_bytes_that_are_not_utf_8() -> None:
    with (
        start_server("--max-line", "64", script=SCRIPT) as server,
        people(server, 1) as [ada],
    ):
        ada.say(b"")  # one byte, its newline
        assert ada.hear() == "<guest1> \n"
        ada.say(b"y" * 63)  # 64 bytes with the newline
        assert ada.hear() == f"<guest1> {'y' * 63}\n"
        ada.say(b"caf\xe9")  # Latin-1, not UTF-8
        assert ada.hear() == "! not UTF-8: line ignored\n"
        ada.say(b"/nick no spaces")
        assert ada.hear() == ("! a nick is 1 to 32 letters, digits, _ or -\n")
        ada.say(b"/shout")
        assert ada.hear() == "! commands: /nick NAME, /who, /quit\n"
        ada.say(b"z" * 64)  # 65 bytes
        assert ada.hear_until("") == ["! a line over 64 bytes\n", ""]
        server.stop()


@pytest.mark.once
def test_a_reset_is_told_to_the_others() -> None:
    with start_server(script=SCRIPT) as server, people(server, 2) as (
        rude, witness
    ):  # fmt: skip
        reset_on_close(rude.sock)
        rude.close()
        assert witness.hear() == "* guest1 left (Connection reset by peer)\n"
        server.stop()


@pytest.mark.once
def test_idle_and_full() -> None:
    with (
        start_server(
            "--idle-timeout", "0.5", "--max-clients", "1", script=SCRIPT
        ) as server,
        people(server, 1) as [ada],
    ):
        with socket.create_connection(server.address, TIMEOUT) as extra:
            assert extra.makefile("rb").read() == b"! the room is full\n"
        assert ada.hear_until("") == ["! idle for 0.5 s\n", ""]
        server.stop()


@pytest.mark.once
@pytest.mark.parametrize(
    "argv",
    [["socat", "-", "TCP:127.0.0.1:{}"], ["ncat", "127.0.0.1", "{}"]],
    ids=["socat", "ncat"],
)
def test_a_person_with_socat_or_ncat(argv: list[str]) -> None:
    with start_server(script=SCRIPT) as server:
        typed = subprocess.run(
            [arg.format(server.port) for arg in argv],
            input="/nick ann\nhello\n/quit\n", capture_output=True,
            text=True, timeout=TIMEOUT,
        )  # fmt: skip
        server.stop()
    assert typed.stdout == (
        "* guest1 joined\n* guest1 is now ann\n<ann> hello\n* bye\n"
    )


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        assert_port_in_use(HERE, SCRIPT, held.getsockname()[1])


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--max-line", "15"], "argument --max-line: must be from 16 to "
         "65536, not 15"),
        (["--queue", "0"], "argument --queue: must be from 1 to 10000, "
         "not 0"),
        (["--max-clients", "0"], "argument --max-clients: must be from 1 "
         "to 10000, not 0"),
        (["--idle-timeout", "0"], "argument --idle-timeout: must be more "
         "than 0 and at most 3600 seconds, not 0"),
    ],
    SCRIPT,
)  # fmt: skip
