"""Discrete roll-outs: one jit-compiled ``lax.scan`` over the optimizer steps.

Each step (DESIGN.md Sections 3-5):  g_t = grad L(w_t);  u_t from the base optimizer;
u_t <- alpha phi u_t if cautious;  u_t <- u_t + decay(u_t, w_t);  w_{t+1} = w_t - eps u_t.
The same optax chain is what ``make_optimizer`` hands to a user training a model.

Output arrays have T+1 rows, row t describing w_t (row 0 is the start).  ``update[t]``
and ``mask[t]`` describe the step that produced w_t (zeros / ones in row 0).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynamics.caution import CautiousState, cautious, masked_fraction
from dynamics.config import Hyper, Setup
from dynamics.decay import weight_decay
from dynamics.optimizers import base_transform, kinetic_energy
from toys import Toy


def direction_transform(setup: Setup, hp: Hyper) -> optax.GradientTransformation:
    """u_t: base optimizer, optionally cautious, then weight decay (not yet scaled by -eps)."""
    inner = base_transform(setup, hp)
    if setup.cautious:
        inner = cautious(inner, setup.mask, setup.compensation, lr=hp.lr, mu=hp.mu, tau=hp.tau)
    return optax.chain(inner, weight_decay(setup.decay, hp.wd))


def make_optimizer(setup: Setup, hp: Hyper) -> optax.GradientTransformation:
    """The full optax optimizer: w <- w - eps * u_t.  Works on any pytree of parameters."""
    return optax.chain(direction_transform(setup, hp), optax.scale(-hp.lr))


def _base_state(setup: Setup, opt_state):
    first = opt_state[0][0]
    return first.inner_state if setup.cautious else first


def _mask(setup: Setup, opt_state, like):
    return opt_state[0][0].mask if setup.cautious else jnp.ones_like(like)


class Trajectory(NamedTuple):
    """Per-step arrays, T+1 rows: iterate w, loss L, hamiltonian H = L + K(state),
    masked_fraction (1 - mean phi), grad g_t, update w_t - w_{t-1}, mask phi."""

    w: np.ndarray
    loss: np.ndarray
    hamiltonian: np.ndarray
    masked_fraction: np.ndarray
    grad: np.ndarray
    update: np.ndarray
    mask: np.ndarray


def _rollout_fn(setup: Setup, value, steps: int):
    def run(w0, hp: Hyper, toy_params):
        loss_fn = lambda w: value(w, toy_params)
        opt = make_optimizer(setup, hp)
        state0 = opt.init(w0)

        def record(w, state, update):
            loss, g = jax.value_and_grad(loss_fn)(w)
            mask = _mask(setup, state, w)
            ham = loss + kinetic_energy(setup, _base_state(setup, state), hp)
            rec = dict(w=w, loss=loss, hamiltonian=ham, masked_fraction=masked_fraction(mask),
                       grad=g, update=update, mask=mask)
            return rec, g

        first, g0 = record(w0, state0, jnp.zeros_like(w0))
        first["masked_fraction"] = jnp.zeros((), w0.dtype)

        def step(carry, _):
            w, state, g = carry
            upd, state = opt.update(g, state, w)
            w = w + upd
            rec, g = record(w, state, upd)
            return (w, state, g), rec

        _, recs = jax.lax.scan(step, (w0, state0, g0), None, length=steps)
        return {k: jnp.concatenate([first[k][None], recs[k]]) for k in first}

    return run


@functools.lru_cache(maxsize=64)
def compiled_rollout(setup: Setup, toy: Toy, steps: int):
    """The jitted roll-out for (setup, toy, steps), built once per process.

    Call it as ``fn(w0, hp, toy_params)``; new numbers reuse the compiled program.
    """
    return jax.jit(_rollout_fn(setup, toy.value, steps))


def cast_inputs(setup: Setup, toy: Toy, start, hp: Hyper, toy_params=None):
    """(w0, hp, toy params) as arrays of the setup's dtype."""
    dt = jnp.dtype(setup.dtype)
    w0 = jnp.asarray(start, dtype=dt)
    hp = Hyper(*(jnp.asarray(x, dtype=dt) for x in hp))
    p = {k: jnp.asarray(v, dtype=dt) for k, v in toy.params(toy_params).items()}
    return w0, hp, p


def rollout(setup: Setup, toy: Toy, hp: Hyper, steps: int, start=None, toy_params=None) -> Trajectory:
    """Run ``steps`` optimizer steps on ``toy`` from ``start`` (default: the toy's) and
    return NumPy arrays (see Trajectory)."""
    if steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}")
    w0, hp, p = cast_inputs(setup, toy, toy.start if start is None else start, hp, toy_params)
    out = compiled_rollout(setup, toy, int(steps))(w0, hp, p)
    return Trajectory(**{k: np.asarray(v) for k, v in out.items()})


def loss_rises(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps t >= 1 where L(w_t) > L(w_{t-1}), and the rise L(w_t) - L(w_{t-1}) at each."""
    diff = np.diff(np.asarray(loss))
    steps = np.nonzero(diff > 0)[0] + 1
    return steps, diff[steps - 1]
