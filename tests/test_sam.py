"""Sharpness-aware minimization (dynamics.sam): SAM's iterates against loops written by
hand in NumPy (gradients of Rosenbrock derived by hand, SAM's ascent w + rho g/|g|),
with optax's own sgd/adam, or the registry's base transform, fed those gradients; the
cautious mask compares u with the gradient at w; a new rho compiles nothing; the
settings reach the command line, configuration files and the URL; ODE mode refuses
SAM; the claims' verdicts follow their numbers."""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cli.main import main
from dynamics.anatomy import step_anatomy
from dynamics.basins import basin_map
from dynamics.claims_base import FAILS, HOLDS, ClaimSettings
from dynamics.claims_sam import checks_sam, fewer_sharp, more_flat
from dynamics.config import OPTIMIZERS, Setup, make_hyper
from dynamics.configfile import dumps, loads, run_template, setup_hyper
from dynamics.noise import step_noise
from dynamics.ode import integrate
from dynamics.optimizers import base_transform
from dynamics.rollout import rollout
from dynamics.sam import NO_FLOW, unit_direction
from figures import presets
from tests.test_horizon import Compiles
from tests.test_settings import cli_config
from toys import get_toy
from ui.state import parse_query, runs_of, to_query

ROSEN = get_toy("rosenbrock")            # (1 - x)^2 + 100 (y - x^2)^2
STEPS = 25


def rosen_grad(w):
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def sam_grad(w, rho):
    """grad L(w + rho g/|g|), g = grad L(w) (by hand)."""
    g = rosen_grad(w)
    return rosen_grad(w + rho * g / np.linalg.norm(g))


def optax_loop(opt, rho, steps=STEPS, start=ROSEN.start):
    """w_t of an optax optimizer fed SAM's gradients computed by hand."""
    w = np.asarray(start, float)
    state = opt.init(jnp.asarray(w))
    out = [w]
    for _ in range(steps):
        upd, state = opt.update(jnp.asarray(sam_grad(w, rho)), state, jnp.asarray(w))
        w = w + np.asarray(upd)
        out.append(w)
    return np.array(out)


def test_sgd_sam_ascends_then_steps_from_w():
    lr, rho = 1e-3, 0.1
    w, expected = np.asarray(ROSEN.start, float), [np.asarray(ROSEN.start, float)]
    for _ in range(STEPS):
        w = w - lr * sam_grad(w, rho)
        expected.append(w)
    got = rollout(Setup("gd", sam=True), ROSEN, make_hyper(lr=lr, rho=rho), STEPS).w
    np.testing.assert_allclose(got, np.array(expected), rtol=0, atol=1e-12)
    plain = rollout(Setup("gd"), ROSEN, make_hyper(lr=lr), STEPS).w
    assert np.abs(plain[-1] - got[-1]).max() > 1e-3          # SAM is not the base optimizer


@pytest.mark.parametrize("optimizer, opt", [
    ("gdm", lambda lr, b, b2: optax.sgd(lr, momentum=b)),
    ("adam", lambda lr, b, b2: optax.adam(lr, b1=b, b2=b2, eps=1e-8)),
])
def test_gdm_and_adam_sam_are_optax_fed_sam_gradients(optimizer, opt):
    lr, beta, beta2, rho = 1e-3, 0.9, 0.999, 0.05
    got = rollout(Setup(optimizer, sam=True), ROSEN, make_hyper(lr=lr, beta=beta, beta2=beta2, rho=rho), STEPS).w
    np.testing.assert_allclose(got, optax_loop(opt(lr, beta, beta2), rho), rtol=0, atol=1e-12)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_takes_sam(optimizer):
    """The registry's base direction fed SAM's gradients in a hand loop, w <- w - eps u."""
    setup, hp = Setup(optimizer, sam=True), make_hyper(lr=1e-3, rho=0.05, beta2=0.99)
    base = base_transform(setup, hp)
    w = np.asarray(ROSEN.start, float)
    state, rows = base.init(jnp.asarray(w)), [w]
    for _ in range(8):
        u, state = base.update(jnp.asarray(sam_grad(w, 0.05)), state, jnp.asarray(w))
        w = w - 1e-3 * np.asarray(u) - (1e-3 * float(hp.wd) * w if setup.decay == "decoupled" else 0)
        rows.append(w)
    np.testing.assert_allclose(rollout(setup, ROSEN, hp, 8).w, np.array(rows), rtol=0, atol=1e-12)


