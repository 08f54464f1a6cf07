"""Fig. 3 (preset ``fig3``, issue 12) checked against facts computed apart from the
figure's code: its CSV table read back and searched with NumPy, the heavy ball's rate
from the roots of its characteristic polynomial, the cautious heavy ball run in plain
NumPy, and the claims report's numbers for the same settings."""
import csv
import io
import re

import numpy as np
import plotly.colors
import pytest

from dynamics.best_rate import quoted_best
from dynamics.claims_base import ClaimSettings
from dynamics.claims_rates import fmt_rate, rate_maps
from dynamics.config import Setup
from dynamics.sweep import sweep
from figures import presets
from viz.export import data_bytes
from toys import get_toy
from viz.theme import DIVERGED, RATE_SCALE

RUNS = (("GDM", False), ("C-GDM", True))       # (label, estimated map) in panel order
RATE_TEXT = re.compile(r"ρ = (\d\.\d+)(?: ± (\S+))?")


def _value(text: str):
    return {"True": True, "False": False}.get(text, text) if not re.fullmatch(r"[-+0-9.e]+|nan", text) else float(text)


def read_table(raw: bytes) -> dict[str, dict[str, np.ndarray]]:
    """run -> column -> array, parsed from the figure's CSV."""
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    return {run: {key: np.array([_value(r[key]) for r in rows if r["run"] == run]) for key in rows[0]}
            for run in dict.fromkeys(r["run"] for r in rows)}


def heavy_ball_rate(lr: float, beta: float, eigenvalues=(8.0, 2.0)) -> float:
    """max |z| over the roots of z^2 - (1 + beta - lr h) z + beta, for each eigenvalue h."""
    return max(abs(np.roots([1.0, -(1 + beta - lr * h), beta])).max() for h in eigenvalues)


def cautious_heavy_ball_rate(lr: float, beta: float, steps: int, h=(8.0, 2.0), w0=(1.0, 1.0)) -> float:
    """C-GDM (s = beta s + g; w -= lr phi s / mean(phi), phi_i = 1[s_i g_i > 0]) on
    sum h_i w_i^2 / 2, the state renormalised every step: exp of the least-squares slope
    of log|(w, s)| over the last half of ``steps``."""
    h, w, s = np.asarray(h), np.asarray(w0, float), np.zeros(2)
    logs, acc = np.zeros(steps + 1), np.log(np.hypot(*w0))
    logs[0] = acc
    for t in range(steps):
        g = h * w
        s = beta * s + g
        phi = (np.sign(s) * np.sign(g) > 0).astype(float)
        w = w - lr * phi * s / max(phi.mean(), 1e-3)
        norm = np.sqrt(w @ w + s @ s)
        w, s, acc = w / norm, s / norm, acc + np.log(norm)
        logs[t + 1] = acc
    t = np.arange(steps // 2, steps + 1)
    return float(np.exp(np.polyfit(t, logs[t], 1)[0]))


@pytest.fixture(scope="module")
def fig3():
    """The preset as shipped (128 x 128), its figure and its CSV table read back."""
    config = presets.default_config("fig3")
    fig, data = presets.render(config)
    return config, fig, read_table(data_bytes(data.table, "csv"))


def _best_index(t: dict, estimate: bool) -> int:
    ok = ~t["diverged"] & (t["rate"] < 1)
    if estimate:
        ok &= t["settled"]
    return int(np.argmin(np.where(ok, t["rate"], np.inf)))


def _dots(fig) -> list:
    return [tr for tr in fig.data if tr.name == "best cell"]


def test_the_settings_are_the_papers_and_the_claims_reports():
    config, s = presets.default_config("fig3"), ClaimSettings()
    assert config["toy"] == s.rate_toy and config["start"] == [1.0, 1.0]
    assert (config["toy_params"]["h1"], config["toy_params"]["h2"]) == (8.0, 2.0)      # 4 w1^2 + w2^2
    assert (config["lr_range"]["lo"], config["lr_range"]["hi"]) == s.rate_lr == (0.01, 0.5)
    assert config["steps"] == s.rate_steps == 1000


def test_red_dots_are_the_minima_over_converging_settled_cells(fig3):
    _, fig, table = fig3
    for (run, estimate), dot in zip(RUNS, _dots(fig)):
        t = table[run]
        k = _best_index(t, estimate)
        assert (dot.x[0], dot.y[0]) == (t["lr"][k], t["beta"][k])
        assert np.flatnonzero(t["best"]).tolist() == [k]
        assert dot.marker.color == table_red(dot)
    t = table["C-GDM"]                  # the settled filter matters: an unsettled cell reads lower
    converging = ~t["diverged"] & (t["rate"] < 1)
    assert t["rate"][converging].min() < t["rate"][_best_index(t, True)] - 0.01


def table_red(dot) -> str:
    """The dot's colour if it is a true red (red channel high, green and blue low)."""
    r, g, b = (int(dot.marker.color[i:i + 2], 16) for i in (1, 3, 5))
    assert r > 200 and g < 64 and b < 64, dot.marker.color
    return dot.marker.color


def test_titles_quote_the_tables_rate_at_the_dot_and_it_is_measured_again(fig3):
    config, fig, table = fig3
    titles = [a.text for a in fig.layout.annotations][:2]
    for (run, estimate), title in zip(RUNS, titles):
        t = table[run]
        k = _best_index(t, estimate)
        assert np.flatnonzero(np.isfinite(t["quoted_rate"])).tolist() == [k]
        rate, unc = RATE_TEXT.search(title).groups()
        assert rate == f"{t['quoted_rate'][k]:.4f}"
        assert (unc is not None) == estimate and ("settled" in title) == estimate
        if not estimate:
            assert t["quoted_rate"][k] == pytest.approx(heavy_ball_rate(t["lr"][k], t["beta"][k]), abs=1e-12)
            continue
        assert unc == f"{t['quoted_uncertainty'][k]:.1g}"
        # the quoted rate is a measurement apart from the map's: a plain NumPy run of 4x the steps
        again = cautious_heavy_ball_rate(t["lr"][k], t["beta"][k], 4 * config["steps"])
        assert t["quoted_rate"][k] == pytest.approx(again, abs=max(1e-6, t["quoted_uncertainty"][k]))


def test_gdm_closed_form_best_is_at_least_one_third_and_within_a_cell_of_it(fig3):
    _, _, table = fig3
    t = table["GDM"]
    near = (np.abs(t["lr"] - 2 / 9) < 0.02) & (np.abs(t["beta"] - 1 / 9) < 0.04)    # the roots are slow: near only
    np.testing.assert_allclose(t["rate"][near], [heavy_ball_rate(a, b) for a, b in zip(t["lr"][near],
                                                                                      t["beta"][near])], rtol=1e-9)
    k = _best_index(t, False)
    d_lr, d_beta = np.diff(np.unique(t["lr"]))[0], np.diff(np.unique(t["beta"]))[0]
    assert t["rate"][k] >= 1 / 3
    assert abs(t["lr"][k] - 2 / 9) <= d_lr and abs(t["beta"][k] - 1 / 9) <= d_beta
    corners = [heavy_ball_rate(a, b) for a in (2 / 9 - d_lr, 2 / 9 + d_lr) for b in (1 / 9 - d_beta, 1 / 9 + d_beta)]
    assert t["rate"][k] <= max(corners)


def _rgb(colour: str) -> np.ndarray:
    colour = {"white": "#FFFFFF"}.get(colour, colour)
    if colour.startswith("#"):
        return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], float)
    return np.array([float(x) for x in re.findall(r"[\d.]+", colour)[:3]])


