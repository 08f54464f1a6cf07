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
- ``diverged``: d_t or L non-finite, or d_t > 1e6 max(d_0, tol), at some step
  (d_t: the distance to the minimiser set of dynamics.metrics).

No output is ever NaN.  A diverged cell reports suboptimality and loss rise up to the
step before divergence was detected (non-finite values there become the dtype's
largest finite number).  The estimator's fit needs two sums of y_t per block of steps
(dynamics.rates.block_starts): two (blocks, cells) arrays written once per step, not
the trajectory (the compiled program is dynamics.sweep_program).  Homogeneous setups
(dynamics.rates.is_homogeneous) carry the state renormalised by a power of two every
RENORM_EVERY steps (dynamics.renormalisation), z = (w - w*)/2^k and
moments/2^k with |(z, moments)|^2 brought into [1/2, 2) (exact: only exponents change): their real iterate is
w* + 2^k z, whose d_t and L(w_t) - L* = 2^(2k) (L(w* + z) - L*) are compared and
scaled by exact powers of two, so no quantity underflows or overflows (the quadratic's L - L* is
homogeneous of degree 2), and y_t = k log 2 + log|(z, moments)|.

Grids are cut into chunks of cells, the last one padded, so that one compiled program
serves every chunk and memory stays bounded (dynamics.batch); ``progress(done, total)``
is called after each chunk.  On a CPU the chunks are small (4096 cells: the per-step state stays in
the core's cache) and run concurrently, one host thread per core, each chunk
single-threaded.  With several devices each chunk's cells are sharded over all of them
(a one-axis ``Mesh`` and ``NamedSharding(mesh, P("cells"))``); cells are independent,
so the program needs no communication and gives the same numbers on any device count.
Several processes or hosts (jax.distributed) each run one share of the chunks with the
one-process program, and the shares are gathered (dynamics.processes): the same maps, bit
for bit, as on one process.

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
rounds differently), far below anything the maps resolve.  The program is compiled once
per bucket of step counts (dynamics.horizon), T a traced loop bound.

Noisy gradients (Setup.noise, dynamics.noise): each cell also carries a seed, and step
t uses g_t + sigma z_t with z_t drawn from fold_in(key(seed), t), the noise of the
roll-out with that seed.  ``noisy_sweep`` (dynamics.noisy_sweep) runs every (lr, beta) cell for K seeds in one
batch (the seeds are one more cell axis) and returns the K maps and their means; a
noisy cautious sweep also maps ``noise_drop``, the mean over the steps before
divergence of the fraction of coordinates that the noisy mask dropped although the
true gradient's mask kept them (dynamics.noise.mask_flips).  sigma = 0 runs the
noise-free program (the same maps, bit for bit).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.batch import ProgressFn, chunk_size, host_workers, run_cells
from dynamics.config import Hyper, Setup, make_hyper
from dynamics.horizon import step_bucket
from dynamics.metrics import minimiser_set
from dynamics.noise import check_seed
from dynamics.rates import best_cell, exact_rate_map, resolve_rate_method
from dynamics.rollout import cast_inputs, noise_free, run_factors
from dynamics.sweep_program import compiled_sweep
from toys import Toy

DEFAULT_TOL = {"float64": 1e-10, "float32": 1e-4}
SCALES = ("log", "linear")
MAP_TYPES = dict(rate=np.float64, steps_to_tol=np.int64, final_suboptimality=np.float64, max_loss_rise=np.float64,
                 diverged=bool, noise_drop=np.float64, rate_uncertainty=np.float64, settled=bool)


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
    after each one.  devices: default all of this process's ``jax.local_devices()``; cells
    are sharded over them (under jax.distributed each process runs a share of the chunks,
    dynamics.processes, and every process returns the whole map).
    seed: the gradient noise's seed when setup.noise is on (every cell uses it).
    """
    run_setup = noise_free(setup, make_hyper(setup.dtype) if hp is None else hp)
    method = resolve_rate_method(rate_method, run_setup, toy)
    maps, lr_axis, beta_axis, steps, tol = sweep_maps(setup, toy, lr, beta, steps, hp, tol, start, toy_params,
                                                      chunk_cells, progress, devices, (seed,))
    maps = {k: v[0] for k, v in maps.items()}
    exact = exact_rate_map(run_setup, toy, lr_axis, beta_axis, toy_params)
    maps["rate_estimate"] = maps.pop("rate")
    rate = exact if method == "exact" else maps["rate_estimate"]
    return SweepResult(lr=lr_axis, beta=beta_axis, steps=steps, tol=tol, rate=rate, rate_method=method,
                       rate_exact=exact, **maps)


def _checked(setup: Setup, toy: Toy, lr, beta, steps, tol) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(lr axis, beta axis, steps, tol) as arrays and numbers; ValueError for a toy without
    minimiser, steps < 1, an empty axis, or a tol whose square is not a normal number."""
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
    return lr_axis, beta_axis, steps, tol


def sweep_maps(setup, toy, lr, beta, steps, hp, tol, start, toy_params, chunk_cells, progress, devices, seeds):
    """The maps of every (seed, beta, lr) cell, arrays of shape (K, len(beta), len(lr))
    (K = 1 when the run is noise-free), and the resolved lr, beta, steps and tol; the
    arguments as in ``sweep`` (``seeds``: a sequence of seeds)."""
    lr_axis, beta_axis, steps, tol = _checked(setup, toy, lr, beta, steps, tol)
    seeds = np.asarray([check_seed(k) for k in seeds], np.uint32)
    devices = tuple(jax.local_devices() if devices is None else devices)
    workers = host_workers(devices)

    w0, hp_arr, p = cast_inputs(setup, toy, toy.start if start is None else start,
                                make_hyper(setup.dtype) if hp is None else hp, toy_params)
    setup = noise_free(setup, hp_arr)
    minima, loss_min = minimiser_set(toy, toy_params)
    dt = jnp.dtype(setup.dtype)
    consts = (hp_arr, w0, p, jnp.asarray(minima, dt), jnp.asarray(loss_min, dt), jnp.asarray(tol * tol, dt))
    bucket = step_bucket(steps)
    factors = run_factors(setup, hp_arr, steps, bucket + 1, dt)      # every cell: the same f, lr its peak
    consts += () if factors is None else (factors,)

    k = seeds.size if setup.noise != "none" else 1
    per_seed = lr_axis.size * beta_axis.size
    cells = [np.tile(lr_axis, beta_axis.size * k).astype(dt), np.tile(np.repeat(beta_axis, lr_axis.size), k).astype(dt)]
    if setup.noise != "none":
        cells.append(np.repeat(seeds, per_seed))
    fn = compiled_sweep(setup, toy, bucket, devices) if len(devices) > 1 else compiled_sweep(setup, toy, bucket)
    chunk = chunk_size(k * per_seed, bucket, len(devices), workers, chunk_cells)
    flat = run_cells(fn, cells, (jnp.asarray(steps, jnp.int32),) + consts, chunk, devices, workers, setup.dtype,
                     progress)
    shape = (k, beta_axis.size, lr_axis.size)
    maps = {name: v.reshape(shape).astype(MAP_TYPES[name]) for name, v in flat.items()}
    return maps, lr_axis, beta_axis, steps, tol
