"""Sharpness-aware minimization (SAM, Foret et al., arXiv 2010.01412) around any base
optimizer of the registry (docs/theory.md, Section 7).

One SAM step from w, with g = grad L(w), n = g/|g| and the radius rho:

    g_sam = grad L(w + rho n)        (ascent: the perturbation goes UP the gradient)
    u     = base(g_sam)              (the base optimizer's direction, its state updated)
    w    <- w - eps u

two gradient evaluations per step.  The cautious variant wraps SAM from outside,
cautious(sam(base)), so its mask compares u with the gradient at w, g = grad L(w),
not with g_sam (dynamics.caution receives g and hands it to SAM unchanged).  n = 0
where g = 0 (there SAM's ascent direction is undefined and the step is the base
optimizer's on g = 0).  |g| is the norm over every leaf of the parameters (the
paper's global norm), computed on g rescaled by its largest magnitude so that it
neither underflows nor overflows.

This is optax.contrib.sam in its ``opaque_mode`` with ``sync_period = 2`` (one ascent
step, then the base step at the original parameters) and an ascent optimizer of our
own, ``ascent``, because optax's ``normalize`` divides by |g| unguarded (0/0 = NaN at
a stationary point, and |g|^2 underflows to 0 for |g| < 1e-154 in float64).  optax's
SAM wants ``grad_fn`` as an extra argument of each update, which the chain
(dynamics.rollout: caution, decay, scale) does not pass on; ``sam`` closes over it
instead, so the toy's gradient is fixed when the program is built.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
import optax.contrib

GradFn = Callable[[jax.Array], jax.Array]
NO_FLOW = ("SAM has no ODE mode: its field -u(grad L(w + rho g/|g|)) is discontinuous where g = 0 (g/|g| flips), so "
           "the flow reaches a minimiser in finite time and then chatters across it (docs/theory.md, Section 7); "
           "use discrete steps")


def unit_direction(g):
    """g/|g| (the norm over every leaf of the pytree g), 0 where g = 0; |g| is
    computed from g / max|g_i|, so neither its square underflows nor overflows."""
    leaves = jax.tree.leaves(g)
    s = jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))
    safe = jnp.where(s > 0, s, jnp.ones_like(s))
    norm = jnp.sqrt(sum(jnp.sum((x / safe) ** 2) for x in leaves))
    inv = jnp.where(s > 0, 1 / jnp.where(s > 0, norm, 1.0), 0.0)
    return jax.tree.map(lambda x: x / safe * inv, g)


def ascent(rho) -> optax.GradientTransformation:
    """optax.contrib.sam's adversarial optimizer: the update -rho g/|g| (0 where g = 0),
    which optax's SAM negates and adds, so the gradient is evaluated at w + rho g/|g|."""
    return optax.stateless(lambda g, params=None: jax.tree.map(lambda n: -rho * n, unit_direction(g)))


def sam(base: optax.GradientTransformation, grad_fn: GradFn, rho) -> optax.GradientTransformation:
    """SAM around ``base`` (module docstring): its update from the gradient g at w is
    base's update from grad_fn(w + rho g/|g|).  ``grad_fn`` maps parameters to the
    gradient of the loss; ``update`` needs the parameters w.  Its state is optax's
    SAMState, the base optimizer's state in its field ``opt_state`` (``base_state``)."""
    inner = optax.contrib.sam(base, ascent(rho), sync_period=2, opaque_mode=True)

    def update_fn(grads, state, params=None):
        if params is None:
            raise ValueError("SAM needs the parameters: call update(grads, state, params)")
        return inner.update(grads, state, params, grad_fn=lambda w, _: grad_fn(w))

    return optax.GradientTransformation(inner.init, update_fn)


def base_state(state):
    """The base optimizer's state inside a ``sam`` state."""
    return state.opt_state


def with_noise(grad_fn: GradFn, noise) -> GradFn:
    """w -> grad_fn(w) + noise: the gradient at SAM's perturbed point on a noisy run
    carries the same draw as the gradient at w (one sample serves both evaluations)."""
    return lambda w: grad_fn(w) + noise
