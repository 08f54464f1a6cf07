"""The first page of a fresh server in a real browser (tests/test_browser.py's server,
which compiles everything: the tests switch the compilation cache off): while the
Trajectories view compiles, the tab says which program it is compiling (ui.compiling);
then the plots are drawn and the notice is gone.  Screenshot compiling-notice.png.
Speed is measured in bench/bench_app.py, not here."""
from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests import test_browser as browser

pytestmark = pytest.mark.browser
server = browser.server          # the app in a subprocess, started for this module

NOTICE = "[data-testid=stAlertContentInfo]"
RECORD = """window.__notices = [];
new MutationObserver(() => {
  for (const e of document.querySelectorAll('[data-testid=stAlertContentInfo]'))
    if (e.innerText.startsWith('Compiling') && !window.__notices.includes(e.innerText)) window.__notices.push(e.innerText);
}).observe(document, {subtree: true, childList: true, characterData: true});"""


async def first_page(url: str) -> list[str]:
    """Every compiling notice the page showed while its first page drew (recorded in
    the page by a MutationObserver, however briefly it was there; the first one seen is
    also saved as compiling-notice.png if it is still there)."""
    async with browser.playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=browser.CHROMIUM)
        page = await chromium.new_page(viewport=browser.VIEWPORT)
        await page.add_init_script(RECORD)
        await page.goto(url)
        notice, deadline = page.locator(NOTICE, has_text="Compiling"), time.time() + 180
        while time.time() < deadline and not await page.evaluate("() => window.__notices.length"):
            await asyncio.sleep(0.05)
        with contextlib.suppress(browser.playwright_api.Error):    # gone again before the picture: no picture
            await notice.first.screenshot(path=str(browser.SHOTS / "compiling-notice.png"), timeout=2000)
        await browser.settle(page)
        await browser.assert_no_exception(page)
        assert any(await browser.plot_names(page))
        assert await notice.count() == 0
        seen = await page.evaluate("() => window.__notices")
        await chromium.close()
    return seen


def test_first_page_names_what_it_compiles_then_draws(server):
    url, proc = server
    browser.SHOTS.mkdir(parents=True, exist_ok=True)
    seen = asyncio.run(first_page(url))
    assert proc.poll() is None
    assert seen, "no compiling notice while the first page was drawn"
    assert all("so far): the first use of this program since the server started" in t for t in seen)
    assert any(t.startswith("Compiling jit(") for t in seen), seen
    assert all("compilation cache is off" in t and "kept in" not in t for t in seen), seen   # the tests' server
