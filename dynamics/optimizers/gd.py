r"""Gradient descent: u = g, no state, K = 0 (H = L).

Flow w' = -eps g: dH/dt = dL/dt = -eps |g|^2.  On a quadratic with Hessian eigenvalues
l_i the step is w - w* <- (1 - eps l_i)(w - w*) per eigendirection: rate
max_i |1 - eps l_i|, stable for eps < 2/l_max, best eps = 2/(l1 + l2) with rate
(k-1)/(k+1), k = l2/l1 (docs/theory.md, Section 5.1).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from dynamics.optimizers.spec import ClosedForm, Equations, Flow, OptimizerSpec, grid, no_moments, zero_kinetic


def rate(lr, beta, eigenvalues, dampening: bool = False) -> np.ndarray:
    """max_i |1 - lr l_i| (broadcast over lr and beta; beta is ignored)."""
    lr = grid(lr, beta)[0]
    return np.max([np.abs(1 - lr * lam) for lam in eigenvalues], axis=0)


def lr_limit(beta, lam_max: float, dampening: bool = False) -> np.ndarray:
    """2 / l_max at every beta."""
    return np.full_like(np.asarray(beta, float), 2 / lam_max)


def optimum(l1: float, l2: float, dampening: bool = False) -> dict[str, float]:
    """eps = 2/(l1 + l2), rate (k-1)/(k+1)."""
    lo, hi = min(l1, l2), max(l1, l2)
    return dict(lr=2 / (lo + hi), beta=0.0, rate=(hi - lo) / (hi + lo))


def _equations(setup) -> Equations:
    return Equations(update=r"w_{t+1} = w_t - \varepsilon\, g_t",
                     flow=r"\dot w = -\varepsilon\, \nabla L(w)",
                     hamiltonian=r"H = L(w), \qquad \dot H = -\varepsilon\, \|g\|^2")


SPEC = OptimizerSpec(
    name="gd", display="GD", order=0, colours=("black", "purple"), summary="u = g",
    transform=lambda hp, setup: optax.identity(), moments=no_moments, kinetic=zero_kinetic,
    equations=_equations, momentum=False, homogeneous=True,
    flow=Flow(state_rate=lambda setup, g, m, v, hp: (jnp.zeros_like(m), jnp.zeros_like(m)), direction=lambda setup, g, m, v, hp: g),
    closed_form=ClosedForm(rate=rate, lr_limit=lr_limit, optimum=optimum),
)
