r"""Signum (Bernstein et al. 2018, arXiv 1802.04434; optax.signum without its scale):
m = beta m + (1-beta) g, u = sign(m).  It is Lion with b1 = b2 = beta, so Lion's K with
b1 = b2 applies: K = eps beta/(1-beta) |m|_1 (docs/theory.md, Section 4.2).
"""
from __future__ import annotations

import jax.numpy as jnp
import optax

from dynamics.optimizers.spec import Equations, OptimizerSpec, get, tree_sum


def _equations(setup) -> Equations:
    return Equations(
        update=r"m_{t+1} = \beta\, m_t + (1-\beta)\, g_t, \qquad w_{t+1} = w_t - \varepsilon\,\operatorname{sign}(m_{t+1})",
        hamiltonian=r"H = L(w) + \tfrac{\varepsilon \beta}{1-\beta} \|m\|_1",
        note="Lion's H with β₁ = β₂ = β.",
        source="Bernstein et al. 2018 (arXiv 1802.04434); optax.signum: Lion with β₁ = β₂ = β")


SPEC = OptimizerSpec(
    name="signum", display="Signum", order=5, colours=("sky", "orange"), summary="u = sign(m)",
    transform=lambda hp, setup: optax.chain(optax.ema(hp.beta, debias=False), optax.scale_by_sign()),
    moments=lambda state, hp, setup: (get(state, "ema"), None),
    kinetic=lambda setup, m, v, hp: hp.lr * hp.beta / (1 - hp.beta) * tree_sum(m, jnp.abs),
    equations=_equations, uses=("beta",),
)
