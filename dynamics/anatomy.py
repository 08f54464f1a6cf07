"""The anatomy of each step of a roll-out: what the cautious mask saw and did
(arXiv 2411.16085, Algorithm 1; docs/theory.md, Sections 1-3).

At step t (w_t -> w_{t+1}), with g_t = grad L(w_t):

    u_t       = the base optimizer's direction (its state updated with g_t; with SAM,
                with grad L(w_t + rho g_t/|g_t|), dynamics.sam)
    phi_t     = the mask phi(u_t * g_t), ones without caution
    alpha_t   = the compensation alpha(phi_t), 1 without caution
    c_t       = alpha_t phi_t u_t            (u_t without caution)
    decay_t   = 0, wd w_t or wd 1[c_t w_t >= 0] w_t      (weight-decay mode)
    step_t    = w_{t+1} - w_t = -eps_t (c_t + decay_t)

with eps_t = lr f(t) under a learning-rate schedule (dynamics.schedules; lr without), the
eps_t the threshold mask reads too, and g_t clipped to norm clip_norm when clipping is on.

The base optimizer's state is driven by the gradients only (the cautious wrapper masks
the update, never the state), so u_t is recomputed exactly from the recorded gradients
g_0..g_t of a Trajectory (with SAM, and the toy's gradient at the perturbed points): one jitted loop over them, built once per bucket of
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
from dynamics.noise import check_seed, step_noise
from dynamics.precision import run_dtype
from dynamics.rollout import Trajectory, masked_transform, noise_free
from dynamics.sam import with_noise
from dynamics.schedules import clip_gradient, step_sizes
from toys import Toy


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


def _anatomy_fn(setup: Setup, value):
    def run(w, g, hp: Hyper, steps, eps, p, noise):
        grad = jax.grad(lambda x: value(x, p)) if setup.sam else None
        direction = lambda t: masked_transform(setup, hp, None if grad is None else with_noise(grad, noise[t]))

        def one(t, carry):
            state, rows = carry
            gt = clip_gradient(setup, hp, g[t])
            u, state = direction(t).update(gt, state, w[t])
            if setup.cautious:
                phi = mask_phi(u, gt, setup.mask, lr=eps[t], mu=hp.mu, tau=hp.tau)
                alpha = compensation_alpha(phi, setup.compensation)
                c = alpha * phi * u
            else:
                c, phi, alpha = u, jnp.ones_like(u), jnp.ones((), u.dtype)
            decay = decay_term(setup.decay, c, w[t], hp.wd)
            rec = dict(grad=gt, direction=u, mask=phi, alpha=alpha, cautious=c, decay=decay, step=-eps[t] * (c + decay))
            return state, {k: jax.lax.dynamic_update_index_in_dim(rows[k], rec[k], t, 0) for k in rows}

        rows = {k: jnp.zeros_like(w) for k in ("grad", "direction", "mask", "cautious", "decay", "step")}
        rows["alpha"] = jnp.zeros(w.shape[:1], w.dtype)
        return jax.lax.fori_loop(0, steps, one, (direction(0).init(w[0]), rows))[1]

    return run


@functools.lru_cache(maxsize=32)
def compiled_anatomy(setup: Setup, toy: Toy | None = None):
    """The jitted ``fn(w, g, hp, T, eps, toy_params, noise)`` for ``setup`` (and, with
    SAM, ``toy``, whose gradient SAM evaluates): w, g (the gradients the steps saw), eps
    (each step's step size) and noise (the noise of each step, zeros without) hold a
    bucket of rows (dynamics.horizon.step_bucket of T; rows past T are padding), T is an
    int32; the first T rows of the result are the steps'.  One program per setup (and
    toy with SAM) and bucket."""
    return jax.jit(_anatomy_fn(setup, None if toy is None else toy.value))


def step_anatomy(setup: Setup, hp: Hyper, traj: Trajectory, seed: int = 0, toy: Toy | None = None,
                 toy_params=None) -> StepAnatomy:
    """The anatomy of every step of ``traj`` (a roll-out of ``setup`` with ``hp`` and,
    with gradient noise, ``seed``; with SAM on ``toy`` with ``toy_params``).  A noisy
    step used g~_t = g_t + sigma z_{t+1} (dynamics.noise.step_noise), so the anatomy reads
    those gradients: the mask, like Algorithm 1 of arXiv 2411.16085, saw the noisy one;
    with clipping, the clipped ones (``grad`` is then the gradient the step used).  With
    SAM the base optimizer is fed the gradient at w_t + rho g_t/|g_t| (with the same
    noise), recomputed on ``toy``; the mask still reads g_t."""
    steps = len(traj.w) - 1
    if steps < 1:
        raise ValueError("the trajectory needs at least one step")
    if setup.sam and toy is None:
        raise ValueError("the anatomy of a SAM run needs its toy (SAM evaluates the gradient at a second point)")
    dt = run_dtype(setup.dtype)
    w, g = np.asarray(traj.w[:-1], dt), np.asarray(traj.grad[:-1], dt)       # NumPy: eager jnp ops compile per T
    noise = np.zeros_like(g)
    if noise_free(setup, hp).noise != "none":
        noise = np.asarray(jnp.asarray(hp.noise_sigma, dt) * step_noise(check_seed(seed), steps, jnp.asarray(g[0])))
        g = g + noise
    eps = step_sizes(setup, hp, steps)
    eps = np.full(steps, float(hp.lr)) if eps is None else eps
    hp = Hyper(*(jnp.asarray(x, dt) for x in hp))
    p = {k: jnp.asarray(v, dt) for k, v in toy.params(toy_params).items()} if setup.sam else {}
    pad = step_bucket(steps) - steps
    rows = [jnp.asarray(np.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)), dt) for x in (w, g, eps, noise)]
    out = compiled_anatomy(setup, toy if setup.sam else None)(rows[0], rows[1], hp, jnp.asarray(steps, jnp.int32),
                                                              rows[2], p, rows[3])
    return StepAnatomy(w=w, **{k: np.asarray(v)[:steps] for k, v in out.items()})