def test_diverged_cells_are_grey_and_named_in_the_legend(fig3):
    _, fig, table = fig3
    key = [tr for tr in fig.data if tr.name and "diverged" in tr.name]
    assert len(key) == 1 and key[0].showlegend is not False and key[0].marker.color == DIVERGED
    assert fig.layout.plot_bgcolor == DIVERGED                  # the empty cells show it
    grey = _rgb(DIVERGED)
    assert np.abs(grey - _rgb(fig.layout.paper_bgcolor)).max() > 40
    scale = plotly.colors.sample_colorscale(getattr(plotly.colors.sequential, RATE_SCALE), np.linspace(0, 1, 201))
    assert min(np.abs(grey - _rgb(c)).sum() for c in scale) > 60
    heats = [tr for tr in fig.data if tr.type == "heatmap"]
    for (run, _), heat in zip(RUNS, heats):
        t = table[run]
        empty = np.isnan(np.asarray(heat.z, float)).ravel()
        np.testing.assert_array_equal(empty, t["diverged"] | (t["rate"] >= 1))
        assert empty.any()


def test_the_optimum_is_named_with_its_rate_formatted_as_the_titles(fig3):
    _, fig, _ = fig3
    cross = [tr for tr in fig.data if tr.name and tr.name.startswith("GDM optimum")]
    assert cross and cross[0].showlegend and (cross[0].x[0], cross[0].y[0]) == pytest.approx((2 / 9, 1 / 9))
    assert "ρ = 0.3333" in cross[0].name
    texts = [cross[0].name] + [a.text for a in fig.layout.annotations]
    numbers = [m.group(1) for text in texts for m in RATE_TEXT.finditer(text)]
    assert len(numbers) == 3 and {len(n.split(".")[1]) for n in numbers} == {4}


@pytest.fixture(scope="module")
def small():
    """The preset on a 24 x 24 grid: its configuration and data."""
    config = presets.default_config("fig3")
    config["lr_range"]["n"] = config["beta_range"]["n"] = 24
    return config, presets.compute(config)


def test_figure_and_claims_report_quote_the_same_cells_and_rates(small):
    config, data = small
    fig, table = presets.build(config, data), read_table(data_bytes(data.table, "csv"))
    claims = rate_maps(ClaimSettings(rate_grids=(24,), inner_grids=()), 24)
    titles = [a.text for a in fig.layout.annotations]
    for (run, _), key, title in zip(RUNS, ("gdm_exact_min", "cgdm_min"), titles):
        t, c = table[run], claims[key]
        k = int(np.flatnonzero(t["best"])[0])
        assert (t["lr"][k], t["beta"][k]) == (c["lr"], c["beta"])
        assert t["quoted_rate"][k] == pytest.approx(c["rate"], rel=1e-12)
        assert t["quoted_uncertainty"][k] == pytest.approx(c["uncertainty"], rel=1e-6, abs=1e-15)
        assert title.endswith(fmt_rate(c) if run == "C-GDM" else f"{c['rate']:.4f}")


