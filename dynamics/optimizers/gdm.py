r"""Gradient descent with momentum, the heavy ball (docs/theory.md, Sections 1, 4.1, 5.1).

Undampened (as PyTorch SGD and optax.trace): s = beta s + g, u = s, K = (eps/2)|s|^2.
Flow s' = g - (1-beta) s, w' = -eps s: dH/dt = -eps g.s + eps s.(g - (1-beta) s)
= -eps (1-beta)|s|^2 <= 0.

Dampened (Setup.dampening, optax.ema without debiasing): m = beta m + (1-beta) g, u = m,
K = eps/(2(1-beta)) |m|^2.  Flow m' = (1-beta)(g - m), w' = -eps m:
dH/dt = -eps g.m + eps m.(g - m) = -eps |m|^2.

Closed form on a quadratic (eigenvalues l_i): s' = beta s + l z, z' = z - eps s' gives
[[beta, l], [-eps beta, 1 - eps l]] with characteristic polynomial
x^2 - (1 + beta - eps l) x + beta; the rate is the largest spectral radius over i,
stable iff eps l_max < 2 (1 + beta); optimum eps* = (2/(sqrt l1 + sqrt l2))^2,
beta* = ((sqrt k - 1)/(sqrt k + 1))^2, rate* = (sqrt k - 1)/(sqrt k + 1), k = l2/l1.  The
dampened form is the heavy ball with eps (1 - beta).
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import optax

from dynamics.optimizers.spec import (ClosedForm, Equations, Flow, OptimizerSpec, get, grid, spectral_radius,
                                      tree_sum)


def _transform(hp, setup) -> optax.GradientTransformation:
    if setup.dampening:
        return optax.ema(decay=hp.beta, debias=False)
    return optax.trace(decay=hp.beta)


def _moments(state, hp, setup):
    return get(state, "ema" if setup.dampening else "trace"), None


def _kinetic(setup, m, v, hp):
    scale = hp.lr / (2 * (1 - hp.beta)) if setup.dampening else hp.lr / 2
    return scale * tree_sum(m, jnp.square)


def _state_rate(setup, g, m, v, hp):
    dm = (1 - hp.beta) * (g - m) if setup.dampening else g - (1 - hp.beta) * m
    return dm, jnp.zeros_like(m)


def rate(lr, beta, eigenvalues, dampening: bool = False) -> np.ndarray:
    """max_i spectral radius of [[beta, l_i], [-lr beta, 1 - lr l_i]] (broadcast over lr,
    beta); ``dampening``: the heavy ball with lr (1 - beta)."""
    lr, beta = grid(lr, beta)
    eff = lr * (1 - beta) if dampening else lr
    return np.max([spectral_radius(1 + beta - eff * lam, beta) for lam in eigenvalues], axis=0)


def lr_limit(beta, lam_max: float, dampening: bool = False) -> np.ndarray:
    """2 (1 + beta) / l_max (divided by 1 - beta with dampening)."""
    beta = np.asarray(beta, float)
    limit = 2 * (1 + beta) / lam_max
    return limit / (1 - beta) if dampening else limit


def optimum(l1: float, l2: float, dampening: bool = False) -> dict[str, float]:
    """eps* = (2/(sqrt l1 + sqrt l2))^2, beta* = ((sqrt k - 1)/(sqrt k + 1))^2, rate (sqrt k - 1)/(sqrt k + 1);
    with dampening eps* / (1 - beta*) (the heavy ball with eps (1 - beta))."""
    lo, hi = min(l1, l2), max(l1, l2)
    q = (math.sqrt(hi / lo) - 1) / (math.sqrt(hi / lo) + 1)
    lr = (2 / (math.sqrt(lo) + math.sqrt(hi))) ** 2
    return dict(lr=lr / (1 - q * q) if dampening else lr, beta=q * q, rate=q)


def _equations(setup) -> Equations:
    if setup.dampening:
        return Equations(
            update=r"m_{t+1} = \beta\, m_t + (1-\beta)\, g_t, \qquad w_{t+1} = w_t - \varepsilon\, m_{t+1}",
            flow=r"\dot w = -\varepsilon\, m, \qquad \dot m = (1-\beta)\,(\nabla L(w) - m)",
            hamiltonian=r"H = L(w) + \tfrac{\varepsilon}{2(1-\beta)} \|m\|^2, \qquad \dot H = -\varepsilon \|m\|^2")
    return Equations(
        update=r"s_{t+1} = \beta\, s_t + g_t, \qquad w_{t+1} = w_t - \varepsilon\, s_{t+1}",
        flow=r"\dot w = -\varepsilon\, s, \qquad \dot s = \nabla L(w) - (1-\beta)\, s",
        hamiltonian=r"H = L(w) + \tfrac{\varepsilon}{2} \|s\|^2, \qquad \dot H = -\varepsilon (1-\beta) \|s\|^2")


SPEC = OptimizerSpec(
    name="gdm", display="GDM", order=1, colours=("blue", "vermillion"), symbol="circle",
    summary="heavy ball s ← βs + g, u = s (undampened, as PyTorch SGD and optax.trace; dampened: "
            "s ← βs + (1−β)g)",
    transform=_transform, moments=_moments, kinetic=_kinetic, equations=_equations, uses=("beta",),
    homogeneous=True,
    flow=Flow(state_rate=_state_rate, direction=lambda setup, g, m, v, hp: m),
    closed_form=ClosedForm(rate=rate, lr_limit=lr_limit, optimum=optimum),
    explain=("Momentum accumulates past gradients in s. With β near 1 the velocity carries the iterate past "
             "the valley floor, so L oscillates and rises at many steps (the ticks under the Trajectories "
             "loss plot) even though H = L + K keeps falling: the energy moves between L and the kinetic "
             "term K. "),
)
