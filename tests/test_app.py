"""The Streamlit app, driven in-process by streamlit.testing.v1.AppTest.

Chart data is read from each st.plotly_chart's JSON spec (NumPy arrays arrive as
base64 typed arrays) and checked against direct calls of the library (dynamics.rollout,
dynamics.sweep): the app must plot the numbers the library computes.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dynamics import Setup, make_hyper, rollout
from dynamics.rollout import compiled_rollout
from dynamics.sweep import grid_axis, sweep
from toys import get_toy
from ui.presets import PRESETS, preset_values
from ui.state import FIELDS, defaults, parse_query, to_query
from ui.views import VIEWS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NO_PLOT_VIEWS = {"claims", "compare"}     # every other view draws at least one Plotly chart (compare: once pinned)
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def new_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(query or {})
    return at


def decode(value) -> np.ndarray:
    """A Plotly JSON array as floats: a (nested) list with null for NaN, or a base64
    typed array {"dtype", "bdata", "shape"} (how plotly writes NumPy arrays)."""
    if isinstance(value, dict):
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).astype(float)
        return arr.reshape([int(n) for n in value["shape"].split(",")]) if "shape" in value else arr
    return np.array(json.loads(json.dumps(value).replace("null", "NaN")), dtype=float)


def charts(at: AppTest) -> dict[str, dict]:
    return {el.key: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def show(at: AppTest, slug: str) -> AppTest:
    at.session_state["_tab"] = next(v.label for v in VIEWS if v.slug == slug)
    return at.run()


# ----------------------------------------------------------------------------- state (pure)

def test_defaults_write_an_empty_query_and_values_round_trip():
    assert to_query(defaults()) == {}
    values = defaults("rosenbrock")
    values.update(lr=0.00123, beta=0.5, opt=("adam", "gdm"), variants="cautious", sx=-1.5, sy=2.25, p_b=50.0,
                  r_n=16, dampening=True, present=True)
    query = to_query(values)
    assert query["toy"] == "rosenbrock" and query["start"] == "-1.5,2.25" and query["opt"] == "adam,gdm"
    parsed, warnings = parse_query(query)
    assert warnings == [] and parsed == values


def test_parse_query_rejects_each_bad_value_with_a_warning():
    bad = {"lr": "abc", "beta": "1.5", "steps": "2.5", "opt": "gdm,nope", "start": "1", "p_h1": "-3",
           "p_b": "2", "r_lr_lo": "5", "r_lr_hi": "1", "mystery": "1", "dtype": "float16", "focus": "C-Adam"}
    values, warnings = parse_query(bad)
    base = defaults()
    for key in ("lr", "beta", "steps", "opt", "dtype", "r_lr_lo", "r_lr_hi", "p_h1", "focus"):
        assert values[key] == base[key], key
    assert (values["sx"], values["sy"]) == (base["sx"], base["sy"])
    text = "\n".join(warnings)
    for key in ("lr=", "beta=", "steps=", "opt=", "start=", "p_h1=", "'p_b'", "'mystery'", "dtype=", "r_lr_lo",
                "focus="):
        assert key in text, key
    assert len(warnings) == 11          # r_lr_lo and r_lr_hi: one warning for the pair


# ----------------------------------------------------------------------------- the app

@pytest.fixture(scope="module")
def default_app():
    at = new_app().run()
    assert_clean(at)
    return at


def test_default_view_plots_what_dynamics_computes(default_app):
    spec = charts(default_app)["traj_contour"]
    toy = get_toy("quad-repo")
    for label, cautious in (("GDM", False), ("C-GDM", True)):
        ref = rollout(Setup("gdm", cautious=cautious), toy, make_hyper(lr=0.01, beta=0.99), 1000)
        line = trace(spec, label)
        np.testing.assert_allclose(decode(line["x"]), ref.w[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(decode(line["y"]), ref.w[:, 1], rtol=1e-12, atol=1e-12)
    assert len(spec["frames"]) >= 30 and spec["layout"]["sliders"][0]["steps"]
    curves = charts(default_app)["traj_curves"]
    rises = trace(curves, next(t["name"] for t in curves["data"] if t["name"].startswith("GDM: L rose")))
    ref = rollout(Setup("gdm"), toy, make_hyper(lr=0.01, beta=0.99), 1000)
    expected = np.nonzero(np.diff(ref.loss) > 0)[0] + 1
    np.testing.assert_array_equal(decode(rises["x"]), expected)
    # C-GDM: rises above 1e-12 L(w_0) = 1e-12 (25 + 2.5) only (six more, of 1e-15 and less, are not counted)
    ref = rollout(Setup("gdm", cautious=True), toy, make_hyper(lr=0.01, beta=0.99), 1000)
    expected = np.nonzero(np.diff(ref.loss) > 1e-12 * 27.5)[0] + 1
    rises = trace(curves, f"C-GDM: L rose by > 1e-12 L(w₀): {len(expected)} steps")
    np.testing.assert_array_equal(decode(rises["x"]), expected)
    assert len(expected) == 4 and np.sum(np.diff(ref.loss) > 0) == 10
    table = default_app.dataframe[0].value
    assert list(table["steps where L rose by > 1e-12 L(w₀)"]) == [484, 4]


def test_the_rise_threshold_is_a_setting_every_count_reads():
    """rise_rel = 0 in the URL: every rise counts (C-GDM: 10 of 1000 steps) in the legend,
    the table, the Learn tab and the inspector's jump button."""
    at = new_app({"rise_rel": "0"}).run()
    assert_clean(at)
    assert trace(charts(at)["traj_curves"], "C-GDM: L rose by > 0 L(w₀): 10 steps")
    assert list(at.dataframe[0].value["steps where L rose by > 0 L(w₀)"]) == [484, 10]
    show(at, "learn")
    assert any("C-GDM: L rose by more than 0 L(w₀) at 10 of 1000 steps" in m.value for m in at.markdown)
    show(at, "inspector")
    assert at.button(key="_next_rise").label == "next L rise (of 10)"


