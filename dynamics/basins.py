"""Basins of attraction: which listed minimiser an optimizer reaches from each start.

A grid of start points w_0 = (x[j], y[i]) over the toy's domain; every cell runs the
optimizer of a single roll-out (``make_optimizer``, docs/theory.md, Sections 1-3; the
cautious mask of arXiv 2411.16085 when setup.cautious)

    g_t = grad L(w_t);  w_{t+1} = w_t - eps u_t      (t = 0 .. T-1)

for T steps, all cells in one jit-compiled, vmapped program run in chunks by the batch
machinery (dynamics.batch.run_cells).  With d(w) the distance to the toy's minimiser set
(dynamics.metrics: the nearest listed minimiser w*_k of toy.minima, or on a valley toy
the curve of minimisers), each cell reports

- ``index``: the nearest listed minimiser k when d(w_T) < radius, -1 when w_T is not
  within radius of the set or the run diverged,
- ``arrival``: the first step t such that d(w_s) < radius for every s >= t (-1 where
  index is -1),
- ``diverged``: w_t or L non-finite, or d_t > 1e6 max(d_0, radius) at some step
  (dynamics.metrics, the sweeps' rule),
- ``final``: w_T (NaN in diverged cells).

On a valley toy (valley-line, valley-hyperbola) a run converges to *some* point of the
curve of minimisers, rarely to a listed one: the map then shows which piece of the
set a start converges to.  The listed points are the minimum-norm points of the
pieces, one per piece (the line is one piece; the hyperbola w1 w2 = s has two
branches, and the nearest listed point (sqrt s, sqrt s) or -(sqrt s, sqrt s) is the
sign of w1 + w2, the branch's side), so the nearest listed point names the piece;
``final`` says where on it the run ended.

Comparing the base and the cautious map of the same toy shows where the mask changes
the minimiser a run ends in (``changed``).  A cell equals the roll-out from its start
up to floating-point rounding (see dynamics.sweep on fused multiply-adds); a cell
whose run passes close to a basin boundary can amplify that rounding.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.batch import ProgressFn, chunk_size, compile_cells, host_workers, run_cells
from dynamics.config import Hyper, Setup, make_hyper
from dynamics.horizon import step_bucket
from dynamics.metrics import distance2_fn, divergence_limit2, listed_distances2, minimiser_set
from dynamics.rollout import cast_inputs, make_optimizer, run_factors
from dynamics.schedules import factor_fn
from toys import Toy

DEFAULT_RADIUS = 1e-3
MAX_CELLS_PER_AXIS = 1024


class BasinMap(NamedTuple):
    """Arrays of shape (len(y), len(x)): row i is y[i], column j is x[j] (see the module
    docstring).  minima: the (k, 2) listed minimisers the indices refer to."""

    x: np.ndarray
    y: np.ndarray
    minima: np.ndarray
    index: np.ndarray
    arrival: np.ndarray
    diverged: np.ndarray
    final: np.ndarray
    steps: int
    radius: float

    def fractions(self) -> dict[int, float]:
        """Fraction of the cells that end at each minimiser index (and at -1)."""
        return {int(k): float(np.mean(self.index == k)) for k in range(-1, len(self.minima))}


def changed(a: BasinMap, b: BasinMap) -> np.ndarray:
    """Cells whose minimiser differs between two maps of the same grid (bool array)."""
    if not (np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)):
        raise ValueError("the two basin maps must share their grid")
    return a.index != b.index


def _basin_fn(setup: Setup, toy: Toy):
    """The traced basin map of one chunk: start coordinates (x, y) per cell and the step
    count T -> outputs (a loop of T steps, T traced)."""
    value, dist2 = toy.value, distance2_fn(toy)

    def run(x, y, steps, hp: Hyper, p, minima, radius2, factors=None):
        grad = jax.grad(lambda w: value(w, p))
        opt = make_optimizer(setup, hp, grad, factor_fn(factors))

        def cell(x0, y0):
            w0 = jnp.stack([x0, y0])
            d2_0 = dist2(w0, p, minima)
            lim2 = divergence_limit2(d2_0, radius2)

            def step(t, carry):
                w, state, g, ok, last_out = carry
                upd, state = opt.update(g, state, w)
                w = w + upd
                g = grad(w)
                d2 = dist2(w, p, minima)
                ok = ok & (d2 <= lim2) & jnp.all(jnp.isfinite(g))     # NaN fails d2 <= lim2
                return w, state, g, ok, jnp.where(d2 >= radius2, t, last_out)

            first_out = jnp.where(d2_0 >= radius2, 0, -1).astype(jnp.int32)
            carry = (w0, opt.init(w0), grad(w0), jnp.isfinite(value(w0, p)), first_out)
            w, _, _, ok, last_out = jax.lax.fori_loop(1, steps + 1, step, carry)
            inside = ok & (dist2(w, p, minima) < radius2)
            return dict(index=jnp.where(inside, jnp.argmin(listed_distances2(w, minima)), -1),
                        arrival=jnp.where(inside, last_out + 1, -1), diverged=~ok, final=jnp.where(ok, w, jnp.nan))

        return jax.vmap(cell)(x, y)

    return run


@functools.lru_cache(maxsize=32)
def compiled_basins(setup: Setup, toy: Toy):
    """The jitted basin map of one chunk for (setup, toy), built once per process:
    ``fn(x, y, steps, hp, toy_params, minima, radius**2[, factors])`` with x, y of shape
    (cells,), an int32 step count (a traced loop bound: a new one compiles nothing) and,
    under a schedule, its factors f(0..bucket) (dynamics.schedules; the program is
    compiled once per bucket's length of them)."""
    return compile_cells(_basin_fn(setup, toy))


def basin_map(setup: Setup, toy: Toy, hp: Hyper | None = None, steps: int = 500, *, n: int | tuple[int, int] = 64,
              domain=None, radius: float = DEFAULT_RADIUS, toy_params=None, chunk_cells: int | None = None,
              progress: ProgressFn | None = None) -> BasinMap:
    """The basin map of ``setup`` on ``toy``: an n x n grid (or n = (nx, ny)) of starts
    evenly spaced over ``domain`` ((xmin, xmax), (ymin, ymax); default the toy's), each
    run for ``steps`` steps with hyperparameters ``hp`` (default make_hyper()).  Runs
    on this process's first device; ``progress(done, total)`` as in dynamics.batch.run_cells."""
    if setup.noise != "none":
        raise ValueError("basin maps run the exact gradient; got a noisy setup")
    if not toy.has_minima():
        raise ValueError(f"toy {toy.name!r} has no listed minimiser, so it has no basins")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}")
    nx, ny = (n, n) if np.ndim(n) == 0 else n
    if not all(isinstance(k, (int, np.integer)) and 2 <= k <= MAX_CELLS_PER_AXIS for k in (nx, ny)):
        raise ValueError(f"n must be an integer (or a pair) from 2 to {MAX_CELLS_PER_AXIS}; got {n!r}")
    (x0, x1), (y0, y1) = toy.domain if domain is None else domain
    if not (np.isfinite([x0, x1, y0, y1]).all() and x0 < x1 and y0 < y1):
        raise ValueError(f"domain must be ((xmin, xmax), (ymin, ymax)) with min < max; got {domain!r}")
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a number > 0; got {radius!r}")
    x, y = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)

    _, hp_arr, p = cast_inputs(setup, toy, toy.start, make_hyper(setup.dtype) if hp is None else hp, toy_params)
    minima, _ = minimiser_set(toy, toy_params)
    dt = jnp.dtype(setup.dtype)
    consts = (hp_arr, p, jnp.asarray(minima, dt), jnp.asarray(radius * radius, dt))
    factors = run_factors(setup, hp_arr, steps, step_bucket(steps) + 1, dt)
    consts += () if factors is None else (factors,)
    device = (jax.local_devices()[0],)
    workers = host_workers(device)
    cells = [np.tile(x, ny).astype(dt), np.repeat(y, nx).astype(dt)]
    chunk = chunk_size(nx * ny, step_bucket(steps), 1, workers, chunk_cells)
    out = run_cells(compiled_basins(setup, toy), cells, (jnp.asarray(steps, jnp.int32),) + consts, chunk, device,
                    workers, setup.dtype, progress)
    return BasinMap(x=x, y=y, minima=minima, index=out["index"].reshape(ny, nx).astype(np.int64),
                    arrival=out["arrival"].reshape(ny, nx).astype(np.int64),
                    diverged=out["diverged"].reshape(ny, nx).astype(bool),
                    final=out["final"].reshape(ny, nx, 2).astype(np.float64), steps=steps, radius=float(radius))
