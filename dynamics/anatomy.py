"""The anatomy of each step of a roll-out: what the cautious mask saw and did
(arXiv 2411.16085, Algorithm 1; docs/theory.md, Sections 1-3).

At step t (w_t -> w_{t+1}), with g_t = grad L(w_t):

    u_t       = the base optimizer's direction (its state updated with g_t)
    phi_t     = the mask phi(u_t * g_t), ones without caution
    alpha_t   = the compensation alpha(phi_t), 1 without caution
    c_t       = alpha_t phi_t u_t            (u_t without caution)
    decay_t   = 0, wd w_t or wd 1[c_t w_t >= 0] w_t      (weight-decay mode)
    step_t    = w_{t+1} - w_t = -eps (c_t + decay_t)

The base optimizer's state is driven by the raw gradients only (the cautious wrapper
masks the update, never the state), so u_t is recomputed exactly from the recorded
gradients g_0..g_t of a Trajectory: one jitted loop over them, built once per bucket of
step counts (dynamics.horizon) with the count a traced argument.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.caution import compensation_alpha, mask_phi
from dynamics.config import Hyper, Setup
from dynamics.flows import decay_term
from dynamics.horizon import step_bucket
from dynamics.optimizers import base_transform
from dynamics.noise import check_seed, step_noise
from dynamics.precision import run_dtype
from dynamics.rollout import Trajectory, noise_free


class StepAnatomy(NamedTuple):
    """Arrays with T rows, row t describing the step w_t -> w_{t+1} (module docstring):
    w, grad, direction (u), mask (phi), alpha, cautious (c = alpha phi u), decay, step."""

    w: np.ndarray
    grad: np.ndarray
    direction: np.ndarray
    mask: np.ndarray
    alpha: np.ndarray
    cautious: np.ndarray
    decay: np.ndarray
    step: np.ndarray


def _anatomy_fn(setup: Setup):
    def run(w, g, hp: Hyper, steps):
        base = base_transform(setup, hp)

        def one(t, carry):
            state, rows = carry
            u, state = base.update(g[t], state, w[t])
            if setup.cautious:
                phi = mask_phi(u, g[t], setup.mask, lr=hp.lr, mu=hp.mu, tau=hp.tau)
                alpha = compensation_alpha(phi, setup.compensation)
                c = alpha * phi * u
            else:
                c, phi, alpha = u, jnp.ones_like(u), jnp.ones((), u.dtype)
            decay = decay_term(setup.decay, c, w[t], hp.wd)
            rec = dict(direction=u, mask=phi, alpha=alpha, cautious=c, decay=decay, step=-hp.lr * (c + decay))
            return state, {k: jax.lax.dynamic_update_index_in_dim(rows[k], rec[k], t, 0) for k in rows}

        rows = {k: jnp.zeros_like(w) for k in ("direction", "mask", "cautious", "decay", "step")}
        rows["alpha"] = jnp.zeros(w.shape[:1], w.dtype)
        return jax.lax.fori_loop(0, steps, one, (base.init(w[0]), rows))[1]

    return run


@functools.lru_cache(maxsize=32)
def compiled_anatomy(setup: Setup):
    """The jitted ``fn(w, g, hp, T)`` for ``setup``: w and g hold a bucket of rows
    (dynamics.horizon.step_bucket of T; rows past T are padding), T is an int32; the
    first T rows of the result are the steps'.  One program per setup and bucket."""
    return jax.jit(_anatomy_fn(setup))


def step_anatomy(setup: Setup, hp: Hyper, traj: Trajectory, seed: int = 0) -> StepAnatomy:
    """The anatomy of every step of ``traj`` (a roll-out of ``setup`` with ``hp`` and,
    with gradient noise, ``seed``).  A noisy step used g~_t = g_t + sigma z_{t+1}
    (dynamics.noise.step_noise), so the anatomy reads those gradients: the mask, like
    Algorithm 1 of arXiv 2411.16085, saw the noisy one."""
    steps = len(traj.w) - 1
    if steps < 1:
        raise ValueError("the trajectory needs at least one step")
    dt = run_dtype(setup.dtype)
    w, g = jnp.asarray(traj.w[:-1], dt), jnp.asarray(traj.grad[:-1], dt)
    if noise_free(setup, hp).noise != "none":
        g = g + jnp.asarray(hp.noise_sigma, dt) * step_noise(check_seed(seed), steps, g[0])
    hp = Hyper(*(jnp.asarray(x, dt) for x in hp))
    pad = ((0, step_bucket(steps) - steps), (0, 0))     # in NumPy: an eager jnp.pad would compile per T
    w_rows, g_rows = (jnp.asarray(np.pad(np.asarray(x), pad)) for x in (w, g))
    out = compiled_anatomy(setup)(w_rows, g_rows, hp, jnp.asarray(steps, jnp.int32))
    return StepAnatomy(w=np.asarray(w), grad=np.asarray(g), **{k: np.asarray(v)[:steps] for k, v in out.items()})