def test_moving_a_slider_changes_the_chart_and_compiles_nothing(default_app):
    at = default_app
    before = charts(at)["traj_contour"]
    programs = compiled_rollout.cache_info().currsize
    compiles = []
    listener = lambda event, duration, **kw: compiles.append(event) if event == COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        at.slider(key="beta").set_value(0.9).run()
        at.number_input(key="lr").set_value(0.02).run()
        assert_clean(at)
        assert compiles == [] and compiled_rollout.cache_info().currsize == programs
        at.slider(key="steps").set_value(999).run()       # a step count in the same bucket (1024) compiles nothing
        assert_clean(at)
        assert compiles == [] and compiled_rollout.cache_info().currsize == programs
        assert decode(trace(charts(at)["traj_contour"], "GDM")["x"]).shape == (1000,)
        at.slider(key="steps").set_value(1025).run()      # control: the next bucket compiles
        assert compiles and compiled_rollout.cache_info().currsize > programs
        at.slider(key="steps").set_value(1000).run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    after = charts(at)["traj_contour"]
    ref = rollout(Setup("gdm"), get_toy("quad-repo"), make_hyper(lr=0.02, beta=0.9), 1000)
    np.testing.assert_allclose(decode(trace(after, "GDM")["x"]), ref.w[:, 0], rtol=1e-12, atol=1e-12)
    assert not np.allclose(decode(trace(before, "GDM")["x"]), decode(trace(after, "GDM")["x"]))
    assert at.query_params["lr"] == "0.02" and at.query_params["beta"] == "0.9"


def test_query_params_round_trip():
    query = {"toy": "rosenbrock", "p_b": "50.0", "start": "-1.0,2.0", "opt": "adam,gdm", "lr": "0.002",
             "beta": "0.8", "steps": "300", "variants": "cautious", "mask": "inner", "view": "inspector",
             "i_step": "7", "present": "true"}
    at = new_app(query).run()
    assert_clean(at)
    assert not at.warning
    assert at.session_state["_tab"] == "Step inspector" and at.session_state["i_step"] == 7
    assert at.session_state["opt"] == ["adam", "gdm"] and at.session_state["p_b"] == 50.0
    assert at.query_params == query                      # written back unchanged
    spec = charts(at)["inspector"]
    assert spec["layout"]["font"]["size"] == 18          # presentation mode
    again = new_app(dict(at.query_params)).run()         # the link reproduces the view
    assert charts(again)["inspector"]["data"] == spec["data"]


