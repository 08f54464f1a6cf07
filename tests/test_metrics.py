"""Distances to the minimiser set, the divergence rule and the median over seeds
(dynamics.metrics) against hand computations, and basin maps on the valley toys
(dynamics.basins), whose minimisers form a curve."""
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics import Setup, make_hyper
from dynamics.basins import basin_map
from dynamics.metrics import (DIVERGENCE_FACTOR, STEPS_NOT_REACHED, distance2_fn, divergence_limit, divergence_limit2,
                              median_steps_to_tol, minimiser_set, set_distance)
from toys import get_toy

POINTS = np.array([[3.0, -0.5], [1.0, 1.0], [-1.0, 0.25], [2.5, 2.5], [0.1, -3.0]])


def test_distance_to_the_line_of_minimisers():
    toy = get_toy("valley-line")             # minimisers: w1 + w2 = s
    for s in (2.0, -0.5):
        hand = np.abs(POINTS[:, 0] + POINTS[:, 1] - s) / np.sqrt(2.0)
        np.testing.assert_allclose(set_distance(toy, POINTS, {"s": s}), hand, rtol=1e-14, atol=1e-15)


def test_distance_to_the_hyperbola_is_the_first_order_residual():
    toy = get_toy("valley-hyperbola")        # minimisers: w1 w2 = s
    hand = np.abs(POINTS[:, 0] * POINTS[:, 1] - 1.0) / np.hypot(POINTS[:, 0], POINTS[:, 1])
    np.testing.assert_allclose(set_distance(toy, POINTS), hand, rtol=1e-14)


def test_distance_to_isolated_minimisers_is_to_the_nearest_listed_one():
    toy = get_toy("himmelblau")               # four minima, listed
    minima, loss_min = minimiser_set(toy)
    hand = np.min(np.linalg.norm(POINTS[:, None, :] - minima[None], axis=-1), axis=1)
    np.testing.assert_allclose(set_distance(toy, POINTS), hand, rtol=1e-13)
    assert minima.shape == (4, 2) and loss_min == pytest.approx(0.0, abs=1e-20)
    d2 = distance2_fn(toy)(jnp.asarray(minima[2]), toy.params(), jnp.asarray(minima))
    assert float(d2) == 0.0


def test_divergence_rule():
    assert DIVERGENCE_FACTOR == 1e6
    assert divergence_limit(2.0, 1e-10) == 2e6 and divergence_limit(1e-12, 1e-10) == pytest.approx(1e-4)
    assert float(divergence_limit2(jnp.asarray(4.0), jnp.asarray(1e-20))) == 4e12
    assert float(divergence_limit2(jnp.asarray(0.0), jnp.asarray(9.0))) == 9e12


def test_median_steps_to_tol_over_seeds():
    steps = np.array([[10, -1, -1, 5, 7],        # seed 0; columns are cells
                      [20, -1, 7, 6, 8],         # seed 1
                      [-1, -1, 9, 8, -1]])       # seed 2
    # the seeds that reached tol: {10, 20}, none, {7, 9}, {5, 6, 8}, {7, 8}; medians rounded down
    np.testing.assert_array_equal(median_steps_to_tol(steps), [15, STEPS_NOT_REACHED, 8, 6, 7])
    assert median_steps_to_tol(steps).dtype == np.int64
    np.testing.assert_array_equal(median_steps_to_tol(steps[:, None, :]), [[15, -1, 8, 6, 7]])


def test_basins_on_the_valley_line_end_on_the_line():
    """gd on (w1 + w2 - 2)^2 converges to the orthogonal projection of its start onto the
    line: every start ends on the set (one piece, index 0), not at the listed point (1, 1)."""
    m = basin_map(Setup("gd"), get_toy("valley-line"), make_hyper(lr=0.1), 200, n=6)
    gx, gy = np.meshgrid(m.x, m.y)
    shift = (gx + gy - 2.0) / 2.0
    np.testing.assert_allclose(m.final, np.stack([gx - shift, gy - shift], axis=-1), atol=1e-9)
    assert (m.index == 0).all() and not m.diverged.any()
    assert (m.arrival >= 0).all() and m.fractions()[0] == 1.0


def test_basins_on_the_valley_hyperbola_name_the_branch():
    """(w1 w2 - 1)^2 has two branches of minimisers; a run that ends on one is labelled by
    its branch's listed point: (1, 1) where w1 + w2 > 0, (-1, -1) where w1 + w2 < 0."""
    toy = get_toy("valley-hyperbola")
    m = basin_map(Setup("gd"), toy, make_hyper(lr=0.02), 1000, n=9, domain=((-2.0, 2.0), (-1.5, 2.5)))
    np.testing.assert_allclose(m.minima, [[1.0, 1.0], [-1.0, -1.0]], atol=1e-12)
    reached = m.index >= 0
    assert reached.mean() > 0.8 and set(np.unique(m.index[reached])) == {0, 1}
    final = m.final[reached]
    assert (set_distance(toy, final) < m.radius).all()
    np.testing.assert_array_equal(m.index[reached], (final.sum(axis=1) < 0).astype(int))
