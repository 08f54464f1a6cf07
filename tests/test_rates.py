"""Rates (dynamics.rates, docs/theory.md Section 5): the empirical estimator on sequences with
known rates, the closed-form heavy-ball / Nesterov / GD rates against eigenvalues of the
iteration matrix and against simulated recursions, optima and stability boundaries."""

import numpy as np
import pytest

from dynamics.rates import (BLOCK_FRACTION, MIN_WINDOW, RATE_DIVERGED, SETTLED_SPREAD, STEPS_NOT_REACHED,
                            UNIT_BLOCKS, analytic_rate, best_cell, block_fit_rate, block_starts, distance_rate,
                            fit_rate, late_window,
                            stable_lr_limit, window_starts)
from dynamics.optimizers.gd import optimum as gd_optimum, rate as gd_rate
from dynamics.optimizers.gdm import optimum as heavy_ball_optimum, rate as heavy_ball_rate
from dynamics.optimizers.nesterov import rate as nesterov_rate


# ----------------------------------------------------------------------------- blocks

@pytest.mark.parametrize("steps", [1, 5, 64, 65, 200, 1000, 12345])
def test_blocks_cover_the_steps_with_bounded_lengths(steps):
    s = block_starts(steps)
    assert s[0] == 0 and s[-1] <= steps and np.all(np.diff(s) >= 1)
    lengths = np.diff(np.append(s, steps + 1))
    assert np.all(lengths[s < UNIT_BLOCKS] == 1)
    assert np.all(lengths[:-1] <= np.maximum(1, s[:-1] // BLOCK_FRACTION))
    win = window_starts(steps)
    t = np.arange(steps + 1)
    assert np.all(win <= t) and np.all(np.isin(win, s))
    assert np.all(t - win <= np.maximum(0, t // BLOCK_FRACTION))   # the edge moves by at most 3% of t


def test_blocks_grow_logarithmically():
    assert len(block_starts(1000)) < 170 and len(block_starts(100_000)) < 320


# ----------------------------------------------------------------------------- estimator

@pytest.mark.parametrize("rho,scale", [(0.3, 1.0), (0.9, 7.0), (0.99, 0.01), (0.5, 1e5), (1.02, 3.0)])
def test_geometric_sequence_gives_its_rate_whatever_its_constant(rho, scale):
    t = np.arange(1001)
    rate, spread, settled = fit_rate(np.log(scale) + t * np.log(rho))
    assert rate == pytest.approx(rho, rel=1e-12) and spread < 1e-12 and settled


def test_the_fit_averages_a_bounded_oscillation_out():
    """log|Y_t| = t log rho + a bounded periodic term (the phase of a rotating mode): the
    line fit reads rho to ~period/window^2, where an envelope over a short window
    would read the phase."""
    t = np.arange(2001)
    for omega in (0.7, 0.05, 2.9):
        y = t * np.log(0.95) + np.log(2 + np.cos(omega * t + 0.3))
        assert fit_rate(y)[0] == pytest.approx(0.95, abs=1e-4), omega


def test_a_double_root_is_read_from_above():
    """d_t = t rho^t (the optimal heavy ball's Jordan block): the log t term tilts the
    late-window line upwards, never below rho."""
    t = np.arange(1, 1002)
    rate = fit_rate(np.log(t) + t * np.log(1 / 3))[0]
    assert 1 / 3 < rate < 1 / 3 * (1 + 3e-3)


def test_a_rate_that_changes_in_the_window_is_not_settled():
    t = np.arange(1001)
    y = np.where(t < 700, t * np.log(0.6), 700 * np.log(0.6) + (t - 700) * np.log(0.2))
    rate, spread, settled = fit_rate(y)
    assert not settled and spread > SETTLED_SPREAD
    a, m = late_window(1000, window_starts(1000))
    assert a <= 500 < m <= 750 and spread == pytest.approx(abs(0.2 - 0.6), abs=0.05)


def test_short_windows_are_not_settled():
    y = np.arange(MIN_WINDOW) * np.log(0.5)
    assert not fit_rate(y)[2] and fit_rate(np.arange(4 * MIN_WINDOW) * np.log(0.5))[2]
    assert fit_rate(np.zeros(1)) == (0.0, 0.0, False)


def test_tolerance_ends_the_window_and_counts_the_steps():
    t = np.arange(501)
    d = 0.5**t
    r = distance_rate(d, tol=1e-6)
    assert r.steps_to_tol == int(np.argmax(d < 1e-6)) == 20
    assert r.rate == pytest.approx(0.5, rel=1e-12) and r.settled
    # past T' the floor of floating point would read as rate 1: it is not in the window
    floored = np.maximum(0.5**t, 1e-16)
    assert distance_rate(floored, tol=1e-10).rate == pytest.approx(0.5, rel=1e-12)
    # an exact zero is a very fast step, not a NaN
    assert 0 <= distance_rate(np.concatenate([[1.0, 0.5], np.zeros(10)]), tol=1e-9).rate < 1e-100


def test_start_inside_tolerance_and_not_reached():
    assert distance_rate(np.full(10, 1e-12), tol=1e-9)[:2] == (0.0, 0.0)
    assert distance_rate(np.full(10, 1e-12), tol=1e-9).steps_to_tol == 0
    r = distance_rate(0.999 ** np.arange(101), tol=1e-9)
    assert r.steps_to_tol == STEPS_NOT_REACHED and r.rate == pytest.approx(0.999, rel=1e-12)


@pytest.mark.parametrize("bad", [np.inf, np.nan, 2e6])
def test_divergence_is_a_flag_not_a_nan(bad):
    d = np.ones(50)
    d[30] = bad
    r = distance_rate(d, tol=1e-9)
    assert (r.rate, r.steps_to_tol, r.diverged, r.settled) == (RATE_DIVERGED, STEPS_NOT_REACHED, True, False)
    assert distance_rate(np.ones(5), tol=1e-9, loss=[0, 1, np.inf, 1, 1]).diverged


def _block_sums(y, t_end, starts):
    """Per-block sums of y_t and (t - block start) y_t over t <= t_end, written as the
    sweep writes them: the running sums of the current block, frozen after T'."""
    idx = np.searchsorted(starts, np.arange(y.shape[0]), side="right") - 1
    sy, sty = np.zeros((starts.size, y.shape[1])), np.zeros((starts.size, y.shape[1]))
    for c in range(y.shape[1]):
        for t in range(t_end[c] + 1):
            sy[idx[t], c] += y[t, c]
            sty[idx[t], c] += (t - starts[idx[t]]) * y[t, c]
    return sy, sty


def test_batched_estimator_equals_the_reference_on_random_runs():
    rng = np.random.default_rng(0)
    steps = 300
    starts, win = block_starts(steps), window_starts(steps)
    y = np.cumsum(rng.normal(-0.05, 0.3, size=(steps + 1, 40)), axis=0)
    t_end = rng.integers(0, steps + 1, size=40)
    t_end[:3] = (0, 1, steps)
    sy, sty = _block_sums(y, t_end, starts)
    rho, spread, settled = block_fit_rate(sy, sty, t_end, starts, win)
    reference = np.array([fit_rate(y[:t_end[c] + 1, c]) for c in range(y.shape[1])], dtype=object)
    np.testing.assert_allclose(rho, reference[:, 0].astype(float), rtol=1e-10)
    np.testing.assert_allclose(spread, reference[:, 1].astype(float), rtol=1e-8, atol=1e-14)
    np.testing.assert_array_equal(settled, reference[:, 2].astype(bool))


# ----------------------------------------------------------------------------- closed forms

def _matrix_radius(m):
    return np.max(np.abs(np.linalg.eigvals(m)))


def test_heavy_ball_rate_is_the_spectral_radius_of_its_iteration_matrix():
    rng = np.random.default_rng(1)
    for _ in range(200):
        lr, beta, lam = rng.uniform(0, 1.2), rng.uniform(0, 0.999), rng.uniform(0.1, 10)
        hb = _matrix_radius([[beta, lam], [-lr * beta, 1 - lr * lam]])
        nag = _matrix_radius([[beta, lam], [-lr * beta**2, 1 - lr * lam * (1 + beta)]])
        assert heavy_ball_rate(lr, beta, [lam]) == pytest.approx(hb, rel=1e-9, abs=1e-12)
        assert nesterov_rate(lr, beta, [lam]) == pytest.approx(nag, rel=1e-9, abs=1e-12)
        assert heavy_ball_rate(lr, beta, [lam], dampening=True) == pytest.approx(
            heavy_ball_rate(lr * (1 - beta), beta, [lam]), rel=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_iteration_matrix_reproduces_the_optimizer_recursion(nesterov):
    """s' = beta s + lam z, z' = z - eps u with u = s' (heavy ball) or lam z + beta s'
    (Nesterov): the matrices above are exactly this recursion on one eigen-direction."""
    lr, beta, lam = 0.3, 0.6, 2.5
    m = (np.array([[beta, lam], [-lr * beta**2, 1 - lr * lam * (1 + beta)]]) if nesterov
         else np.array([[beta, lam], [-lr * beta, 1 - lr * lam]]))
    s, z, v = 0.0, 1.0, np.array([0.0, 1.0])
    for _ in range(25):
        g = lam * z
        s = beta * s + g
        z = z - lr * (g + beta * s if nesterov else s)
        v = m @ v
        assert v == pytest.approx([s, z], rel=1e-12, abs=1e-15)


def test_gd_rate_and_optimum():
    assert gd_rate(0.1, 0.0, [2.0, 8.0]) == pytest.approx(0.8)
    opt = gd_optimum(2.0, 8.0)
    assert opt["lr"] == pytest.approx(0.2) and opt["rate"] == pytest.approx(0.6)
    assert gd_rate(opt["lr"], 0.0, [2.0, 8.0]) == pytest.approx(opt["rate"])
    assert analytic_rate("gd", 0.1, 0.7, [2.0, 8.0]) == pytest.approx(0.8)   # beta ignored


def test_heavy_ball_optimum_of_the_paper_figure_3():
    opt = heavy_ball_optimum(2.0, 8.0)          # w1^2 + 4 w2^2
    assert opt["lr"] == pytest.approx(2 / 9) and opt["beta"] == pytest.approx(1 / 9)
    assert opt["rate"] == pytest.approx(1 / 3)
    # a double root: the discriminant is 0 up to rounding, whose square root is ~1e-8
    assert heavy_ball_rate(opt["lr"], opt["beta"], [2.0, 8.0]) == pytest.approx(1 / 3, abs=1e-7)
    lr, beta = np.meshgrid(np.linspace(0.01, 0.6, 601), np.linspace(0, 0.95, 600))
    rate = heavy_ball_rate(lr, beta, [2.0, 8.0])
    k = np.argmin(rate)
    assert rate.flat[k] >= 1 / 3 - 1e-9
    assert abs(lr.flat[k] - 2 / 9) < 2e-3 and abs(beta.flat[k] - 1 / 9) < 3e-3


@pytest.mark.parametrize("optimizer,dampening", [("gd", False), ("gdm", False), ("gdm", True), ("nesterov", False)])
def test_stability_boundary_separates_rates_below_and_above_one(optimizer, dampening):
    lams = [2.0, 8.0]
    for beta in [0.0, 0.3, 0.8]:
        edge = float(stable_lr_limit(optimizer, beta, max(lams), dampening))
        below = analytic_rate(optimizer, edge * 0.999, beta, lams, dampening)
        above = analytic_rate(optimizer, edge * 1.001, beta, lams, dampening)
        assert below < 1 < above


def test_map_helpers():
    lr, beta = np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.5])
    rate = np.array([[0.9, 0.5, 1.0], [0.7, 0.2, 1.0]])
    diverged = np.array([[False, False, True], [False, True, True]])
    assert best_cell(lr, beta, rate, diverged) == dict(lr=0.2, beta=0.0, rate=0.5, row=0, col=1)
    assert best_cell(lr, beta, rate, np.ones_like(diverged)) is None
    # a rate >= 1 never counts as the best cell, diverged or not (a slowly diverging cell)
    assert best_cell(lr, beta, np.full((2, 3), 1.01)) is None
    assert best_cell(lr, beta, np.array([[1.0, 0.99, 1.2], [1.5, 1.0, 1.0]]))["rate"] == 0.99
    with pytest.raises(ValueError, match="gd, gdm, nesterov"):
        analytic_rate("adam", 0.1, 0.9, [1.0])


def test_rate_method_and_closed_form_availability():
    from dynamics.config import Setup
    from dynamics.rates import exact_rate_map, has_closed_form, is_homogeneous, resolve_rate_method
    from toys import get_toy
    quad, rosen = get_toy("quad-k4"), get_toy("rosenbrock")
    for setup in (Setup("gd"), Setup("gdm"), Setup("gdm", dampening=True), Setup("nesterov")):
        assert has_closed_form(setup, quad) and is_homogeneous(setup, quad)
        assert resolve_rate_method("auto", setup, quad) == "exact"
        assert resolve_rate_method("estimate", setup, quad) == "estimate"
    for setup in (Setup("gdm", cautious=True), Setup("gdm", cautious=True, mask="threshold"),
                  Setup("nesterov", cautious=True, mask="inner", compensation="count")):
        assert not has_closed_form(setup, quad) and is_homogeneous(setup, quad)
        assert resolve_rate_method("auto", setup, quad) == "estimate"
    for setup, toy in ((Setup("gdm", cautious=True, mask="smooth"), quad), (Setup("adam"), quad),
                       (Setup("gdm", decay="decoupled"), quad), (Setup("gdm", noise="gaussian"), quad),
                       (Setup("gdm"), rosen)):
        assert not has_closed_form(setup, toy) and not is_homogeneous(setup, toy)
        assert exact_rate_map(setup, toy, [0.1], [0.5]) is None
        with pytest.raises(ValueError, match="no closed-form rate"):
            resolve_rate_method("exact", setup, toy)
    with pytest.raises(ValueError, match="auto, exact, estimate"):
        resolve_rate_method("envelope", Setup("gdm"), quad)
    # rotation and centre do not enter; kappa does
    lr, beta = np.array([0.1, 0.2]), np.array([0.0, 0.5])
    m = exact_rate_map(Setup("gdm"), quad, lr, beta, dict(angle=0.3, cx=2.0))
    np.testing.assert_allclose(m, heavy_ball_rate(lr[None, :], beta[:, None], [2.0, 8.0]), rtol=0, atol=0)
    m = exact_rate_map(Setup("gdm", dampening=True), quad, lr, beta, dict(h2=4.0))
    np.testing.assert_allclose(m, heavy_ball_rate(lr[None, :], beta[:, None], [2.0, 4.0], dampening=True))
