"""Batched (step size, momentum) sweeps: every cell of an (lr, beta) grid runs as one
jit-compiled, vmapped (and, with several devices, sharded) JAX computation
(docs/theory.md, Section 5; the paper's Figure 3, arXiv 2411.16085).

Each cell runs the optax optimizer of a single run (``make_optimizer`` of
dynamics.rollout, docs/theory.md, Sections 1-3), hyperparameters as array leaves:

    g_t = grad L(w_t);  (u_t, state) = opt.update(g_t, state, w_t);  w_{t+1} = w_t + u_t

(u_t already holds -eps), with lr and beta vmapped over the cells and the other Hyper
fields broadcast.  Nothing of the trajectory is stored: the scan carry holds, per
cell, the optimizer state and running reductions, from which the sweep returns

- ``rate``: the map's rate, by ``rate_method``: ``exact`` (the closed form of
  dynamics.rates, for gd, gdm and nesterov on a quadratic) or ``estimate`` (the
  late-window fit of dynamics.rates; ``auto``, the default, is exact where it exists),
- ``rate_estimate``, ``rate_uncertainty``, ``settled``: the estimate, the spread between
  its half-window fits, and whether it settled (always computed, also beside an exact map),
- ``rate_exact``: the closed-form map where one exists (None otherwise),
- ``steps_to_tol``: the first t with d_t < tol (-1 if never, or if the run diverged),
- ``final_suboptimality``: L(w_T) - min L over the toy's listed minima,
- ``max_loss_rise``: max over t of L(w_t) - L(w_{t-1}), clipped below at 0,
- ``diverged``: d_t or L non-finite, or d_t > 1e6 max(d_0, tol), at some step.

No output is ever NaN.  A diverged cell reports suboptimality and loss rise up to the
step before divergence was detected (non-finite values there become the dtype's
largest finite number).  The estimator's fit needs two sums of y_t per block of steps
(dynamics.rates.block_starts): two (blocks, cells) arrays written once per step, not
the trajectory.  Homogeneous setups (dynamics.rates.is_homogeneous) carry the state
renormalised by a power of two every RENORM_EVERY steps, z = (w - w*)/2^k and
moments/2^k with |(z, moments)|^2 brought into [1/2, 2) (exact: only exponents change): their real iterate is
w* + 2^k z, whose d_t and L(w_t) - L* = 2^(2k) (L(w* + z) - L*) are compared and
scaled by exact powers of two, so no quantity underflows or overflows (the quadratic's L - L* is
homogeneous of degree 2), and y_t = k log 2 + log|(z, moments)|.

Grids are cut into chunks of cells, the last one padded, so that one compiled program
serves every chunk and memory stays bounded; ``progress(done, total)`` is called after
each chunk.  On a CPU the chunks are small (4096 cells: the per-step state stays in
the core's cache) and run concurrently, one host thread per core, each chunk
single-threaded.  With several devices each chunk's cells are sharded over all of them
(a one-axis ``Mesh`` and ``NamedSharding(mesh, P("cells"))``); cells are independent,
so the program needs no communication and gives the same numbers on any device count.

A cell and the single run: both call the same optax transformation, and a distance
cell's outputs equal those read from ``rollout``'s trajectory with
dynamics.rates.distance_rate up to floating-point rounding.  They need not be bit-identical: XLA:CPU contracts
a*b + c into a fused multiply-add wherever the multiply and the add share a fusion,
and the batched program fuses differently from the single one, so iterates can differ
by ~1 ulp per step.  Smooth dynamics keep that at rounding level; the hard cautious
mask 1[sign(u_i) sign(g_i) > 0] is discontinuous and can amplify it into another trajectory (the
cautious map is genuinely sensitive at the scale of one cell).  Within the sweep a
cell's trajectory, and so its steps_to_tol, suboptimality, loss rise and divergence,
is bit-identical whatever the chunk size, grid or device count; its fitted rate and
uncertainty can differ in the last bit or two (the compiled fit of another chunk shape
rounds differently), far below anything the maps resolve.

Noisy gradients (Setup.noise, dynamics.noise): each cell also carries a seed, and step
t uses g_t + sigma z_t with z_t drawn from fold_in(key(seed), t), the noise of the
roll-out with that seed.  ``noisy_sweep`` runs every (lr, beta) cell for K seeds in one
batch (the seeds are one more cell axis) and returns the K maps and their means; a
noisy cautious sweep also maps ``noise_drop``, the mean over the steps before
divergence of the fraction of coordinates that the noisy mask dropped although the
true gradient's mask kept them (dynamics.noise.mask_flips).  sigma = 0 runs the
noise-free program (the same maps, bit for bit).
"""
from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dynamics.caution import CautiousState
from dynamics.config import Hyper, Setup, make_hyper
from dynamics.rates import (DIVERGENCE_FACTOR, RATE_DIVERGED, STEPS_NOT_REACHED, best_cell, block_fit_rate,
                            block_starts, exact_rate_map, is_homogeneous, log_floor, resolve_rate_method,
                            window_starts)
