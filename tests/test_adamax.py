"""AdaMax, added through the registry alone (dynamics/optimizers/adamax.py): its iterates
against optax.adamax and a NumPy reading of Kingma & Ba's Section 7.1, cautious included;
its Hamiltonian K = eps/(2(1-b1)) sum m^2/nu on discrete steps; its flow (the h = 1 link to
the raw-moment optimizer, dH/dt against the closed form, H never rising along the flow when
1 - b1 >= (1 - b2)/2; docs/theory.md, Section 4.2)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynamics.config import Setup, make_hyper
from dynamics.ode import integrate
from dynamics.optimizers import spec_of
from dynamics.rollout import rollout
from tests.test_flows import batch_hyper, batched_diag, grads, random_states, toy_arrays
from toys import get_toy

LR, B1, B2, E = 0.02, 0.9, 0.999, 1e-8


def numpy_adamax(toy, lr, b1, b2, e, steps, cautious=False, corrected=True):
    """Section 7.1 of Kingma & Ba step by step: m <- b1 m + (1-b1) g, nu <- max(b2 nu, |g| + e),
    u = m/((1-b1^t) nu) (raw m/nu when not ``corrected``), optionally masked where u g <= 0
    and rescaled by 1/max(mean phi, 1e-3).  Returns the iterates and K_t = lr/(2(1-b1))
    sum m^2/nu with the bias-corrected m."""
    p = toy_arrays(toy)
    grad = jax.jit(jax.grad(toy.value))
    w = np.asarray(toy.start, float)
    m, nu = np.zeros(2), np.zeros(2)
    ws, ks = [w.copy()], [0.0]
    for t in range(1, steps + 1):
        g = np.asarray(grad(jnp.asarray(w), p))
        m = b1 * m + (1 - b1) * g
        nu = np.maximum(b2 * nu, np.abs(g) + e)
        mhat = m / (1 - b1**t) if corrected else m
        u = mhat / nu
        if cautious:
            phi = (u * g > 0).astype(float)
            u = u * phi / max(phi.mean(), 1e-3)
        w = w - lr * u
        ws.append(w.copy())
        ks.append(lr / (2 * (1 - b1)) * np.sum((m / (1 - b1**t)) ** 2 / nu))
    return np.array(ws), np.array(ks)


@pytest.mark.parametrize("toy_name", ["rosenbrock", "quad-repo"])
def test_iterates_equal_optax_adamax(toy_name):
    toy = get_toy(toy_name)
    ours = rollout(Setup("adamax"), toy, make_hyper(lr=LR, beta=B1, beta2=B2, adam_eps=E), 300).w
    opt = optax.adamax(LR, b1=B1, b2=B2, eps=E)
    w = jnp.asarray(toy.start, jnp.float64)
    state, p, ref = opt.init(w), toy_arrays(toy), [np.asarray(w)]
    for _ in range(300):
        upd, state = opt.update(jax.grad(toy.value)(w, p), state, w)
        w = optax.apply_updates(w, upd)
        ref.append(np.asarray(w))
    np.testing.assert_allclose(ours, np.array(ref), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cautious", [False, True])
def test_iterates_and_hamiltonian_equal_numpy(cautious):
    toy = get_toy("rosenbrock")
    hp = make_hyper(lr=LR, beta=B1, beta2=B2, adam_eps=E)
    traj = rollout(Setup("adamax", cautious=cautious), toy, hp, 200)
    ws, ks = numpy_adamax(toy, LR, B1, B2, E, 200, cautious=cautious)
    np.testing.assert_allclose(traj.w, ws, rtol=0, atol=1e-11)
    np.testing.assert_allclose(traj.hamiltonian - traj.loss, ks, rtol=1e-10, atol=1e-14)
    assert ks[-1] > 0          # the kinetic part is really there


def test_flow_at_h1_is_the_raw_moment_optimizer():
    toy = get_toy("rosenbrock")
    hp = make_hyper(lr=LR, beta=B1, beta2=B2, adam_eps=E)
    flow = integrate(Setup("adamax"), toy, hp, 120, solver="semi-implicit", substeps=1, init="zeros")
    ws, _ = numpy_adamax(toy, LR, B1, B2, E, 120, corrected=False)
    np.testing.assert_allclose(flow.w, ws, rtol=0, atol=1e-11)


def test_energy_rate_matches_its_closed_form_and_bound():
    n = 300
    y, rng = random_states(n, seed=3)
    hp = batch_hyper(n, rng, lr=(0.001, 0.1), beta=(0.5, 0.95), beta2=(0.9, 0.9999), adam_eps=(1e-8, 1e-3))
    toy = get_toy("rosenbrock")
    g = grads(toy, y.w)
    m, nu = np.asarray(y.m), np.asarray(y.v)
    eps, e = np.asarray(hp.lr)[:, None], np.asarray(hp.adam_eps)[:, None]
    a, b = 1 - np.asarray(hp.beta)[:, None], 1 - np.asarray(hp.beta2)[:, None]
    dnu = np.maximum(-b * nu, np.abs(g) + e - nu)
    closed = np.sum(-eps * m**2 / nu - eps / (2 * a) * m**2 * dnu / nu**2, 1)
    out = batched_diag(Setup("adamax"), "rosenbrock")(y, hp, toy_arrays(toy))
    np.testing.assert_allclose(out["dL_dt"], np.sum(-eps * g * m / nu, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["dH_dt"], closed, rtol=1e-9, atol=1e-12)
    bound = -eps[:, 0] * (1 - b[:, 0] / (2 * a[:, 0])) * np.sum(m**2 / nu, 1)
    assert np.all(np.asarray(out["dH_dt"]) <= bound + 1e-12)


@pytest.mark.parametrize("toy_name", ["quadratic", "rosenbrock"])
def test_hamiltonian_never_rises_along_the_flow(toy_name):
    hp = make_hyper(lr=0.01 if toy_name == "rosenbrock" else 0.05, beta=B1, beta2=B2, adam_eps=E)
    tr = integrate(Setup("adamax"), get_toy(toy_name), hp, 400, solver="rk4", substeps=40)
    assert np.all(np.isfinite(tr.hamiltonian))
    assert np.max(np.diff(tr.hamiltonian)) <= 1e-12 * max(1.0, abs(tr.hamiltonian[0]))
    assert tr.loss[-1] < tr.loss[0]


def test_app_solves_and_explains_adamax():
    from tests.test_app import assert_clean, new_app

    at = new_app({"view": "continuous", "opt": "adamax", "variants": "base", "steps": "50"}).run()
    assert_clean(at)
    assert not any("No continuous-time flow" in i.value for i in at.info)
    assert any(r.label == "initial moments" for r in at.radio)
    at = new_app({"view": "learn", "opt": "adamax", "variants": "base", "steps": "50"}).run()
    assert_clean(at)
    eq = spec_of("adamax").equations(Setup("adamax"))
    assert any(eq.flow in e.body for e in at.latex) and any(eq.hamiltonian in e.body for e in at.latex)
