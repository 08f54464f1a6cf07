"""The app's issue-7 features, driven in-process by streamlit.testing.v1.AppTest: the
cautious weight decay and basin views, noisy gradients, the typed objective and the
Learn equations of the added optimizers.  Chart data is decoded from the Plotly JSON
(tests/test_app.py) and compared with direct calls of the library."""
from __future__ import annotations

import numpy as np
import pytest

from dynamics import Setup, make_hyper, rollout
from dynamics.basins import basin_map, changed
from dynamics.decay_study import STUDY_OPTIMIZERS, decay_study
from dynamics.noisy_sweep import noisy_sweep
from dynamics.optimizers import spec_of
from dynamics.sweep import grid_axis
from tests.test_app import assert_clean, charts, checkered, decode, heatmap, new_app, show, trace
from toys import get_toy
from toys.expr import ExprError, expression_toy, parse_expression
from ui.state import NAMES
from viz.theme import DECAY_NAMES

NEW_OPTIMIZERS = ("signum", "rmsprop", "adagrad", "nadam", "amsgrad", "laprop", "adamw")
DEFAULT_GDM = dict(lr=0.01, beta=0.99)        # the sidebar's defaults


def xy(spec: dict, name: str) -> np.ndarray:
    t = trace(spec, name)
    return np.stack([decode(t["x"]), decode(t["y"])], axis=-1)


# ----------------------------------------------------------------------------- weight decay view

def test_decay_view_plots_the_decay_study():
    at = new_app({"view": "decay", "d_toy": "valley-hyperbola"}).run()
    assert_clean(at)
    study = decay_study("valley-hyperbola")
    spec = charts(at)
    for opt in STUDY_OPTIMIZERS:
        paths = spec[f"decay_paths_{opt}"]
        for mode in ("none", "decoupled", "cautious"):
            np.testing.assert_allclose(xy(paths, DECAY_NAMES[mode]), study[opt, mode].w, rtol=1e-12, atol=1e-12)
        run = study[opt, "cautious"]
        on = run.decay_on.max(axis=1) > 0
        drawn = ~np.isnan(xy(paths, f"{DECAY_NAMES['cautious']}: decay mask on")[:, 0])
        # a segment w_{t-1} -> w_t is drawn "on" exactly when the step t decayed some coordinate
        expected = np.zeros(len(on), bool)
        expected[1:] |= on[1:]
        expected[:-1] |= on[1:]
        np.testing.assert_array_equal(drawn, expected)
        assert 0 < on.sum() < len(on) - 1      # the mask switches: the figure has both pieces
    curves = spec["decay_curves"]["data"]
    # a norm that chatters is a band with its raw values in the faint trace "<name>: every step"
    names = set(DECAY_NAMES.values()) | {f"{n}: every step" for n in DECAY_NAMES.values()}
    named = [t for t in curves if t.get("name") in names]
    norms = [decode(t["y"]) for t, after in zip(named, named[1:] + [{}])
             if after.get("name") != f"{t['name']}: every step"]
    for (opt, mode), run, drawn in zip(study, study.values(), norms):
        np.testing.assert_allclose(drawn, run.norm, rtol=1e-12)
    ends = spec["decay_ends"]
    for (opt, mode), run in study.items():
        t = trace(ends, f"{NAMES[opt]}, {DECAY_NAMES[mode]}")
        np.testing.assert_allclose([decode(t["x"])[0], decode(t["y"])[0]], [run.end.set_distance, run.end.norm],
                                   rtol=1e-12)
    table = at.dataframe[0].value
    assert len(table) == 9 and list(table["final |w|"]) == [f"{r.end.norm:.5g}" for r in study.values()]


# ----------------------------------------------------------------------------- basins view

def test_basin_view_shows_the_basin_maps():
    at = new_app({"toy": "himmelblau", "view": "basins", "b_n": "16", "b_steps": "300"}).run()
    assert_clean(at)
    spec = charts(at)["basin_maps"]
    toy = get_toy("himmelblau")
    hp = make_hyper(**DEFAULT_GDM)
    maps = [basin_map(Setup("gdm", cautious=c), toy, hp, 300, n=16, radius=0.1) for c in (False, True)]
    for name, ref in zip(("GDM", "C-GDM"), maps):
        heat = trace(spec, name)
        np.testing.assert_array_equal(decode(heat["z"]), ref.index)
        np.testing.assert_allclose(decode(heat["x"]), ref.x, rtol=1e-15)
        np.testing.assert_allclose(decode(heat["y"]), ref.y, rtol=1e-15)
    np.testing.assert_array_equal(decode(trace(spec, "changed")["z"]), changed(*maps))
    assert len(set(maps[1].index.ravel())) >= 4      # the four minima each have a basin


