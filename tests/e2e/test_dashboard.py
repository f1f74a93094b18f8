"""The dashboard page in a real browser: Debian's Chromium, driven by Playwright, in front of a real
proxy child process and the simulator.

Each test starts its own proxy (key state is per proxy) and opens the page with a short refresh
interval (``?refresh=0.3``). A JavaScript error in the page (an uncaught exception, or a console
error the test did not expect) fails the test. Chromium is a test dependency like redis-server:
``scripts/test.sh`` installs it, and a missing one fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright

from gemini_proxy.api.system import public_url
from tests.servers import SIM_KEYS, ServerProcess, start_proxy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
CLIENT_TOKEN = "dashboard-client-token"
ADMIN_TOKEN = "dashboard-admin-token"
MARKUP_LABEL = "<img/src=x/onerror=window.__pwned=1>"
MARKUP_REASON = '<img src=x onerror="window.__pwned=1"><b>bold</b> & more'

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium is missing: scripts/test.sh installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def proxy_for(sim: ServerProcess) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*, keys: tuple[str, ...] = SIM_KEYS, **env: str) -> ServerProcess:
        server = start_proxy(sim.url, keys=keys, env={"GEMINI_PROXY_MAX_WAIT": "0", **env})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class Tabs:
    """Opens dashboard tabs in one browser context (one sessionStorage per tab) and records the
    pages' errors; ``allow`` names console errors a test expects (a refused token's 401)."""

    browser: Browser
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context = self.browser.new_context(viewport={"width": 1280, "height": 900})

    def open(self, server: ServerProcess, query: str = "?refresh=0.3") -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.goto(server.url + "/dashboard" + query)
        return page

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console error: {message.text}")


@pytest.fixture
def tabs(browser: Browser, proxy_for: Callable[..., ServerProcess]) -> Iterator[Tabs]:
    # After proxy_for, so that the tabs close before the proxies stop (a page polls until then).
    tabs = Tabs(browser)
    yield tabs
    tabs.context.close()
    assert not tabs.errors, "the page reported errors:\n" + "\n".join(tabs.errors)


def short_ids(proxy: ServerProcess, token: str | None = None) -> dict[str, str]:
    """Short id by state, as the status API tells them: ``{short_id: state}``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    keys = httpx.get(proxy.url + "/api/system/status", headers=headers).json()["keys"]
    return {entry["key"]: entry["state"] for entry in keys}


def chat(proxy: ServerProcess) -> int:
    return httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, timeout=30).status_code


def row(page: Page, short_id: str) -> Locator:
    return page.locator("#keys tbody tr").filter(has=page.locator("td.keyid", has_text=short_id))


def countdown_seconds(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+)m )?(\d+)s left", text.strip())
    assert match, text
    return int(match.group(1) or 0) * 60 + int(match.group(2))


# -- the page itself, without a browser ------------------------------------------------------------


def test_page_is_served_with_a_strict_policy_and_revalidated(proxy: ServerProcess) -> None:
    page = httpx.get(proxy.url + "/dashboard")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "require-trusted-types-for 'script'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)", policy), policy
    assert "unsafe" not in policy and "http" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    again = httpx.get(proxy.url + "/dashboard", headers={"if-none-match": page.headers["etag"]})
    assert again.status_code == 304 and not again.content
    # Self-contained: no external resource, no HTML sink in the script.
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in page.text
    root = httpx.get(proxy.url + "/")
    assert root.status_code == 302 and root.headers["location"] == "dashboard"


def test_page_is_open_but_its_data_needs_a_client_token(proxy_for: Callable[..., ServerProcess]) -> None:
    guarded = proxy_for(GEMINI_PROXY_AUTH_TOKENS=CLIENT_TOKEN)
    page = httpx.get(guarded.url + "/dashboard")
    assert page.status_code == 200
    assert all(key not in page.text for key in SIM_KEYS)
    assert httpx.get(guarded.url + "/", follow_redirects=True).status_code == 200
    assert httpx.get(guarded.url + "/api/system/status").status_code == 401
    assert httpx.post(guarded.url + "/dashboard").status_code == 405  # open to GET only: nothing else is there


