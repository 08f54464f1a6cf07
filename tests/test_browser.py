"""The app in a real browser: ``streamlit run app.py`` as a subprocess, driven by
Playwright with Debian's Chromium (/usr/bin/chromium; ``playwright install`` cannot
download here).  Checks that every view draws Plotly plots and no exception element,
that a slider, a click on the contour and a click on a rate-map cell change what is
drawn, that 8 concurrent sessions are served (each with its own state) while the
server's memory stays bounded, and saves screenshots of every view to $SCREENSHOT_DIR
(default: a fresh temporary folder).  To refresh the README's pictures:

    SCREENSHOT_DIR=docs/screenshots python3 dev.py test tests/test_browser.py
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from dynamics import Setup, make_hyper, rollout
from toys import get_toy
from ui.views import VIEWS as APP_VIEWS
from viz.animation import BUTTONS, READOUT

playwright_api = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="app-screenshots-"))
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1600, "height": 1000}
VIEWS = [view.label for view in APP_VIEWS]
NO_PLOT_VIEWS = {"Paper claims", "Compare"}     # a table, computed on a button press; nothing pinned yet
SESSIONS = 8
BACK, PLAY, PAUSE, NEXT = BUTTONS
RSS_LIMIT_MB = 4096

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (python3 dev.py test does)")
    port = _free_port()
    streamlit = Path(sys.executable).with_name("streamlit")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([str(streamlit), "run", "app.py", "--server.headless=true", f"--server.port={port}",
                             "--browser.gatherUsageStats=false"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url, proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def settle(page, timeout: float = 180.0, plots: bool = True) -> None:
    """Wait until the app has finished running: for 1 s no status widget ("Running…"),
    no stale element, and (``plots``) a drawn Plotly plot."""
    deadline, quiet = time.time() + timeout, 0
    while quiet < 4:
        busy = await page.evaluate(
            "(plots) => !!document.querySelector('[data-testid=stStatusWidget]') || "
            "!!document.querySelector('[data-stale=true]') || "
            "(plots && !document.querySelector('.js-plotly-plot .main-svg'))", plots)
        quiet = 0 if busy else quiet + 1
        if time.time() > deadline:
            raise TimeoutError("the app kept running")
        await asyncio.sleep(0.25)


async def plot_names(page) -> list[list[str]]:
    """Trace names of every Plotly plot on the page (from plotly.js's own graph divs)."""
    return await page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => (g.data || []).map(t => t.name))")


async def trace_x(page, name: str) -> list[float]:
    """x of the trace called ``name`` as plotly.js holds it (typed arrays decoded)."""
    return await page.evaluate(
        """(name) => { for (const g of document.querySelectorAll('.js-plotly-plot'))
                         for (const t of (g._fullData || [])) if (t.name === name) return Array.from(t.x);
                       return null; }""", name)


async def assert_no_exception(page) -> None:
    assert await page.locator("[data-testid=stException]").count() == 0
    assert await page.locator("[data-testid=stAlertContentError]").count() == 0


async def open_tab(page, label: str) -> None:
    await page.get_by_role("tab", name=label).click()
    await settle(page, plots=label not in NO_PLOT_VIEWS)


async def screenshot(page, name: str) -> None:
    """The viewport, scrolled so that the first plot's top is in view."""
    plot = page.locator(".js-plotly-plot").first
    if (await plot.bounding_box())["y"] > VIEWPORT["height"] / 2:
        await plot.scroll_into_view_if_needed()
        await asyncio.sleep(0.5)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def click_data_point(page, x: float, y: float, plot_index: int = 0, axes: str = "") -> None:
    """Click the pixel of data point (x, y) in plot ``plot_index`` (axes "" or "2", ...)."""
    box = await page.locator(".js-plotly-plot").nth(plot_index).bounding_box()
    px, py = await page.evaluate(
        """([i, x, y, a]) => { const g = document.querySelectorAll('.js-plotly-plot')[i]._fullLayout;
             const xa = g['xaxis' + a], ya = g['yaxis' + a];
             return [xa._offset + xa.l2p(xa.d2l(x)), ya._offset + ya.l2p(ya.d2l(y))]; }""",
        [plot_index, x, y, axes])
    await page.mouse.click(box["x"] + px, box["y"] + py)