def test_bad_query_params_warn_and_fall_back_to_defaults():
    at = new_app({"toy": "nope", "lr": "abc", "start": "1", "opt": "gdm,foo", "view": "bogus",
                  "r_lr_lo": "5", "r_lr_hi": "1"}).run()
    assert_clean(at)
    text = " ".join(w.value for w in at.warning).replace("\\", "")     # shown as text: markdown escaped
    for key in ("toy=", "lr=", "start=", "opt=", "view=", "r_lr_lo"):
        assert key in text, key
    base = defaults()
    for key in ("toy", "lr", "sx", "sy", "r_lr_lo", "r_lr_hi"):
        assert at.session_state[key] == base[key], key
    assert at.session_state["_tab"] == "Trajectories" and "traj_contour" in charts(at)
    assert at.query_params == {}                          # the URL is rewritten to the defaults
    at.run()
    assert not at.warning                                 # the warning is shown once


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_in_every_view(preset):
    at = new_app().run()
    at.selectbox(key="_preset").set_value(preset).run()
    assert_clean(at)
    values, view = preset_values(preset)
    for key in ("toy", "lr", "beta", "steps", "variants"):
        assert at.session_state[key] == values[key], key
    assert at.session_state["_tab"] == next(v.label for v in VIEWS if v.slug == view)
    for v in VIEWS:
        show(at, v.slug)
        assert_clean(at)
        if v.slug not in NO_PLOT_VIEWS:
            assert charts(at), v.slug


def heatmap(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t["type"] == "heatmap" and t.get("name") == name)


FIG3_SMALL = {"toy": "quad-k4", "view": "rates", "r_n": "16", "r_steps": "300", "r_lr_lo": "0.01", "r_lr_hi": "0.5",
              "r_lr_scale": "linear", "r_beta_hi": "0.95"}


def test_rate_map_matches_the_sweep_and_a_cell_loads_into_the_trajectories():
    at = new_app(FIG3_SMALL).run()
    assert_clean(at)
    spec = charts(at)["rate_maps"]
    heat = heatmap(spec, "C-GDM: simulation")
    lr, beta = grid_axis(0.01, 0.5, 16), grid_axis(0.0, 0.95, 16)
    ref = sweep(Setup("gdm", cautious=True), get_toy("quad-k4"), lr, beta, 300, start=get_toy("quad-k4").start)
    np.testing.assert_allclose(decode(heat["z"]), np.where(ref.diverged, np.nan, ref.rate), rtol=1e-12)
    at.select_slider(key="_pick_lr").set_value(3).run()
    at.select_slider(key="_pick_beta").set_value(5).run()
    at.button(key="_load_cell").click().run()
    assert_clean(at)
    assert at.session_state["lr"] == pytest.approx(lr[3]) and at.session_state["beta"] == pytest.approx(beta[5])
    assert at.session_state["_tab"] == "Trajectories"
    show(at, "rates")
    at.selectbox(key="r_n").set_value(32).run()
    heat = heatmap(charts(at)["rate_maps"], "GDM: simulation")
    assert decode(heat["z"]).shape == (32, 32)


def test_a_new_step_count_of_the_rate_maps_compiles_nothing():
    at = new_app(dict(FIG3_SMALL, r_steps="280")).run()
    assert_clean(at)
    compiles = []
    listener = lambda event, duration, **kw: compiles.append(event) if event == COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        at.number_input(key="r_steps").set_value(300).run()      # 280 and 300: one bucket (512)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert_clean(at)
    assert compiles == []
    lr, beta = grid_axis(0.01, 0.5, 16), grid_axis(0.0, 0.95, 16)
    ref = sweep(Setup("gdm", cautious=True), get_toy("quad-k4"), lr, beta, 300, start=get_toy("quad-k4").start)
    heat = heatmap(charts(at)["rate_maps"], "C-GDM: simulation")
    np.testing.assert_allclose(decode(heat["z"]), np.where(ref.diverged, np.nan, ref.rate), rtol=1e-12)


def checkered(spec: dict, axis: str) -> np.ndarray | None:
    """The cells of the checkered "not settled" layer on the panel of ``axis`` (x, x2,
    ...): the layer marks the half-cells (2i, 2j) of every unsettled cell (i, j)."""
    layer = [t for t in spec["data"] if t["type"] == "heatmap" and t.get("name", "").startswith("not settled")
             and t.get("xaxis", "x") == axis]
    return None if not layer else decode(layer[0]["z"])[0::2, 0::2] == 1


