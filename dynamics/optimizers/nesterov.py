r"""Nesterov momentum (optax.trace(nesterov=True)): s = beta s + g, u = g + beta s,
K = (eps beta/2)|s|^2 (docs/theory.md, Sections 4.1, 5.1).

Flow s' = g - (1-beta) s, w' = -eps (g + beta s): dH/dt = -eps g.(g + beta s)
+ eps beta s.(g - (1-beta) s) = -eps |g|^2 - eps beta (1-beta)|s|^2 <= 0.  Its
semi-implicit Euler step with h = 1 is s_{t+1} = beta s_t + g_t,
w_{t+1} = w_t - eps (g_t + beta s_{t+1}): optax's nesterov trace.

Closed form on a quadratic: [[beta, l], [-eps beta^2, 1 - eps l (1+beta)]], polynomial
x^2 - (1+beta)(1 - eps l) x + beta (1 - eps l); stable iff
eps l_max < 2 (1 + beta) / (1 + 2 beta).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from dynamics.optimizers.spec import (ClosedForm, Equations, Flow, OptimizerSpec, get, grid, spectral_radius,
                                      tree_sum)


def rate(lr, beta, eigenvalues, dampening: bool = False) -> np.ndarray:
    """max_i spectral radius of [[beta, l_i], [-lr beta^2, 1 - lr l_i (1+beta)]]."""
    lr, beta = grid(lr, beta)
    return np.max([spectral_radius((1 + beta) * (1 - lr * lam), beta * (1 - lr * lam)) for lam in eigenvalues],
                  axis=0)


def lr_limit(beta, lam_max: float, dampening: bool = False) -> np.ndarray:
    """2 (1 + beta) / ((1 + 2 beta) l_max)."""
    beta = np.asarray(beta, float)
    return 2 * (1 + beta) / ((1 + 2 * beta) * lam_max)


def _equations(setup) -> Equations:
    return Equations(
        update=r"s_{t+1} = \beta\, s_t + g_t, \qquad w_{t+1} = w_t - \varepsilon\,(g_t + \beta\, s_{t+1})",
        flow=r"\dot w = -\varepsilon\,(\nabla L(w) + \beta s), \qquad \dot s = \nabla L(w) - (1-\beta)\, s",
        hamiltonian=(r"H = L(w) + \tfrac{\varepsilon\beta}{2} \|s\|^2, \qquad "
                     r"\dot H = -\varepsilon \|g\|^2 - \varepsilon\beta(1-\beta)\|s\|^2"))


SPEC = OptimizerSpec(
    name="nesterov", display="Nesterov", order=2, colours=("sky", "orange"), summary="u = g + βs",
    transform=lambda hp, setup: optax.trace(decay=hp.beta, nesterov=True),
    moments=lambda state, hp, setup: (get(state, "trace"), None),
    kinetic=lambda setup, m, v, hp: hp.lr * hp.beta / 2 * tree_sum(m, jnp.square),
    equations=_equations, uses=("beta",), homogeneous=True,
    flow=Flow(state_rate=lambda setup, g, m, v, hp: (g - (1 - hp.beta) * m, jnp.zeros_like(m)),
              direction=lambda setup, g, m, v, hp: g + hp.beta * m),
    closed_form=ClosedForm(rate=rate, lr_limit=lr_limit),
    explain=("Momentum accumulates past gradients in s. With β near 1 the velocity carries the iterate past "
             "the valley floor, so L oscillates and rises at many steps (the ticks under the Trajectories "
             "loss plot) even though H = L + K keeps falling: the energy moves between L and the kinetic "
             "term K. "),
)
