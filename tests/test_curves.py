"""Readable curves and windows (viz.curves, viz.decay, viz.contour): the steps where L
rose are ticks in a strip of their own, as many as the legend states; a curve that
chatters is drawn as a band that bounds it (its raw values kept); the contour window
holds every iterate of a path that leaves the toy's domain, and so do its grid and its
clickable points."""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
from plotly.subplots import make_subplots
import plotly.graph_objects as go

from dynamics import loss_rises, rollout
from toys import get_toy
from ui.presets import preset_values
from ui.state import runs_of
from viz.contour import CLICK_GRID, CONTOUR, WINDOW_GROWTH, contour_figure, path_window
from viz.curves import Series, add_curve, chattering, running_envelope, step_curves
from viz.decay import decay_curves_figure

DISTILL = "Distill: optimal heavy ball on a quadratic (κ = 100)"


def alternating(n: int) -> np.ndarray:
    """A Lion-like loss: a slow decay, every other step 1000 times lower (period 2)."""
    t = np.arange(n)
    return np.exp(-t / 300) * np.where(t % 2 == 0, 1.0, 1e-3)


# ----------------------------------------------------------------------------- the envelope and the chatter rule

def test_running_envelope_by_hand():
    lo, hi = running_envelope(np.array([3.0, 1, 4, 1, 5, 9, 2, 6]), 3)
    np.testing.assert_array_equal(lo, [1, 1, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(hi, [3, 4, 4, 5, 9, 9, 9, 6])
    lo, hi = running_envelope(np.array([np.nan, np.nan, np.nan, 2.0, 1.0]), 3)      # NaN: a gap, ignored
    np.testing.assert_array_equal(lo, [np.nan, np.nan, 2, 1, 1])
    np.testing.assert_array_equal(hi, [np.nan, np.nan, 2, 2, 2])


def test_a_curve_chatters_where_its_period_is_shorter_than_half_the_window():
    """A period-P oscillation turns back at 2/P of its points; the rule is 2/P > 4/window."""
    assert chattering(alternating(1001), 11).all()                           # P = 2
    assert not chattering(np.cos(2 * np.pi * np.arange(1001) / 22), 11).any()   # GDM-like, P = 22 > 11/2
    cycle = np.tile([4.0, 1, 3, 6, 8, 10, 10.5, 18, 17, 15, 12, 8], 251)[:3001]  # P = 12 < 31/2
    assert chattering(cycle, 31).mean() > 0.99 and not chattering(cycle, 11).any()  # P = 12 > 11/2
    plateaus = np.tile([1.0, 1.0, 0.5], 334)                                   # a mask fraction: flat steps skipped
    assert chattering(plateaus, 11).all()
    assert not chattering(np.r_[np.ones(500), np.zeros(500)], 11).any()        # a step is not chatter
    burst = np.r_[np.linspace(9.0, 5.0, 500), np.tile([4.0, 4.5], 4), np.linspace(3.9, 0.0, 500)]
    assert not chattering(burst, 11).any()                # 8 steps of chatter (10 points around): readable


def test_a_chattering_curve_is_a_band_that_bounds_it_and_keeps_its_values():
    y = np.r_[np.linspace(10.0, 1.0, 200), alternating(801)]               # smooth, then period 2
    x = np.arange(len(y))
    fig = make_subplots(rows=1, cols=1)
    window = add_curve(fig, go.Scatter(x=x, y=y, name="Lion", line=dict(color="#CC79A7", width=2)), 1, 1)
    assert window == 11
    band = next(t for t in fig.data if t.fill == "toself")
    raw = next(t for t in fig.data if t.name == "Lion: every step")
    np.testing.assert_array_equal(raw.y, y)                                 # the raw values, every step
    assert raw.opacity == 0.3
    bx, by = np.array(band.x, dtype=float), np.array(band.y, dtype=float)    # one closed outline: hi, then lo back
    keep = np.isfinite(bx)
    bx, by = bx[keep][:-1], by[keep][:-1]
    half = len(bx) // 2
    top, bottom = dict(zip(bx[:half], by[:half])), dict(zip(bx[half:], by[half:]))
    assert min(top) > 190 and max(top) == len(y) - 1                       # the band covers the alternating part
    for t in top:
        t = int(t)
        assert bottom[t] <= y[t] <= top[t]                                  # the envelope bounds the curve
        assert top[t] - bottom[t] >= abs(y[t] - y[min(t + 1, len(y) - 1)])  # and spans a step's alternation
    calm = next(t for t in fig.data if t.name == "Lion")
    np.testing.assert_array_equal(np.asarray(calm.y, dtype=float)[:190], y[:190])   # drawn as it is before
    smooth = make_subplots(rows=1, cols=1)
    assert add_curve(smooth, go.Scatter(x=x, y=np.exp(-x / 100.0), name="GD"), 1, 1) is None
    assert len(smooth.data) == 1 and smooth.data[0].opacity is None


# ----------------------------------------------------------------------------- rises

def test_rises_are_ticks_in_their_own_strip_as_many_as_the_legend_states():
    t = np.arange(1001)
    loss = np.exp(-t / 200) * (1.5 + np.cos(2 * np.pi * t / 22))              # rises on part of every period
    rises, _ = loss_rises(loss)
    assert len(rises) > 400
    series = Series("GDM", "#0072B2", "solid", t, loss, loss, None, rises)
    fig = step_curves([series], 0.0)
    marked = [tr for tr in fig.data if tr.mode and "markers" in tr.mode]
    assert len(marked) == 1                                                  # no marker on any curve
    strip = marked[0]
    stated = int(re.fullmatch(r"GDM: L rose by > 1e-12 L\(w₀\): (\d+) steps", strip.name).group(1))
    assert len(strip.x) == stated == len(rises)
    np.testing.assert_array_equal(strip.x, rises)
    curve = next(tr for tr in fig.data if tr.name == "GDM" and tr.yaxis == "y")
    assert strip.yaxis != curve.yaxis                                        # the strip is not the loss panel
    assert step_curves([series], 0.0, rise_rel=0.0).data[-1].name.startswith("GDM: L rose by > 0 L(w₀)")


def test_decay_curves_draw_a_chattering_distance_as_a_band():
    n = 3001
    smooth = np.linspace(3.0, 1.5, n)
    run = SimpleNamespace(w=np.zeros((n, 2)), norm=smooth, set_distance=alternating(n))
    fig = decay_curves_figure({("lion", "none"): run}, ["lion"], 1.4)
    assert any(t.fill == "toself" and t.yaxis == "y2" for t in fig.data)       # the distance: a band
    assert not any(t.fill == "toself" and t.yaxis == "y" for t in fig.data)    # the smooth norm: a curve
    raw = next(t for t in fig.data if t.name == "no decay: distance: every step")
    np.testing.assert_array_equal(raw.y, run.set_distance)
    assert any(t.name == "band: min–max over 31 steps" and t.showlegend is not False for t in fig.data)


# ----------------------------------------------------------------------------- windows

def test_the_window_is_the_domain_unless_a_path_leaves_it():
    domain = ((-2.5, 2.5), (-2.0, 2.0))
    assert path_window(domain, {"a": np.array([[0.0, 0.0], [1.0, -1.0], [np.nan, np.nan]])}) == domain
    diverging = np.array([[0.0, 0.0], [1e300, -1e300], [-1e300, 1e300]])                 # cut at both ends
    (x0, x1), (y0, y1) = path_window(domain, {"a": diverging})
    # the domain grown by WINDOW_GROWTH = 10 spans each side (x: 2.5 + 50, y: 2 + 40), then a 5% margin each side
    np.testing.assert_allclose([x0, x1, y0, y1], [-57.75, 57.75, -46.2, 46.2], rtol=1e-12)
    assert WINDOW_GROWTH == 10


def test_the_distill_window_contains_every_iterate_and_the_grid_and_clicks_cover_it():
    values, _ = preset_values(DISTILL)
    toy = get_toy("quadratic")
    paths = {}
    for spec in runs_of(values):
        paths[spec.label] = rollout(spec.setup, toy, spec.hyper_arrays(), spec.steps, start=spec.start,
                                    toy_params=spec.params).w
    (x0, x1), (y0, y1) = window = path_window(toy.domain, paths)
    w = np.concatenate(list(paths.values()))
    assert np.abs(w[:, 1]).max() > 5                                        # the path leaves the domain (|w2| <= 2)
    assert np.all((w[:, 0] > x0) & (w[:, 0] < x1) & (w[:, 1] > y0) & (w[:, 1] < y1))
    assert x0 <= -2.5 and x1 >= 2.5 and y0 <= -2.0 and y1 >= 2.0          # and the domain
    np.testing.assert_allclose((x1 - x0) / (y1 - y0), 5.0 / 4.0)            # the domain's shape
    fig = contour_figure(toy, toy.params({"h1": values["p_h1"], "h2": values["p_h2"]}), paths, n=40,
                         click_grid=True)
    assert tuple(fig.layout.xaxis.range) == (x0, x1) and tuple(fig.layout.yaxis.range) == (y0, y1)
    lines = np.concatenate([np.c_[t.x, t.y] for t in fig.data if t.name == CONTOUR])   # the grid spans the window:
    lo, hi = np.nanmin(lines, axis=0), np.nanmax(lines, axis=0)                        # lines end on its edges
    assert np.all(lo >= (x0, y0)) and np.all(hi <= (x1, y1)) and (lo[0], hi[0]) == (x0, x1)
    clicks = next(t for t in fig.data if t.name == CLICK_GRID)
    assert (min(clicks.x), max(clicks.x), min(clicks.y), max(clicks.y)) == (x0, x1, y0, y1)
    assert window != toy.domain


def test_paper_figures_draw_a_chattering_curve_as_a_band_and_name_it_in_the_legend():
    from figures.presets import default_config, render
    fig, data = render(default_config("wd-hyperbola"))
    assert any(t.type == "scatter" and t.fill == "toself" for t in fig.data)
    legend = [t.name for t in fig.data if t.showlegend is not False and t.name and "band" in t.name]
    assert legend == ["band: min–max over 31 steps"]
    cautious = data.table["run"] == "cautious decay"
    raw = next(t for t in fig.data if t.name == "cautious decay: every step" and t.yaxis == "y2")
    np.testing.assert_array_equal(raw.y, np.where(data.table["loss"][cautious] > 0, data.table["loss"][cautious],
                                                  np.nan))
