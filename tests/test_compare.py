"""The Compare tab (issue 13, item 5): pin the current settings, change them, and see both
side by side, shared by URL.  Driven with Streamlit's AppTest (tests/test_app.py); the
paths drawn are checked against heavy-ball loops written here in NumPy, and hostile pins
in the URL must give a warning, never an exception.  A browser test takes the tab's
screenshot at 1920 x 1080."""
from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import numpy as np
import pytest

from tests import test_browser as browser
from tests.test_app import assert_clean, charts, decode, new_app, show, trace
from toys import get_toy
from ui.pin import PIN_LIMIT, parse_pin, pin_of_query
from ui.state import defaults


def heavy_ball(grad, start, lr: float, beta: float, steps: int) -> np.ndarray:
    """(steps + 1, 2) iterates of s <- beta s + g(w), w <- w - lr s from s = 0."""
    w, s, out = np.array(start, dtype=np.float64), np.zeros(2), []
    out.append(w.copy())
    for _ in range(steps):
        s = beta * s + grad(w)
        w = w - lr * s
        out.append(w.copy())
    return np.array(out)


def quad_repo_grad(w):                      # L = x^2 + 0.1 y^2 (quad-repo: Hessian diag(2, 0.2))
    return np.array([2.0 * w[0], 0.2 * w[1]])


def rosenbrock_grad(w, a=1.0, b=100.0):     # L = (a - x)^2 + b (y - x^2)^2
    x, y = w
    return np.array([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)])


def xy(spec: dict, name: str) -> np.ndarray:
    t = trace(spec, name)
    return np.stack([decode(t["x"]), decode(t["y"])], axis=-1)


def table_cell(at, settings: str, run: str, column: str) -> str:
    df = at.dataframe[0].value
    return df[(df["settings"] == settings) & (df["run"] == run)][column].item()


@pytest.fixture(scope="module")
def compared():
    """The default settings pinned, then lr 0.01 -> 0.02, shown in the Compare tab."""
    at = new_app().run()
    at.button(key="_pin").click().run()
    at.number_input(key="lr").set_value(0.02).run()
    show(at, "compare")
    assert_clean(at)
    return at


def test_pin_then_change_lr_draws_both_settings_with_their_own_numbers(compared):
    spec = charts(compared)
    pinned, current = (heavy_ball(quad_repo_grad, (-5.0, 5.0), lr, 0.99, 1000) for lr in (0.01, 0.02))
    np.testing.assert_allclose(xy(spec["compare_pinned_contour"], "GDM"), pinned, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xy(spec["compare_current_contour"], "GDM"), current, rtol=1e-10, atol=1e-12)
    final = lambda w: w[-1, 0] ** 2 + 0.1 * w[-1, 1] ** 2            # L* = 0
    assert table_cell(compared, "pinned", "GDM", "final L − L*") == format(final(pinned), ".3g")
    assert table_cell(compared, "current", "GDM", "final L − L*") == format(final(current), ".3g")
    text = [m.value for m in compared.markdown]
    assert "**Changed since the pin:** ε = 0.01 → ε = 0.02" in text
    assert any(":orange-background[**ε = 0.01**]" in t and "β = 0.99" in t for t in text)     # the pinned side
    assert any(":orange-background[**ε = 0.02**]" in t for t in text)                         # the current side
    for axis in ("xaxis", "yaxis"):                     # same toy: one window, the same curve ranges
        assert spec["compare_pinned_contour"]["layout"][axis]["range"] == [-6.0, 6.0]
        assert spec["compare_current_contour"]["layout"][axis]["range"] == [-6.0, 6.0]
    for axis in ("xaxis", "yaxis", "yaxis3"):           # loss and H rows of both curve figures
        assert spec["compare_pinned_curves"]["layout"][axis]["range"] == \
            spec["compare_current_curves"]["layout"][axis]["range"]
    loss = [decode(trace(spec[f"compare_{s}_curves"], "GDM")["y"]) for s in ("pinned", "current")]
    lo, hi = spec["compare_pinned_curves"]["layout"]["yaxis"]["range"]
    assert lo <= np.log10(min(np.nanmin(x[x > 0]) for x in loss)) and hi >= np.log10(max(np.nanmax(x) for x in loss))


def test_the_url_carries_the_pin_and_reloading_it_restores_both_sides(compared):
    query = dict(compared.query_params)
    assert query == {"lr": "0.02", "view": "compare", "pin": "toy=quad-repo"}
    again = new_app(query).run()
    assert_clean(again)
    assert not again.warning
    assert again.session_state["lr"] == 0.02 and again.session_state["_tab"] == "Compare"
    for key in ("compare_pinned_contour", "compare_current_contour"):
        assert charts(again)[key]["data"] == charts(compared)[key]["data"], key