def test_rates_view_shows_the_closed_form_beside_the_simulation_and_marks_unsettled_cells():
    """Issue 10: GDM on w1^2 + 4 w2^2 has a closed form, drawn beside GDM's simulated map;
    the caption's max |estimate - exact| is the one of the two panels; cells whose
    estimate has not settled are checkered and counted; red dots come from each
    panel's own rates."""
    at = new_app(FIG3_SMALL).run()
    assert_clean(at)
    spec = charts(at)["rate_maps"]
    titles = [a["text"].replace("<br>", ": ") for a in spec["layout"]["annotations"]]
    panels = ["GDM: closed form", "GDM: simulation", "C-GDM: simulation", "C-GDM − GDM: simulation"]
    assert titles[:4] == panels
    assert [heatmap(spec, name).get("xaxis", "x") for name in panels] == ["x", "x2", "x3", "x4"]
    toy = get_toy("quad-k4")
    lr, beta = grid_axis(0.01, 0.5, 16), grid_axis(0.0, 0.95, 16)
    base, caut = (sweep(Setup("gdm", cautious=c), toy, lr, beta, 300, start=toy.start) for c in (False, True))
    assert base.rate_exact is not None and caut.rate_exact is None
    exact, simulated = decode(heatmap(spec, panels[0])["z"]), decode(heatmap(spec, panels[1])["z"])
    np.testing.assert_allclose(exact, np.where(base.rate_exact < 1, base.rate_exact, np.nan), rtol=1e-12)
    np.testing.assert_allclose(simulated, np.where(base.diverged, np.nan, base.rate_estimate), rtol=1e-12)
    assert not np.allclose(exact, simulated, equal_nan=True)           # two different maps
    diff = decode(heatmap(spec, panels[3])["z"])
    expected = np.where(caut.diverged, 1, caut.rate_estimate) - np.where(base.diverged, 1, base.rate_estimate)
    np.testing.assert_allclose(diff, np.where(base.diverged & caut.diverged, np.nan, expected), rtol=1e-12, atol=1e-15)
    caption = " ".join(c.value for c in at.caption)
    gap = float(np.nanmax(np.abs(simulated - exact)))
    assert 0 < gap < 0.05 and f"max |estimate − exact| = {gap:.1e}" in caption
    # unsettled cells: checkered where the sweep says so, counted in the caption
    for axis, res, label in (("x2", base, "GDM"), ("x3", caut, "C-GDM")):
        expected = ~res.settled & ~res.diverged
        marked = checkered(spec, axis)
        np.testing.assert_array_equal(marked if marked is not None else np.zeros_like(expected), expected)
        assert f"{label} {int(expected.sum())}" in caption
    assert (~caut.settled & ~caut.diverged).any()                      # C-GDM has unsettled cells here
    assert checkered(spec, "x") is None                                # a closed form is never unsettled
    assert any(t.get("name") == "checkered: not settled (spread > 1e-3)" for t in spec["data"])
    heat = heatmap(spec, panels[2])
    assert "±" in heat["hovertemplate"] and "%{text}" in heat["hovertemplate"]
    text = np.array(heat["text"])
    assert set(text[~caut.settled & ~caut.diverged]) == {"not settled"}
    assert set(text[caut.settled & ~caut.diverged]) == {"settled"}
    # red dots: the best cell of each panel's own rates (of a simulation: among its settled cells)
    dots = [t for t in spec["data"] if t.get("legendgroup") == "best"]
    for dot, rate, div in zip(dots, (base.rate_exact, base.rate_estimate, caut.rate_estimate),
                              (base.rate_exact >= 1, base.diverged | ~base.settled, caut.diverged | ~caut.settled)):
        i, j = np.unravel_index(np.argmin(np.where(div, np.inf, rate)), rate.shape)
        assert (dot["x"], dot["y"]) == (pytest.approx([lr[j]]), pytest.approx([beta[i]]))
    assert [d.get("xaxis", "x") for d in dots] == ["x", "x2", "x3"]
    assert any("docs/theory.md, Section 5" in m.value for m in at.markdown)
    assert not any("DESIGN.md" in m.value for m in [*at.markdown, *at.caption])


def test_rates_view_without_a_closed_form_has_three_panels():
    at = new_app({**FIG3_SMALL, "opt": "adam", "variants": "both", "lr": "0.05", "beta": "0.9"}).run()
    assert_clean(at)
    spec = charts(at)["rate_maps"]
    assert [a["text"].replace("<br>", ": ") for a in spec["layout"]["annotations"]][:3] == [
        "Adam: simulation", "C-Adam: simulation", "C-Adam − Adam: simulation"]
    assert not any("closed form" in t.get("name", "") for t in spec["data"])
    assert not any("max |estimate − exact|" in c.value for c in at.caption)


