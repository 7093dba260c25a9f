"""The site as a reader sees it: headless Chromium, offline, via Playwright.

The test builds the site, serves it on 127.0.0.1 and drives Debian's
Chromium (/usr/bin/chromium; Playwright cannot download a browser here).
Every request to any other host is aborted and reported as a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import PLAIN, ROOT, TIMEOUT, site_build_log, start_server
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)
from test_site import EXAMPLES, NAV, shown

CHROMIUM = "/usr/bin/chromium"
HTTP_SERVER = "examples/http_server.py"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RECIPES = [f"{name}.md" for name in EXAMPLES]
TABBED = [r for r in RECIPES if "=== " in (ROOT / "docs" / r).read_text()
          or "docs/snippets/" in (ROOT / "docs" / r).read_text()]  # fmt: skip
# Distinctive words from each recipe's code that search must find.
TERMS = {
    "udp_echo_client_asyncio.md": "create_datagram_endpoint",
    "udp_echo_server_asyncio.md": "add_signal_handler",
    "udp_echo_server_fast.md": "recvfrom_into",
    "udp_echo_bench.md": "cpu_seconds",
    "tcp_echo_server_blocking.md": "BACKLOG",
    "tcp_echo_client_blocking.md": "send_all_then_eof",
    "tcp_echo_client_naive.md": "send_then_read",
    "tcp_framing_server.md": "recv_message",
    "tcp_framing_client.md": "exchange",
    "tcp_echo_server_threads.md": "verify_request",
    "tcp_echo_server_selectors.md": "SelectorEchoer",
    "tcp_echo_server_asyncio.md": "start_server",
    "tcp_echo_server_fast.md": "LoopEchoer",
    "tcp_echo_client_asyncio.md": "write_eof",
    "tcp_echo_bench.md": "hang_up",
    "tls_echo_server.md": "VERIFY_X509_STRICT",
    "tls_echo_client.md": "server_hostname",
    "tls_echo_server_asyncio.md": "connect_accepted_socket",
    "tls_echo_client_asyncio.md": "open_connection",
    "socketpair_ipc.md": "pass_fds",
    "udp_echo_server_blocking.md": "Counted",
    "udp_echo_client_blocking.md": "MAX_BACKOFF",
    "unix_echo_server.md": "SO_PEERCRED",
    "unix_echo_client.md": "EAGAIN",
    "unix_datagram_echo_server.md": "EPROTOTYPE",
    "unix_datagram_echo_client.md": "autobind",
    "resolve.md": "AI_CANONNAME",
    "tcp_connect_happy_eyeballs.md": "interleave",
    "tcp_echo_server_dualstack.md": "dualstack_ipv6",
    "tcp_port_check.md": "RLIMIT_NOFILE",
    "tcp_nodelay.md": "sendmsg",
    "tcp_keepalive.md": "TCP_KEEPINTVL",
    "tcp_close.md": "SO_LINGER",
    "tcp_reuseport_workers.md": "sigwaitinfo",
    "chat_server_asyncio.md": "put_nowait",
    "chat_client.md": "PollSelector",
    "http_server.md": "open_beneath",
    "tcp_relay.md": "SO_LINGER",
    "socks5_proxy.md": "compare_digest",
    "starttls_server.md": "in_tls",
    "starttls_client.md": "upgrade",
    "udp_broadcast_receiver.md": "SO_REUSEADDR",
    "udp_broadcast_sender.md": "SO_BROADCAST",
    "udp_multicast_receiver.md": "IGMP",
    "udp_multicast_sender.md": "IP_MULTICAST_TTL",
}


@pytest.fixture(scope="module")
def site(built_site: Path) -> Iterator[str]:
    """The built site, served on 127.0.0.1 by the cookbook's HTTP server
    (examples/http_server.py); yields its base URL."""
    log = site_build_log(built_site)
    assert log.startswith("exit status 0\n"), log
    with start_server(
        "--root", str(built_site), script=HTTP_SERVER, python=PLAIN
    ) as server:
        yield f"http://127.0.0.1:{server.port}/"
        status, _, err = server.stop()
    assert (status, err) == (0, "")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=FLAGS, timeout=TIMEOUT * 1000
        )
        yield chromium
        chromium.close()


PROBLEMS: list[str] = []  # what went wrong on the page a test is on


@pytest.fixture
def problems() -> list[str]:
    """What went wrong on the page: errors, failures, foreign requests."""
    PROBLEMS.clear()
    return PROBLEMS


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser context for the module's pages; each records its
    problems in PROBLEMS."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])

    def local_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            PROBLEMS.append(f"request to another host: {url}")
            route.abort()

    context.route("**/*", local_only)
    yield context
    context.close()


@pytest.fixture(scope="module")
def tab(context: BrowserContext) -> Iterator[Page]:
    """One page (a browser tab) for the module's tests, which each go to
    the page they check: a new tab for each costs a third more. What goes
    wrong on it is recorded in PROBLEMS."""
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            PROBLEMS.append(f"console: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            PROBLEMS.append(f"{response.status}: {response.url}")

    def on_failure(request: Request) -> None:
        # Aborted: still loading (a favicon, the search worker) when the
        # tab went on to the next test's page.
        if request.failure != "net::ERR_ABORTED":
            PROBLEMS.append(f"failed: {request.url}: {request.failure}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda e: PROBLEMS.append(f"script error: {e}"))
    page.on("requestfailed", on_failure)
    yield page
    page.close()


@pytest.fixture
def page(tab: Page, problems: list[str]) -> Page:
    """The module's tab, with this test's problems alone recorded."""
    return tab


def url_of(site: str, page: str) -> str:
    return site if page == "index.md" else f"{site}{page[:-3]}/"


@pytest.mark.parametrize("name", NAV)
def test_page_loads_offline_and_its_code_is_the_files(
    page: Page,
    site: str,
    name: str,
    problems: list[str],
) -> None:
    """One visit a page: it loads with nothing asked of another host and
    no error; on a recipe's page, every code block is its file, the copy
    button copies the lesson, and its tabs switch."""
    page.goto(url_of(site, name), wait_until="load")
    assert page.locator("h1").count() == 1
    if name in RECIPES:
        code_blocks_are_the_files(page, name)
    if name in TABBED:
        tabs_switch(page)
    assert problems == []


def code_blocks_are_the_files(page: Page, name: str) -> None:
    """Each code block shows its file (or section); the copy button of
    the first one in view copies it (every block's button is the same)."""
    blocks = page.locator(".highlight:has(.filename)")
    shown_blocks = blocks.evaluate_all(SHOWN)  # one round trip for all
    assert shown_blocks, "no code block"
    assert shown_blocks[0][0] == f"examples/{name[:-3]}.py (lesson)"
    for path, code in shown_blocks:
        # Where a block has annotations, the page shows the marker "(1)" as
        # a button, and the text a reader sees and copies has no marker;
        # elsewhere (the whole file, below its lesson) the marker is text.
        assert without_markers(code) == without_markers(shown(path)), path
    block = blocks.filter(visible=True).first
    path = block.locator(".filename").text_content() or ""
    # A click event, as a reader's click makes: Playwright's click()
    # first waits for the button to be still and in view, 0.2 s a page.
    block.locator("button[data-md-type=copy]").dispatch_event("click")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert without_markers(copied).rstrip("\n") == (
        without_markers(shown(path)).rstrip("\n")
    ), path


# Each block's file name and the code a reader sees: without the bodies
# of its annotations.
SHOWN = """blocks => blocks.map(block => {
    const code = block.querySelector("pre > code").cloneNode(true);
    code.querySelectorAll(".md-annotation").forEach(a => a.remove());
    return [block.querySelector(".filename").textContent, code.textContent];
})"""


def without_markers(code: str) -> str:
    """Code without its annotation markers: a "(1)" that ends a line."""
    return re.sub(r"\(\d+\)$", "", code, flags=re.M)


def tabs_switch(page: Page) -> None:
    """Each tab label shows its own block and hides the others."""
    sets = page.locator(".tabbed-set")
    assert sets.count() >= 1
    for i in range(sets.count()):
        labels = sets.nth(i).locator(".tabbed-labels > label")
        blocks = sets.nth(i).locator(".tabbed-content > .tabbed-block")
        for j in range(labels.count()):
            labels.nth(j).dispatch_event("click")
            visible = blocks.evaluate_all(
                "blocks => blocks.map(b => b.getClientRects().length > 0)"
            )
            assert visible == [k == j for k in range(len(visible))]


def test_search_finds_every_recipe(page: Page, site: str) -> None:
    """One open search, two queries a recipe: its title, and a word from
    its code. Each query is typed (fill() alone does not search): all but
    its last character filled, the last one pressed."""
    page.goto(site)
    page.keyboard.press("/")
    search = page.locator("input.md-search__input")
    for name in RECIPES:
        title = (ROOT / "docs" / name).read_text().splitlines()[0]
        results = page.locator(f'.md-search-result a[href*="/{name[:-3]}/"]')
        for query in (title.lstrip("# "), TERMS[name]):
            search.fill(query[:-1])
            search.press(query[-1])
            results.filter(visible=True).first.wait_for()


def test_edit_link_and_light_dark_toggle(page: Page, site: str) -> None:
    page.goto(url_of(site, "udp_echo_client_asyncio.md"))
    edit = page.locator("a.md-content__button[title='Edit this page']")
    assert (edit.get_attribute("href") or "").endswith(
        "/edit/main/docs/udp_echo_client_asyncio.md"
    )
    body = page.locator("body")
    assert body.get_attribute("data-md-color-scheme") == "default"
    page.locator("label.md-header__button[for='__palette_1']").click()
    assert body.get_attribute("data-md-color-scheme") == "slate"


def test_a_page_with_images_from_the_http_server(
    page: Page, problems: list[str]
) -> None:
    """The HTTP server recipe's own page, examples/www, as its page says
    to run it: the page, its style sheet and both images arrive whole."""
    with start_server(
        "--root", "examples/www", script=HTTP_SERVER, python=PLAIN
    ) as server:
        page.goto(f"http://127.0.0.1:{server.port}/", wait_until="load")
        sizes = page.locator("img").evaluate_all(
            "images => images.map(i => [i.complete, i.naturalWidth])"
        )
        assert sizes == [[True, 320], [True, 16]]
        assert (
            page.locator("h1").evaluate("h => getComputedStyle(h).fontFamily")
            == "sans-serif"
        )  # from style.css
        status, _, err = server.stop()
    assert (status, err, problems) == (0, "", [])
