"""Learning-rate schedules and gradient clipping (docs/theory.md, Section 1.1).

A schedule multiplies the peak step size lr by a factor f(t) in [0, 1]: step t (the
one that produces w_t, t = 1, 2, ...) uses eps_t = lr f(t-1), as optax's
scale_by_schedule does with its step count (0 at the first update).  The factors come
from optax's schedules with peak value 1 (Setup.schedule):

  ``constant``       f = 1 (no factors: the program of a run without a schedule)
  ``warmup-cosine``  optax.warmup_cosine_decay_schedule(0, 1, W, T, F): linear from 0
                     to 1 over W steps, then a cosine down to F at step T
  ``step``           optax.exponential_decay(1, K, gamma, staircase=True): f = gamma^floor(t/K)
  ``one-cycle``      optax.cosine_onecycle_schedule(T, 1, W/T): a cosine rise from 1/25
                     to 1 over W steps, then a cosine fall to 1/(25 * 1e4) at T (optax's
                     div_factor 25 and final_div_factor 1e4), joined from optax's cosine
                     decays (``_one_cycle``)

with W = Hyper.warmup, F = Hyper.lr_final, K = Hyper.decay_every, gamma =
Hyper.decay_factor and T the run's step count.  The factors are computed here, on
the host, for a whole bucket of steps (dynamics.horizon), and enter the compiled
programs as an array argument: a new W, F, K or gamma (or T within its bucket) reuses
the compiled program.

Clipping (Setup.clip) replaces the gradient by g min(1, c/|g|) (optax.clip_by_global_norm,
c = Hyper.clip_norm, |g| the norm over every parameter) before the base optimizer
reads it, hence before the cautious mask: the mask compares u with the clipped g.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynamics.config import SCHEDULES, Hyper, Setup

ONE_CYCLE_DIV = 25.0           # optax.cosine_onecycle_schedule's defaults
ONE_CYCLE_FINAL_DIV = 1e4


def optax_schedule(setup: Setup, hp: Hyper, steps: int, peak: float = 1.0):
    """The optax schedule (count -> step size) of ``setup.schedule`` with peak ``peak``
    for a run of ``steps`` steps and the schedule numbers of ``hp`` (host floats);
    None for ``constant``.  ValueError for an unknown schedule."""
    if setup.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {setup.schedule!r}")
    steps = int(steps)
    warmup = min(int(round(float(hp.warmup))), steps)
    if setup.schedule == "warmup-cosine":
        return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, max(steps, warmup + 1),
                                                  float(hp.lr_final) * peak)
    if setup.schedule == "step":
        return optax.exponential_decay(peak, max(int(round(float(hp.decay_every))), 1), float(hp.decay_factor),
                                       staircase=True)
    if setup.schedule == "one-cycle":
        return _one_cycle(steps, warmup, peak)
    return None


def _one_cycle(steps: int, warmup: int, peak: float):
    """optax.cosine_onecycle_schedule(steps, peak, warmup / steps) (div_factor 25,
    final_div_factor 1e4) joined from two optax cosine decays: a rise from peak/25 to
    peak over ``warmup`` steps (a cosine "decay" whose alpha = 25 > 1 makes it rise) and
    a fall from peak to peak/(25 * 1e4) over the rest.  Unlike optax's own, which builds
    a piecewise table of Python constants, its host evaluation compiles nothing new for
    new numbers; and its rise is exactly ``warmup`` steps (optax's int(pct_start * steps)
    can round W/T * T down)."""
    start, end = peak / ONE_CYCLE_DIV, peak / (ONE_CYCLE_DIV * ONE_CYCLE_FINAL_DIV)
    rise = optax.cosine_decay_schedule(start, max(warmup, 1), alpha=ONE_CYCLE_DIV)
    fall = optax.cosine_decay_schedule(peak, max(steps - warmup, 1), alpha=end / peak)
    if warmup == 0:
        return fall
    return optax.join_schedules([rise, fall], [warmup]) if warmup < steps else rise


def schedule_factors(setup: Setup, hp: Hyper, steps: int, length: int) -> np.ndarray | None:
    """f(0), ..., f(length - 1) as float64 numbers computed on the host (module
    docstring), or None for ``constant``.  ``length`` >= steps: the factors past the
    run's last step are computed but never read."""
    fn = optax_schedule(setup, hp, steps)
    if fn is None:
        return None
    with jax.default_device(jax.devices("cpu")[0]):
        return np.asarray(jax.vmap(fn)(jnp.arange(int(length))), dtype=np.float64)


def step_sizes(setup: Setup, hp: Hyper, steps: int) -> np.ndarray | None:
    """eps_t = lr f(t-1) of the steps t = 1..steps (the peak lr is float(hp.lr)), or
    None for ``constant``."""
    f = schedule_factors(setup, hp, steps, steps)
    return None if f is None else float(hp.lr) * f


def factor_at(factors, count):
    """f(count) from a factor array (traced), the count clamped to its last entry."""
    return factors[jnp.minimum(count, factors.shape[0] - 1)]


def factor_fn(factors):
    """count -> f(count) read from the factor array ``factors`` (``factor_at``), the
    ``factor`` of dynamics.rollout.make_optimizer; None without factors."""
    return None if factors is None else functools.partial(factor_at, factors)


class ScheduledState(NamedTuple):
    """step: the number of updates made (the schedule's count); inner: the state of the
    scheduled transformation."""

    step: jax.Array
    inner: optax.OptState


def scheduled(build: Callable[[jax.Array], optax.GradientTransformation],
              factor: Callable[[jax.Array], jax.Array]) -> optax.GradientTransformation:
    """The transformation ``build(f)`` rebuilt at every update with f = factor(step),
    step = 0 at the first update (as optax.inject_hyperparams does with a schedule):
    everything ``build`` scales by f (the step size, the threshold mask's eps) follows the
    schedule.  The state of ``build(f)`` must not depend on f."""

    def init_fn(params):
        return ScheduledState(jnp.zeros([], jnp.int32), build(jnp.ones([])).init(params))

    def update_fn(updates, state, params=None):
        out, inner = build(factor(state.step)).update(updates, state.inner, params)
        return out, ScheduledState(optax.safe_increment(state.step), inner)

    return optax.GradientTransformation(init_fn, update_fn)


def clip_gradient(setup: Setup, hp: Hyper, g):
    """g clipped to global norm hp.clip_norm when setup.clip (optax.clip_by_global_norm),
    else g itself."""
    if not setup.clip:
        return g
    return optax.clip_by_global_norm(hp.clip_norm).update(g, optax.EmptyState())[0]