def test_titles_read_the_quoted_columns_not_the_maps_estimate(small):
    """Where the re-measured rate differs from the map's estimate, the title follows
    the table's quoted_rate and quoted_uncertainty."""
    config, data = small
    table = {key: np.array(v, copy=True) for key, v in data.table.items()}
    k = np.flatnonzero(table["best"] & (table["run"] == "C-GDM"))[0]
    table["quoted_rate"][k], table["quoted_uncertainty"][k] = 0.123456, 0.0007
    title = [a.text for a in presets.build(config, data._replace(table=table)).layout.annotations][1]
    assert title.endswith("ρ = 0.1235 ± 0.0007") and table["rate"][k] != pytest.approx(0.123456, abs=1e-3)


def test_the_quoted_rate_is_measured_again_on_a_longer_run():
    """At this cell C-GDM's estimate settles by step 1000 (spread < 1e-3) and still moves
    by 0.016 before step 4000: the quoted rate is the later one, and its uncertainty
    covers the move."""
    setup, toy, params, start = Setup("gdm", cautious=True), get_toy("quad-k4"), dict(h1=8.0, h2=2.0), (1.0, 1.0)
    lr, beta = 0.2183464566929134, 0.15708661417322833
    res = sweep(setup, toy, [lr], [beta], 1000, tol=1e-10, start=start, toy_params=params, rate_method="estimate")
    assert res.settled[0, 0]
    quoted = quoted_best(res, setup, toy, start=start, toy_params=params)
    truth = cautious_heavy_ball_rate(lr, beta, 4000)
    assert quoted["map_rate"] == res.rate[0, 0] and abs(quoted["map_rate"] - truth) > 0.01
    assert quoted["rate"] == pytest.approx(truth, abs=1e-4)
    assert quoted["uncertainty"] >= abs(quoted["rate"] - quoted["map_rate"])
    assert quoted["recheck_steps"] == 4000 and quoted["recheck_settled"]


def test_the_apps_rate_maps_follow_the_same_conventions():
    """viz.ratemap (the app's view): red dots at each panel's minimum, grey diverged
    cells named in the legend, on a hand-made 3 x 4 map."""
    from viz.ratemap import closed_form_map, rate_maps_figure, simulated_map

    lr, beta = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 0.4, 0.8])
    rate = np.array([[0.9, 0.5, 0.7, 1.2], [0.8, 0.6, 0.4, 1.1], [0.95, 0.9, 0.85, 1.3]])
    diverged, flat = rate >= 1, np.zeros(rate.shape)
    sim = simulated_map("GDM", lr, beta, rate, diverged, flat, ~diverged)
    fig = rate_maps_figure(lr, beta, sim, simulated_map("C-GDM", lr, beta, rate[::-1], diverged[::-1], flat,
                                                         ~diverged), exact=closed_form_map("GDM", lr, beta, rate))
    dots = [tr for tr in fig.data if tr.legendgroup == "best"]
    assert [(d.x[0], d.y[0]) for d in dots] == [(0.3, 0.4), (0.3, 0.4), (0.3, 0.4)]
    assert {table_red(d) for d in dots} and dots[0].name == "best cell"
    keys = [tr for tr in fig.data if tr.type == "scatter" and tr.name and tr.name.startswith("diverged")]
    assert len(keys) == 1 and keys[0].marker.color == DIVERGED and "ρ ≥ 1" in keys[0].name
    layers = [tr for tr in fig.data if tr.type == "heatmap" and tr.name == "diverged"]
    assert layers and {tuple(c) for layer in layers for c in layer.colorscale} == {(0.0, DIVERGED), (1.0, DIVERGED)}


def test_the_apps_red_dot_on_a_simulation_is_its_best_settled_cell():
    """An unsettled cell with a smaller estimate does not take the dot (nor the text)."""
    from ui.views.rates import _best_text
    from viz.ratemap import simulated_map

    lr, beta = np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.5])
    rate = np.array([[0.9, 0.2, 0.7], [0.8, 0.6, 0.4]])
    settled = np.array([[True, False, True], [True, True, True]])       # 0.2 is still drifting
    m = simulated_map("C-GDM", lr, beta, rate, rate >= 1, np.zeros(rate.shape), settled)
    assert (m.best["lr"], m.best["beta"], m.best["rate"]) == (0.3, 0.5, 0.4)
    assert "best settled cell: ε = 0.3, β = 0.5, rate **0.4000**" in _best_text(m)
    none = simulated_map("C-GDM", lr, beta, rate, rate >= 1, np.zeros(rate.shape), np.zeros(rate.shape, bool))
    assert none.best is None and "no settled cell converged" in _best_text(none)
