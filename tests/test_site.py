"""The site's structure: it builds, indexes every example, links well.

Offline throughout: external links are checked for form, never fetched.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import PLAIN, ROOT, TIMEOUT, run, site_build_log

DOCS = ROOT / "docs"
NAV = re.findall(
    r"^\s+- [^:\n]+: (\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M
)
PAGES = sorted(p.name for p in DOCS.glob("*.md"))
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
MARKER = re.compile(r" \(\d+\)$", re.M)  # a code annotation marker
SECTION = re.compile(r"^ *# --8<-- \[(start|end):(\w+)\]\n", re.M)


def shown(path: str) -> str:
    """The code a page shows of a file: "net.py" for all of it, with the
    snippet section markers removed, or "net.py (framing)" for a section.
    """
    name, _, section = path.removesuffix(")").partition(" (")
    text = (ROOT / name).read_text()
    if section:
        start = f"# --8<-- [start:{section}]\n"
        text = text.split(start, 1)[1].split(f"# --8<-- [end:{section}]")[0]
        # As the page shows it: no blank lines first or last.
        text = text.lstrip("\n").rstrip() + "\n"
    return SECTION.sub("", text)


def page_text(path: Path) -> str:
    """The text a reader sees on a built page, tags removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def embedded_files(page: str) -> set[str]:
    """The repository files a page embeds, through its snippets too."""
    text = (DOCS / page).read_text()
    for snippet in re.findall(r'--8<-- "(docs/snippets/[^"]+)"', text):
        text += (ROOT / snippet).read_text()
    return set(re.findall(r'--8<-- "((?:examples/)?\w+\.py)"', text))


def assert_site(site: Path) -> None:
    """Every nav page is built, and every code line embedded is on it."""
    for page in NAV:
        stem = page.removesuffix(".md")
        built = site / (
            "index.html" if stem == "index" else f"{stem}/index.html"
        )
        text = page_text(built)
        for name in embedded_files(page):
            for line in MARKER.sub("", shown(name)).splitlines():
                assert line in text, f"{page}: {name}: {line!r}"


def test_nav_lists_every_page() -> None:
    assert sorted(NAV) == PAGES


def test_site_builds_strictly_with_mkdocs(built_site: Path) -> None:
    log = site_build_log(built_site)
    assert log.startswith("exit status 0\n"), log
    assert_site(built_site)


def test_site_builds_with_zensical_too(tmp_path: Path) -> None:
    # Zensical, Material's successor, reads the same mkdocs.yml. It builds
    # only inside the project, so build a copy.
    shutil.copytree(DOCS, tmp_path / "docs", symlinks=True)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for name in ("mkdocs.yml", "net.py"):
        shutil.copy(ROOT / name, tmp_path)
    result = run(
        "-m", "zensical", "build", "--strict", cwd=tmp_path,
        timeout=TIMEOUT * 4, python=PLAIN,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert_site(tmp_path / "site")


def index_rows() -> list[str]:
    """The pages linked from the first column of the home page's table."""
    text = (DOCS / "index.md").read_text()
    return re.findall(r"^\| \[[^\]]+\]\((\w+)\.md\) \|", text, re.M)


def test_home_page_indexes_every_example() -> None:
    assert sorted(index_rows()) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_has_a_page_and_a_test(name: str) -> None:
    assert f"{name}.md" in NAV
    assert f"examples/{name}.py" in embedded_files(f"{name}.md")
    test = ROOT / "tests" / f"test_{name}.py"
    assert f"examples/{name}.py" in test.read_text().splitlines()[0]


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_page_shows_its_lesson_first_then_the_whole_file(
    name: str,
) -> None:
    text = (DOCS / f"{name}.md").read_text()
    for snippet in re.findall(r'--8<-- "(docs/snippets/[^"]+)"', text):
        text += (ROOT / snippet).read_text()
    lesson = text.index(f'--8<-- "examples/{name}.py:lesson"')
    assert lesson < text.index(f'--8<-- "examples/{name}.py"')
    # The lesson comes right after the imports, and main() after it.
    code = (ROOT / "examples" / f"{name}.py").read_text()
    assert code.index("# --8<-- [end:lesson]") < code.index("\ndef main(")


# Where references may point, and the shape of a good address there.
FORMS = {
    "docs.python.org": r"/3/(library|reference|howto)/[\w.-]+\.html",
    "peps.python.org": r"/pep-\d{4}/",
    "man7.org": r"/linux/man-pages/man[1-8]/[\w.-]+\.[1-8]\.html",
    "manpages.debian.org": r"/\w+/[\w.-]+/[\w.-]+\.[1-8]\.en\.html",
    "www.rfc-editor.org": r"/rfc/rfc\d+",
    "github.com": r"/python/cpython/issues/\d+|/FiloSottile/mkcert",
    "docs.openssl.org": r"/3\.0/man1/openssl-\w+/",
    "pypi.org": r"/project/[\w.-]+/",
    "www.gnu.org": r"/software/libc/manual/html_node/[\w.-]+\.html",
    "docs.kernel.org": r"/networking/[\w.-]+\.html",
    "httpd.apache.org": r"/docs/2\.4/[\w.-]+\.html",
}
DEFINITION = re.compile(r"^\[([^\]]+)\]: (\S+)$")


@pytest.mark.parametrize(
    "path", sorted(DOCS.glob("*.md")) + sorted(DOCS.glob("snippets/*.md"))
)
def test_external_links_are_references_in_one_place(path: Path) -> None:
    lines = path.read_text().splitlines()
    block = len(lines)  # the references: definitions at the end
    while block and (
        DEFINITION.match(lines[block - 1]) or not lines[block - 1]
    ):
        block -= 1
    body = "\n".join(lines[:block])
    assert not re.search(r"https?://", body), (
        "an address outside the references"
    )
    references = "\n".join(lines[block:])
    defined = dict(re.findall(DEFINITION.pattern, references, re.M))
    used = set(re.findall(r"\]\[([^\]]+)\]", body))
    assert used == set(defined), "references used but not defined, or unused"
    for url in defined.values():
        parts = urlsplit(url)
        assert parts.scheme == "https", url
        assert re.fullmatch(FORMS[parts.netloc], parts.path), url
        assert re.fullmatch(r"|section-[\d.]+|[\w.-]+", parts.fragment), url