from dynamics.noise import check_seed, noise_key, noisy_gradient
from dynamics.rollout import cast_inputs, make_optimizer, noise_free, step_records
from toys import Toy

DEFAULT_TOL = {"float64": 1e-10, "float32": 1e-4}
CHUNK_CELLS = {"cpu": 4096}      # cells per device in one chunk (other platforms: 262144)
CHUNK_BYTES = 256 * 2**20        # cap on a chunk's block-sum arrays
SCALES = ("log", "linear")
# XLA:CPU options, measured on the 256 x 256 x 1000 cautious-gdm benchmark (BENCHMARKS.md):
# YNNPACK's fusion of the reductions over the length-2 parameter axis (mask means,
# distances) is ~5x slower than XLA's own loops; 512-bit vectors (where the CPU has
# them, a preference elsewhere) take another ~30% off.  Neither changes a result.
_CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "", "xla_cpu_prefer_vector_width": 512}

ProgressFn = Callable[[int, int], None]


class SweepResult(NamedTuple):
    """A swept map.  Arrays have shape (len(beta), len(lr)): row i is beta[i], column j
    is lr[j].  See the module docstring for the meaning and sentinels of each map;
    ``rate_method`` says which rate ``rate`` holds (``exact`` or ``estimate``)."""

    lr: np.ndarray
    beta: np.ndarray
    rate: np.ndarray
    steps_to_tol: np.ndarray
    final_suboptimality: np.ndarray
    max_loss_rise: np.ndarray
    diverged: np.ndarray
    steps: int
    tol: float
    noise_drop: np.ndarray | None = None
    rate_method: str = "estimate"
    rate_estimate: np.ndarray | None = None
    rate_uncertainty: np.ndarray | None = None
    settled: np.ndarray | None = None
    rate_exact: np.ndarray | None = None

    def best(self) -> dict | None:
        """The converging cell with the smallest rate: {lr, beta, rate, row, col}, or None."""
        return best_cell(self.lr, self.beta, self.rate, self.diverged)

    def cell(self, lr_index: int, beta_index: int) -> dict:
        """Every output of one cell as plain Python numbers."""
        i, j = beta_index, lr_index
        out = dict(lr=float(self.lr[j]), beta=float(self.beta[i]), rate=float(self.rate[i, j]),
                   steps_to_tol=int(self.steps_to_tol[i, j]),
                   final_suboptimality=float(self.final_suboptimality[i, j]),
                   max_loss_rise=float(self.max_loss_rise[i, j]), diverged=bool(self.diverged[i, j]))
        if self.rate_estimate is not None:
            out.update(rate_estimate=float(self.rate_estimate[i, j]),
                       rate_uncertainty=float(self.rate_uncertainty[i, j]), settled=bool(self.settled[i, j]))
        if self.rate_exact is not None:
            out["rate_exact"] = float(self.rate_exact[i, j])
        return out


