"""Learning-rate schedules (dynamics.schedules): step t uses eps_t = lr f(t-1).

Against independent references: optax's own optimizers with the same optax schedule
(iterates to 1e-12 in float64), the closed form of gradient descent on a quadratic,
the flow's dH/dt with eps'(t) derived by hand (docs/theory.md, Section 4.6), and the
compile counter of tests/test_horizon.py (new schedule numbers compile nothing)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynamics.basins import basin_map
from dynamics.config import Setup, make_hyper
from dynamics.ode import integrate
from dynamics.rollout import rollout
from dynamics.schedules import schedule_factors
from dynamics.sweep import sweep
from tests.test_horizon import Compiles
from toys import get_toy

ROSEN = get_toy("rosenbrock")
QUAD = get_toy("quad-k4")                  # w1^2 + 4 w2^2: Hessian eigenvalues 2, 8
EIG = np.array([2.0, 8.0])
T, LR = 40, 1e-3
NUMBERS = dict(warmup=10, lr_final=0.1, decay_every=7, decay_factor=0.6)


def optax_schedule(kind: str, peak: float, steps: int = T, warmup: int = 10):
    """The optax schedule of ``kind`` with peak ``peak`` and NUMBERS, evaluated in
    float64 (an int64 count: with optax's int32 count the schedule rounds in float32)."""
    fn = {"warmup-cosine": optax.warmup_cosine_decay_schedule(0.0, peak, warmup, steps, 0.1 * peak),
          "step": optax.exponential_decay(peak, 7, 0.6, staircase=True),
          "one-cycle": optax.cosine_onecycle_schedule(steps, peak, warmup / steps)}[kind]
    return lambda count: fn(jnp.asarray(count, jnp.int64))


def optax_iterates(opt: optax.GradientTransformation, toy, steps: int = T) -> np.ndarray:
    """w_0..w_T of ``opt`` looped by hand with jax.grad on ``toy`` from its start."""
    p = toy.params(None)
    grad = jax.jit(jax.grad(lambda w: toy.value(w, p)))
    update = jax.jit(opt.update)
    w = jnp.asarray(toy.start, jnp.float64)
    state, out = opt.init(w), [w]
    for _ in range(steps):
        u, state = update(grad(w), state, w)
        w = w + u
        out.append(w)
    return np.asarray(out)


def reference(optimizer: str, schedule) -> optax.GradientTransformation:
    return {"gd": optax.sgd(schedule), "gdm": optax.sgd(schedule, momentum=0.9),
            "adam": optax.adam(schedule, b1=0.9, b2=0.999, eps=1e-8)}[optimizer]


@pytest.mark.parametrize("kind", ["warmup-cosine", "step", "one-cycle"])
@pytest.mark.parametrize("optimizer", ["gd", "gdm", "adam"])
def test_iterates_equal_optax_with_the_same_schedule(optimizer, kind):
    ours = rollout(Setup(optimizer, schedule=kind), ROSEN, make_hyper(lr=LR, beta=0.9, **NUMBERS), T)
    theirs = optax_iterates(reference(optimizer, optax_schedule(kind, LR)), ROSEN)
    np.testing.assert_allclose(ours.w, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["warmup-cosine", "step", "one-cycle"])
def test_factors_are_optaxs_schedule_with_peak_one(kind):
    f = schedule_factors(Setup(schedule=kind), make_hyper(**NUMBERS), T, 64)
    ref = optax_schedule(kind, 1.0)
    np.testing.assert_allclose(f[:T + 1], jax.vmap(ref)(jnp.arange(T + 1)), rtol=0, atol=1e-15)
    assert schedule_factors(Setup(), make_hyper(), T, 64) is None


def test_step_t_uses_the_factor_of_t_minus_1():
    """GD on a quadratic: w_t,i = prod_{k<t} (1 - lr f(k) l_i) w_0,i, with f by hand:
    the step schedule gamma^floor(k/K) and the linear warmup min(k/W, 1) then cosine."""
    lr, steps, k = 0.05, 30, np.arange(30)
    step_f = 0.6 ** np.floor(k / 7)
    cos_f = np.where(k < 10, k / 10, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * (k - 10) / (steps - 10))))
    for kind, f in (("step", step_f), ("warmup-cosine", cos_f)):
        run = rollout(Setup("gd", schedule=kind), QUAD, make_hyper(lr=lr, **NUMBERS), steps)
        factors = np.cumprod(1 - lr * f[:, None] * EIG, axis=0)
        np.testing.assert_allclose(run.w[1:], factors * np.asarray(QUAD.start), rtol=1e-12, atol=1e-300)
    warm = rollout(Setup("gd", schedule="warmup-cosine"), QUAD, make_hyper(lr=lr, **NUMBERS), 3)
    assert np.array_equal(warm.w[1], warm.w[0]) and not np.array_equal(warm.w[2], warm.w[1])   # f(0) = 0


