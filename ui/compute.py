"""Cached computations for the app: thin st.cache_data wrappers around dynamics/ that
return NumPy arrays.

Every cache has ``max_entries``, so memory stays bounded however many sessions and
settings there are.  Arguments are plain hashable values (RunSpec, tuples), never
Streamlit objects.  The jitted programs behind them (dynamics.rollout.compiled_rollout,
dynamics.sweep_program.compiled_sweep, dynamics.ode.compiled_integrator,
dynamics.anatomy.compiled_anatomy) are process-wide caches keyed by the *structure*
of a run (optimizer, mask, toy, ...; the roll-outs and sweeps also by the bucket of
the number of steps, dynamics.horizon); every number (lr, beta, start, toy
parameters, and the steps within their bucket) is an array argument, so moving a
slider re-runs a compiled program and never compiles a new one.

Rate maps are computed in blocks of beta rows, each block one cached call of
dynamics.sweep.sweep, so that the caller can show progress between blocks (a cached
function must not touch Streamlit elements created outside it).  Every block of one
map has the same keys (docs/theory.md, Section 5): ``rate`` (the closed form where the
setup has one, else the estimate), ``rate_estimate``, ``rate_uncertainty``, ``settled``,
``diverged``, ``steps_to_tol``, ``max_loss_rise`` and, only where a closed form exists,
``rate_exact``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import streamlit as st

from dynamics import loss_rises, rollout
from dynamics.anatomy import step_anatomy
from dynamics.basins import BasinMap, basin_map
from dynamics.decay_study import DecayRun, decay_study
from dynamics.noise import SEED_LIMIT
from dynamics.ode import integrate
from dynamics.metrics import divergence_limit, first_step, non_finite_steps
from dynamics.rates import distance_rate
from dynamics.rollout import Trajectory, min_loss
from dynamics.noisy_sweep import noisy_sweep
from dynamics.sweep import DEFAULT_TOL, sweep
from toys.grid import toy_grid
from ui.guard import stop_if_ended
from ui.state import RunSpec, toy_of

BLOCK_CELLS = 4096      # cells per cached sweep block (about 0.05 s warm at 1000 steps)


@st.cache_data(max_entries=128, show_spinner=False)
def trajectory(spec: RunSpec) -> dict[str, np.ndarray]:
    """The roll-out of ``spec`` (dynamics.rollout.Trajectory fields; noisy gradients
    with spec's seed when spec.hyper.noise_sigma > 0)."""
    traj = rollout(spec.setup, toy_of(spec.toy), spec.hyper_arrays(), spec.steps, start=spec.start,
                   toy_params=spec.params, seed=spec.seed)
    return traj._asdict()


@st.cache_data(max_entries=64, show_spinner=False)
def grid(toy_name: str, params: tuple, n: int = 160, bounds: tuple | None = None):
    """(xs, ys, Z) of the toy on an n x n grid (toys.grid.toy_grid)."""
    return toy_grid(toy_of(toy_name), dict(params), n, bounds)


@st.cache_data(max_entries=64, show_spinner=False)
def minima(toy_name: str, params: tuple) -> tuple[np.ndarray, float | None]:
    """(minimisers (k, 2), L* = the smallest listed minimum value, or None without minima)."""
    toy = toy_of(toy_name)
    return toy.minima(dict(params)), min_loss(toy, dict(params))


class Summary(NamedTuple):
    """Per-run numbers for the table under the plots.  rate, rate_uncertainty and
    rate_settled are None without minima or when the run diverged."""

    final_gap: float            # L(w_T) - L* (or L(w_T) without L*)
    rises: np.ndarray           # steps t where L rose above the threshold (dynamics.rollout.loss_rises)
    largest_rise: float
    diverged_at: int | None     # first step that is non-finite or beyond 1e6 max(d_0, tol)
    rate: float | None          # late-window fit of log d_t (dynamics.rates.distance_rate)
    steps_to_tol: int | None
    rate_uncertainty: float | None = None    # spread between the fits over the window's two halves
    rate_settled: bool | None = None         # the fit settled (spread <= dynamics.rates.SETTLED_SPREAD)


def rate_text(s: Summary, spec: str = ".4f") -> str:
    """The empirical rate of a summary for a table: "0.8123 ± 2.1e-05", with "(not
    settled)" when the late-window fit still drifts; "—" without a rate."""
    if s.rate is None:
        return "—"
    text = format(s.rate, spec) + ("" if s.rate_uncertainty is None else f" ± {s.rate_uncertainty:.1e}")
    return text + ("" if s.rate_settled in (None, True) else " (not settled)")


def distances(spec: RunSpec, w: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """d_t to the nearest listed minimiser (to the set of minimisers for a valley toy)."""
    toy = toy_of(spec.toy)
    if not len(points):
        return None
    if toy.valley and toy.set_residual is not None:
        return np.abs(np.asarray(toy.set_residual(w, spec.params), dtype=np.float64))
    return np.min(np.linalg.norm(w[:, None, :] - points[None, :, :], axis=-1), axis=1)


def summarize(spec: RunSpec, traj: dict[str, np.ndarray], points: np.ndarray, l_star: float | None,
              rise_rel: float) -> Summary:
    """The table row of one run.  Its rises are those above ``rise_rel`` times the scale
    of dynamics.rollout.loss_rises; its empirical rate is the late-window least-squares
    fit of log d_t (dynamics.rates.distance_rate; docs/theory.md, Section 5.3) with its
    uncertainty and settled flag."""
    loss = traj["loss"]
    rises, sizes = loss_rises(loss, rise_rel, l_star)
    with np.errstate(invalid="ignore", over="ignore"):
        bad = non_finite_steps(traj["w"], loss, traj.get("hamiltonian"))
        d = distances(spec, traj["w"], points)
        tol = DEFAULT_TOL[spec.setup.dtype]
        if d is not None:
            bad |= ~np.isfinite(d) | (d > divergence_limit(float(d[0]), tol))
        else:
            bad |= np.linalg.norm(traj["w"], axis=-1) > 1e6 * (np.linalg.norm(traj["w"][0]) + 1)
    diverged_at = first_step(bad)
    rate = distance_rate(d, tol, loss) if d is not None else None
    fitted = rate is not None and not rate.diverged
    final = float(loss[-1] - (l_star or 0.0))
    return Summary(final, rises, float(sizes.max()) if len(sizes) else 0.0, diverged_at,
                   rate.rate if fitted else None,
                   None if rate is None or rate.steps_to_tol < 0 else rate.steps_to_tol,
                   rate.uncertainty if fitted else None, rate.settled if fitted else None)


@st.cache_data(max_entries=512, show_spinner=False)
def sweep_block(spec: RunSpec, lr_axis: tuple, beta_rows: tuple, steps: int) -> dict[str, np.ndarray]:
    """The rate metrics of rows ``beta_rows`` x columns ``lr_axis`` (dynamics.sweep.sweep
    with rate_method "auto"; spec's own lr and beta are replaced by the grid): the keys
    of the module docstring, ``rate_exact`` only where the setup has a closed form."""
    res = sweep(spec.setup, toy_of(spec.toy), lr_axis, beta_rows, steps, hp=spec.hyper_arrays(), start=spec.start,
                toy_params=spec.params)
    out = dict(rate=res.rate, rate_estimate=res.rate_estimate, rate_uncertainty=res.rate_uncertainty,
               settled=res.settled, diverged=res.diverged, steps_to_tol=res.steps_to_tol,
               max_loss_rise=res.max_loss_rise)
    if res.rate_exact is not None:
        out["rate_exact"] = res.rate_exact
    return out


def seeds_of(spec: RunSpec, k: int) -> tuple[int, ...]:
    """The K seeds a noisy rate map averages over: spec.seed, spec.seed + 1, ... (mod 2^32),
    so that K = 1 is the seed of spec's own trajectory."""
    return tuple((spec.seed + i) % SEED_LIMIT for i in range(k))


@st.cache_data(max_entries=512, show_spinner=False)
def noisy_sweep_block(spec: RunSpec, lr_axis: tuple, beta_rows: tuple, steps: int, seeds: tuple) -> dict:
    """The maps of ``sweep_block`` averaged over ``seeds`` (dynamics.noisy_sweep.noisy_sweep,
    gradient noise sigma = spec.hyper.noise_sigma): ``rate`` is the mean rate (a diverged seed
    counts 1; also as ``rate_estimate``: noise has no closed form), ``rate_uncertainty``
    the mean over the seeds of each fit's spread, ``settled`` where every seed's fit
    settled, ``diverged`` where every seed diverged, ``diverged_fraction``,
    ``rate_std``, ``steps_to_tol`` the median over the seeds that reached tol (-1: none
    did; dynamics.metrics.median_steps_to_tol, as in the CLI), and (cautious)
    ``noise_drop``, the mean over the seeds of the fraction of coordinates the mask
    dropped because of the noise."""
    res = noisy_sweep(spec.setup, toy_of(spec.toy), lr_axis, beta_rows, steps, seeds=seeds, hp=spec.hyper_arrays(),
                      start=spec.start, toy_params=spec.params)
    out = dict(rate=res.rate_mean, rate_estimate=res.rate_mean, rate_uncertainty=res.uncertainty_mean,
               settled=res.settled_on_every_seed, diverged=res.diverged_fraction >= 1.0,
               diverged_fraction=res.diverged_fraction, rate_std=res.rate_std,
               steps_to_tol=res.median_steps_to_tol)
    if res.noise_drop is not None:
        out["noise_drop"] = res.noise_drop_mean
    return out


def rate_map(spec: RunSpec, lr_axis: np.ndarray, beta_axis: np.ndarray, steps: int,
             progress: Callable[[int, int], None] | None = None, seeds: int = 1) -> dict[str, np.ndarray]:
    """The full map, block by block (each block cached); ``progress(done_rows, rows)``
    is called before the first block and after each one.  With gradient noise
    (spec.hyper.noise_sigma > 0) the maps are averaged over ``seeds`` seeds (noisy_sweep_block)."""
    noisy = spec.hyper.noise_sigma > 0
    rows = max(1, BLOCK_CELLS // (len(lr_axis) * (seeds if noisy else 1)))
    lr_t = tuple(float(x) for x in lr_axis)
    parts = []
    for i in range(0, len(beta_axis), rows):
        if progress is not None:
            progress(i, len(beta_axis))
        beta_rows = tuple(float(b) for b in beta_axis[i:i + rows])
        parts.append(noisy_sweep_block(spec, lr_t, beta_rows, int(steps), seeds_of(spec, seeds)) if noisy
                     else sweep_block(spec, lr_t, beta_rows, int(steps)))
    if progress is not None:
        progress(len(beta_axis), len(beta_axis))
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


@st.cache_data(max_entries=32, show_spinner=False)
def flow(spec: RunSpec, solver: str, substeps: int, init: str, lion_sign: str, sign_tau: float, rtol: float,
         atol: float) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ODE solution of spec's flow over 0 <= t <= steps (dynamics.ode.integrate):
    (arrays, solver status as a dict)."""
    setup = spec.setup_with(lion_sign=lion_sign)
    hp = spec.hyper_arrays(sign_tau=sign_tau)
    out = integrate(setup, toy_of(spec.toy), hp, spec.steps, solver=solver, substeps=substeps, start=spec.start,
                    toy_params=spec.params, init=init, rtol=rtol, atol=atol)
    arrays = {k: v for k, v in out._asdict().items() if k != "status"}
    return arrays, out.status.as_dict()


@st.cache_data(max_entries=32, show_spinner=False)
def anatomy(spec: RunSpec) -> dict[str, np.ndarray]:
    """The anatomy of every step of spec's roll-out (dynamics.anatomy.step_anatomy; with
    gradient noise, the noisy gradients the steps used)."""
    return step_anatomy(spec.setup, spec.hyper_arrays(), Trajectory(**trajectory(spec)), seed=spec.seed,
                        toy=toy_of(spec.toy), toy_params=spec.params)._asdict()


@st.cache_data(max_entries=16, show_spinner=False)
def decay_runs(toy_name: str, cautious: bool) -> dict[tuple[str, str], DecayRun]:
    """The cautious weight decay study on ``toy_name`` (dynamics.decay_study.decay_study
    with its defaults: gdm, adam and lion, each with no, decoupled and cautious decay;
    ``cautious``: the cautious mask on the direction too), keyed by (optimizer, decay)."""
    return decay_study(toy_name, cautious=cautious)


@st.cache_data(max_entries=32, show_spinner=False)
def basins(spec: RunSpec, n: int, steps: int, radius: float) -> BasinMap:
    """The basin map of spec's optimizer (exact gradients; spec's start is replaced by
    every cell of an n x n grid over the toy's domain) for ``steps`` steps, a run
    reaching a minimiser when it ends within ``radius`` (dynamics.basins.basin_map).  A progress bar is drawn while it runs; it is created
    here, so Streamlit replays it (empty) on a cache hit."""
    bar = st.progress(0.0, text=f"{spec.label}: basin map")
    def report(done: int, total: int) -> None:
        stop_if_ended()                 # a closed tab stops the map between chunks (ui.guard)
        bar.progress(done / max(total, 1), text=f"{spec.label}: {done}/{total} starts")
    out = basin_map(spec.setup_with(noise="none"), toy_of(spec.toy), spec.hyper_arrays(), steps, n=n,
                    radius=radius, toy_params=spec.params, progress=report)
    bar.empty()
    return out