def test_basin_view_on_a_valley_says_what_a_colour_means():
    at = new_app({"toy": "valley-line", "view": "basins", "b_n": "16", "b_steps": "100"}).run()
    assert_clean(at)
    assert any("ends on its line of minimisers" in m.value for m in at.info)
    assert any("piece of the curve it ends within" in c.value for c in at.caption)


def test_views_that_need_minima_say_so_for_a_custom_objective_and_a_saddle():
    at = new_app({"toy": "custom", "view": "basins"}).run()
    assert_clean(at)
    assert any("custom objective has no listed minimiser" in m.value for m in at.info)
    show(at, "rates")
    assert_clean(at)
    assert any("custom objective has no listed minimiser" in m.value for m in at.info)
    at = new_app({"toy": "saddle", "view": "basins"}).run()
    assert_clean(at)
    assert any("no listed minimiser" in m.value for m in at.info)


# ----------------------------------------------------------------------------- custom objective

def test_custom_expression_round_trips_through_the_url_and_is_the_expression_toy():
    text = "(1-x)^2 + 10*(y-x^2)^2"
    query = {"toy": "custom", "expr": text, "lr": "0.002", "steps": "300", "variants": "base"}
    at = new_app(query).run()
    assert_clean(at)
    assert at.query_params == query and at.text_input(key="expr").value == text
    toy = expression_toy(text)
    ref = rollout(Setup("gdm"), toy, make_hyper(lr=0.002, beta=0.99), 300, start=toy.start)
    np.testing.assert_allclose(xy(charts(at)["traj_contour"], "GDM"), ref.w, rtol=1e-12, atol=1e-12)
    again = new_app(dict(at.query_params)).run()
    assert charts(again)["traj_contour"]["data"] == charts(at)["traj_contour"]["data"]
    # typed in the sidebar: the URL and the run follow
    at.text_input(key="expr").set_value("x^2 + 3*y^2 + sin(x)").run()
    assert_clean(at)
    assert at.query_params["expr"] == "x^2 + 3*y^2 + sin(x)"
    toy = expression_toy("x^2 + 3*y^2 + sin(x)")
    ref = rollout(Setup("gdm"), toy, make_hyper(lr=0.002, beta=0.99), 300, start=toy.start)
    np.testing.assert_allclose(xy(charts(at)["traj_contour"], "GDM"), ref.w, rtol=1e-12, atol=1e-12)


HOSTILE = {"import": "__import__('os')", "attribute": "x.__class__", "nested": "(" * 10000 + "x" + ")" * 10000,
           "implicit-product": "2x", "empty": ""}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_expressions_show_the_parser_error_and_fall_back_to_the_default_toy(text):
    with pytest.raises(ExprError) as err:
        parse_expression(text)
    at = new_app({"toy": "custom", "steps": "200"}).run()
    at.text_input(key="expr").set_value(text).run()
    assert not at.exception, [e.message for e in at.exception]
    errors = " ".join(e.value for e in at.error).replace("\\", "")      # shown as text: markdown escaped
    assert str(err.value) in errors and "default toy quad-repo" in errors
    ref = rollout(Setup("gdm"), get_toy("quad-repo"), make_hyper(**DEFAULT_GDM), 200)
    np.testing.assert_allclose(xy(charts(at)["traj_contour"], "GDM"), ref.w, rtol=1e-12, atol=1e-12)
    for slug in ("rates", "continuous", "inspector", "learn", "basins"):
        show(at, slug)
        assert not at.exception, (slug, [e.message for e in at.exception])
    at.text_input(key="expr").set_value("x^2 + y^2").run()        # fixed: the error goes, the custom toy runs
    assert_clean(at)
    show(at, "trajectories")
    toy = expression_toy("x^2 + y^2")
    ref = rollout(Setup("gdm"), toy, make_hyper(**DEFAULT_GDM), 200, start=toy.start)
    np.testing.assert_allclose(xy(charts(at)["traj_contour"], "GDM"), ref.w, rtol=1e-12, atol=1e-12)


def test_a_hostile_expression_in_the_url_is_an_error_not_an_exception():
    at = new_app({"toy": "custom", "expr": "__import__('os').system('true')"}).run()
    assert not at.exception
    assert any("unknown name '__import__'" in e.value.replace("\\", "") for e in at.error)


# ----------------------------------------------------------------------------- noisy gradients

