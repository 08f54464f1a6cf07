"""The app in a real browser: ``streamlit run app.py`` as a subprocess, driven by
Playwright with Debian's Chromium (/usr/bin/chromium; ``playwright install`` cannot
download here).  Checks that every view draws Plotly plots and no exception element,
that a slider, a click on the contour and a click on a rate-map cell change what is
drawn, that 3 concurrent browser sessions are served (each with its own state) while the
server's memory stays bounded (16 sessions' load: test_soak.py), and saves screenshots of every view to $SCREENSHOT_DIR
(default: a fresh temporary folder).  Presentation mode on a projector (1920 x 1080 and
1600 x 1000): each tab's first figure inside the viewport, a one-line title, figure text
of at least 18 px, no overlapping text, no horizontal scrolling, no notation left as raw
TeX (screenshots <view>-presentation.png at 1920 x 1080); at 800 px wide no overlapping
controls; the start circle and the minima star stand out from the plot's background in
the light and the dark theme.  To refresh the README's pictures:

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
SESSIONS = 3                # browsers at once, each with its own state (the load of 16: test_soak.py)
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
    if (await plot.bounding_box())["y"] > page.viewport_size["height"] / 2:
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


def test_concurrent_browsers_keep_their_own_state(server):
    url, proc = server
    paths = asyncio.run(concurrent_sessions(url))
    assert proc.poll() is None, "the server died"
    # each session computed its own state: different step sizes, different paths
    assert all(p and len(p) == 1001 for p in paths)
    assert len({tuple(p[:50]) for p in paths}) == SESSIONS
    assert _rss_mb(proc.pid) < RSS_LIMIT_MB


# ----------------------------------------------------------------------------- projector, narrow screens, dark theme

PROJECTORS = [{"width": 1920, "height": 1080}, {"width": 1600, "height": 1000}]
NARROW = {"width": 800, "height": 1000}
MIN_FIGURE_PX = 18                          # the smallest figure text in presentation mode
MIN_CONTRAST = 3.0                          # WCAG's contrast for graphics against their background
RAW_NOTATION = re.compile(r"_\{|\^\d|\^\{|\b[wgu]_[tT]\b")     # TeX written out instead of rendered

# Every visible text of plot ``i`` (a <text> with its smallest <tspan>: a 10^k label's
# exponent is smaller than the label), the plot's box, its plot areas and colour bars.
FIGURE_JS = """(i) => {
  const g = document.querySelectorAll('.js-plotly-plot')[i];
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const shown = e => { for (let n = e; n && n !== g; n = n.parentElement) { const cs = getComputedStyle(n);
      if (cs.display === 'none' || cs.visibility === 'hidden' || parseFloat(cs.opacity) === 0) return false; }
    const r = e.getBoundingClientRect(); return r.width > 0.5 && r.height > 0.5; };
  const texts = [];
  for (const t of g.querySelectorAll('svg text')) {
    if (!t.textContent.trim() || !shown(t) || parseFloat(getComputedStyle(t).fillOpacity) === 0) continue;
    let size = parseFloat(getComputedStyle(t).fontSize);
    for (const s of t.querySelectorAll('tspan'))
      if (s.textContent.trim()) size = Math.min(size, parseFloat(getComputedStyle(s).fontSize));
    texts.push({text: t.textContent, size: size, box: box(t)});
  }
  return {box: box(g), texts: texts, areas: Array.from(g.querySelectorAll('.nsewdrag')).map(box),
          colorbars: Array.from(g.querySelectorAll('g.colorbar')).filter(shown).map(box)};
}"""
# The visible text of the page outside rendered maths (KaTeX), to find notation left raw.
PAGE_TEXT_JS = """() => { const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const e = n.parentElement;
    if (!e || e.closest('.katex, script, style, noscript')) continue;
    if (!e.getClientRects().length) continue;
    out.push(n.textContent); }
  return out.join(' '); }"""
# Pairs of overlapping visible controls of the open tab (labels, inputs, buttons, sliders, select boxes).
CONTROLS_JS = """() => { const panel = Array.from(document.querySelectorAll('[role=tabpanel]'))
                                   .find(p => p.getClientRects().length);
  const sel = '[data-testid=stWidgetLabel], input:not([type=hidden]), button, [role=slider], [data-baseweb=select]';
  const els = Array.from(panel.querySelectorAll(sel)).filter(e => { const r = e.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !e.closest('.js-plotly-plot')
           && e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}); });   // not in a closed expander
  const out = [];
  for (let a = 0; a < els.length; a++) for (let b = a + 1; b < els.length; b++) {
    if (els[a].contains(els[b]) || els[b].contains(els[a])) continue;
    const p = els[a].getBoundingClientRect(), q = els[b].getBoundingClientRect();
    const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (w > 1 && h > 1) out.push([els[a].textContent || els[a].tagName, els[b].textContent || els[b].tagName]);
  }
  return out; }"""


def overlapping(boxes: list[tuple[str, list[float]]], gap: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of named boxes [left, top, right, bottom] that overlap by more than ``gap`` px both ways."""
    out = []
    for i, (a, p) in enumerate(boxes):
        for b, q in boxes[i + 1:]:
            if min(p[2], q[2]) - max(p[0], q[0]) > gap and min(p[3], q[3]) - max(p[1], q[1]) > gap:
                out.append((a, b))
    return out


