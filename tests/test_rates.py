"""Rates (dynamics.rates, DESIGN.md Section 7): the empirical estimator on sequences with
known rates, the closed-form heavy-ball / Nesterov / GD rates against eigenvalues of the
iteration matrix and against simulated recursions, optima and stability boundaries."""
import math

import numpy as np
import pytest

from dynamics.rates import (BLOCK_FRACTION, RATE_DIVERGED, STEPS_NOT_REACHED, UNIT_BLOCKS, analytic_rate,
                            best_cell, block_envelope_rate, block_starts, envelope_rate, gd_optimum, gd_rate,
                            heavy_ball_optimum, heavy_ball_rate, nesterov_rate, rate_difference, stability_boundary,
                            stable_lr_limit, window_starts)


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

@pytest.mark.parametrize("rho,scale", [(0.3, 1.0), (0.9, 7.0), (0.99, 0.01), (0.5, 1e5)])
def test_geometric_sequence_gives_its_rate_whatever_its_constant(rho, scale):
    t = np.arange(1001)
    d = scale * rho**t
    r = envelope_rate(d, tol=1e-300)
    assert r.rate == pytest.approx(rho, rel=1e-10) and not r.diverged


def test_the_envelope_removes_the_phase_of_an_oscillation():
    t = np.arange(2001)
    d = 0.95**t * np.abs(np.cos(0.7 * t + 0.3))
    assert envelope_rate(d, tol=1e-300).rate == pytest.approx(0.95, abs=2e-3)


def test_tolerance_ends_the_window_and_counts_the_steps():
    t = np.arange(501)
    d = 0.5**t
    r = envelope_rate(d, tol=1e-6)
    assert r.steps_to_tol == int(np.argmax(d < 1e-6)) == 20
    assert r.rate == pytest.approx(0.5, rel=1e-12)
    assert envelope_rate(np.concatenate([[1.0, 0.5], np.zeros(10)]), tol=1e-9) == (0.5, 2, False)   # T' <= 2: (E/d0)^(1/a2)


def test_start_inside_tolerance_and_not_reached():
    assert envelope_rate(np.full(10, 1e-12), tol=1e-9) == (0.0, 0, False)
    r = envelope_rate(0.999 ** np.arange(101), tol=1e-9)
    assert r.steps_to_tol == STEPS_NOT_REACHED and r.rate == pytest.approx(0.999, rel=1e-12)


@pytest.mark.parametrize("bad", [np.inf, np.nan, 2e6])
def test_divergence_is_a_flag_not_a_nan(bad):
    d = np.ones(50)
    d[30] = bad
    assert envelope_rate(d, tol=1e-9) == (RATE_DIVERGED, STEPS_NOT_REACHED, True)
    assert envelope_rate(np.ones(5), tol=1e-9, loss=[0, 1, np.inf, 1, 1]).diverged


def test_batched_estimator_equals_the_reference_on_random_runs():
    rng = np.random.default_rng(0)
    steps = 300
    starts, win = block_starts(steps), window_starts(steps)
    d = np.exp(np.cumsum(rng.normal(-0.05, 0.3, size=(steps + 1, 40)), axis=0))
    d[0] = 1.0
    tol = 1e-3
    t_end = np.array([int(np.argmax(col < tol)) if (col < tol).any() else steps for col in d.T])
    d2 = d**2
    idx = np.searchsorted(starts, np.arange(steps + 1), side="right") - 1
    blocks = np.zeros((starts.size, d.shape[1]))
    for c in range(d.shape[1]):   # block maxima of d^2, frozen after T'
        for t in range(t_end[c] + 1):
            blocks[idx[t], c] = max(blocks[idx[t], c], d2[t, c])
    batched = block_envelope_rate(blocks, t_end, 1.0, starts, win)
    reference = [envelope_rate(d[:, c], tol).rate for c in range(d.shape[1])]
    np.testing.assert_allclose(batched, reference, rtol=1e-12)


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
    assert gd_rate(0.1, [2.0, 8.0]) == pytest.approx(0.8)
    opt = gd_optimum(2.0, 8.0)
    assert opt["lr"] == pytest.approx(0.2) and opt["rate"] == pytest.approx(0.6)
    assert gd_rate(opt["lr"], [2.0, 8.0]) == pytest.approx(opt["rate"])
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
    assert best_cell(lr, beta, rate, np.ones_like(diverged))["row"] == -1
    np.testing.assert_allclose(rate_difference(rate, np.full_like(rate, 0.5)), rate - 0.5)
    edge, found = stability_boundary(lr, rate, diverged)
    np.testing.assert_allclose(edge, [0.2, 0.1])
    assert found.all()
    edge, found = stability_boundary(lr, np.ones((1, 3)), np.zeros((1, 3), bool))
    assert edge[0] == 0.0 and not found[0] and not math.isnan(edge[0])
    with pytest.raises(ValueError, match="gd, gdm, nesterov"):
        analytic_rate("adam", 0.1, 0.9, [1.0])
