"""Noisy gradients (issue 7): each step of a roll-out or a sweep cell may use

    g~_t = g_t + sigma z_t,    z_t ~ N(0, I),    z_t = normal(fold_in(key(seed), t)),

instead of g_t = grad L(w_{t-1}) (Setup.noise = ``gaussian``, sigma = Hyper.noise_sigma,
t = 1..T the index of the step that produces w_t).  The noise depends only on (seed, t):
a run is reproducible bit for bit from its seed, and a sweep cell with seed k follows
the same noise as the single roll-out with seed k.

The optimizer, the cautious mask phi(u, g~) (arXiv 2411.16085, Algorithm 1 uses the
stochastic gradient) and the decay all see g~.  ``mask_flips`` separates the mask's
drops caused by noise from those caused by momentum: with u the direction computed
from the noisy gradients,

    dropped_by_noise = mean_i max(phi_i(u, g) - phi_i(u, g~), 0)
    kept_by_noise    = mean_i max(phi_i(u, g~) - phi_i(u, g), 0)

i.e. (hard masks) the fraction of coordinates the noisy mask drops although u agrees
with the true gradient, and the fraction it keeps although u disagrees with it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.caution import mask_phi

SEED_LIMIT = 2**32   # seeds are uint32


def check_seed(seed) -> int:
    """The seed as a Python int in [0, 2^32); ValueError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2^32); got {seed!r}")
    return int(seed)


def noise_key(seed) -> jax.Array:
    """The typed PRNG key of a (possibly traced) uint32 seed."""
    return jax.random.key(jnp.asarray(seed, jnp.uint32))


def standard_noise(key: jax.Array, t, like: jax.Array) -> jax.Array:
    """z_t ~ N(0, I) shaped and typed like ``like``, drawn from fold_in(key, t); for an
    array of steps t, one row per step."""
    draw = lambda ti: jax.random.normal(jax.random.fold_in(key, ti), jnp.shape(like), like.dtype)
    return draw(t) if jnp.ndim(t) == 0 else jax.vmap(draw)(t)


def step_noise(seed, steps: int, like: jax.Array) -> jax.Array:
    """z_1..z_T of a run with ``seed`` (row t-1: the noise of the step that produces w_t),
    shaped and typed like ``like``: what a noisy roll-out adds to its gradients."""
    return standard_noise(noise_key(seed), jnp.arange(1, steps + 1), like)


def noisy_gradient(g: jax.Array, sigma, key: jax.Array, t) -> jax.Array:
    """g~_t = g + sigma z_t of the module docstring."""
    return g + sigma * standard_noise(key, t, g)


def mask_flips(u: jax.Array, g: jax.Array, g_noisy: jax.Array, kind: str, lr=None, mu=1.0,
               tau=1e-3) -> tuple[jax.Array, jax.Array]:
    """(dropped_by_noise, kept_by_noise) of the module docstring, for one direction u."""
    phi_true = mask_phi(u, g, kind, lr=lr, mu=mu, tau=tau)
    phi_noisy = mask_phi(u, g_noisy, kind, lr=lr, mu=mu, tau=tau)
    return jnp.mean(jnp.maximum(phi_true - phi_noisy, 0)), jnp.mean(jnp.maximum(phi_noisy - phi_true, 0))