def check_figure(fig: dict, min_px: float | None) -> None:
    """No two texts of a figure overlap, no colour bar covers a plot area or a text, and
    (``min_px``) every text is at least that large."""
    texts = [(t["text"], t["box"]) for t in fig["texts"]]
    assert not overlapping(texts), overlapping(texts)
    for bar in fig["colorbars"]:
        assert not overlapping([("colour bar", bar)] + [("plot area", a) for a in fig["areas"]])
    if min_px is not None:
        small = [(t["text"], t["size"]) for t in fig["texts"] if t["size"] < min_px - 0.01]
        assert not small, small


def inside(box: list[float], viewport: dict) -> bool:
    left, top, right, bottom = box
    return left >= 0 and top >= 0 and right <= viewport["width"] + 0.5 and bottom <= viewport["height"] + 0.5


async def projector_layout(url: str, viewport: dict) -> None:
    """Presentation mode at ``viewport``: per tab, the first figure inside the viewport,
    a one-line title, figure text >= MIN_FIGURE_PX, no overlapping text, no horizontal
    scrolling, no raw notation; screenshots at 1920 x 1080."""
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport=viewport)
        await page.goto(url + "?present=1")
        await settle(page)
        height, line = await page.evaluate("() => { const h = document.querySelector('h1');"
                                           " return [h.getBoundingClientRect().height,"
                                           " parseFloat(getComputedStyle(h).lineHeight)]; }")
        assert height < 1.5 * line, (height, line)                   # one line
        for label in VIEWS:
            await open_tab(page, label)
            await assert_no_exception(page)
            assert await page.evaluate("() => document.documentElement.scrollWidth <= "
                                       "document.documentElement.clientWidth"), label
            assert not RAW_NOTATION.findall(await page.evaluate(PAGE_TEXT_JS)), label
            if label in NO_PLOT_VIEWS:
                continue
            fig = await page.evaluate(FIGURE_JS, 0)
            assert inside(fig["box"], viewport), (label, fig["box"])
            check_figure(fig, MIN_FIGURE_PX)
            if viewport["width"] == 1920:
                await page.screenshot(path=str(SHOTS / f"{label.lower().replace(' ', '-')}-presentation.png"))
        await browser.close()


async def narrow_layout(url: str) -> None:
    """At 800 px wide: per tab, no two controls overlap, no figure's texts overlap and no
    colour bar covers a map."""
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport=NARROW)
        await page.goto(url)
        await settle(page)
        for label in VIEWS:
            await open_tab(page, label)
            assert not await page.evaluate(CONTROLS_JS), label
            for i in range(await page.locator(".js-plotly-plot").count()):
                check_figure(await page.evaluate(FIGURE_JS, i), None)
        await browser.close()


def parse_colour(text: str) -> tuple[float, float, float]:
    """(r, g, b) in 0..255 of "#rrggbb" or "rgb(a)(r, g, b[, a])"."""
    text = text.strip()
    if text.startswith("#"):
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(float(v) for v in text[text.index("(") + 1:-1].split(",")[:3])


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours (relative luminance of sRGB)."""
    def lum(c):
        lin = [v / 255 / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in parse_colour(c)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


async def marker_contrast(url: str, scheme: str) -> dict[str, float]:
    """In a page of colour scheme ``scheme`` (Streamlit follows the browser's theme): the
    contrast of the drawn start circle and minima star of the contour with the plot's
    background (plotly's plot_bgcolor, which Streamlit's chart theme sets)."""
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport=VIEWPORT, color_scheme=scheme)
        await page.goto(url)
        await settle(page)
        drawn = """([name, prop]) => { const g = document.querySelector('.js-plotly-plot');
          const k = g._fullData.findIndex(t => t.name === name);
          const trace = g.querySelectorAll('.scatterlayer .trace')[g._fullData.filter(
              (t, i) => i < k && t.type === 'scatter').length];
          return [getComputedStyle(trace.querySelector('.point'))[prop], g._fullLayout.plot_bgcolor]; }"""
        out = {}
        for name, prop in (("start w₀", "stroke"), ("minima", "fill")):
            colour, background = await page.evaluate(drawn, [name, prop])
            out[name] = contrast(colour, background)
        await browser.close()
        return out


def test_projector_layout_in_presentation_mode(server):
    url, proc = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in PROJECTORS:
        asyncio.run(projector_layout(url, viewport))
    assert proc.poll() is None
    for label in set(VIEWS) - NO_PLOT_VIEWS:
        assert (SHOTS / f"{label.lower().replace(' ', '-')}-presentation.png").stat().st_size > 20_000


def test_narrow_screen_controls_and_colour_bars_do_not_overlap(server):
    asyncio.run(narrow_layout(server[0]))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_start_and_minima_markers_stand_out_in_both_themes(server, scheme):
    ratios = asyncio.run(marker_contrast(server[0], scheme))
    assert min(ratios.values()) >= MIN_CONTRAST, ratios