def test_cautious_sam_masks_against_the_gradient_at_w():
    w0, lr, rho = np.array([0.0, 0.1]), 1e-3, 0.2
    g, u = rosen_grad(w0), sam_grad(w0, rho)        # g = (-2, 20); u = (0.337..., 59.7...)
    assert np.sign(u[0]) != np.sign(g[0]) and np.sign(u[1]) == np.sign(g[1])
    # against g(w): phi = (0, 1), alpha = 1/mean(phi) = 2; against u itself phi would be (1, 1)
    expected = w0 - lr * 2 * np.array([0.0, u[1]])
    run = rollout(Setup("gd", sam=True, cautious=True), ROSEN, make_hyper(lr=lr, rho=rho), 1, start=w0)
    np.testing.assert_allclose(run.w[1], expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(run.mask[1], [0.0, 1.0])


def test_zero_gradient_gives_no_perturbation():
    np.testing.assert_array_equal(np.asarray(unit_direction(jnp.zeros(2))), [0.0, 0.0])
    tiny = jnp.asarray([3e-200, -4e-200])         # |g|^2 underflows; g/|g| must not
    np.testing.assert_allclose(np.asarray(unit_direction(tiny)), [0.6, -0.8], rtol=1e-15)
    quad = get_toy("quadratic")
    run = rollout(Setup("gdm", sam=True), quad, make_hyper(lr=0.1, rho=0.5), 5, start=(0.0, 0.0))
    np.testing.assert_array_equal(run.w, 0.0)


def test_a_new_rho_compiles_nothing():
    setup = Setup("adam", sam=True, cautious=True)
    rollout(setup, ROSEN, make_hyper(lr=1e-3, rho=0.1), 30)
    with Compiles() as c:
        a = rollout(setup, ROSEN, make_hyper(lr=1e-3, rho=0.3), 30)
    assert c.count == 0 and np.all(np.isfinite(a.w))


def test_noisy_sam_adds_the_same_draw_at_the_perturbed_point():
    """g~ = g + sigma z_t at w; the step uses grad L(w + rho g~/|g~|) + sigma z_t."""
    lr, rho, sigma, steps = 1e-3, 0.1, 0.5, 10
    noisy = rollout(Setup("gd", sam=True, noise="gaussian"), ROSEN, make_hyper(lr=lr, rho=rho, noise_sigma=sigma),
                    steps, seed=3)
    zs = np.asarray(step_noise(np.uint32(3), steps, jnp.zeros(2)))
    w = np.asarray(ROSEN.start, float)
    for t in range(steps):
        noise = sigma * zs[t]
        g_used = rosen_grad(w) + noise
        w = w - lr * (rosen_grad(w + rho * g_used / np.linalg.norm(g_used)) + noise)
        np.testing.assert_allclose(noisy.w[t + 1], w, rtol=0, atol=1e-12)


def test_settings_reach_the_cli_config_files_and_the_url(capsys):
    config = cli_config("--sam", "--rho", "0.3", "--optimizer", "adam")
    assert config["sam"] is True and config["rho"] == 0.3
    assert "sam" not in cli_config() and "rho" not in cli_config()      # SAM off: the config as before
    for argv in (["--rho", "-0.1"], ["--rho", "nan"]):
        assert main(["run", "--sam", *argv]) == 2
        text = capsys.readouterr().err
        assert text.count("\n") == 1 and "argument --rho: must be " in text
    setup, hp = setup_hyper(run_template("r", optimizer="gdm", sam=True, rho=0.25))
    assert setup.sam and float(hp.rho) == 0.25
    query = {"sam": "true", "rho": "0.3", "opt": "adam"}
    values, warnings = parse_query(query)
    assert warnings == [] and to_query(values) == query
    assert all(spec.setup.sam and spec.hyper.rho == 0.3 for spec in runs_of(values))
    assert parse_query({"rho": "-1"})[1][0].startswith("URL parameter rho=")


def test_ode_mode_refuses_sam(capsys):
    with pytest.raises(ValueError, match="SAM has no ODE mode"):
        integrate(Setup("gd", sam=True), ROSEN, make_hyper(), 10)
    assert main(["run", "--sam", "--mode", "ode"]) == 2
    assert capsys.readouterr().err == f"python -m dynamics run: error: argument --sam: {NO_FLOW}\n"


def test_a_basin_cell_is_the_roll_out_from_its_start():
    toy, setup, hp = get_toy("two-wells"), Setup("gd", sam=True), make_hyper(lr=0.05, rho=0.3)
    m = basin_map(setup, toy, hp, 200, n=3, radius=0.25)
    for i, j in ((0, 0), (1, 2), (2, 1)):
        run = rollout(setup, toy, hp, 200, start=(m.x[j], m.y[i]))
        np.testing.assert_allclose(m.final[i, j], run.w[-1], rtol=0, atol=1e-9)


def _measured(base_sharp, base_flat, sam_rows):
    row = lambda sharp, flat: dict(sharp=sharp, flat=flat, neither=1 - sharp - flat)
    return {"gd": {"lr": 0.05, "base": row(base_sharp, base_flat),
                   **{f"rho={0.1 * (k + 1):g}": row(*r) for k, r in enumerate(sam_rows)}}}


def test_the_claims_verdict_rules_flip_with_their_numbers():
    good = _measured(0.3, 0.7, [(0.2, 0.75), (0.1, 0.8), (0.0, 0.9)])
    assert fewer_sharp(good) and more_flat(good)
    assert not fewer_sharp(_measured(0.3, 0.7, [(0.2, 0.75), (0.25, 0.75)]))      # grows with rho
    assert not fewer_sharp(_measured(0.3, 0.7, [(0.3, 0.7)]))                      # not below the base
    assert not more_flat(_measured(0.3, 0.7, [(0.2, 0.75), (0.0, 0.65)]))          # one rho below the base


def test_the_sam_claims_are_measured_live():
    s = dataclasses.replace(ClaimSettings(), sam_optimizers=("gd",), sam_lrs=(0.05,), sam_rhos=(0.3, 0.8), sam_grid=12,
                            sam_steps=1000)
    sharp, flat = checks_sam(s)
    m = sharp.measured["gd"]
    assert list(m) == ["lr", "base", "rho=0.3", "rho=0.8"]
    assert all(abs(r["sharp"] + r["flat"] + r["neither"] - 1) < 1e-12 for k, r in m.items() if k != "lr")
    assert all(0 <= r["diverged"] <= r["neither"] for k, r in m.items() if k != "lr")
    assert sharp.verdict == (HOLDS if fewer_sharp(sharp.measured) else FAILS)
    assert flat.verdict == (HOLDS if more_flat(flat.measured) else FAILS)
    assert sharp.kind == flat.kind == "project observation" and sharp.quote is None


def test_the_app_compares_basins_without_and_with_sam_and_shows_the_rule():
    from tests.test_app import assert_clean, charts, new_app, show

    query = {"toy": "two-wells", "opt": "gd", "variants": "base", "lr": "0.05", "sam": "true", "rho": "0.5",
             "b_pair": "sam", "b_n": "16", "b_steps": "300"}
    at = show(new_app(query).run(), "basins")
    assert_clean(at)
    titles = [a["text"] for a in charts(at)["basin_maps"]["layout"]["annotations"]]
    assert titles[:2] == ["GD: basins", "GD-SAM (ρ = 0.5): basins"]
    at = show(at, "trajectories")
    assert_clean(at)
    assert any("Every run uses SAM (ρ = 0.5)" in m.value for m in at.info)
    at = show(at, "inspector")                  # the step anatomy replays SAM's second gradient
    assert_clean(at)
    at = show(at, "learn")
    assert_clean(at)
    assert any("\\tilde g_t" in el.body for el in at.get("latex")) and any("SAM has no ODE mode" in c.value
                                                                          for c in at.caption)


def test_sam_counts_two_gradients_per_step_in_the_work_budget():
    from dynamics.budget import grid_cost, runs_cost

    assert runs_cost("r", 100, 3, sam=True).work == 2 * runs_cost("r", 100, 3).work == 600
    assert grid_cost("g", (4, 5), 10, sam=True).work == 2 * grid_cost("g", (4, 5), 10).work == 400
    assert "2 gradients per step (SAM)" in runs_cost("r", 100, sam=True).formula
    assert "SAM" not in runs_cost("r", 100).formula


def test_clipping_clips_both_of_sams_gradients():
    """GD-SAM with clipping (c = 1, Rosenbrock's gradients are far larger): by hand,
    w <- w - lr clip(grad L(w + rho n)), n = clip(g)/|clip(g)| = g/|g|, clip(x) = x min(1, c/|x|)."""
    lr, rho, c = 1e-2, 0.1, 1.0
    clip = lambda x: x * min(1.0, c / np.linalg.norm(x))
    w, ref = np.asarray(ROSEN.start, float), [np.asarray(ROSEN.start, float)]
    for _ in range(STEPS):
        w = w - lr * clip(sam_grad(w, rho))
        ref.append(w)
    run = rollout(Setup("gd", sam=True, clip=True), ROSEN, make_hyper(lr=lr, rho=rho, clip_norm=c), STEPS)
    np.testing.assert_allclose(run.w, np.array(ref), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("setup", [Setup("gdm", sam=True, cautious=True),
                                   Setup("adam", sam=True, cautious=True, clip=True, noise="gaussian",
                                         schedule="warmup-cosine")], ids=["c-gdm", "c-adam-clip-noise-schedule"])
def test_the_step_anatomy_of_a_sam_run_is_its_steps(setup):
    """The Step inspector's anatomy recomputes SAM's gradient at the perturbed point: its
    steps are the roll-out's w_{t+1} - w_t and its masks the roll-out's."""
    hp = make_hyper(lr=1e-3, beta=0.9, rho=0.05, clip_norm=5.0, noise_sigma=0.5, warmup=5.0)
    run = rollout(setup, ROSEN, hp, STEPS, seed=3)
    an = step_anatomy(setup, hp, run, seed=3, toy=ROSEN)
    np.testing.assert_allclose(an.step, np.diff(run.w, axis=0), rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(an.mask, run.mask[1:])
    with pytest.raises(ValueError, match="needs its toy"):
        step_anatomy(setup, hp, run, seed=3)


def test_figure_configuration_files_carry_sam():
    """A figure file's run may say sam and rho (optional keys, like the schedule's); a run
    without them is a run without SAM."""
    config = presets.default_config("fig2")
    config["runs"][0].update(sam=True, rho=0.2)
    back, _ = loads(dumps(config))
    assert presets.validate(back) == []
    setup, hp = setup_hyper(back["runs"][0])
    assert setup.sam and float(hp.rho) == 0.2
    assert not setup_hyper(back["runs"][1])[0].sam and "sam" not in back["runs"][1]
