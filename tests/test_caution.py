"""The cautious wrapper (arXiv 2411.16085, Algorithms 1-3, Theorems 2.5 and 2.7):
hand-computed masks and compensations, the 2-D ``count`` shrink to 2/3, fully masked
steps, roll-outs against a NumPy re-implementation for every mask and compensation,
and the wrapper as an ordinary optax transformation training a pytree model."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynamics import Setup, cautious, cautious_direction, compensation_alpha, make_hyper, mask_phi, rollout
from dynamics.config import COMPENSATIONS, MASKS
from toys import get_toy

# x = u*g = [2, -2, -3, 0]; sum(x) = u.g = -3; |u|^2 = 14
U = jnp.array([1.0, -2.0, 3.0, 0.0])
G = jnp.array([2.0, 1.0, -1.0, 5.0])


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, float)))


def test_masks_by_hand():
    np.testing.assert_array_equal(mask_phi(U, G, "elementwise"), [1, 0, 0, 0])
    np.testing.assert_array_equal(mask_phi(U, G, "elementwise-ge"), [1, 0, 0, 1])
    np.testing.assert_array_equal(mask_phi(U, G, "inner"), [0, 0, 0, 0])            # u.g = -3 < 0
    np.testing.assert_array_equal(mask_phi(U, -G, "inner"), [1, 1, 1, 1])           # u.g = 3
    np.testing.assert_array_equal(mask_phi(U, jnp.zeros(4), "inner"), [1, 1, 1, 1])  # u.g = 0 is kept
    # threshold: keep iff u.g = -3 >= -(mu lr / 2) * 14
    np.testing.assert_array_equal(mask_phi(U, G, "threshold", lr=0.5, mu=1.0), [1, 1, 1, 1])   # -3 >= -3.5
    np.testing.assert_array_equal(mask_phi(U, G, "threshold", lr=0.4, mu=1.0), [0, 0, 0, 0])   # -3 < -2.8
    np.testing.assert_array_equal(mask_phi(U, G, "threshold", lr=0.2, mu=3.0), [1, 1, 1, 1])   # -3 >= -4.2
    np.testing.assert_allclose(mask_phi(U, G, "smooth", tau=1.0), sigmoid([2, -2, -3, 0]), rtol=1e-15)
    np.testing.assert_allclose(mask_phi(U, G, "smooth", tau=0.5), sigmoid([4, -4, -6, 0]), rtol=1e-15)
    # tau -> 0 gives the hard mask away from x = 0
    np.testing.assert_allclose(mask_phi(U[:3], G[:3], "smooth", tau=1e-3), [1, 0, 0], atol=1e-300)
    with pytest.raises(ValueError, match="lr"):
        mask_phi(U, G, "threshold")
    with pytest.raises(ValueError, match="elementwise, elementwise-ge, inner, threshold, smooth"):
        mask_phi(U, G, "sign")


def test_compensations_by_hand():
    phi = jnp.array([1.0, 0.0, 0.0, 1.0])
    assert float(compensation_alpha(phi, "none")) == 1.0
    assert float(compensation_alpha(phi, "mean")) == 2.0              # 1 / (2/4)
    np.testing.assert_allclose(compensation_alpha(phi, "count"), 4 / 3)   # d / (nnz + 1)
    soft = jnp.array([0.25, 0.5, 1.0, 0.25])
    np.testing.assert_allclose(compensation_alpha(soft, "mean"), 1 / 0.5)
    np.testing.assert_allclose(compensation_alpha(soft, "count"), 4 / 3)
    with pytest.raises(ValueError, match="none, mean, count"):
        compensation_alpha(phi, "max")


def test_cautious_direction_by_hand():
    # elementwise + mean: phi = [1, 0, 0, 0], alpha = 4 -> [4, 0, 0, 0]
    d, phi = cautious_direction(U, G, "elementwise", "mean")
    np.testing.assert_allclose(d, [4.0, 0, 0, 0])
    np.testing.assert_array_equal(phi, [1, 0, 0, 0])
    # elementwise-ge + count: phi = [1, 0, 0, 1], alpha = 4/3 -> [4/3, 0, 0, 0]
    d, _ = cautious_direction(U, G, "elementwise-ge", "count")
    np.testing.assert_allclose(d, [4 / 3, 0, 0, 0])
    # smooth + none: sigmoid(x) * u
    d, _ = cautious_direction(U, G, "smooth", "none", tau=1.0)
    np.testing.assert_allclose(d, sigmoid([2, -2, -3, 0]) * np.asarray(U), rtol=1e-15)
    # smooth + mean: alpha = 1 / mean(sigmoid(x))
    d, _ = cautious_direction(U, G, "smooth", "mean", tau=1.0)
    s = sigmoid([2, -2, -3, 0])
    np.testing.assert_allclose(d, s * np.asarray(U) / s.mean(), rtol=1e-14)


def test_count_in_two_dimensions_shrinks_an_unmasked_step_to_two_thirds():
    u, g = jnp.array([0.3, -1.2]), jnp.array([0.1, -2.0])      # x > 0: nothing masked
    d, phi = cautious_direction(u, g, "elementwise", "count")
    np.testing.assert_array_equal(phi, [1, 1])
    np.testing.assert_allclose(d, 2 / 3 * np.asarray(u), rtol=1e-15)
    np.testing.assert_allclose(cautious_direction(u, g, "elementwise", "mean")[0], u, rtol=1e-15)
    # in a roll-out: cautious gd (u = g, never masked) with count is gd with lr * 2/3
    toy, steps = get_toy("rosenbrock"), 50
    c = rollout(Setup("gd", cautious=True, compensation="count"), toy, make_hyper(lr=1e-3), steps)
    ref = rollout(Setup("gd"), toy, make_hyper(lr=2e-3 / 3), steps)
    np.testing.assert_allclose(c.w, ref.w, rtol=1e-13)
    assert np.all(c.masked_fraction == 0)


@pytest.mark.parametrize("mask", ["elementwise", "inner", "threshold"])
@pytest.mark.parametrize("compensation", COMPENSATIONS)
def test_fully_masked_step_is_zero(mask, compensation):
    """u = -g everywhere: every hard mask drops the whole step, whatever alpha is
    (mean gives alpha = 1/max(0, 1e-3) = 1000, count gives d/1, both times phi = 0)."""
    g = {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([-1.0, 4.0, 2.0])}
    opt = cautious(optax.scale(-1.0), mask, compensation, lr=0.1, mu=1.0)
    upd, state = opt.update(g, opt.init(g), g)
    for leaf in jax.tree.leaves(upd):
        np.testing.assert_array_equal(leaf, 0.0)
    for leaf in jax.tree.leaves(state.mask):
        np.testing.assert_array_equal(leaf, 0.0)
    phi0 = jnp.zeros(3)
    expected_alpha = {"none": 1.0, "mean": 1000.0, "count": 3.0}[compensation]
    np.testing.assert_allclose(compensation_alpha(phi0, compensation), expected_alpha)


def test_wrapper_rejects_bad_settings():
    with pytest.raises(ValueError, match="mask must be one of"):
        cautious(optax.identity(), "sign")
    with pytest.raises(ValueError, match="compensation must be one of"):
        cautious(optax.identity(), "elementwise", "max")
    with pytest.raises(ValueError, match="lr=eps"):
        cautious(optax.identity(), "threshold")


# --- masks from signs: nothing underflows ----------------------------------------------------------

def test_masks_read_signs_where_the_product_underflows():
    """u_i g_i = 1e-400 is 0 in float64: a mask read from the product would drop these
    coordinates (strict) or keep a disagreeing one (>=); the signs decide instead."""
    tiny = 1e-200
    u, g = jnp.array([tiny, -tiny, 1.0]), jnp.array([tiny, tiny, 1.0])
    assert float(u[0] * g[0]) == 0.0                                   # the product underflows
    np.testing.assert_array_equal(mask_phi(u, g, "elementwise"), [1, 0, 1])
    np.testing.assert_array_equal(mask_phi(u, g, "elementwise-ge"), [1, 0, 1])
    np.testing.assert_array_equal(mask_phi(u, jnp.array([0.0, tiny, 1.0]), "elementwise-ge"), [1, 0, 1])
    # u.g = 1e-340 (0.5 - 1) < 0, but every product underflows: 0 >= 0 would keep the step
    u, g = jnp.array([0.5e-170, -1e-170]), jnp.array([1e-170, 1e-170])
    assert float(jnp.sum(u * g)) == 0.0
    np.testing.assert_array_equal(mask_phi(u, g, "inner"), [0, 0])
    np.testing.assert_array_equal(mask_phi(u, -g, "inner"), [1, 1])
    # threshold: u.g = -0.5e-340 against -(mu lr / 2)|u|^2 = -0.1 * 1.25e-340
    np.testing.assert_array_equal(mask_phi(u, g, "threshold", lr=0.2, mu=1.0), [0, 0])
    np.testing.assert_array_equal(mask_phi(u, g, "threshold", lr=1.0, mu=1.0), [1, 1])   # -0.5 >= -0.625
    np.testing.assert_array_equal(mask_phi(jnp.zeros(2), g, "threshold", lr=0.2), [1, 1])
    np.testing.assert_array_equal(mask_phi(u, jnp.zeros(2), "threshold", lr=0.2), [1, 1])


def test_a_cautious_run_does_not_freeze_a_coordinate_near_the_minimiser():
    """Issue 10's run: with the mask read from u_i g_i, w_2 froze at 7.6e-156 (its product
    underflowed, the strict mask dropped it for good and mean compensation doubled the
    other step) and the run stopped at |w| ~ 1e-155.  From the signs it converges on."""
    traj = rollout(Setup("gdm", cautious=True), get_toy("quad-k4"),
                   make_hyper(lr=0.16555555555555557, beta=0.04523809523809523), 1000)
    assert np.abs(traj.w[500]).max() < 1e-125 and np.abs(traj.w[-1]).max() < 1e-300
    assert np.abs(traj.w[300, 1]) < 1e-200


# --- roll-outs against NumPy, every mask x compensation ---------------------------------------

ANGLE, CENTRE = 0.4, np.array([1.0, -2.0])
PARAMS = {"h1": 1.0, "h2": 10.0, "angle": ANGLE, "cx": CENTRE[0], "cy": CENTRE[1]}


def numpy_cautious_gdm(mask, compensation, lr, beta, tau, mu, w0, steps):
    c, s = np.cos(ANGLE), np.sin(ANGLE)
    rot = np.array([[c, -s], [s, c]])
    a = rot @ np.diag([PARAMS["h1"], PARAMS["h2"]]) @ rot.T
    w, mom = np.asarray(w0, float), np.zeros(2)
    ws, phis = [w], [np.ones(2)]
    for _ in range(steps):
        g = a @ (w - CENTRE)
        mom = beta * mom + g
        x = mom * g
        phi = {"elementwise": (x > 0) * 1.0, "elementwise-ge": (x >= 0) * 1.0,
               "inner": np.full(2, float(x.sum() >= 0)),
               "threshold": np.full(2, float(x.sum() >= -(mu * lr / 2) * (mom @ mom))),
               "smooth": sigmoid(x / tau)}[mask]
        alpha = {"none": 1.0, "mean": 1 / max(phi.mean(), 1e-3), "count": 2 / (phi.sum() + 1)}[compensation]
        w = w - lr * alpha * phi * mom
        ws.append(w)
        phis.append(phi)
    return np.array(ws), np.array(phis)


@pytest.mark.parametrize("compensation", COMPENSATIONS)
@pytest.mark.parametrize("mask", MASKS)
def test_cautious_gdm_rollout_matches_numpy(mask, compensation):
    lr, beta, tau, mu, w0, steps = 0.05, 0.8, 0.5, 10.0, (-1.0, 1.5), 60
    traj = rollout(Setup("gdm", cautious=True, mask=mask, compensation=compensation), get_toy("quadratic"),
                   make_hyper(lr=lr, beta=beta, tau=tau, mu=mu), steps, start=w0, toy_params=PARAMS)
    ws, phis = numpy_cautious_gdm(mask, compensation, lr, beta, tau, mu, w0, steps)
    np.testing.assert_allclose(traj.w, ws, rtol=0, atol=1e-12)
    np.testing.assert_allclose(traj.mask, phis, rtol=0, atol=1e-12)
    np.testing.assert_allclose(traj.masked_fraction[1:], 1 - phis[1:].mean(axis=1), rtol=0, atol=1e-12)
    assert traj.masked_fraction[0] == 0
    assert traj.masked_fraction.mean() > 0.1   # the mask did act in this run


# --- the wrapper on a pytree model ---------------------------------------------------------------

def regression_problem(seed=0, n=128):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    true = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    y = x @ true["W"] + true["b"] + 0.01 * rng.normal(size=(n, 2))
    return jnp.asarray(x), jnp.asarray(y)


def mse(params, x, y):
    return jnp.mean((x @ params["W"] + params["b"] - y) ** 2)


def test_cautious_adam_trains_a_linear_regression():
    x, y = regression_problem()
    opt = optax.chain(cautious(optax.scale_by_adam(), "elementwise", "mean"), optax.scale(-0.05))
    params = {"W": jnp.zeros((3, 2)), "b": jnp.zeros(2)}

    @jax.jit
    def train(params):
        def step(carry, _):
            params, state = carry
            loss, g = jax.value_and_grad(mse)(params, x, y)
            upd, state = opt.update(g, state, params)
            return (optax.apply_updates(params, upd), state), (loss, state[0].mask)
        (params, _), (losses, masks) = jax.lax.scan(step, (params, opt.init(params)), None, length=400)
        return params, losses, masks

    params, losses, masks = train(params)
    final = float(mse(params, x, y))
    assert final < 1e-3 * float(losses[0]), (float(losses[0]), final)
    assert float(jnp.mean(masks["W"])) < 1.0   # some coordinates were masked on the way


def test_one_cautious_adam_step_on_a_pytree_by_hand():
    """Two steps of cautious(scale_by_adam) with gradients g1, g2 against NumPy, with
    the mask and the mean compensation taken per leaf (per parameter tensor)."""
    rng = np.random.default_rng(0)
    shapes = {"W": (4, 3), "b": (3,)}
    g1 = {k: 3 * rng.normal(size=s) for k, s in shapes.items()}
    g2 = {k: rng.normal(size=s) for k, s in shapes.items()}
    b1, b2, e, lr = 0.9, 0.999, 1e-8, 0.01
    opt = optax.chain(cautious(optax.scale_by_adam(b1, b2, e), "elementwise", "mean"), optax.scale(-lr))
    params = {k: jnp.zeros(s) for k, s in shapes.items()}
    state = opt.init(params)
    got, kept = [], {}
    for g in (g1, g2):
        upd, state = opt.update(jax.tree.map(jnp.asarray, g), state, params)
        got.append(upd)
    for key in shapes:
        m = v = 0.0
        for t, g in enumerate((g1[key], g2[key]), start=1):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
            u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + e)
            phi = (u * g > 0).astype(float)
            expected = -lr * phi * u / max(phi.mean(), 1e-3)
            np.testing.assert_allclose(np.asarray(got[t - 1][key]), expected, rtol=1e-13, atol=1e-16)
        np.testing.assert_array_equal(np.asarray(state[0].mask[key]), phi)
        kept[key] = phi.mean()
    # step 2 keeps 5/12 of W and 2/3 of b: one alpha for all leaves would give other numbers
    assert kept == {"W": 5 / 12, "b": 2 / 3}