async def sidebar_number(page, label: str) -> float:
    return float(await page.get_by_label(label, exact=True).input_value())


async def views_slider_and_clicks(url: str) -> None:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport=VIEWPORT)
        await page.goto(url + "?i_step=37")                  # a step where the mask drops both coordinates
        await settle(page)
        for label in VIEWS:
            await open_tab(page, label)
            await assert_no_exception(page)
            if label in NO_PLOT_VIEWS:
                continue
            assert any(await plot_names(page)), label
            await screenshot(page, label.lower().replace(" ", "-"))

        await open_tab(page, "Paper claims")
        await page.get_by_role("button", name="Recompute the claims").click()
        await settle(page, plots=False)
        await assert_no_exception(page)
        assert await page.get_by_text("claims hold").count() >= 1
        await page.screenshot(path=str(SHOTS / "paper-claims.png"))

        await open_tab(page, "Trajectories")
        before = await trace_x(page, "GDM")
        slider = page.locator('input[type=range][aria-label^="momentum β"]')
        await slider.focus()
        for _ in range(20):                                   # beta 0.99 -> about 0.97
            await page.keyboard.press("ArrowLeft")
        await settle(page)
        beta = float(await slider.get_attribute("value"))
        assert 0.96 < beta < 0.99
        after = await trace_x(page, "GDM")
        assert before and after and len(before) == len(after) and before != after
        ref = rollout(Setup("gdm"), get_toy("quad-repo"), make_hyper(lr=0.01, beta=beta), 1000)
        np.testing.assert_allclose(after, ref.w[:, 0], rtol=1e-12, atol=1e-12)   # the chart shows that beta's run

        spacing = 12 / 47                                     # the 48 x 48 click grid on (-6, 6)^2
        gx, gy = -6 + spacing * 32, -6 + spacing * 10
        await click_data_point(page, gx, gy)
        await settle(page)
        sx, sy = await sidebar_number(page, "start w₀ (w₁)"), await sidebar_number(page, "start w₀ (w₂)")
        assert abs(sx - gx) <= spacing + 1e-3 and abs(sy - gy) <= spacing + 1e-3   # plotly picks a nearby point
        assert (await trace_x(page, "C-GDM"))[0] == pytest.approx(sx, abs=1e-3)

        await open_tab(page, "Rate maps")
        lr_before = await sidebar_number(page, "step size ε (lr), per step")
        await click_data_point(page, 0.5, 0.5, axes="")       # a cell of the base map, in data coordinates
        await settle(page)
        assert await page.get_by_role("tab", name="Trajectories", selected=True).count() == 1
        lr_after = await sidebar_number(page, "step size ε (lr), per step")
        beta_after = float(await slider.get_attribute("value"))
        assert lr_after != lr_before                          # the clicked cell's (lr, beta), to a few cells
        assert lr_after == pytest.approx(0.5, rel=0.15) and beta_after == pytest.approx(0.5, abs=0.05)

        await page.goto(url + "?present=true&toy=quad-k4&view=rates&r_lr_lo=0.01&r_lr_hi=0.5"
                        "&r_lr_scale=linear&r_beta_hi=0.95&r_n=128&lr=0.2222222222222222&beta=0.1111111111111111")
        await settle(page)
        await assert_no_exception(page)
        await screenshot(page, "rate-maps-fig3-presentation")
        await browser.close()


CONTOUR_LINES = """() => { const g = document.querySelectorAll('.js-plotly-plot')[0];
  return g._fullData.filter(t => t.name === 'contour of L')
          .filter(t => (g.querySelector('.trace' + t.uid + ' path.js-line') || {getAttribute: () => ''})
                       .getAttribute('d')).length; }"""
CURRENT = """(name) => { const g = document.querySelectorAll('.js-plotly-plot')[0];
  const t = g._fullData.find(t => t.name === name);
  return [Array.from(t.x || []), Array.from(t.y || []), Array.from(t.text || [])]; }"""


