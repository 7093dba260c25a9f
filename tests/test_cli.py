"""What every example's command line promises, checked for each example.

`--help` shows the docstring and every option with a line of help and, for
an option that takes a value, its default. Every network client says in one
line, with exit status 1, that a name does not resolve.
"""

from __future__ import annotations

import re

import pytest
from conftest import Python, run
from test_site import EXAMPLES

# One option in --help: its flags, its metavar if it takes a value, and its
# help text, which may run on over indented lines.
# Unix socket clients take a path, which is never looked up, not a host.
CLIENTS = [
    name
    for name in EXAMPLES
    if re.search(r"_client(_|$)", name) and not name.startswith("unix_")
]
ENTRY = re.compile(
    r"^  (-[^\s,]+(?:, -[^\s,]+)*)( [A-Z]+)?(.*(?:\n {6,}.*)*)", re.M
)


@pytest.mark.parametrize("name", EXAMPLES)
def test_help_shows_every_option_with_its_default(name: str) -> None:
    result = run(f"examples/{name}.py", "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"usage: {name}.py ")
    assert "\nExit status: 0 " in result.stdout
    entries = ENTRY.findall(result.stdout)
    assert len(entries) >= 4  # -h, --host, --port (or --path, --abstract), -v
    for flags, metavar, text in entries:
        assert text.strip(), f"{flags}: no help"
        if metavar:
            assert "default: " in " ".join(text.split()), (
                f"{flags}: no default"
            )


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.once
def test_a_name_that_does_not_resolve_is_one_line_and_exit_1(
    python: Python, name: str
) -> None:
    host = "no-such-host.invalid"  # .invalid never resolves (RFC 6761)
    result = run(f"examples/{name}.py", "--host", host, python=python)
    assert (result.returncode, result.stdout) == (1, "")
    assert re.fullmatch(
        rf"error: cannot resolve {host}: [^\n]+\n", result.stderr
    )
