"""End-to-end latencies of the app in a headless browser (issue 15): ``streamlit run
app.py`` on a free port, driven by Playwright with Debian's Chromium, each step timed
from the action to the moment the page has drawn what it asked for (a plot, a changed
trace, a map) and no run is in progress.  Figures in BENCHMARKS.md.

    python bench/bench_app.py                 # four server starts and the floor, about 5 minutes on 2 cores
    python bench/bench_app.py --starts warm   # one start with the cache folder the last run filled

A server start is ``off`` (the compilation cache switched off: the old behaviour),
``cold`` (an empty cache folder), ``warm`` (the folder the cold start filled) or
``warmed`` (warm, and the first page opened once by Streamlit's protocol as soon as the
port answers, as ``python3 dev.py app`` does: ui/warmup.py, timed as "warm-up").  Each
start measures: the server's port open ("server up", from the process's start), the
first page (the Trajectories view, from the page's request), a move of the β slider
(one key press: a new value, no new program), a new number of steps T (one key press
on the T slider, a different T in every start, so the cache cannot hold it), the first
Rate maps tab (the default 64 x 64 maps), the preset "Rosenbrock valley" (a new toy
and T = 2000) and a next visitor's first page (a new page of the same browser, the
server warm: what the browser itself takes to load and draw the page).  The cache folder is a fresh temporary one (--cache to keep it).

The floor (``--floor``, on by default): the same browser's first page of two minimal
Streamlit apps on their own servers, one heading ("frontend") and one heading with
one Plotly scatter of 1001 points ("one plot": the frontend plus loading plotly.js and
drawing a plot), and the app's warm Trajectories page beside them, each opened in
FLOOR_PAGES new pages after one unrecorded page; what no change to the app can lower.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ui.warmup import visit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
BUSY = ("() => !!document.querySelector('[data-testid=stStatusWidget]') || "
        "!!document.querySelector('[data-testid=stException]') || !!document.querySelector('[data-stale=true]')")
GDM_X = """() => { for (const g of document.querySelectorAll('.js-plotly-plot'))
                     for (const t of (g._fullData || [])) if (t.name === 'GDM') return Array.from(t.x);
                   return null; }"""
HEATMAPS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
                    .filter(g => (g._fullData || []).some(t => t.type === 'heatmap')).length"""
PRESET = "Rosenbrock valley"
FLOOR_APPS = {
    "frontend": "import streamlit as st\nst.title('frontend')\n",
    "one plot": ("import plotly.graph_objects as go\nimport streamlit as st\nst.title('one plot')\n"
                 "st.plotly_chart(go.Figure(go.Scatter(x=list(range(1001)), y=[i * i for i in range(1001)])))\n"),
}
FLOOR_PAGES = 3
PLOTTED = "() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0"
HEADING = "() => !!document.querySelector('h1')"
QUIET_S = 1.0           # a step has ended when the page stays done this long (the time recorded is its start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cache: str, script: str = "app.py") -> tuple[subprocess.Popen, str, float]:
    """(process, url, seconds until its port answered) of a new server of ``script``
    using ``cache``."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DYNAMICS_COMPILE_CACHE": cache}
    t0 = time.monotonic()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("streamlit")), "run", script,
                             "--server.headless=true", f"--server.port={port}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.monotonic() - t0 < 60:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/", time.monotonic() - t0
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("bench_app: streamlit did not start within 60 s")


async def drawn(page, t0: float, done: str, arg=None, timeout: float = 240.0) -> float:
    """Seconds from ``t0`` until the JavaScript predicate ``done(arg)`` holds with no run
    in progress, and keeps holding for QUIET_S."""
    since = None
    while True:
        now = time.monotonic()
        ok = await page.evaluate(done, arg) and not await page.evaluate(BUSY)
        since = (since or now) if ok else None
        if since is not None and now - since >= QUIET_S:
            return since - t0
        if now - t0 > timeout:
            raise TimeoutError(f"bench_app: the page did not finish within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def key_on(page, selector: str, key: str, times: int = 1) -> float:
    """Press ``key`` ``times`` on the element; the time of the last press."""
    await page.locator(selector).focus()
    for _ in range(times):
        await page.keyboard.press(key)
    return time.monotonic()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def session(url: str, pid: int, t_steps: int) -> dict[str, tuple[float, float]]:
    """(seconds, server CPU seconds) of each step of one browser session (see the
    module's docstring); the new T is 1000 - ``t_steps``."""
    out = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})

        async def step(name: str, action, done: str, arg=None) -> None:
            cpu = cpu_s(pid)
            t0 = await action()
            wall = await drawn(page, t0, done, arg)
            if name:
                out[name] = (wall, cpu_s(pid) - cpu)
                print(f"  {name}: {wall:.2f} s (server CPU {out[name][1]:.2f} s)", flush=True)

        async def goto() -> float:
            t0 = time.monotonic()
            await page.goto(url)
            return t0

        async def click(locator) -> float:
            t0 = time.monotonic()
            await locator.click()
            return t0

        traj = f"() => ({GDM_X})() !== null"
        await step("first page", goto, traj)
        before = await page.evaluate(GDM_X)
        await step("slider", lambda: key_on(page, 'input[type=range][aria-label^="momentum β"]', "ArrowLeft"),
                   f"(b) => JSON.stringify(({GDM_X})()) !== JSON.stringify(b)", before)
        await step("new T", lambda: key_on(page, 'input[type=range][aria-label^="steps T"]', "ArrowLeft", t_steps),
                   f"(n) => (({GDM_X})() || []).length === n", 1001 - t_steps)
        await step("first rate maps", lambda: click(page.get_by_role("tab", name="Rate maps")), HEATMAPS)
        await step("", lambda: click(page.get_by_role("tab", name="Trajectories")), traj)
        option = page.locator("[role=option]", has_text=PRESET)
        for _ in range(5):                          # the list may not open while the page is still settling
            await page.get_by_placeholder("Load a preset…").click()
            try:
                await option.wait_for(timeout=5000)
                break
            except PlaywrightTimeout:
                await page.keyboard.press("Escape")
        await step("preset", lambda: click(option),
                   f"() => (({GDM_X})() || []).length === 2001")
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        await step("next visitor", goto, traj)        # the browser's own share of a first page
        await browser.close()
    return out


