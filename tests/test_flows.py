"""Flows, Hamiltonians and caution in continuous time (docs/theory.md, Section 4;
arXiv 2411.16085 Section 2): closed forms at random states, the h = 1 link to the
discrete optimizers, and energy invariants along integrated flows."""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynamics.caution import compensation_alpha, mask_phi
from dynamics.config import Hyper, Setup, make_hyper
from dynamics.flows import FlowState, diagnostics, is_smooth
from dynamics.optimizers.lion import lion_c
from dynamics.ode import integrate
from dynamics.rollout import rollout
from toys import get_toy

QUAD = get_toy("quadratic")          # L = w1^2 + 4 w2^2, Hessian diag(2, 8)
ROSEN = get_toy("rosenbrock")


@functools.lru_cache(maxsize=None)
def batched_diag(setup: Setup, toy_name: str):
    """diagnostics vmapped over states and hyperparameters (toy parameters shared)."""
    toy = get_toy(toy_name)
    diag = diagnostics(setup, toy.value)
    return jax.jit(jax.vmap(lambda y, hp, p: diag(y, (hp, p)), in_axes=(0, 0, None)))


def toy_arrays(toy):
    return {k: jnp.asarray(v, jnp.float64) for k, v in toy.params().items()}


def random_states(n, seed=0, spread=2.0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(-spread, spread, (n, 2))
    m = rng.normal(size=(n, 2))
    v = np.exp(rng.normal(size=(n, 2)))
    return FlowState(jnp.asarray(w), jnp.asarray(m), jnp.asarray(v)), rng


def batch_hyper(n, rng, **ranges):
    """A Hyper with a leading axis n; ranges maps a name to (low, high) drawn uniformly."""
    hp = make_hyper()
    values = {k: jnp.full((n,), getattr(hp, k)) for k in Hyper._fields}
    for name, (low, high) in ranges.items():
        values[name] = jnp.asarray(rng.uniform(low, high, n))
    return Hyper(**values)


def grads(toy, w):
    return np.asarray(jax.vmap(jax.grad(toy.value), in_axes=(0, None))(w, toy_arrays(toy)))


# --- time unit = one step: semi-implicit Euler with h = 1 is the discrete optimizer ---------------

H1_CASES = {
    "gdm": (Setup("gdm"), dict(lr=0.002, beta=0.9)),
    "gdm-dampened": (Setup("gdm", dampening=True), dict(lr=0.01, beta=0.8)),
    "nesterov": (Setup("nesterov"), dict(lr=0.001, beta=0.9)),
    "adam-no-bias-correction": (Setup("adam", bias_correction=False), dict(lr=0.01, beta=0.9, beta2=0.99)),
    "lion": (Setup("lion"), dict(lr=0.003, beta=0.9, beta2=0.99)),
    "cautious-gdm-cautious-decay": (Setup("gdm", cautious=True, decay="cautious"),
                                    dict(lr=0.002, beta=0.9, wd=0.05)),
    "cautious-adam-threshold-count": (Setup("adam", bias_correction=False, cautious=True, mask="threshold",
                                            compensation="count", decay="decoupled"),
                                      dict(lr=0.01, beta=0.9, beta2=0.99, wd=0.01)),
}


@pytest.mark.parametrize("case", list(H1_CASES))
def test_semi_implicit_euler_with_h1_is_the_discrete_optimizer(case):
    setup, values = H1_CASES[case]
    hp = make_hyper(**values)
    steps = 120
    disc = rollout(setup, ROSEN, hp, steps)
    flow = integrate(setup, ROSEN, hp, steps, solver="semi-implicit", substeps=1, init="zeros")
    assert np.abs(disc.w[-1] - disc.w[0]).max() > 0.05  # the iterates really move
    np.testing.assert_allclose(flow.w, disc.w, rtol=0, atol=1e-12)
    # the same Hamiltonian formula is read on both state representations
    np.testing.assert_allclose(flow.hamiltonian, disc.hamiltonian, rtol=1e-10, atol=1e-10)


def test_bias_corrected_adam_differs_from_its_flow_step():
    """The semi-implicit step matches adam only without bias correction (docs/theory.md, Section 4.3)."""
    hp = make_hyper(lr=0.01, beta=0.9, beta2=0.99)
    disc = rollout(Setup("adam"), ROSEN, hp, 120)
    flow = integrate(Setup("adam", bias_correction=False), ROSEN, hp, 120, solver="semi-implicit",
                     substeps=1, init="zeros")
    assert np.abs(flow.w - disc.w).max() > 1e-3


# --- rates: the jvp of H along the flow equals the closed forms of the table -----------------------

def test_energy_rates_match_closed_forms_at_random_states():
    n = 200
    y, rng = random_states(n)
    hp = batch_hyper(n, rng, lr=(0.001, 0.2), beta=(0.0, 0.99))
    g = grads(ROSEN, y.w)
    eps, beta = np.asarray(hp.lr)[:, None], np.asarray(hp.beta)[:, None]
    s = np.asarray(y.m)
    expected = {
        Setup("gd"): (-eps[:, 0] * np.sum(g * g, 1), -eps[:, 0] * np.sum(g * g, 1)),
        Setup("gdm"): (-eps[:, 0] * np.sum(g * s, 1), -(eps * (1 - beta))[:, 0] * np.sum(s * s, 1)),
        Setup("gdm", dampening=True): (-eps[:, 0] * np.sum(g * s, 1), -eps[:, 0] * np.sum(s * s, 1)),
        Setup("nesterov"): (-eps[:, 0] * np.sum(g * (g + beta * s), 1),
                            -eps[:, 0] * np.sum(g * g, 1) - (eps * beta * (1 - beta))[:, 0] * np.sum(s * s, 1)),
    }
    for setup, (dl, dh) in expected.items():
        out = batched_diag(setup, "rosenbrock")(y, hp, toy_arrays(ROSEN))
        np.testing.assert_allclose(out["dL_dt"], dl, rtol=1e-10, atol=1e-10, err_msg=str(setup))
        np.testing.assert_allclose(out["dH_dt"], dh, rtol=1e-10, atol=1e-10, err_msg=str(setup))
        assert np.all(np.asarray(out["dH_dt"]) <= 1e-12)


def test_adam_rate_formula_and_the_condition_a_ge_b_over_4():
    n = 400
    y, rng = random_states(n, seed=1)
    hp = batch_hyper(n, rng, lr=(0.001, 0.1), beta=(0.5, 0.95), beta2=(0.9, 0.9999), adam_eps=(1e-8, 1e-3))
    g = grads(ROSEN, y.w)
    m, v = np.asarray(y.m), np.asarray(y.v)
    eps, e = np.asarray(hp.lr)[:, None], np.asarray(hp.adam_eps)[:, None]
    a, b = 1 - np.asarray(hp.beta)[:, None], 1 - np.asarray(hp.beta2)[:, None]
    r = np.sqrt(v) + e
    closed = np.sum(-eps * m**2 / r - eps * b / (4 * a) * m**2 * (g**2 - v) / (np.sqrt(v) * r**2), 1)
    out = batched_diag(Setup("adam"), "rosenbrock")(y, hp, toy_arrays(ROSEN))
    np.testing.assert_allclose(out["dH_dt"], closed, rtol=1e-9, atol=1e-12)
    assert np.all(a >= b / 4) and np.all(np.asarray(out["dH_dt"]) <= 1e-12)
    # a < b/4 (b1 = 0.999, b2 = 0.9): H can rise at states where v exceeds g^2
    hp_bad = batch_hyper(n, rng, beta=(0.999, 0.999), beta2=(0.9, 0.9))
    bad = batched_diag(Setup("adam"), "rosenbrock")(FlowState(y.w, y.m, y.v * 50), hp_bad, toy_arrays(ROSEN))
    assert np.asarray(bad["dH_dt"]).max() > 0


# --- lion: dH/dt <= -eps |c|_1 (the derivation in dynamics.flows) ----------------------------------

def test_lion_hamiltonian_rate_bound_at_random_states():
    n = 2000
    y, rng = random_states(n, seed=2)
    hp = batch_hyper(n, rng, lr=(0.001, 0.1), beta=(0.05, 0.99), beta2=(0.5, 0.999))
    y = FlowState(y.w, y.m * rng.uniform(0, 30, (n, 1)), y.v)  # momenta small and large against g
    out = batched_diag(Setup("lion"), "rosenbrock")(y, hp, toy_arrays(ROSEN))
    g = grads(ROSEN, y.w)
    c = np.asarray(lion_c(g, np.asarray(y.m), hp_cols(hp)))
    bound = -np.asarray(hp.lr) * np.sum(np.abs(c), 1)
    np.testing.assert_allclose(out["c_norm"], np.sum(np.abs(c), 1), rtol=1e-12)
    slack = np.asarray(out["dH_dt"]) - bound
    assert np.all(slack <= 1e-12 * (1 + np.abs(bound)))
    # the bound is attained exactly where sign(m) = sign(c) on every coordinate
    tight = np.all(np.sign(np.asarray(y.m)) == np.sign(c), 1)
    assert 50 < tight.sum() < n
    np.testing.assert_allclose(slack[tight], 0, atol=1e-10)
    assert slack[~tight].min() < -1e-3  # and it is only a bound elsewhere


def hp_cols(hp: Hyper) -> Hyper:
    """Per-state hyperparameters as columns, to broadcast against (n, 2) arrays."""
    return Hyper(*(np.asarray(x)[:, None] for x in hp))


# --- H never rises along the flow (fine grid: RK4, 40 sub-steps per unit) ---------------------------

MONOTONE = {
    "gd": (Setup("gd"), dict(lr=0.02)),
    "gdm": (Setup("gdm"), dict(lr=0.02, beta=0.9)),
    "adam": (Setup("adam"), dict(lr=0.01, beta=0.9, beta2=0.999)),   # a = 0.1 >= b/4 = 0.00025
    "lion": (Setup("lion"), dict(lr=0.01, beta=0.9, beta2=0.99)),
}


@pytest.mark.parametrize("toy", [QUAD, ROSEN], ids=lambda t: t.name)
@pytest.mark.parametrize("name", list(MONOTONE))
def test_hamiltonian_never_rises_along_the_flow(name, toy):
    setup, values = MONOTONE[name]
    hp = make_hyper(**values)
    tr = integrate(setup, toy, hp, 500, solver="rk4", substeps=40)
    h = tr.hamiltonian
    assert np.all(np.isfinite(h)) and h[-1] < 0.5 * h[0]
    assert np.diff(h).max() <= 1e-7 * h[0]
    # the rate formula, at every grid state
    if name == "lion":
        assert np.all(tr.dH_dt <= -values["lr"] * tr.c_norm + 1e-12)
    else:
        assert np.all(tr.dH_dt <= 1e-12)
    if name == "gdm":  # the loss itself is not monotone: it is H that is
        assert np.diff(tr.loss).max() > 1e-3 * h[0]


def test_adam_hamiltonian_rises_when_a_lt_b_over_4():
    hp = make_hyper(**{**MONOTONE["adam"][1], "beta": 0.999, "beta2": 0.9})
    tr = integrate(Setup("adam"), QUAD, hp, 500, solver="rk4", substeps=40)
    assert np.diff(tr.hamiltonian).max() > 1.0 and tr.dH_dt.max() > 1.0


# --- caution (Theorem 2.3): L monotone, H at least as fast as the base flow, when alpha >= 1 --------

CAUTIOUS = {
    "gdm-elementwise-mean-quad": (Setup("gdm", cautious=True), dict(lr=0.02), QUAD),
    "gdm-inner-none-quad": (Setup("gdm", cautious=True, mask="inner", compensation="none"), dict(lr=0.02), QUAD),
    "gdm-elementwise-mean-rosen": (Setup("gdm", cautious=True), dict(lr=0.02), ROSEN),
    "nesterov-ge-none-rosen": (Setup("nesterov", cautious=True, mask="elementwise-ge", compensation="none"),
                               dict(lr=0.02), ROSEN),
    "adam-elementwise-none-rosen": (Setup("adam", cautious=True, compensation="none"), dict(lr=0.01), ROSEN),
    "lion-elementwise-mean-quad": (Setup("lion", cautious=True), dict(lr=0.01, beta2=0.99), QUAD),
}


def base_rates_at(setup: Setup, toy, tr, hp: Hyper):
    """The base (non-cautious) flow's diagnostics at the cautious trajectory's states."""
    n = len(tr.w)
    hpb = Hyper(*(jnp.full((n,), x) for x in hp))
    y = FlowState(jnp.asarray(tr.w), jnp.asarray(tr.m), jnp.asarray(tr.v))
    return batched_diag(dataclasses.replace(setup, cautious=False), toy.name)(y, hpb, toy_arrays(toy))


@pytest.mark.parametrize("case", list(CAUTIOUS))
def test_cautious_flow_decreases_L_and_H_at_least_as_fast(case):
    setup, values, toy = CAUTIOUS[case]
    hp = make_hyper(**values)
    tr = integrate(setup, toy, hp, 500, solver="rk4", substeps=40)
    assert tr.masked_fraction[1:].max() > 0.4  # the mask is really active
    # pointwise (the theorem): dL/dt <= 0 and dH/dt(cautious) <= dH/dt(base) at every grid state
    assert np.all(tr.dL_dt <= 1e-12)
    base = base_rates_at(setup, toy, tr, hp)
    assert np.all(tr.dH_dt <= np.asarray(base["dH_dt"]) + 1e-12)
    assert np.min(tr.dH_dt - np.asarray(base["dH_dt"])) < -1e-6  # strictly faster somewhere
    # along the integrated flow: L and H non-increasing up to the solver's error at switching surfaces
    assert np.diff(tr.loss).max() <= 1e-4 * tr.loss[0]
    assert np.diff(tr.hamiltonian).max() <= 1e-4 * tr.hamiltonian[0]


def test_cautious_loss_rises_are_solver_error_and_shrink_with_the_step():
    """The inner mask switches the whole motion on and off: a fixed step overshoots the
    switching surface by O(h), and so do the rises of L on the grid."""
    setup, values, toy = CAUTIOUS["gdm-inner-none-quad"]
    rises = [np.diff(integrate(setup, toy, make_hyper(**values), 60, solver="euler", substeps=n).loss).max()
             for n in (10, 40, 160)]
    assert rises[0] > 0
    assert rises[1] < rises[0] / 3 and rises[2] < rises[1] / 3


def test_count_compensation_in_2d_breaks_alpha_ge_1():
    # nothing masked: alpha = d/(nnz + 1) = 2/3 < 1
    u, g = jnp.array([1.0, 2.0]), jnp.array([0.5, 0.25])
    phi = mask_phi(u, g, "elementwise")
    assert float(compensation_alpha(phi, "count")) == pytest.approx(2 / 3)
    # so at such a state the cautious H decreases *slower* than the base H: by eps (1/3) g.s
    count = Setup("gdm", cautious=True, compensation="count")
    hp = make_hyper(lr=0.02)
    y = FlowState(jnp.array([[-1.0, 0.5]]), jnp.array([[-3.0, 5.0]]), jnp.zeros((1, 2)))
    hpb = Hyper(*(x[None] for x in hp))
    caut = batched_diag(count, "quadratic")(y, hpb, toy_arrays(QUAD))
    base = batched_diag(Setup("gdm"), "quadratic")(y, hpb, toy_arrays(QUAD))
    gs = float(np.sum(grads(QUAD, y.w) * np.asarray(y.m)))
    assert gs > 0
    np.testing.assert_allclose(caut["dH_dt"] - base["dH_dt"], 0.02 / 3 * gs, rtol=1e-12)
    # and along the flow H rises, far beyond solver error, while L still never does
    tr = integrate(count, QUAD, hp, 500, solver="rk4", substeps=40)
    assert np.diff(tr.hamiltonian).max() > 0.1
    assert tr.dH_dt.max() > 0.1 and np.all(tr.dL_dt <= 1e-12)
    assert np.diff(tr.loss).max() <= 1e-4 * tr.loss[0]


# --- weight decay in the flow --------------------------------------------------------------------

def test_decoupled_decay_flow_converges_to_the_regularised_minimiser():
    hp = make_hyper(lr=0.05, wd=0.5)
    tr = integrate(Setup("gd", decay="decoupled"), QUAD, hp, 400, solver="rk4", substeps=5,
                   toy_params=dict(cx=1.0, cy=-0.5))
    np.testing.assert_allclose(tr.w[-1], [2 / 2.5 * 1.0, 8 / 8.5 * -0.5], atol=1e-10)  # (H + wd I)^-1 H c


def test_cautious_decay_flow_reaches_a_minimiser_of_L_decoupled_does_not():
    toy = get_toy("valley-line")
    hp = make_hyper(lr=0.05, wd=0.1)
    caut = integrate(Setup("gd", decay="cautious"), toy, hp, 2000, solver="rk4", substeps=10)
    dec = integrate(Setup("gd", decay="decoupled"), toy, hp, 2000, solver="rk4", substeps=10)
    assert caut.loss[-1] < 1e-9 < 1e-3 < dec.loss[-1]
    assert np.linalg.norm(caut.w[-1]) < np.linalg.norm(caut.w[0])  # it slid towards small norm
    assert not is_smooth(Setup("gd", decay="cautious")) and caut.status.warnings


# --- smoothing options -----------------------------------------------------------------------------

def test_smooth_sign_and_smooth_mask_approach_the_hard_flows():
    """tanh(c/tau) -> sign(c) and sigmoid(x/tau) -> 1[x > 0] as tau -> 0: the smooth flows
    converge to the hard ones (away from sliding modes, over a short horizon)."""
    hp = dict(lr=0.01, beta=0.9, beta2=0.99)
    hard = integrate(Setup("lion"), ROSEN, make_hyper(**hp), 30, solver="rk4", substeps=10)
    errs = [np.abs(integrate(Setup("lion", lion_sign="smooth"), ROSEN, make_hyper(**hp, sign_tau=tau), 30,
                             solver="rk4", substeps=10).w - hard.w).max() for tau in (1e-1, 1e-2, 1e-3)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-3
    assert is_smooth(Setup("lion", lion_sign="smooth")) and not is_smooth(Setup("lion"))