def test_divergence_and_extreme_settings_are_messages_not_exceptions():
    at = new_app({"lr": "50.0", "steps": "200"}).run()
    assert_clean(at)
    assert any("diverged at step" in w.value for w in at.warning)
    for slug in ("continuous", "inspector", "learn"):
        show(at, slug)
        assert_clean(at)
    at = new_app({"view": "rates", "r_lr_lo": "50.0", "r_lr_hi": "100.0", "r_n": "16", "r_steps": "100"}).run()
    assert_clean(at)
    assert any("no cell converged" in m.value for m in at.markdown)
    at = new_app({"toy": "saddle", "view": "rates"}).run()
    assert_clean(at)
    assert any("no minimiser" in m.value for m in at.info)
    show(at, "trajectories")
    assert_clean(at)


def test_fields_cover_every_widget_key():
    """Every widget bound to state has a Field (so it reaches the URL), and vice versa."""
    at = new_app().run()
    keys = {w.key for w in at.sidebar if getattr(w, "key", None) and not str(w.key).startswith("_")}
    state_keys = set(FIELDS) | {"sx", "sy"} | {k for k in defaults() if k.startswith("p_")}
    assert keys <= state_keys


def test_inspector_draws_the_step_the_rollout_took_and_jumps_to_masked_steps():
    at = new_app({"view": "inspector", "i_step": "37"}).run()
    assert_clean(at)
    ref = rollout(Setup("gdm", cautious=True), get_toy("quad-repo"), make_hyper(lr=0.01, beta=0.99), 1000)
    step = trace(charts(at)["inspector"], "wₜ₊₁ − wₜ  (the step taken)")
    np.testing.assert_allclose(decode(step["x"]), ref.w[37:39, 0], rtol=1e-12)
    np.testing.assert_allclose(decode(step["y"]), ref.w[37:39, 1], rtol=1e-12)
    at.button(key="_next_mask").click().run()
    t = at.session_state["i_step"]
    masked = np.nonzero((ref.mask[1:] == 0).any(axis=1))[0]      # row t+1 of mask: the step t -> t+1
    assert t == masked[masked > 37][0]
    # the next step t -> t+1 where L rose by more than 1e-12 L(w_0) = 2.75e-11: 223 (L rose at 224)
    rose = np.nonzero(np.diff(ref.loss) > 1e-12 * 27.5)[0]
    assert at.button(key="_next_rise").label == f"next L rise (of {len(rose)})"
    at.session_state["i_step"] = 100
    at.button(key="_next_rise").click().run()
    assert at.session_state["i_step"] == rose[rose > 100][0] == 223
    assert any("L rose at this step" in w.value for w in at.warning)
    at.session_state["i_step"] = 525                            # L rose by 1e-15 (< 2.75e-11) from 525 to 526
    at.run()
    assert ref.loss[526] > ref.loss[525] and not any("L rose at this step" in w.value for w in at.warning)


def test_rate_map_reports_progress_block_by_block():
    from ui import compute
    from ui.state import runs_of

    calls = []
    spec = runs_of(defaults("quad-k4"))[1]
    out = compute.rate_map(spec, grid_axis(0.01, 0.5, 128), grid_axis(0.0, 0.95, 128), 50,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 128), (32, 128), (64, 128), (96, 128), (128, 128)]      # 4096-cell blocks
    assert out["rate"].shape == (128, 128)


def test_trajectory_summary_rate_is_the_late_window_fit_of_log_distance():
    from dynamics.rates import distance_rate
    from ui import compute
    from ui.state import runs_of

    toy = get_toy("quad-k4")
    for steps, settled in ((300, True), (10, False)):           # 10 steps: a window of 6 points cannot settle
        spec = runs_of({**defaults("quad-k4"), "lr": 0.2, "beta": 0.1, "steps": steps})[0]
        traj = compute.trajectory(spec)
        points, l_star = compute.minima(spec.toy, spec.toy_params)
        s = compute.summarize(spec, traj, points, l_star, 1e-12)
        ref = distance_rate(np.linalg.norm(traj["w"] - toy.minima(toy.params())[0], axis=-1), 1e-10, traj["loss"])
        assert (s.rate, s.rate_uncertainty, s.rate_settled) == (ref.rate, ref.uncertainty, ref.settled)
        assert s.rate_settled is settled
        assert compute.rate_text(s).endswith("(not settled)") is not settled
        assert compute.rate_text(s).startswith(f"{ref.rate:.4f} ± ")
    diverged = runs_of({**defaults("quad-k4"), "lr": 5.0, "steps": 100})[0]
    s = compute.summarize(diverged, compute.trajectory(diverged), *compute.minima("quad-k4", diverged.toy_params),
                          1e-12)
    assert s.diverged_at is not None and s.rate is None and compute.rate_text(s) == "—"