def test_status_api_has_what_the_page_shows(proxy_for: Callable[..., ServerProcess]) -> None:
    proxy = proxy_for(GEMINI_PROXY_ADMIN_TOKEN=ADMIN_TOKEN)
    assert chat(proxy) == 200
    httpx.get(proxy.url + "/nowhere")
    status = httpx.get(proxy.url + "/api/system/status")
    assert status.headers["cache-control"] == "no-store"
    body = status.json()
    assert abs(body["now"] - time.time()) < 5
    assert body["upstream"].startswith("http://127.0.0.1:") and body["workers"] == 1 and body["admin"] is True
    assert body["requests_by_surface"] == {"openai": {"200": 1, "404": 1}}  # this request is counted after it
    assert body["counts"]["configured"] == 3 and body["counts"]["available"] == 3
    assert set(body) >= {"version", "uptime_seconds", "requests", "keys"}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@gemini.example:8443/base?key=abc#x", "https://gemini.example:8443/base"),
        ("https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_the_upstream_is_shown_without_credentials(url: str, shown: str) -> None:
    assert public_url(url) == shown


# -- what an operator sees -------------------------------------------------------------------------


def test_every_key_is_listed_by_short_id_and_no_secret_shows(
    tabs: Tabs, proxy_for: Callable[..., ServerProcess]
) -> None:
    proxy = proxy_for(keys=("sim-key-1", "sim-key-2 project=proj-b", "sim-key-3 name=batch-3"))
    ids = short_ids(proxy)
    assert "batch-3" in ids
    page = tabs.open(proxy)
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    expect(page.locator("#keys td.keyid")).to_have_text(list(ids))
    expect(row(page, "batch-3").locator("td.state")).to_have_text("available")
    expect(page.locator("#c-enabled")).to_have_text("3 / 3")
    expect(page.locator("#c-keys")).to_contain_text("3 free for every model")
    expect(page.locator("#version")).to_have_text(re.compile(r"^v\d"))
    expect(page.locator("#c-upstream")).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+$"))
    expect(page.locator("#keys tbody tr").nth(1).locator("td").nth(1)).to_have_text("proj-b")
    html, text = page.content(), page.locator("body").inner_text()
    for secret in SIM_KEYS:
        assert secret not in html and secret not in text
    assert not page.locator("[data-banner]").count(), "no banner while every key is available"


def test_request_totals_grow_with_requests(tabs: Tabs, proxy_for: Callable[..., ServerProcess]) -> None:
    proxy = proxy_for()
    page = tabs.open(proxy)
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    expect(page.locator('#surfaces tr[data-surface="openai"]')).to_have_count(0)
    for _ in range(3):
        assert chat(proxy) == 200
    openai = page.locator('#surfaces tr[data-surface="openai"]')
    expect(openai.locator('td[data-status="200"]')).to_have_text("3")
    assert httpx.post(proxy.url + "/v1/chat/completions", json={**CHAT, "messages": []}).status_code == 400
    expect(openai.locator('td[data-status="total"]')).to_have_text("4")
    expect(openai.locator('td[data-status="400"]')).to_have_text("1")
    # Each key served one request: its "requests today" shows it.
    expect(page.locator("#keys tbody tr td:nth-child(4)")).to_have_text(["1", "1", "1"])


def test_agent_jobs_are_counted(tabs: Tabs, proxy_for: Callable[..., ServerProcess]) -> None:
    proxy = proxy_for()
    page = tabs.open(proxy)
    expect(page.locator("#c-jobs-sub")).to_have_text("0 running · 0 queued · 0 succeeded · 0 failed")
    job = httpx.post(proxy.url + "/api/agents/delegate", json={"agent": "general", "task": "hi", "wait": 10}).json()
    assert job["status"] == "succeeded"
    expect(page.locator("#c-jobs-sub")).to_have_text("0 running · 0 queued · 1 succeeded · 0 failed")
    expect(page.locator("#c-jobs")).to_have_text("0")


def test_a_rate_limited_key_shows_cooling_with_a_live_countdown(
    tabs: Tabs, sim: ServerProcess, proxy_for: Callable[..., ServerProcess]
) -> None:
    proxy = proxy_for()
    page = tabs.open(proxy)
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    httpx.post(sim.url + "/_sim/fail-next", json={"status": 429, "key": "sim-key-1", "retry_delay": "40s"})
    assert chat(proxy) == 200  # sim-key-1 answered 429 and the request went on to another key
    (cooling,) = [key for key, state in short_ids(proxy).items() if state == "cooling_down"]
    line = row(page, cooling).locator('li[data-model="gemini-2.5-flash"]')
    expect(line).to_contain_text("gemini-2.5-flash: cooling down")
    expect(row(page, cooling).locator(".badge")).to_have_text("cooling down")
    first = countdown_seconds(line.locator(".countdown").inner_text())
    assert 30 <= first <= 40
    expect(line.locator(".countdown")).not_to_have_text(line.locator(".countdown").inner_text())  # it ticks
    assert countdown_seconds(line.locator(".countdown").inner_text()) < first
    expect(page.locator("#c-enabled")).to_have_text("3 / 3")
    expect(page.locator("#c-keys")).to_contain_text("2 free for every model · 1 cooling down")
    expect(page.locator('#capacity [data-model="gemini-2.5-flash"]')).to_have_text("gemini-2.5-flash: 2 of 3")
    assert not page.locator("[data-banner]").count(), "two keys still serve: no banner"


def test_an_invalid_key_shows_disabled_with_its_reason(
    tabs: Tabs, sim: ServerProcess, proxy_for: Callable[..., ServerProcess]
) -> None:
    proxy = proxy_for()
    httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-2", "state": "invalid"}).raise_for_status()
    for _ in range(3):
        assert chat(proxy) == 200
    (disabled,) = [key for key, state in short_ids(proxy).items() if state == "disabled"]
    page = tabs.open(proxy)
    cell = row(page, disabled).locator("td.state")
    expect(cell.locator(".badge")).to_have_text("disabled")
    expect(cell.locator(".reason")).to_contain_text("API_KEY_INVALID")
    expect(page.locator("#c-keys")).to_contain_text("1 disabled")


@pytest.mark.parametrize(
    ("sim_state", "banner"),
    [("exhausted_minute", "All keys are spent for gemini-2.5-flash."), ("invalid", "All 3 keys are disabled.")],
)
def test_a_banner_says_when_every_key_is_spent(
    tabs: Tabs, sim: ServerProcess, proxy_for: Callable[..., ServerProcess], sim_state: str, banner: str
) -> None:
    proxy = proxy_for()
    page = tabs.open(proxy)
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    httpx.post(sim.url + "/_sim/keys", json={"keys": list(SIM_KEYS), "state": sim_state, "retry_delay": "30s"})
    assert chat(proxy) == 429
    shown = page.locator('[data-banner="banner-spent"]')
    expect(shown).to_contain_text(banner)
    expect(page.locator("#c-enabled")).to_have_text("3 / 3" if sim_state == "exhausted_minute" else "0 / 3")
    expect(page.locator("#c-keys")).to_contain_text("0 free for every model")
    if sim_state == "exhausted_minute":
        assert 20 <= countdown_seconds(shown.locator(".countdown").inner_text()) <= 30


def test_markup_in_a_label_or_a_reason_is_shown_as_text(
    tabs: Tabs, proxy_for: Callable[..., ServerProcess]
) -> None:
    proxy = proxy_for(
        keys=(f"sim-key-1 name={MARKUP_LABEL}", "sim-key-2 name=plain-2", "sim-key-3 name=plain-3"),
        GEMINI_PROXY_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    disable = httpx.post(proxy.url + "/api/keys/plain-2/disable", json={"reason": MARKUP_REASON}, headers=admin)
    assert disable.status_code == 200, disable.text
    page = tabs.open(proxy)
    expect(page.locator("#keys td.keyid").first).to_have_text(MARKUP_LABEL)
    expect(row(page, "plain-2").locator(".reason")).to_have_text(MARKUP_REASON)
    assert page.locator("main img, main b, #banners img").count() == 0
    assert page.evaluate("window.__pwned") is None


# -- tokens ----------------------------------------------------------------------------------------


def test_with_client_tokens_the_page_asks_for_one(tabs: Tabs, proxy_for: Callable[..., ServerProcess]) -> None:
    proxy = proxy_for(GEMINI_PROXY_AUTH_TOKENS=f"other-token,{CLIENT_TOKEN}")
    tabs.allow(r"status of 401")  # the refused status requests, as Chromium reports them
    page = tabs.open(proxy)
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    expect(page.locator("#auth-message")).to_be_hidden()
    page.fill("#auth-token", "wrong-token")
    page.click("#auth button[type=submit]")
    expect(page.locator("#auth-message")).to_contain_text("That token was refused")
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0, "a refused token is not kept"
    page.fill("#auth-token", CLIENT_TOKEN)
    page.press("#auth-token", "Enter")
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    expect(page.locator("#auth")).to_be_hidden()
    assert page.evaluate("Object.values(sessionStorage)") == [CLIENT_TOKEN]
    assert page.evaluate("localStorage.length") == 0
    assert CLIENT_TOKEN not in page.locator("body").inner_text()
    page.reload()  # the tab keeps its token
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    other = tabs.open(proxy)  # another tab does not
    expect(other.locator("#auth")).to_be_visible()


def test_admin_actions_need_the_admin_token(
    tabs: Tabs, sim: ServerProcess, proxy_for: Callable[..., ServerProcess]
) -> None:
    proxy = proxy_for(
        keys=("sim-key-1 name=k1", "sim-key-2 name=k2", "sim-key-3 name=k3"), GEMINI_PROXY_ADMIN_TOKEN=ADMIN_TOKEN
    )
    tabs.allow(r"status of 401")
    page = tabs.open(proxy)
    expect(page.locator("#admin-unlock")).to_be_visible()
    expect(page.locator("#keys button")).to_have_count(0)
    page.fill("#admin-token", "not-the-admin-token")
    page.click("#admin-unlock button")
    expect(page.locator("#admin-message")).to_have_text("The admin token was refused.")
    expect(page.locator("#keys button")).to_have_count(0)
    page.fill("#admin-token", ADMIN_TOKEN)
    page.click("#admin-unlock button")
    expect(page.locator("#keys button")).to_have_count(3)
    # Disable k2 with a reason, through the dialog.
    row(page, "k2").locator("button").click()
    expect(page.locator("#disable-dialog")).to_be_visible()
    page.fill("#disable-reason", "rotating this key")
    page.click("#disable-dialog button[type=submit]")
    expect(row(page, "k2").locator(".reason")).to_have_text("rotating this key")
    assert short_ids(proxy)["k2"] == "disabled"
    row(page, "k2").locator("button", has_text="Enable").click()
    expect(row(page, "k2").locator(".badge")).to_have_text("available")
    # Check every key (the simulator says sim-key-3 is invalid now).
    httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-3", "state": "invalid"}).raise_for_status()
    page.click("#check-keys")
    expect(page.locator("#check-results tbody tr")).to_have_count(3)
    expect(page.locator('#check-results tr[data-key="k3"]')).to_contain_text("invalid")
    expect(row(page, "k3").locator(".badge")).to_have_text("disabled")
    assert ADMIN_TOKEN in page.evaluate("Object.values(sessionStorage)")
    page.click("#admin-lock")
    expect(page.locator("#keys button")).to_have_count(0)
    assert page.evaluate("sessionStorage.length") == 0


def test_without_an_admin_token_setting_the_page_says_admin_is_off(
    tabs: Tabs, proxy_for: Callable[..., ServerProcess]
) -> None:
    page = tabs.open(proxy_for())
    expect(page.locator("#admin-off")).to_be_visible()
    expect(page.locator("#admin-unlock")).to_be_hidden()


# -- the proxy goes away ---------------------------------------------------------------------------


def test_an_unreachable_proxy_shows_a_banner_and_the_last_data(
    tabs: Tabs, proxy_for: Callable[..., ServerProcess]
) -> None:
    proxy = proxy_for()
    tabs.allow(r"ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET")
    page = tabs.open(proxy)
    expect(page.locator("#keys tbody tr")).to_have_count(3)
    proxy.stop()
    expect(page.locator('[data-banner="banner-unreachable"]')).to_contain_text("The proxy is unreachable.")
    expect(page.locator("#live")).to_have_text("unreachable")
    expect(page.locator("#keys tbody tr")).to_have_count(3)  # the last data stays, dimmed


def test_refresh_interval_is_bounded(tabs: Tabs, proxy: ServerProcess) -> None:
    page = tabs.open(proxy, "?refresh=0")
    expect(page.locator("#footer")).to_contain_text("Refreshes every 5 s")
    page = tabs.open(proxy, "?refresh=0.01")
    expect(page.locator("#footer")).to_contain_text("Refreshes every 0.2 s")


def test_each_clients_usage_is_shown_by_name(
    tabs: Tabs, proxy_for: Callable[..., ServerProcess], tmp_path: pytest.TempPathFactory
) -> None:
    import json

    clients = tmp_path / "clients.json"  # type: ignore[operator]
    clients.write_text(json.dumps({"clients": [{"name": "alice", "token": CLIENT_TOKEN, "tpm": 100000}]}))
    proxy = proxy_for(GEMINI_PROXY_CLIENTS_FILE=str(clients), GEMINI_PROXY_ADMIN_TOKEN=ADMIN_TOKEN)
    answer = httpx.post(
        proxy.url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {CLIENT_TOKEN}"}
    )
    assert answer.status_code == 200
    usage = answer.json()["usage"]
    tabs.allow(r"status of 401")  # the page's first status request, before it has a token
    page = tabs.open(proxy)
    page.fill("#auth-token", ADMIN_TOKEN)
    page.press("#auth-token", "Enter")
    alice = page.locator('#clients tr[data-client="alice"]')
    expect(alice.locator('td[data-count="requests"]')).to_have_text("1")
    expect(alice.locator('td[data-count="input_tokens"]')).to_have_text(str(usage["prompt_tokens"]))
    expect(alice).to_contain_text("tpm 100,000")
    expect(alice).to_contain_text("1 req/min")
    assert CLIENT_TOKEN not in page.locator("body").inner_text()
