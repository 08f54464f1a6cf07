"""Base optimizers (docs/theory.md, Section 1), weight decay (Section 3, arXiv 2510.12402)
and the Hamiltonian read-out (Section 4): roll-outs against optax's own optimizers
driven independently, against NumPy re-implementations and against the closed-form
heavy-ball recursion on a quadratic."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import dynamics
from dynamics.config import Setup, make_hyper
from dynamics.decay import weight_decay
from dynamics.rollout import rollout
from toys import get_toy

STEPS = 500
LR, BETA, BETA2, ADAM_EPS = 1e-3, 0.9, 0.99, 1e-8

# (project optimizer, dampening, hyperparameters, optax's own optimizer with the same numbers)
CASES = {
    "gd": ("gd", False, dict(lr=LR), optax.sgd(LR)),
    "gdm": ("gdm", False, dict(lr=LR, beta=BETA), optax.sgd(LR, momentum=BETA)),
    "nesterov": ("nesterov", False, dict(lr=LR, beta=BETA), optax.sgd(LR, momentum=BETA, nesterov=True)),
    "gdm-dampened": ("gdm", True, dict(lr=LR, beta=BETA),
                     optax.chain(optax.ema(BETA, debias=False), optax.scale(-LR))),
    "adam": ("adam", False, dict(lr=10 * LR, beta=BETA, beta2=BETA2, adam_eps=ADAM_EPS),
             optax.adam(10 * LR, b1=BETA, b2=BETA2, eps=ADAM_EPS)),
    "lion": ("lion", False, dict(lr=LR, beta=BETA, beta2=BETA2),
             optax.lion(LR, b1=BETA, b2=BETA2, weight_decay=0.0)),
}


def optax_trajectory(opt: optax.GradientTransformation, toy, steps: int) -> np.ndarray:
    """w_0..w_T from optax's optimizer, driven by a plain lax.scan over jax.grad."""
    p = {k: jnp.asarray(v, jnp.float64) for k, v in toy.params().items()}
    grad = jax.grad(lambda w: toy.value(w, p))
    w0 = jnp.asarray(toy.start, jnp.float64)

    def step(carry, _):
        w, state = carry
        updates, state = opt.update(grad(w), state, w)
        w = optax.apply_updates(w, updates)
        return (w, state), w

    _, ws = jax.jit(lambda w: jax.lax.scan(step, (w, opt.init(w)), None, length=steps))(w0)
    return np.concatenate([np.asarray(w0)[None], np.asarray(ws)])


@pytest.mark.parametrize("toy_name", ["rosenbrock", "himmelblau"])
@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_equals_optax(case, toy_name):
    name, damp, hyper, reference = CASES[case]
    toy = get_toy(toy_name)
    traj = rollout(Setup(name, dampening=damp), toy, make_hyper(**hyper), STEPS)
    ref = optax_trajectory(reference, toy, STEPS)
    assert traj.w.shape == ref.shape == (STEPS + 1, 2)
    np.testing.assert_allclose(traj.w, ref, rtol=0, atol=1e-10)
    # the run actually moved (the comparison is not between two resting points)
    assert np.linalg.norm(ref[-1] - ref[0]) > 0.1


# --- NumPy re-implementation: states and Hamiltonians H = L + K (docs/theory.md, Section 4) -----

ANGLE, CENTRE, H1, H2 = 0.4, np.array([1.0, -2.0]), 1.0, 10.0
QUAD_PARAMS = {"h1": H1, "h2": H2, "angle": ANGLE, "cx": CENTRE[0], "cy": CENTRE[1]}


def quad_matrix():
    c, s = np.cos(ANGLE), np.sin(ANGLE)
    rot = np.array([[c, -s], [s, c]])
    return rot, rot @ np.diag([H1, H2]) @ rot.T


def numpy_run(name, damp, hp, w0, steps):
    """Iterates and Hamiltonians of ``name`` on the rotated, shifted quadratic, by hand."""
    _, a = quad_matrix()
    lr, b1, b2, e = hp["lr"], hp.get("beta", 0.9), hp.get("beta2", 0.999), hp.get("adam_eps", 1e-8)
    loss = lambda w: 0.5 * (w - CENTRE) @ a @ (w - CENTRE)
    w, m, v = np.asarray(w0, float), np.zeros(2), np.zeros(2)
    ws, hs = [w], [loss(w)]
    for t in range(1, steps + 1):
        g = a @ (w - CENTRE)
        if name == "gdm" and damp:
            m = b1 * m + (1 - b1) * g
            u, k = m, lr / (2 * (1 - b1)) * m @ m
        elif name in ("gdm", "nesterov"):
            m = b1 * m + g
            u = m if name == "gdm" else g + b1 * m
            k = (lr / 2 if name == "gdm" else lr * b1 / 2) * m @ m
        elif name == "adam":
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
            mh, vh = m / (1 - b1**t), v / (1 - b2**t)
            u, k = mh / (np.sqrt(vh) + e), lr / (2 * (1 - b1)) * np.sum(mh**2 / (np.sqrt(vh) + e))
        elif name == "lion":
            u = np.sign(b1 * m + (1 - b1) * g)
            m = b2 * m + (1 - b2) * g
            k = lr * b1 / (1 - b2) * np.abs(m).sum()
        else:
            u, k = g, 0.0
        w = w - lr * u
        ws.append(w)
        hs.append(loss(w) + k)
    return np.array(ws), np.array(hs)


