"""The anatomy of each step of a roll-out: what the cautious mask saw and did
(arXiv 2411.16085, Algorithm 1; docs/theory.md, Sections 1-3).

At step t (w_t -> w_{t+1}), with g_t = grad L(w_t):

    u_t       = the base optimizer's direction (its state updated with g_t)
    phi_t     = the mask phi(u_t * g_t), ones without caution
    alpha_t   = the compensation alpha(phi_t), 1 without caution
    c_t       = alpha_t phi_t u_t            (u_t without caution)
    decay_t   = 0, wd w_t or wd 1[c_t w_t >= 0] w_t      (weight-decay mode)
    step_t    = w_{t+1} - w_t = -eps_t (c_t + decay_t)

with eps_t = lr f(t) under a learning-rate schedule (dynamics.schedules; lr without), the
eps_t the threshold mask reads too, and g_t clipped to norm clip_norm when clipping is on.

The base optimizer's state is driven by the raw gradients only (the cautious wrapper
masks the update, never the state), so u_t is recomputed exactly from the recorded
gradients g_0..g_t of a Trajectory: one jitted ``lax.scan`` over them.
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
from dynamics.optimizers import base_transform
from dynamics.noise import check_seed, step_noise
from dynamics.precision import run_dtype
from dynamics.rollout import Trajectory, noise_free
from dynamics.schedules import clip_gradient, schedule_factors


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
    def run(w, g, hp: Hyper, eps):
        base = base_transform(setup, hp)

        def one(state, wge):
            wt, gt, et = wge
            u, state = base.update(gt, state, wt)
            if setup.cautious:
                phi = mask_phi(u, gt, setup.mask, lr=et, mu=hp.mu, tau=hp.tau)
                alpha = compensation_alpha(phi, setup.compensation)
                c = alpha * phi * u
            else:
                c, phi, alpha = u, jnp.ones_like(u), jnp.ones((), u.dtype)
            decay = decay_term(setup.decay, c, wt, hp.wd)
            return state, dict(direction=u, mask=phi, alpha=alpha, cautious=c, decay=decay,
                               step=-et * (c + decay))

        _, out = jax.lax.scan(one, base.init(w[0]), (w, g, eps))
        return out

    return run


@functools.lru_cache(maxsize=32)
def compiled_anatomy(setup: Setup):
    """The jitted ``fn(w, g, hp, eps)`` for ``setup`` (one program per setup and length;
    eps: the step size of each step)."""
    return jax.jit(_anatomy_fn(setup))


def step_anatomy(setup: Setup, hp: Hyper, traj: Trajectory, seed: int = 0) -> StepAnatomy:
    """The anatomy of every step of ``traj`` (a roll-out of ``setup`` with ``hp`` and,
    with gradient noise, ``seed``).  A noisy step used g~_t = g_t + sigma z_{t+1}
    (dynamics.noise.step_noise), so the anatomy reads those gradients: the mask, like
    Algorithm 1 of arXiv 2411.16085, saw the noisy one; with clipping, the clipped ones
    (``grad`` is then the gradient the step used)."""
    steps = len(traj.w) - 1
    if steps < 1:
        raise ValueError("the trajectory needs at least one step")
    dt = run_dtype(setup.dtype)
    w, g = jnp.asarray(traj.w[:-1], dt), jnp.asarray(traj.grad[:-1], dt)
    if noise_free(setup, hp).noise != "none":
        g = g + jnp.asarray(hp.noise_sigma, dt) * step_noise(check_seed(seed), steps, g[0])
    hp = Hyper(*(jnp.asarray(x, dt) for x in hp))
    g = jax.vmap(lambda gt: clip_gradient(setup, hp, gt))(g)
    f = schedule_factors(setup, hp, steps, steps)
    eps = hp.lr * (jnp.ones(steps, dt) if f is None else jnp.asarray(f, dt))
    out = compiled_anatomy(setup)(w, g, hp, eps)
    return StepAnatomy(w=np.asarray(w), grad=np.asarray(g), **{k: np.asarray(v) for k, v in out.items()})