def test_swap_and_clear():
    at = new_app({"pin": "toy=quad-repo&lr=0.02&beta=0.9", "view": "compare"}).run()
    at.button(key="_swap_pin").click().run()
    assert_clean(at)
    assert (at.session_state["lr"], at.session_state["beta"]) == (0.02, 0.9)
    assert at.query_params["pin"] == "toy=quad-repo" and at.query_params["lr"] == "0.02"
    at.button(key="_unpin_tab").click().run()
    assert "pin" not in at.query_params and "compare_pinned_contour" not in charts(at)
    assert "Nothing is pinned yet" in at.info[0].value
    at.button(key="_pin_tab").click().run()                     # the tab's own pin button
    assert at.query_params["pin"] == "toy=quad-repo&lr=0.02&beta=0.9"


HOSTILE = {
    "garbage": ("%%%&&&;;<script>", None),
    "huge": ("toy=custom&expr=" + "x+" * PIN_LIMIT + "y", None),       # a valid pin, but too long
    "nested": (urlencode({"lr": "0.02", "pin": urlencode({"lr": "0.5", "pin": "x"})}), "toy=quad-repo&lr=0.02"),
    "bad values": ("toy=nope&lr=-1&opt=gdm,evil&view=rates", "toy=quad-repo"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_pin_gives_a_warning_and_no_exception(name):
    text, kept = HOSTILE[name]
    assert pin_of_query({"pin": text})[0] == kept
    at = new_app({"pin": text, "view": "compare"}).run()
    assert_clean(at)
    warning = " ".join(w.value for w in at.warning)
    assert "pin" in warning
    assert at.query_params.get("pin") == kept
    assert ("compare_pinned_contour" in charts(at)) == (kept is not None)


def test_parse_pin_never_raises():
    for text in ("", "=", "&", "a", "%zz", "lr", "x=1&&y=2", "toy=%00", "\x00", "🙂=🙂", "lr=nan", "steps=1e309",
                 "lr=0.1&" * 200, "p_h1=" + "9" * 5000, "toy=custom&expr=" + "x*" * 3000):
        values, warnings = parse_pin(text)
        assert values is None or set(defaults()) - {"p_h1", "p_h2", "p_angle", "p_cx", "p_cy"} <= set(values)
        assert values is not None or warnings


def test_two_toys_side_by_side():
    pin = "toy=rosenbrock&lr=0.0005&beta=0.9&steps=300&variants=base"
    at = new_app({"pin": pin, "toy": "quad-k4", "variants": "base", "view": "compare"}).run()
    assert_clean(at)
    spec = charts(at)
    start = get_toy("rosenbrock").start
    np.testing.assert_allclose(xy(spec["compare_pinned_contour"], "GDM"),
                               heavy_ball(rosenbrock_grad, start, 0.0005, 0.9, 300), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xy(spec["compare_current_contour"], "GDM"),
                               heavy_ball(lambda w: np.array([2.0 * w[0], 8.0 * w[1]]), (-2.0, 1.5), 0.01, 0.99,
                                          1000), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xy(spec["compare_pinned_contour"], "minima"), [[1.0, 1.0]])
    np.testing.assert_allclose(xy(spec["compare_current_contour"], "minima"), [[0.0, 0.0]])
    changed = next(t.value for t in at.markdown if t.value.startswith("**Changed since the pin:**"))
    assert changed.startswith("**Changed since the pin:** rosenbrock: Rosenbrock → quad-k4")
    assert "ε = 0.0005 → ε = 0.01" in changed and "T = 300 → T = 1000" in changed
    assert "a = 1" not in changed and "h1" not in changed        # another toy's parameters are not compared
    assert any("Two toys: each side has its own axes" in c.value for c in at.caption)


async def _screenshot(url: str) -> None:
    async with browser.playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=browser.CHROMIUM)
        page = await chromium.new_page(viewport={"width": 1920, "height": 1080})
        await page.goto(url + "?lr=0.02&beta=0.9&view=compare&pin=toy%3Dquad-repo")
        await browser.settle(page)
        await browser.assert_no_exception(page)
        assert len(await browser.plot_names(page)) == 4
        await page.screenshot(path=str(browser.SHOTS / "compare.png"))
        await chromium.close()


server = browser.server          # the app in a subprocess (tests/test_browser.py)


@pytest.mark.browser
def test_compare_tab_in_a_browser(server):
    url, proc = server
    browser.SHOTS.mkdir(parents=True, exist_ok=True)
    asyncio.run(_screenshot(url))
    assert proc.poll() is None
    assert (browser.SHOTS / "compare.png").stat().st_size > 20_000
