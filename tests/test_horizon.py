"""Step counts and grid sizes as runtime values (dynamics.horizon, dynamics.batch.cells_bucket):
a new T within its bucket, or a grid of nearby size, compiles nothing for roll-outs,
sweeps, basin maps, ODE solves and step anatomies, and the results are those of T itself (closed forms of gradient
descent on a quadratic, and the NumPy rate fit dynamics.rates.fit_rate)."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from dynamics import Setup, make_hyper, rollout
from dynamics.anatomy import step_anatomy
from dynamics.basins import basin_map
from dynamics.batch import cells_bucket, chunk_size, host_workers
from dynamics.horizon import step_bucket
from dynamics.ode import integrate
from dynamics.rates import fit_rate
from dynamics.sweep import sweep
from toys import get_toy

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
QUAD = get_toy("quad-k4")                  # w1^2 + 4 w2^2: Hessian eigenvalues 2, 8, minimum 0 at 0
EIG = np.array([2.0, 8.0])


class Compiles:
    """Counts XLA compilations while active (the listener of tests/test_app.py)."""

    def __enter__(self):
        self.events = []
        self._listener = lambda event, duration, **kw: self.events.append(event) if event == COMPILE_EVENT else None
        jax.monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._listener)

    @property
    def count(self) -> int:
        return len(self.events)


def gd_iterates(lr: float, steps: int) -> np.ndarray:
    """w_t = (1 - lr lambda_i)^t w_0,i of gradient descent on QUAD, t = 0..steps."""
    t = np.arange(steps + 1)[:, None]
    return (1 - lr * EIG) ** t * np.asarray(QUAD.start)


def test_buckets():
    assert [step_bucket(t) for t in (1, 37, 64, 65, 999, 1000, 1024, 1025, 5000)] == \
        [64, 64, 64, 128, 1024, 1024, 1024, 2048, 8192]
    with pytest.raises(ValueError, match="positive"):
        step_bucket(0)
    assert [cells_bucket(n) for n in (1, 7, 8, 9, 15, 30, 1000, 1010, 1152, 2049)] == \
        [1, 7, 8, 10, 16, 32, 1024, 1024, 1280, 2560]
    n = np.arange(1, 5000)
    padded = np.array([cells_bucket(k) for k in n])
    assert np.all(padded >= n) and np.all(padded < 1.25 * n + 1)


def test_a_new_step_count_in_the_bucket_compiles_no_roll_out():
    setup, hp = Setup("gd"), make_hyper(lr=0.1)
    rollout(setup, QUAD, hp, 37)
    with Compiles() as c:
        runs = {t: rollout(setup, QUAD, hp, t) for t in (50, 64, 1)}
    assert c.count == 0
    for t, run in runs.items():
        assert run.w.shape == (t + 1, 2) and run.loss.shape == (t + 1,)
        np.testing.assert_allclose(run.w, gd_iterates(0.1, t), rtol=1e-12, atol=1e-300)
    with Compiles() as c:                  # control: 65 steps are the next bucket
        assert rollout(setup, QUAD, hp, 65).w.shape == (66, 2)
    assert c.count > 0


def gd_cell(lr: float, steps: int, tol: float) -> dict:
    """The sweep outputs of one gradient-descent cell on QUAD from the closed form."""
    w = gd_iterates(lr, steps)
    d = np.linalg.norm(w, axis=1)
    below = np.nonzero(d < tol)[0]
    rate, spread, settled = fit_rate(np.log(d))          # renormalised: the fit runs over all T steps
    return dict(steps_to_tol=int(below[0]) if below.size else -1, rate=rate, spread=spread, settled=settled,
                final=float(0.5 * (EIG * w[-1] ** 2).sum()))


def test_a_new_step_count_in_the_bucket_compiles_no_sweep():
    lr, tol = np.array([0.02, 0.05, 0.1, 0.2]), 1e-6
    run = lambda t: sweep(Setup("gd"), QUAD, lr, [0.0], t, tol=tol, rate_method="estimate")
    run(40)
    with Compiles() as c:
        maps = {t: run(t) for t in (37, 60, 64, 3)}
    assert c.count == 0
    for t, m in maps.items():
        assert m.steps == t
        for j, eps in enumerate(lr):
            ref = gd_cell(eps, t, tol)
            assert m.steps_to_tol[0, j] == ref["steps_to_tol"]
            np.testing.assert_allclose(m.final_suboptimality[0, j], ref["final"], rtol=1e-10)
            np.testing.assert_allclose(m.rate_estimate[0, j], ref["rate"], rtol=1e-9)
            np.testing.assert_allclose(m.rate_uncertainty[0, j], ref["spread"], rtol=1e-6, atol=1e-12)
            assert m.settled[0, j] == ref["settled"]
    with Compiles() as c:                  # control: the next bucket compiles
        run(65)
    assert c.count > 0


def test_a_nearby_grid_size_compiles_no_sweep():
    workers = host_workers(tuple(jax.devices()[:1]))
    assert chunk_size(1000, 64, 1, workers) == chunk_size(1010, 64, 1, workers)   # the same chunk shape
    run = lambda n_lr, n_beta: sweep(Setup("gdm"), QUAD, np.geomspace(1e-3, 0.2, n_lr), np.linspace(0, 0.9, n_beta),
                                     30, rate_method="estimate")
    run(40, 25)                           # 1000 cells
    with Compiles() as c:
        other = run(101, 10)              # 1010 cells
    assert c.count == 0 and other.rate.shape == (10, 101)


def test_a_new_step_count_compiles_no_basin_map():
    toy, setup, hp = get_toy("himmelblau"), Setup("gdm"), make_hyper(lr=0.005, beta=0.5)
    basin_map(setup, toy, hp, 200, n=8)
    with Compiles() as c:
        short = basin_map(setup, toy, hp, 3, n=8)
        long = basin_map(setup, toy, hp, 300, n=8)
    assert c.count == 0
    # an end point is the roll-out's from the same start
    for m, steps in ((short, 3), (long, 300)):
        ref = rollout(setup, toy, hp, steps, start=(m.x[2], m.y[5]))
        np.testing.assert_allclose(m.final[5, 2], ref.w[-1], rtol=1e-9, atol=1e-12)



@pytest.mark.parametrize("solver", ["euler", "adaptive"])
def test_a_new_step_count_in_the_bucket_compiles_no_ode(solver):
    """The gradient flow w' = -lr grad L on QUAD is w(t) = exp(-lr lambda_i t) w_0: Euler
    with h = 1 is gradient descent itself, the adaptive solve meets the exponential."""
    setup, hp, lr = Setup("gd"), make_hyper(lr=0.1), 0.1
    exact = lambda T: np.exp(-lr * EIG * np.arange(T + 1)[:, None]) * np.asarray(QUAD.start)
    integrate(setup, QUAD, hp, 40, solver=solver, substeps=1, rtol=1e-10, atol=1e-12)
    with Compiles() as seen:
        for T in (3, 17, 64):
            tr = integrate(setup, QUAD, hp, T, solver=solver, substeps=1, rtol=1e-10, atol=1e-12)
            assert tr.w.shape == (T + 1, 2) and tr.loss.shape == (T + 1,)
            if solver == "euler":
                np.testing.assert_allclose(tr.w, gd_iterates(lr, T), rtol=1e-13, atol=1e-300)
            else:
                np.testing.assert_allclose(tr.w, exact(T), rtol=1e-8, atol=1e-10)
                assert not tr.status.stopped_early and not tr.status.warnings
    assert seen.count == 0, seen.events


def test_a_new_step_count_in_the_bucket_compiles_no_step_anatomy():
    """Gradient descent's step is -lr g_t, g_t = (2, 8) * w_t: the anatomy of every step."""
    setup, hp = Setup("gd"), make_hyper(lr=0.1)
    step_anatomy(setup, hp, rollout(setup, QUAD, hp, 40))
    with Compiles() as seen:
        for T in (1, 23, 64):
            tr = rollout(setup, QUAD, hp, T)
            an = step_anatomy(setup, hp, tr)
            w = gd_iterates(0.1, T)
            assert an.step.shape == (T, 2)
            np.testing.assert_allclose(an.step, -0.1 * EIG * w[:-1], rtol=1e-13, atol=1e-300)
            np.testing.assert_allclose(an.step, np.diff(w, axis=0), rtol=1e-12, atol=1e-15)
    assert seen.count == 0, seen.events