@pytest.mark.parametrize("case", list(CASES))
def test_hamiltonian_readout_matches_numpy(case):
    name, damp, hyper, _ = CASES[case]
    hyper = {**hyper, "lr": 0.05 if name != "lion" else 0.01}
    toy, w0, steps = get_toy("quadratic"), (-1.0, 1.5), 40
    traj = rollout(Setup(name, dampening=damp), toy, make_hyper(**hyper), steps, start=w0, toy_params=QUAD_PARAMS)
    ws, hs = numpy_run(name, damp, hyper, w0, steps)
    np.testing.assert_allclose(traj.w, ws, rtol=0, atol=1e-12)
    np.testing.assert_allclose(traj.loss, [0.5 * (w - CENTRE) @ quad_matrix()[1] @ (w - CENTRE) for w in ws],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traj.hamiltonian, hs, rtol=1e-11, atol=1e-13)
    if name != "gd":  # the kinetic part is really there
        assert np.abs(traj.hamiltonian - traj.loss).max() > 1e-3


def test_heavy_ball_on_a_quadratic_is_the_linear_recursion():
    """In the eigenbasis z = R^T (w - c) each coordinate with curvature h follows
    s_{t+1} = beta s_t + h z_t,  z_{t+1} = z_t - lr s_{t+1}, i.e.
    [z; s]_{t+1} = M [z; s]_t with M = [[1 - lr h, -lr beta], [h, beta]]."""
    lr, beta, steps, w0 = 0.05, 0.8, 300, np.array([-1.0, 1.5])
    traj = rollout(Setup("gdm"), get_toy("quadratic"), make_hyper(lr=lr, beta=beta), steps,
                   start=w0, toy_params=QUAD_PARAMS)
    rot, _ = quad_matrix()
    z0 = rot.T @ (w0 - CENTRE)
    z = np.empty((steps + 1, 2))
    for i, h in enumerate((H1, H2)):
        m = np.array([[1 - lr * h, -lr * beta], [h, beta]])
        z[:, i] = [(np.linalg.matrix_power(m, t) @ [z0[i], 0.0])[0] for t in range(steps + 1)]
    expected = CENTRE + z @ rot.T
    np.testing.assert_allclose(traj.w, expected, rtol=0, atol=1e-10)
    assert np.abs(np.diff(np.sign(z[:50, 1]))).sum() > 0  # the stiff coordinate oscillates


# --- weight decay (arXiv 2510.12402) -----------------------------------------------------------

def test_weight_decay_modes_by_hand():
    u = {"a": jnp.array([1.0, -2.0, 0.0, 3.0]), "b": jnp.array([[0.5, -1.0]])}
    w = {"a": jnp.array([2.0, 1.0, -1.0, -0.5]), "b": jnp.array([[-4.0, -2.0]])}
    wd = 0.1
    out = {mode: weight_decay(mode, wd).update(u, weight_decay(mode, wd).init(w), w)[0]
           for mode in ("none", "decoupled", "cautious")}
    # u*w: a -> [2, -2, 0, -1.5], b -> [-2, 2]; cautious keeps 1[u*w >= 0]: a [1, 0, 1, 0], b [0, 1]
    expected = {
        "none": {"a": [1.0, -2.0, 0.0, 3.0], "b": [[0.5, -1.0]]},
        "decoupled": {"a": [1.2, -1.9, -0.1, 2.95], "b": [[0.1, -1.2]]},
        "cautious": {"a": [1.2, -2.0, -0.1, 3.0], "b": [[0.5, -1.2]]},
    }
    for mode in expected:
        for key in ("a", "b"):
            np.testing.assert_allclose(np.asarray(out[mode][key]), expected[mode][key], rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="parameters"):
        weight_decay("cautious", wd).update(u, optax.EmptyState(), None)
    with pytest.raises(ValueError, match="none, decoupled, cautious"):
        weight_decay("l2", wd)


def test_weight_decay_in_a_rollout():
    """One gd step: w_1 = w_0 - lr (g + wd d w_0) with d = 1 (decoupled) or
    d = 1[g w_0 >= 0] (cautious), on x1^2 + 0.1 x2^2 shifted to centre (1, 1)."""
    toy, lr, wd, centre = get_toy("quad-repo"), 0.1, 0.5, {"cx": 1.0, "cy": 1.0}
    # g = (2 (w1 - 1), 0.2 (w2 - 1)); at (3, -2): g = (4, -0.6), g*w0 = (12, 1.2) -> d = (1, 1);
    # at (3, 0.5): g = (4, -0.1), g*w0 = (12, -0.05) -> d = (1, 0)
    for w0, g, d in (([3.0, -2.0], [4.0, -0.6], [1.0, 1.0]), ([3.0, 0.5], [4.0, -0.1], [1.0, 0.0])):
        w0, g = np.array(w0), np.array(g)
        for mode, keep in (("decoupled", np.ones(2)), ("cautious", np.array(d))):
            traj = rollout(Setup("gd", decay=mode), toy, make_hyper(lr=lr, wd=wd), 1, start=w0, toy_params=centre)
            np.testing.assert_allclose(traj.w[1], w0 - lr * (g + wd * keep * w0), rtol=1e-15)


def test_decay_sees_the_cautious_direction():
    """The decay mask reads u after the cautious mask: a masked coordinate (u = 0) has
    u*w = 0 >= 0, so cautious decay still acts on it."""
    inner = optax.chain(dynamics.cautious(optax.scale(-1.0), "elementwise", "none"), weight_decay("cautious", 0.5))
    w = jnp.array([2.0, -1.0])
    upd, _ = inner.update(jnp.array([1.0, 3.0]), inner.init(w), w)   # u = -g is masked everywhere
    np.testing.assert_allclose(np.asarray(upd), 0.5 * np.asarray(w))