def grid_axis(lo: float, hi: float, n: int, scale: str = "linear") -> np.ndarray:
    """n values from lo to hi (both included), evenly spaced on a ``log`` or ``linear`` axis."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    if n < 1 or (n > 1 and not hi > lo) or (scale == "log" and lo <= 0):
        raise ValueError(f"need n >= 1 and lo < hi (lo > 0 on a log axis); got {lo:g}:{hi:g}:{n}")
    return np.geomspace(lo, hi, n) if scale == "log" else np.linspace(lo, hi, n)


class _Cell(NamedTuple):
    """Per-cell scan carry: x (the iterate w; for a renormalised run z = (w - w*)/2^k),
    optimizer state (renormalised runs: moments/2^k), gradient at the point stepped
    from, its scale (renormalised runs; None otherwise), and the running reductions: last
    accepted real loss, largest loss rise, ``status`` = T' once d_t < tol, steps + 1
    before, -1 once diverged; the fit's sums over the current block (sum_y, sum_ty) and
    the last step added to them (``last``); ``drops`` (noisy cautious sweeps only):
    (sum of noise_drop, steps summed)."""

    x: jax.Array
    state: object
    g: jax.Array
    scale: _Scale | None
    loss: jax.Array
    max_rise: jax.Array
    status: jax.Array
    sum_y: jax.Array
    sum_ty: jax.Array
    last: jax.Array
    drops: tuple | None = None


def _distance2(toy: Toy):
    """d^2 to the nearest listed minimiser; to the set of minimisers for a valley toy."""
    if toy.valley and toy.set_residual is not None:
        return lambda w, p, minima: toy.set_residual(w, p) ** 2
    return lambda w, p, minima: jnp.min(jnp.sum((w[None, :] - minima) ** 2, axis=-1))


ZERO_STATE_EXPONENT = -1022     # an all-zero state shrinks by 2^-1022 a step: rate ~ 0, not a NaN
RENORM_EVERY = 8                # renormalise every 8th step: rho^8 stays in range for 1e-4 <= rho <= 1e4


def _map_moments(fn, state):
    """The optimizer state with ``fn`` applied to every floating-point moment; the
    cautious wrapper's record of its last mask and integer counters are kept."""
    def leaf(x):
        if isinstance(x, CautiousState):
            return x._replace(inner_state=_map_moments(fn, x.inner_state))
        return fn(x) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(leaf, state, is_leaf=lambda x: isinstance(x, CautiousState))


def _moments_norm2(state) -> jax.Array:
    """Sum of squares of the state's moments (the leaves _map_moments maps)."""
    def leaf(x):
        if isinstance(x, CautiousState):
            return _moments_norm2(x.inner_state)
        return jnp.sum(x * x) if jnp.issubdtype(x.dtype, jnp.floating) else 0.0
    return sum(jax.tree.leaves(jax.tree.map(leaf, state, is_leaf=lambda x: isinstance(x, CautiousState))), 0.0)


def _bits(dtype):
    """(integer type of the same width, mantissa bits, exponent bias) of a float dtype."""
    f = jnp.finfo(dtype)
    return (jnp.int64 if f.bits == 64 else jnp.int32), f.nmant, f.maxexp - 1


def _pow2(k, dtype) -> jax.Array:
    """2^k in ``dtype``, exact, built from its bits (k clipped to the normal exponents):
    cheaper than jnp.ldexp, which also handles subnormal results."""
    itype, nmant, bias = _bits(dtype)
    f = jnp.finfo(dtype)
    k = jnp.clip(k, f.minexp, f.maxexp - 1)
    return jax.lax.bitcast_convert_type((k + bias).astype(itype) << nmant, dtype)


def _times_pow2(x, k) -> jax.Array:
    """x 2^k for any integer k: two exact factors, so that the product overflows to inf
    or underflows to 0 as the exact value would, never a wrong finite number."""
    f = jnp.finfo(x.dtype)
    first = jnp.clip(k, f.minexp, f.maxexp - 1)
    return x * _pow2(first, x.dtype) * _pow2(k - first, x.dtype)