def one_start(kind: str, cache: Path, index: int) -> dict[str, tuple[float, float]]:
    """Start a server of ``kind`` (off, cold, warm, warmed), measure a session, stop it."""
    if kind == "cold" and cache.exists():
        shutil.rmtree(cache)
    print(f"{kind} start:", flush=True)
    proc, url, up = start_server("off" if kind == "off" else str(cache))
    try:
        times = {"server up": (up, cpu_s(proc.pid))}
        if kind == "warmed":                   # what python3 dev.py app does once the server is up
            t0, c0 = time.monotonic(), cpu_s(proc.pid)
            asyncio.run(visit(url))
            times["warm-up"] = (time.monotonic() - t0, cpu_s(proc.pid) - c0)
            print(f"  warm-up: {times['warm-up'][0]:.2f} s ({times['warm-up'][1]:.2f} CPU s)", flush=True)
        return {**times, **asyncio.run(session(url, proc.pid, index + 1))}
    finally:
        proc.terminate()
        proc.wait(20)


async def first_pages(url: str, pid: int, done: str) -> list[tuple[float, float]]:
    """(seconds, server CPU seconds) of FLOOR_PAGES first pages of ``url`` in new pages
    of one browser, after one unrecorded page."""
    out = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        for _ in range(FLOOR_PAGES + 1):
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            cpu, t0 = cpu_s(pid), time.monotonic()
            await page.goto(url)
            out.append((await drawn(page, t0, done), cpu_s(pid) - cpu))
            await page.close()
        await browser.close()
    return out[1:]


def floor(cache: Path) -> dict[str, list[tuple[float, float]]]:
    """The first pages of the FLOOR_APPS and of the app warmed (module docstring)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-app-floor-"))
    rows = {}
    for name, text in [*FLOOR_APPS.items(), ("the app, warmed", None)]:
        script = "app.py"
        if text is not None:
            script = str(folder / f"{name.replace(' ', '_')}.py")
            Path(script).write_text(text)
        proc, url, _ = start_server(str(cache), script)
        try:
            if text is None:
                asyncio.run(visit(url))
            done = f"() => ({GDM_X})() !== null" if text is None else PLOTTED if "plot" in name else HEADING
            rows[name] = asyncio.run(first_pages(url, proc.pid, done))
            print(f"  {name}: " + ", ".join(f"{w:.2f} s ({c:.2f})" for w, c in rows[name]), flush=True)
        finally:
            proc.terminate()
            proc.wait(20)
    shutil.rmtree(folder)
    return rows


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    load = os.getloadavg()[0]
    return f"{model}, {os.cpu_count()} cores, load average {load:.1f} at the start; Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", default="off,cold,warm,warmed",
                        help="comma-separated server starts (off, cold, warm, warmed)")
    parser.add_argument("--cache", default=None, help="the cache base folder (default: a fresh temporary one)")
    parser.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the first pages of minimal Streamlit apps (the floor) and of the warmed app")
    args = parser.parse_args()
    cache = Path(args.cache or tempfile.mkdtemp(prefix="bench-app-cache-"))
    print(machine())
    rows = {kind: one_start(kind, cache, i) for i, kind in enumerate(filter(None, args.starts.split(",")))}
    steps = list(dict.fromkeys(step for row in rows.values() for step in row))
    print("| server start | " + " | ".join(f"{s} s (CPU s)" for s in steps) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for kind, row in rows.items():
        print(f"| {kind} | " + " | ".join(f"{row[s][0]:.2f} ({row[s][1]:.2f})" if s in row else "-" for s in steps)
              + " |")
    if args.floor:
        print("floor:", flush=True)
        print("| page | first pages s (server CPU s) |\n|---|---|")
        for name, pages in floor(cache).items():
            print(f"| {name} | " + ", ".join(f"{w:.2f} ({c:.2f})" for w, c in pages) + " |")


if __name__ == "__main__":
    main()