def test_hamiltonian_reads_the_next_steps_lr():
    """GDM's K in row t is lr f(t)/2 |s_t|^2 (s_t = (w_{t-1} - w_t)/(lr f(t-1)))."""
    run = rollout(Setup("gdm", schedule="step"), QUAD, make_hyper(lr=0.02, beta=0.9, **NUMBERS), 20)
    f = 0.6 ** np.floor(np.arange(21) / 7)
    s = -np.diff(run.w, axis=0) / (0.02 * f[:-1, None])
    np.testing.assert_allclose(run.hamiltonian[1:] - run.loss[1:], 0.02 * f[1:] / 2 * np.sum(s * s, axis=1),
                               rtol=1e-10)


def test_the_flow_with_eps_of_t():
    """Semi-implicit Euler with h = 1 of the flow with eps(t) = lr f(t) is the discrete
    run (gdm), and dH/dt = -eps (1-beta)|s|^2 + eps'(t)/2 |s|^2 (eps' the slope of the
    segment [t, t+1]): H rises during the warmup."""
    setup, hp = Setup("gdm", schedule="warmup-cosine"), make_hyper(lr=LR, beta=0.9, **NUMBERS)
    flow = integrate(setup, ROSEN, hp, T, solver="semi-implicit", substeps=1)
    run = rollout(setup, ROSEN, hp, T)
    np.testing.assert_allclose(flow.w, run.w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(flow.hamiltonian, run.hamiltonian, rtol=1e-12)
    f = np.asarray(jax.vmap(optax_schedule("warmup-cosine", 1.0))(jnp.arange(T + 2)))
    f, slope = f[:-1], np.diff(f)           # at t = T too: the schedule continued past the run (its end value)
    s2 = np.sum(flow.m ** 2, axis=1)
    np.testing.assert_allclose(flow.dH_dt, -LR * f * 0.1 * s2 + LR * slope / 2 * s2, rtol=1e-9, atol=1e-12)
    assert np.any(flow.dH_dt[1:10] > 0)


def test_sweep_and_basin_cells_follow_the_schedule_with_lr_the_peak():
    setup, hp = Setup("gd", schedule="step"), make_hyper(**NUMBERS)
    lrs, steps = np.array([0.05, 0.1]), 30
    result = sweep(setup, QUAD, lrs, [0.0], steps, hp=hp)
    for j, lr in enumerate(lrs):
        run = rollout(setup, QUAD, hp._replace(lr=lr), steps)
        np.testing.assert_allclose(result.final_suboptimality[0, j], run.loss[-1], rtol=1e-10)
    bm = basin_map(setup, ROSEN, make_hyper(lr=LR, **NUMBERS), steps=25, n=2)
    run = rollout(setup, ROSEN, make_hyper(lr=LR, **NUMBERS), 25, start=(bm.x[1], bm.y[0]))
    np.testing.assert_allclose(bm.final[0, 1], run.w[-1], rtol=1e-12)
    other = make_hyper(lr=LR, decay_every=3, decay_factor=0.2)
    with Compiles() as c:                       # new schedule numbers: the same sweep and basin programs
        sweep(setup, QUAD, lrs, [0.0], steps, hp=other)
        basin_map(setup, ROSEN, other, steps=25, n=2)
    assert c.count == 0


def test_new_schedule_numbers_compile_nothing():
    for kind in ("warmup-cosine", "step", "one-cycle"):
        setup = Setup("gdm", schedule=kind, clip=True)
        rollout(setup, QUAD, make_hyper(lr=0.1, warmup=5), 50)
        with Compiles() as c:
            run = rollout(setup, QUAD, make_hyper(lr=0.05, warmup=7, lr_final=0.2, decay_every=9, decay_factor=0.3,
                                                  clip_norm=0.5), 60)
        assert c.count == 0, kind
        assert np.all(np.isfinite(run.w))


def test_the_app_draws_the_step_size_and_runs_the_schedule_from_the_url():
    """The Trajectories tab's curves get an eps_t row (lr f(t-1), by hand), the runs
    follow the schedule, and the Learn tab writes the schedule and the clipping."""
    from tests.test_app import assert_clean, charts, decode, new_app, show, trace

    query = {"opt": "gd", "variants": "base", "toy": "quad-k4", "lr": "0.1", "steps": "30", "schedule": "step",
             "decay_every": "7", "decay_factor": "0.6", "clip": "true", "clip_norm": "0.5"}
    at = new_app(query).run()
    assert_clean(at)
    curves = charts(at)["traj_curves"]
    eps = trace(curves, "ε_t")
    np.testing.assert_array_equal(decode(eps["x"]), np.arange(1, 31))
    np.testing.assert_allclose(decode(eps["y"]), 0.1 * 0.6 ** np.floor(np.arange(30) / 7), rtol=1e-15)
    run = rollout(Setup("gd", schedule="step", clip=True), QUAD, make_hyper(lr=0.1, clip_norm=0.5, **NUMBERS), 30)
    np.testing.assert_allclose(decode(trace(charts(at)["traj_contour"], "GD")["x"]), run.w[:, 0], rtol=1e-12)
    text = " ".join(m.value for m in show(at, "learn").markdown)
    assert "Learning-rate schedule**: step" in text and "K = 7, γ = 0.6" in text and "Gradient clipping**, c = 0.5" in text
    plain = new_app({"opt": "gd", "steps": "30"}).run()
    assert all(t.get("name") != "ε_t" for t in charts(plain)["traj_curves"]["data"])