def _renormalise(z, state):
    """(z, state, k, n2): z and the moments scaled by the power of two 2^-k that brings
    their squared norm n2 into [1/2, 2) (exact: only exponents change), so the real
    state is 2^k times the carried one.  No square root, division or logarithm; an
    all-zero state stays zero with k = ZERO_STATE_EXPONENT."""
    n2 = jnp.sum(z * z) + _moments_norm2(state)
    itype, nmant, bias = _bits(n2.dtype)
    exponent = ((jax.lax.bitcast_convert_type(n2, itype) >> nmant) & (2 * bias + 1)) - (bias - 1)  # frexp's
    k = jnp.where(n2 > 0, exponent // 2, ZERO_STATE_EXPONENT).astype(jnp.int32)
    down = _pow2(-k, n2.dtype)
    return z * down, _map_moments(lambda m: m * down, state), k, n2 * down * down


class _Scale(NamedTuple):
    """A renormalised run's exponent k (its real state is 2^k times the carried one) and
    what depends on k, updated only when k changes: the divergence limit and tol^2 in
    carried units, and 2^(2k) as two exact factors (their product over- or underflows
    as the exact value would)."""

    k: jax.Array
    lim2: jax.Array
    tol2: jax.Array
    up_a: jax.Array
    up_b: jax.Array


def _scale_of(k, lim2, tol2) -> _Scale:
    f = jnp.finfo(lim2.dtype)
    two_k = 2 * k
    a = jnp.clip(two_k, f.minexp, f.maxexp - 1)
    return _Scale(k, _times_pow2(lim2, -two_k), _times_pow2(tol2, -two_k), _pow2(a, lim2.dtype),
                  _pow2(two_k - a, lim2.dtype))


def _sweep_fn(setup: Setup, toy: Toy, steps: int, mesh: Mesh | None = None):
    """The traced sweep of one chunk: (lr, beta, seed) per cell -> dict of per-cell
    outputs; seed is None without noise."""
    value, dist2 = toy.value, _distance2(toy)
    noisy = setup.noise != "none"
    flips = noisy and setup.cautious
    homogeneous = is_homogeneous(setup, toy)
    starts = block_starts(steps)
    t = np.arange(1, steps + 1)
    owner = np.searchsorted(starts, t, side="right") - 1
    xs = (t.astype(np.int32), owner.astype(np.int32), np.isin(t, starts), t - starts[owner])
    running = steps + 1

    def run(lr, beta, seed, hp: Hyper, w0, p, minima, loss_min, tol2):
        dt = w0.dtype
        loss_grad = jax.value_and_grad(lambda w: value(w, p))
        wstar = minima[0]
        d2_0 = dist2(w0, p, minima)
        lim2 = DIVERGENCE_FACTOR**2 * jnp.maximum(d2_0, tol2)
        ln2 = jnp.asarray(math.log(2), dt)

        def optimizer(lr_c, beta_c):
            return make_optimizer(setup, hp._replace(lr=lr_c, beta=beta_c))

        def observe(x, scale: _Scale | None, n2, c_status):
            """(g at x, d^2, its divergence limit, tol^2, real L, y_t, whether y_t enters the
            fit) at the carried point x.  A renormalised run's real state is 2^k times
            the carried one: its limits are scaled instead (_Scale; no logarithm of d)."""
            if homogeneous:
                loss_x, g = loss_grad(wstar + x)
                return (g, jnp.sum(x * x), scale.lim2, scale.tol2,
                        loss_min + (loss_x - loss_min) * scale.up_a * scale.up_b,
                        scale.k * ln2 + 0.5 * log_floor(n2, jnp), True)
            loss, g = loss_grad(x)
            d2 = dist2(x, p, minima)
            return g, d2, lim2, tol2, loss, 0.5 * log_floor(d2, jnp), (c_status == running) & jnp.isfinite(d2)

        def renormalise(x, state, scale: _Scale):
            x, state, k, n2 = _renormalise(x, state)
            return x, state, _scale_of(scale.k + k, lim2, tol2), n2

        def keep(x, state, scale: _Scale):      # the steps between renormalisations
            return x, state, scale, jnp.sum(x * x) + _moments_norm2(state)

        def init(lr_c, beta_c):
            loss = value(w0, p)
            status = jnp.where(jnp.isfinite(loss), jnp.where(d2_0 < tol2, 0, running), -1).astype(jnp.int32)
            x, state, scale, n2 = w0, optimizer(lr_c, beta_c).init(w0), None, None
            if homogeneous:
                x, state, scale, n2 = renormalise(w0 - wstar, state, _scale_of(jnp.zeros((), jnp.int32), lim2, tol2))
            g, _, _, _, _, y, _ = observe(x, scale, n2, status)
            drops = (jnp.zeros((), dt), jnp.zeros((), jnp.int32)) if flips else None
            return _Cell(x, state, g, scale, loss, jnp.zeros((), dt), status, y, jnp.zeros((), dt),
                         jnp.zeros((), jnp.int32), drops)

        def step(c: _Cell, lr_c, beta_c, seed_c, t, new_block, tau):
            g_used = noisy_gradient(c.g, hp.noise_sigma, noise_key(seed_c), t) if noisy else c.g
            upd, state = optimizer(lr_c, beta_c).update(g_used, c.state, wstar + c.x if homogeneous else c.x)
            x, scale, n2 = c.x + upd, c.scale, None
            if homogeneous:        # t is shared by every cell: a real branch, not a select
                x, state, scale, n2 = jax.lax.cond(t % RENORM_EVERY == 0, renormalise, keep, x, state, scale)
            g, d2, lim, tol_, loss, y, add = observe(x, scale, n2, c.status)
            # Only d^2 decides here (NaN fails d2 <= lim): a test on the loss too would make
            # XLA recompute L in every consumer.  A non-finite loss poisons max_rise instead.
            ok = (c.status >= 0) & (d2 <= lim)
            active = ok & (c.status == running)
            status = jnp.where(ok, jnp.where(active & (d2 < tol_), t, c.status), -1)
            sum_y = jnp.where(add, jnp.where(new_block, y, c.sum_y + y), c.sum_y)
            sum_ty = jnp.where(add, jnp.where(new_block, 0, c.sum_ty + tau * y), c.sum_ty)
            drops = None
            if flips:
                drop = step_records(setup, hp._replace(lr=lr_c, beta=beta_c), c.state, c.x, c.g, g_used)["noise_drop"]
                drops = (c.drops[0] + jnp.where(ok, drop, 0), c.drops[1] + ok.astype(jnp.int32))
            return _Cell(x, state, g, scale, jnp.where(ok, loss, c.loss),
                         jnp.where(ok, jnp.maximum(c.max_rise, loss - c.loss), c.max_rise), status,
                         sum_y, sum_ty, jnp.where(add, t, c.last), drops)

        c = _scan_cells(init, step, lr, beta, seed, xs, len(starts), dt, mesh)
        return _outputs(c, homogeneous, running, steps, starts, loss_min, flips)

    if noisy:
        return run
    return lambda lr, beta, *consts: run(lr, beta, None, *consts)


def _scan_cells(init, step, lr, beta, seed, xs, n_blocks, dt, mesh):
    """Run every cell's scan; returns the final carry with sum_y and sum_ty replaced by
    their (blocks, cells) arrays."""
    carry = jax.vmap(init)(lr, beta)
    blocks = (jnp.zeros((n_blocks, lr.shape[0]), dt).at[0].set(carry.sum_y), jnp.zeros((n_blocks, lr.shape[0]), dt))
    if mesh is not None:
        spec = NamedSharding(mesh, PartitionSpec(None, "cells"))
        blocks = tuple(jax.lax.with_sharding_constraint(b, spec) for b in blocks)

    def body(state, x):
        cells, (by, bty) = state
        t, j, new_block, tau = x
        cells = jax.vmap(step, in_axes=(0, 0, 0, 0, None, None, None))(cells, lr, beta, seed, t, new_block,
                                                                    tau.astype(dt))
        write = lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, j, 0)
        return (cells, (write(by, cells.sum_y), write(bty, cells.sum_ty))), None

    (c, (by, bty)), _ = jax.lax.scan(body, (carry, blocks), xs)
    return c._replace(sum_y=by, sum_ty=bty)


