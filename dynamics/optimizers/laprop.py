r"""LaProp (Ziyin, Wang, Ueda 2020, arXiv 2002.04839, Algorithm 1; hand-written, optax has
none): momentum of the normalised gradient, bias-corrected (docs/theory.md, Section 4.2),

    v_t = b2 v + (1-b2) g^2,   m_t = b1 m + (1-b1) g / (sqrt(v_t/(1-b2^t)) + e),
    u_t = m_t / (1-b1^t)     (from m_0 = v_0 = 0).

Adam normalises after the momentum, LaProp before it, which decouples b1 and b2.  Its flow
m' = a (g/D - m), w' = -eps m with D = sqrt(v) + e and K = eps/(2a) sum D m^2 gives
dH/dt = -eps sum D m^2 + (eps b/(4a)) sum m^2 (g^2 - v)/sqrt(v), non-positive where
g_i^2 - v_i <= (4a/b) sqrt(v_i) D_i (not everywhere: H can rise when g^2 jumps above v).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dynamics.optimizers.spec import Equations, OptimizerSpec, corrected_moments, pair_sum, root


class LaPropState(NamedTuple):
    """count t, first moment mu (an EMA of normalised gradients), second moment nu."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_laprop(b1, b2, eps) -> optax.GradientTransformation:
    """LaProp's direction u_t of the module docstring."""

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return LaPropState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        t = count.astype(jax.tree.leaves(grads)[0].dtype)
        nu = optax.tree_utils.tree_update_moment_per_elem_norm(grads, state.nu, b2, 2)
        normalised = jax.tree.map(lambda g, v: g / (jnp.sqrt(v / (1 - b2**t)) + eps), grads, nu)
        mu = optax.tree_utils.tree_update_moment(normalised, state.mu, b1, 1)
        return jax.tree.map(lambda m: m / (1 - b1**t), mu), LaPropState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _equations(setup) -> Equations:
    return Equations(
        update=(r"v_{t+1} = \beta_2 v_t + (1-\beta_2) g_t^2,\quad m_{t+1} = \beta_1 m_t + (1-\beta_1)\, "
                r"\frac{g_t}{\sqrt{v_{t+1}/(1-\beta_2^{t+1})} + e},\quad w_{t+1} = w_t - \varepsilon\, "
                r"\frac{m_{t+1}}{1-\beta_1^{t+1}}"),
        hamiltonian=r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i (\sqrt{v_i} + e)\, m_i^2",
        note="dH/dt ≤ 0 only where g² − v ≤ (4a/b)√v (√v + e): LaProp's H can rise when g² jumps above v.",
        source="Ziyin, Wang, Ueda 2020 (arXiv 2002.04839), Algorithm 1: normalise, then average")


SPEC = OptimizerSpec(
    name="laprop", display="LaProp", order=10, colours=("sky", "orange"), summary="normalise, then average",
    transform=lambda hp, setup: scale_by_laprop(hp.beta, hp.beta2, hp.adam_eps),
    moments=lambda state, hp, setup: corrected_moments(state, hp),
    kinetic=lambda setup, m, v, hp: hp.lr / (2 * (1 - hp.beta)) * pair_sum(
        m, v, lambda mi, vi: (root(vi) + hp.adam_eps) * mi**2),
    equations=_equations, uses=("beta", "beta2", "adam_eps"),
)