async def press(page, label: str, wait: float = 1.0) -> None:
    """Click the Plotly button labelled exactly ``label`` and give the frame time to draw."""
    await page.locator(".updatemenu-button", has_text=re.compile(f"^{re.escape(label)}$")).first.click()
    await asyncio.sleep(wait)


async def animation_keeps_the_view(url: str) -> tuple[float, float, list]:
    """Play, pause, click the contour, step: returns the start clicked and what the plot
    marks after stepping to t = 2 (current points, readout)."""
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport={"width": 800, "height": 1000})
        await page.goto(url + "?steps=100&a_speed=25")
        await settle(page)
        lines = await page.evaluate(CONTOUR_LINES)
        assert lines >= 20
        await press(page, PLAY, 3.0)
        assert await page.evaluate(CONTOUR_LINES) == lines       # frames keep the contour
        await press(page, PAUSE)
        assert await page.evaluate(CONTOUR_LINES) == lines
        before = await sidebar_number(page, "start w₀ (w₁)")
        spacing = 12 / 47
        await click_data_point(page, -6 + spacing * 30, -6 + spacing * 14)
        await settle(page)
        assert await sidebar_number(page, "start w₀ (w₁)") != before   # a click after an animation sets the start
        sx, sy = (float(v) for v in parse_qs(urlparse(page.url).query)["start"][0].split(","))
        await press(page, BACK)                                   # no current frame yet: to step 0
        for _ in range(2):
            await press(page, NEXT)
        assert await page.evaluate(CONTOUR_LINES) == lines
        marked = (await page.evaluate(CURRENT, "wₜ"))[:2] + [(await page.evaluate(CURRENT, READOUT))[2]]
        await page.screenshot(path=str(SHOTS / "trajectories-animation-800px.png"))
        await browser.close()
        return sx, sy, marked


async def concurrent_sessions(url: str) -> list[list[float]]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        contexts = [await browser.new_context(viewport=VIEWPORT) for _ in range(SESSIONS)]
        pages = [await c.new_page() for c in contexts]
        lrs = [0.004 + 0.001 * i for i in range(SESSIONS)]

        async def one(page, lr):
            await page.goto(f"{url}?lr={lr!r}")
            await settle(page, timeout=240)
            await assert_no_exception(page)
            first = await trace_x(page, "GDM")
            await open_tab(page, "Continuous time")
            await assert_no_exception(page)
            assert any(await plot_names(page))
            return first

        paths = await asyncio.gather(*(one(page, lr) for page, lr in zip(pages, lrs)))
        await browser.close()
        return paths


def test_views_slider_clicks_and_screenshots(server):
    url, proc = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    asyncio.run(views_slider_and_clicks(url))
    assert proc.poll() is None
    for label in set(VIEWS) - NO_PLOT_VIEWS:
        assert (SHOTS / f"{label.lower().replace(' ', '-')}.png").stat().st_size > 20_000


def test_animation_keeps_contour_and_clicks_and_marks_the_true_iterate(server):
    url, proc = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    sx, sy, (xs, ys, readout) = asyncio.run(animation_keeps_the_view(url))
    assert proc.poll() is None
    toy, hyper = get_toy("quad-repo"), make_hyper(lr=0.01, beta=0.99)
    for j, cautious in enumerate((False, True)):                 # GDM, C-GDM from the clicked start
        ref = rollout(Setup("gdm", cautious=cautious), toy, hyper, 100, start=(sx, sy))
        assert (xs[j], ys[j]) == pytest.approx(tuple(ref.w[2]), rel=1e-12, abs=1e-12)
        assert readout[0] == "t = 2"
        assert float(readout[3 + 2 * j]) == pytest.approx(float(ref.loss[2]), rel=5e-4)
        assert float(readout[4 + 2 * j]) == pytest.approx(float(ref.hamiltonian[2]), rel=5e-4)


def test_eight_concurrent_sessions(server):
    url, proc = server
    paths = asyncio.run(concurrent_sessions(url))
    assert proc.poll() is None, "the server died"
    # each session computed its own state: eight different step sizes, eight different paths
    assert all(p and len(p) == 1001 for p in paths)
    assert len({tuple(p[:50]) for p in paths}) == SESSIONS
    assert _rss_mb(proc.pid) < RSS_LIMIT_MB