def _outputs(c: _Cell, homogeneous: bool, running: int, steps: int, starts, loss_min, flips: bool) -> dict:
    """The per-cell outputs of the module docstring from the final carry (block sums in
    sum_y and sum_ty)."""
    dt = c.loss.dtype
    diverged = (c.status < 0) | ~jnp.isfinite(c.max_rise)
    reached = ~diverged & (c.status < running)
    t_end = jnp.full_like(c.last, steps) if homogeneous else c.last
    rho, spread, settled = block_fit_rate(c.sum_y, c.sum_ty, t_end, starts, window_starts(steps), jnp)
    big = jnp.asarray(jnp.finfo(dt).max, dt)
    finite = lambda x: jnp.where(jnp.isfinite(x), x, big)
    if not homogeneous:          # a distance run's fit stops where it diverged: only the flag is reported
        rho, spread, settled = (jnp.where(diverged, jnp.asarray(RATE_DIVERGED, dt), rho),
                                jnp.where(diverged, 0, spread), settled & ~diverged)
    out = dict(rate=finite(rho), rate_uncertainty=finite(spread), settled=settled,
               steps_to_tol=jnp.where(reached, c.status, STEPS_NOT_REACHED),
               final_suboptimality=finite(c.loss - loss_min), max_loss_rise=finite(c.max_rise), diverged=diverged)
    if flips:
        out["noise_drop"] = c.drops[0] / jnp.maximum(c.drops[1], 1)
    return out