def test_noise_changes_the_path_reproducibly_with_the_seed():
    query = {"noise_sigma": "0.05", "seed": "3", "steps": "300"}
    at = new_app(query).run()
    assert_clean(at)
    toy = get_toy("quad-repo")
    setup, hp = Setup("gdm", cautious=True, noise="gaussian"), make_hyper(**DEFAULT_GDM, noise_sigma=0.05)
    ref = rollout(setup, toy, hp, 300, seed=3)
    path = xy(charts(at)["traj_contour"], "C-GDM")
    np.testing.assert_allclose(path, ref.w, rtol=1e-12, atol=1e-12)
    clean = rollout(Setup("gdm", cautious=True), toy, make_hyper(**DEFAULT_GDM), 300)
    assert np.abs(path - clean.w).max() > 1e-3                          # the noise moved the path
    again = new_app(query).run()
    np.testing.assert_array_equal(xy(charts(again)["traj_contour"], "C-GDM"), path)     # same seed, same path
    at.number_input(key="seed").set_value(4).run()
    assert at.query_params["seed"] == "4"
    other = xy(charts(at)["traj_contour"], "C-GDM")
    np.testing.assert_allclose(other, rollout(setup, toy, hp, 300, seed=4).w, rtol=1e-12, atol=1e-12)
    assert np.abs(other - path).max() > 1e-3
    show(at, "learn")
    assert_clean(at)
    ref4 = rollout(setup, toy, hp, 300, seed=4)
    text = " ".join(m.value for m in at.markdown)
    assert f"{np.nanmean(ref4.noise_drop[1:]):.3f} of the coordinates per step" in text
    assert np.nanmean(ref4.noise_drop[1:]) > 0


def test_inspector_decomposes_the_noisy_step_the_rollout_took():
    at = new_app({"view": "inspector", "i_step": "37", "noise_sigma": "0.5", "seed": "2", "steps": "100"}).run()
    assert_clean(at)
    ref = rollout(Setup("gdm", cautious=True, noise="gaussian"), get_toy("quad-repo"),
                  make_hyper(**DEFAULT_GDM, noise_sigma=0.5), 100, seed=2)
    step = trace(charts(at)["inspector"], "wₜ₊₁ − wₜ  (the step taken)")
    np.testing.assert_allclose(decode(step["x"]), ref.w[37:39, 0], rtol=1e-12)
    np.testing.assert_allclose(decode(step["y"]), ref.w[37:39, 1], rtol=1e-12)


def test_noisy_rate_map_is_the_mean_over_seeds_of_noisy_sweep():
    query = {"toy": "quad-k4", "view": "rates", "noise_sigma": "0.01", "seed": "5", "r_seeds": "3", "r_n": "16",
             "r_steps": "200", "r_lr_lo": "0.01", "r_lr_hi": "0.5", "r_lr_scale": "linear", "r_beta_hi": "0.95"}
    at = new_app(query).run()
    assert_clean(at)
    toy = get_toy("quad-k4")
    lr, beta = grid_axis(0.01, 0.5, 16), grid_axis(0.0, 0.95, 16)
    ref = noisy_sweep(Setup("gdm", cautious=True, noise="gaussian"), toy, lr, beta, 200, seeds=(5, 6, 7),
                      hp=make_hyper(noise_sigma=0.01), start=toy.start)
    spec = charts(at)["rate_maps"]
    heat = heatmap(spec, "C-GDM: simulation")
    expected = np.where(ref.diverged_fraction >= 1, np.nan, ref.rate_mean)
    np.testing.assert_allclose(decode(heat["z"]), expected, rtol=1e-12)
    # noise has no closed form; a cell is settled where every seed's fit settled
    assert [a["text"].replace("<br>", ": ") for a in spec["layout"]["annotations"]][:3] == [
        "GDM: simulation", "C-GDM: simulation", "C-GDM − GDM: simulation"]
    unsettled = ~ref.settled.all(axis=0) & (ref.diverged_fraction < 1)
    marked = checkered(spec, "x2")
    np.testing.assert_array_equal(marked if marked is not None else np.zeros_like(unsettled), unsettled)
    np.testing.assert_allclose(decode(heat["customdata"])[..., 3], ref.rate_uncertainty.mean(axis=0), rtol=1e-6)
    drop = float(np.mean(ref.noise_drop.mean(axis=0)[ref.diverged_fraction < 1]))
    assert any(f"{drop:.3f} of the coordinates per step" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- learn view

def test_learn_view_writes_the_update_rule_of_each_added_optimizer():
    at = new_app({"view": "learn", "opt": ",".join(NEW_OPTIMIZERS), "variants": "base", "steps": "50"}).run()
    assert_clean(at)
    for opt in NEW_OPTIMIZERS:
        at.selectbox(key="focus").set_value(NAMES[opt]).run()
        assert_clean(at)
        assert any(spec_of(opt).equations(Setup(opt)).update in e.body for e in at.latex), opt
        assert any("No flow" in c.value for c in at.caption), opt
