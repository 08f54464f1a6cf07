"""What sweeps, basin maps and studies measure on a run: the distance to the toy's
minimisers, the divergence rule, steps to tolerance and their reduction over seeds.

Distance to the minimiser set (docs/theory.md, Section 5).  For a toy whose minimisers
are isolated points w*_1 .. w*_m (toy.minima, Newton-polished):

    d(w)^2 = min_k |w - w*_k|^2.

On a *valley* toy (toy.valley: the minimisers form a curve {w : r(w) = 0}, the listed
points being only its minimum-norm points) d(w) = |r(w)| with r = toy.set_residual:
exact for the line w1 + w2 = s (r = (w1 + w2 - s)/sqrt 2), to first order in the
distance for the hyperbola w1 w2 = s (r = (w1 w2 - s)/|w|).

Divergence: a run started at w_0 diverges at the first step t where d_t is non-finite
or

    d_t > F max(d_0, floor),   F = DIVERGENCE_FACTOR = 1e6,

with floor = tol (sweeps, single runs) or the radius (basin maps); compiled programs
compare d_t^2 with F^2 max(d_0^2, floor^2) instead (divergence_limit2).

steps_to_tol: the first t with d_t < tol, STEPS_NOT_REACHED (-1) if none (or the run
diverged).  Over K seeds of a noisy run it reduces to the median over the seeds that
reached tol (median_steps_to_tol).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from toys import Toy

DIVERGENCE_FACTOR = 1e6   # d_t > 1e6 max(d_0, tol) counts as divergence
STEPS_NOT_REACHED = -1    # steps_to_tol when d_t never fell below tol (or the run diverged)

Distance2 = Callable[[jax.Array, dict, jax.Array], jax.Array]


def listed_distances2(w: jax.Array, minima: jax.Array) -> jax.Array:
    """|w - w*_k|^2 for every listed minimiser w*_k (rows of ``minima``, shape (m, 2))."""
    return jnp.sum((w[None, :] - minima) ** 2, axis=-1)


def distance2_fn(toy: Toy) -> Distance2:
    """(w, toy params, minima) -> d(w)^2 of the module docstring: to the nearest listed
    minimiser, or to the set of minimisers on a valley toy."""
    if toy.valley and toy.set_residual is not None:
        return lambda w, p, minima: toy.set_residual(w, p) ** 2
    return lambda w, p, minima: jnp.min(listed_distances2(w, minima))


def non_finite_steps(*per_step) -> np.ndarray:
    """Per step, True where any of the arrays (step first, e.g. iterates (T+1, 2), loss,
    Hamiltonian (T+1,); None skipped) holds a non-finite value: the run has left the
    floating-point range there, whatever its distance does."""
    arrays = [np.asarray(a, dtype=float) for a in per_step if a is not None]
    with np.errstate(invalid="ignore"):
        return np.any([~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1) for a in arrays], axis=0)


def first_step(bad: np.ndarray) -> int | None:
    """The first step flagged in ``bad``, or None."""
    return int(np.argmax(bad)) if np.any(bad) else None


def divergence_limit(d0: float, tol: float) -> float:
    """d_t above this counts as divergence: F max(d_0, tol) (host floats)."""
    return DIVERGENCE_FACTOR * max(d0, tol)


def divergence_limit2(d2_0: jax.Array, floor2: jax.Array) -> jax.Array:
    """The same rule on squared distances, for compiled programs: d_t^2 above
    F^2 max(d_0^2, floor^2) counts as divergence."""
    return DIVERGENCE_FACTOR**2 * jnp.maximum(d2_0, floor2)


def minimiser_set(toy: Toy, toy_params=None) -> tuple[np.ndarray, float]:
    """The toy's polished listed minimisers (m, 2) and min L over them, for the toy's
    parameters overridden by ``toy_params``."""
    return _minima(toy, tuple(sorted(toy.params(toy_params).items())))


@functools.lru_cache(maxsize=256)
def _minima(toy: Toy, params: tuple) -> tuple[np.ndarray, float]:
    """minimiser_set, cached (the Newton polishing runs eagerly and takes a noticeable
    fraction of a second)."""
    p = dict(params)
    minima = toy.minima(p)
    with jax.enable_x64(True):
        values = toy.value(jnp.asarray(minima, jnp.float64), {k: jnp.asarray(v, jnp.float64) for k, v in p.items()})
        return minima, float(np.min(np.asarray(values)))


def set_distance(toy: Toy, w, toy_params=None) -> np.ndarray:
    """d(w) of the module docstring for each row of w (shape (..., 2)), in float64."""
    p = toy.params(toy_params)
    minima, _ = minimiser_set(toy, toy_params)
    with jax.enable_x64(True):
        pj = {k: jnp.asarray(v, jnp.float64) for k, v in p.items()}
        w = jnp.asarray(w, jnp.float64)
        d2 = jax.vmap(lambda x: distance2_fn(toy)(x, pj, jnp.asarray(minima)))(w.reshape(-1, 2))
        return np.sqrt(np.asarray(d2)).reshape(w.shape[:-1])


def median_steps_to_tol(steps_to_tol: np.ndarray) -> np.ndarray:
    """Steps to tol over seeds (axis 0, K seeds): per cell, the median of the seeds that
    reached tol (steps_to_tol >= 0), rounded down to an integer as np.int64, or
    STEPS_NOT_REACHED where no seed reached it."""
    reached = steps_to_tol >= 0
    some = reached.any(axis=0)        # cells where a seed reached tol; the others get -1 (no all-NaN median)
    median = np.where(some, np.nanmedian(np.where(reached, steps_to_tol, np.where(some, np.nan, 0)), axis=0),
                      STEPS_NOT_REACHED)
    return median.astype(np.int64)