@functools.lru_cache(maxsize=32)
def compiled_sweep(setup: Setup, toy: Toy, steps: int, devices: tuple = ()):
    """The jitted sweep of one chunk for (setup, toy, steps), built once per process;
    jit keeps one compiled program per chunk shape.  ``devices`` (two or more): shard
    the cells over them.

    Call as ``fn(lr, beta, hp, w0, toy_params, minima, loss_min, tol**2)`` with lr and
    beta of shape (cells,); it returns a dict of (cells,) arrays.  With setup.noise on,
    ``fn(lr, beta, seed, hp, ...)`` with a (cells,) uint32 seed array.
    """
    options = _CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    if len(devices) <= 1:
        return jax.jit(_sweep_fn(setup, toy, steps), compiler_options=options)
    mesh = Mesh(np.asarray(devices), ("cells",))
    cells, repl = NamedSharding(mesh, PartitionSpec("cells")), NamedSharding(mesh, PartitionSpec())
    n_cell_args = 3 if setup.noise != "none" else 2
    return jax.jit(_sweep_fn(setup, toy, steps, mesh), compiler_options=options,
                   in_shardings=(cells,) * n_cell_args + (repl,) * 6, out_shardings=cells)


def _workers(devices: tuple) -> int:
    """Host threads that run chunks at once: one per CPU core when the sweep runs on one
    CPU device (each chunk then runs single-threaded, in cache); otherwise one."""
    if len(devices) == 1 and devices[0].platform == "cpu":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1


