"""Base optimizers as optax GradientTransformations that output the direction u_t,
and the kinetic part of each one's Hamiltonian H = L + K(state).

Conventions (DESIGN.md Sections 3 and 6), with eps the step size:

=========  ==========================================  =====================  ==============================
name       state update                                direction u_t          K(state)
=========  ==========================================  =====================  ==============================
gd         -                                           g                      0
gdm        s = beta s + g            (optax.trace)     s                      (eps/2) |s|^2
gdm, damp  m = beta m + (1-beta) g   (optax.ema)       m                      eps/(2(1-beta)) |m|^2
nesterov   s = beta s + g            (optax.trace)     g + beta s             (eps beta/2) |s|^2
adam       optax.scale_by_adam(b1, b2, e)              m^/(sqrt(v^)+e)        eps/(2(1-b1)) sum m^2/(sqrt(v)+e)
lion       optax.scale_by_lion(b1, b2)                 sign(b1 m+(1-b1) g)    eps b1/(1-b2) |m|_1
=========  ==========================================  =====================  ==============================

Each K makes H non-increasing along the optimizer's flow (DESIGN.md Section 6).  The
nesterov row is derived here: with s' = g - (1-beta) s and w' = -eps (g + beta s),
dH/dt = -eps |g|^2 - eps beta (1-beta) |s|^2 <= 0.  The dampened gdm row: with
m' = (1-beta)(g - m), w' = -eps m, dH/dt = -eps |m|^2.  On discrete Adam iterates
K is read with the bias-corrected moments m^, v^ (the ones that drive the step;
zero before the first step).  optax.lion's default weight_decay is 1e-3; ours is 0
and decay is a separate, explicit mode (dynamics.decay).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dynamics.config import Hyper, Setup


def _sum(tree, fn) -> jax.Array:
    return sum(jnp.sum(fn(x)) for x in jax.tree.leaves(tree))


class BaseOptimizer(NamedTuple):
    """transform(hp, dampening) -> direction GradientTransformation;
    kinetic(state, hp, dampening) -> K, the Hamiltonian's kinetic term."""

    transform: Callable[[Hyper, bool], optax.GradientTransformation]
    kinetic: Callable[[optax.OptState, Hyper, bool], jax.Array]


def _gdm_transform(hp: Hyper, dampening: bool) -> optax.GradientTransformation:
    if dampening:
        return optax.ema(decay=hp.beta, debias=False)
    return optax.trace(decay=hp.beta)


def _gdm_kinetic(state, hp: Hyper, dampening: bool) -> jax.Array:
    if dampening:
        return hp.lr / (2 * (1 - hp.beta)) * _sum(state.ema, jnp.square)
    return hp.lr / 2 * _sum(state.trace, jnp.square)


def _adam_kinetic(state, hp: Hyper, dampening: bool) -> jax.Array:
    count = state.count.astype(hp.lr.dtype)
    started = state.count > 0
    c1 = jnp.where(started, 1 - hp.beta**count, 1.0)
    c2 = jnp.where(started, 1 - hp.beta2**count, 1.0)
    terms = [jnp.sum((m / c1) ** 2 / (jnp.sqrt(v / c2) + hp.adam_eps))
             for m, v in zip(jax.tree.leaves(state.mu), jax.tree.leaves(state.nu))]
    return hp.lr / (2 * (1 - hp.beta)) * sum(terms)


BASE_OPTIMIZERS: dict[str, BaseOptimizer] = {
    "gd": BaseOptimizer(lambda hp, d: optax.identity(), lambda s, hp, d: jnp.zeros((), hp.lr.dtype)),
    "gdm": BaseOptimizer(_gdm_transform, _gdm_kinetic),
    "nesterov": BaseOptimizer(
        lambda hp, d: optax.trace(decay=hp.beta, nesterov=True),
        lambda s, hp, d: hp.lr * hp.beta / 2 * _sum(s.trace, jnp.square)),
    "adam": BaseOptimizer(
        lambda hp, d: optax.scale_by_adam(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps),
        _adam_kinetic),
    "lion": BaseOptimizer(
        lambda hp, d: optax.scale_by_lion(b1=hp.beta, b2=hp.beta2),
        lambda s, hp, d: hp.lr * hp.beta / (1 - hp.beta2) * _sum(s.mu, jnp.abs)),
}


def base_transform(setup: Setup, hp: Hyper) -> optax.GradientTransformation:
    """The direction transform u_t of ``setup.optimizer`` (no caution, no decay)."""
    return BASE_OPTIMIZERS[setup.optimizer].transform(hp, setup.dampening)


def kinetic_energy(setup: Setup, base_state, hp: Hyper) -> jax.Array:
    """K(state) of the table above, so that H = L + K."""
    return BASE_OPTIMIZERS[setup.optimizer].kinetic(base_state, hp, setup.dampening)