def chunk_size(cells: int, steps: int, n_devices: int = 1, workers: int = 1, chunk_cells: int | None = None) -> int:
    """Cells per chunk: ``chunk_cells``, or CHUNK_CELLS per device capped so that the
    block-sum arrays stay under CHUNK_BYTES; at most the grid shared among the workers,
    and a multiple of the device count."""
    if chunk_cells is None:
        per_device = CHUNK_CELLS.get(jax.default_backend(), 262144)
        cap = CHUNK_BYTES // (8 * (2 * len(block_starts(steps)) + 16))
        chunk_cells = max(256, min(per_device * n_devices, cap))
    chunk = min(int(chunk_cells), -(-cells // workers))
    return max(n_devices, -(-chunk // n_devices) * n_devices)


_WARM: set = set()              # (program, chunk shape) pairs that have run once
_WARM_LOCK = threading.Lock()


def sweep(setup: Setup, toy: Toy, lr: Sequence[float], beta: Sequence[float], steps: int, *,
          hp: Hyper | None = None, tol: float | None = None, start=None, toy_params=None,
          chunk_cells: int | None = None, progress: ProgressFn | None = None,
          devices: Sequence | None = None, seed: int = 0, rate_method: str = "auto") -> SweepResult:
    """Run every (lr[j], beta[i]) cell for ``steps`` steps from ``start`` (default: the
    toy's) and map the rate metrics of the module docstring.

    rate_method: ``exact``, ``estimate`` or ``auto`` (dynamics.rates.RATE_METHODS):
    which rate ``rate`` holds; ValueError for ``exact`` where no closed form exists.
    hp: the other hyperparameters (beta2, wd, tau, noise_sigma, ...; its lr and beta are
    ignored).  tol: on the distance to the minimiser (default DEFAULT_TOL[dtype]).
    chunk_cells: cells per compiled call (default: see chunk_size).
    progress: ``progress(done_cells, total_cells)``, called before the first chunk and
    after each one.  devices: default all of ``jax.devices()``; cells are sharded over them.
    seed: the gradient noise's seed when setup.noise is on (every cell uses it).
    """
    run_setup = noise_free(setup, make_hyper(setup.dtype) if hp is None else hp)
    method = resolve_rate_method(rate_method, run_setup, toy)
    maps, lr_axis, beta_axis, steps, tol = _sweep_maps(setup, toy, lr, beta, steps, hp, tol, start, toy_params,
                                                       chunk_cells, progress, devices, (seed,))
    maps = {k: v[0] for k, v in maps.items()}
    exact = exact_rate_map(run_setup, toy, lr_axis, beta_axis, toy_params)
    maps["rate_estimate"] = maps.pop("rate")
    rate = exact if method == "exact" else maps["rate_estimate"]
    return SweepResult(lr=lr_axis, beta=beta_axis, steps=steps, tol=tol, rate=rate, rate_method=method,
                       rate_exact=exact, **maps)


class NoisySweepResult(NamedTuple):
    """The maps of a noisy sweep for K seeds: arrays of shape (K, len(beta), len(lr)),
    seed ``seeds[k]`` in slice k (see SweepResult for each map); the properties reduce
    them over the seeds."""

    lr: np.ndarray
    beta: np.ndarray
    seeds: np.ndarray
    rate: np.ndarray
    steps_to_tol: np.ndarray
    final_suboptimality: np.ndarray
    max_loss_rise: np.ndarray
    diverged: np.ndarray
    steps: int
    tol: float
    noise_drop: np.ndarray | None = None
    rate_uncertainty: np.ndarray | None = None
    settled: np.ndarray | None = None

    @property
    def rate_mean(self) -> np.ndarray:
        """Mean rate over the seeds (a diverged seed counts RATE_DIVERGED = 1)."""
        return self.rate.mean(axis=0)

    @property
    def rate_std(self) -> np.ndarray:
        """Standard deviation of the rate over the seeds."""
        return self.rate.std(axis=0)

    @property
    def diverged_fraction(self) -> np.ndarray:
        """Fraction of the seeds that diverged."""
        return self.diverged.mean(axis=0)

    @property
    def suboptimality_mean(self) -> np.ndarray:
        """Mean of L(w_T) - min L over the seeds."""
        return self.final_suboptimality.mean(axis=0)

    def run(self, k: int) -> SweepResult:
        """The map of seed ``seeds[k]`` alone."""
        maps = {f: getattr(self, f)[k] for f in ("rate", "steps_to_tol", "final_suboptimality", "max_loss_rise",
                                                 "diverged", "rate_uncertainty", "settled")}
        drop = None if self.noise_drop is None else self.noise_drop[k]
        return SweepResult(lr=self.lr, beta=self.beta, steps=self.steps, tol=self.tol, noise_drop=drop,
                           rate_estimate=maps["rate"], **maps)


def noisy_sweep(setup: Setup, toy: Toy, lr: Sequence[float], beta: Sequence[float], steps: int, *,
                seeds: int | Sequence[int] = 8, hp: Hyper | None = None, tol: float | None = None, start=None,
                toy_params=None, chunk_cells: int | None = None, progress: ProgressFn | None = None,
                devices: Sequence | None = None) -> NoisySweepResult:
    """``sweep`` with gradient noise (setup.noise on, sigma = hp.noise_sigma) for every
    seed of ``seeds`` (an int K means seeds 0..K-1), all cells of all seeds in one
    batched computation.  A cell with seed k equals (up to rounding) the roll-out with
    seed k.  With sigma = 0 the noise-free program runs once and every seed's map is it."""
    if setup.noise == "none":
        raise ValueError("noisy_sweep needs a noisy setup (Setup(noise='gaussian')); use sweep without noise")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = range(seeds)
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    maps, lr_axis, beta_axis, steps, tol = _sweep_maps(setup, toy, lr, beta, steps, hp, tol, start, toy_params,
                                                       chunk_cells, progress, devices, seeds)
    k = len(seeds)
    maps = {name: np.broadcast_to(v, (k,) + v.shape[1:]) for name, v in maps.items()}
    if setup.cautious and "noise_drop" not in maps:          # sigma = 0: the noise drops nothing
        maps["noise_drop"] = np.zeros((k, beta_axis.size, lr_axis.size))
    return NoisySweepResult(lr=lr_axis, beta=beta_axis, seeds=np.asarray(seeds, np.int64), steps=steps, tol=tol,
                            **maps)


def _sweep_maps(setup, toy, lr, beta, steps, hp, tol, start, toy_params, chunk_cells, progress, devices, seeds):
    """The maps of every (seed, beta, lr) cell, arrays of shape (K, len(beta), len(lr))
    (K = 1 when the run is noise-free), and the resolved lr, beta, steps and tol."""
    if not toy.has_minima():
        raise ValueError(f"toy {toy.name!r} has no minimiser: distances and rates are undefined")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}")
    lr_axis, beta_axis = np.asarray(lr, np.float64).ravel(), np.asarray(beta, np.float64).ravel()
    if lr_axis.size == 0 or beta_axis.size == 0:
        raise ValueError("lr and beta need at least one value each")
    tol = DEFAULT_TOL[setup.dtype] if tol is None else float(tol)
    tiny = float(np.finfo(setup.dtype).tiny)
    if not (math.isfinite(tol) and tol > 0 and tol * tol > tiny):
        raise ValueError(f"tol must be a finite number with tol^2 > {tiny:.3g} in {setup.dtype}; got {tol:g}")
    seeds = np.asarray([check_seed(k) for k in seeds], np.uint32)
    devices = tuple(jax.devices() if devices is None else devices)
    workers = _workers(devices)

    w0, hp_arr, p = cast_inputs(setup, toy, toy.start if start is None else start,
                                make_hyper(setup.dtype) if hp is None else hp, toy_params)
    setup = noise_free(setup, hp_arr)
    minima, loss_min = _minima(toy, tuple(sorted(toy.params(toy_params).items())))
    dt = jnp.dtype(setup.dtype)
    consts = (hp_arr, w0, p, jnp.asarray(minima, dt), jnp.asarray(loss_min, dt), jnp.asarray(tol * tol, dt))

    k = seeds.size if setup.noise != "none" else 1
    per_seed = lr_axis.size * beta_axis.size
    cells = [np.tile(lr_axis, beta_axis.size * k).astype(dt), np.tile(np.repeat(beta_axis, lr_axis.size), k).astype(dt)]
    if setup.noise != "none":
        cells.append(np.repeat(seeds, per_seed))
    fn = compiled_sweep(setup, toy, steps, devices) if len(devices) > 1 else compiled_sweep(setup, toy, steps)
    chunk = chunk_size(k * per_seed, steps, len(devices), workers, chunk_cells)
    flat = run_cells(fn, cells, consts, chunk, devices, workers, setup.dtype, progress)
    shape = (k, beta_axis.size, lr_axis.size)
    types = dict(rate=np.float64, steps_to_tol=np.int64, final_suboptimality=np.float64, max_loss_rise=np.float64,
                 diverged=bool, noise_drop=np.float64, rate_uncertainty=np.float64, settled=bool)
    maps = {name: v.reshape(shape).astype(types[name]) for name, v in flat.items()}
    return maps, lr_axis, beta_axis, steps, tol


def run_cells(fn, cells: Sequence[np.ndarray], consts: tuple, chunk: int, devices: tuple, workers: int,
              dtype: str, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
    """Run the compiled per-cell program ``fn(*cell_chunk, *consts)`` over chunks of
    ``chunk`` cells of the flat per-cell arrays ``cells`` (the last chunk padded by
    repeating its last cell), on ``workers`` host threads once the program has been
    compiled, and return its outputs as flat NumPy arrays, one entry per cell."""
    n_cells = cells[0].size
    n_chunks = -(-n_cells // chunk)
    pad = n_chunks * chunk - n_cells
    padded = [np.pad(c, (0, pad), mode="edge") for c in cells]
    put = _placer(devices)

    def run_chunk(k: int) -> dict[str, np.ndarray]:
        part = slice(k * chunk, (k + 1) * chunk)
        out = jax.block_until_ready(fn(*(put(c[part]) for c in padded), *consts))
        return {name: _to_host(v) for name, v in out.items()}

    parts: list = [None] * n_chunks
    done = 0

    def finish(k: int, part: dict) -> None:
        nonlocal done
        parts[k] = part
        done += 1
        if progress is not None:
            progress(min(done * chunk, n_cells), n_cells)

    if progress is not None:
        progress(0, n_cells)
    key = (fn, chunk, dtype)
    with _WARM_LOCK:
        cold = key not in _WARM
    if cold or workers == 1 or n_chunks == 1:   # compile once, before any thread races to
        finish(0, run_chunk(0))
        with _WARM_LOCK:
            _WARM.add(key)
    pending = [k for k in range(n_chunks) if parts[k] is None]
    if workers == 1:
        for k in pending:
            finish(k, run_chunk(k))
    elif pending:
        with ThreadPoolExecutor(min(workers, len(pending))) as pool:
            futures = {pool.submit(run_chunk, k): k for k in pending}
            for future in as_completed(futures):
                finish(futures[future], future.result())
    return {name: np.concatenate([q[name] for q in parts])[:n_cells] for name in parts[0]}


@functools.lru_cache(maxsize=256)
def _minima(toy: Toy, params: tuple) -> tuple[np.ndarray, float]:
    """The toy's polished minimisers (k, 2) and min L over them, cached (the Newton
    polishing runs eagerly and takes a noticeable fraction of a second)."""
    p = dict(params)
    minima = toy.minima(p)
    values = toy.value(jnp.asarray(minima), {k: jnp.asarray(v, jnp.float64) for k, v in p.items()})
    return minima, float(np.min(np.asarray(values)))


def _to_host(x) -> np.ndarray:
    """A result as a NumPy array; on several hosts (jax.distributed), gathered from all
    processes first (untested here: this machine is one host)."""
    if jax.process_count() > 1 and not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _placer(devices: tuple):
    """Host array -> device array, sharded over the cells when there are several devices."""
    if len(devices) == 1:
        return lambda x: jax.device_put(x, devices[0])
    sharding = NamedSharding(Mesh(np.asarray(devices), ("cells",)), PartitionSpec("cells"))
    return lambda x: jax.device_put(x, sharding)
