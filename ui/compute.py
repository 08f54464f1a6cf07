"""Cached computations for the app: thin st.cache_data wrappers around dynamics/ that
return NumPy arrays.

Every cache has ``max_entries``, so memory stays bounded however many sessions and
settings there are.  Arguments are plain hashable values (RunSpec, tuples), never
Streamlit objects.  The jitted programs behind them (dynamics.rollout.compiled_rollout,
dynamics.sweep.compiled_sweep, dynamics.ode.compiled_integrator,
dynamics.anatomy.compiled_anatomy) are process-wide caches keyed by the *structure*
of a run (optimizer, mask, toy, number of steps, ...); every number (lr, beta, start,
toy parameters) is an array argument, so moving a slider re-runs a compiled program
and never compiles a new one.

Rate maps are computed in blocks of beta rows, each block one cached call of
dynamics.sweep.sweep, so that the caller can show progress between blocks (a cached
function must not touch Streamlit elements created outside it).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import streamlit as st

from dynamics import loss_rises, rollout
from dynamics.anatomy import step_anatomy
from dynamics.ode import integrate
from dynamics.rates import divergence_limit, envelope_rate
from dynamics.rollout import Trajectory
from dynamics.sweep import DEFAULT_TOL, sweep
from toys import get_toy
from ui.state import RunSpec
from viz.contour import toy_grid

BLOCK_CELLS = 4096      # cells per cached sweep block (about 0.05 s warm at 1000 steps)


@st.cache_data(max_entries=128, show_spinner=False)
def trajectory(spec: RunSpec) -> dict[str, np.ndarray]:
    """The roll-out of ``spec`` (dynamics.rollout.Trajectory fields)."""
    traj = rollout(spec.setup(), get_toy(spec.toy), spec.hyper(), spec.steps, start=spec.start,
                   toy_params=spec.params)
    return traj._asdict()


@st.cache_data(max_entries=64, show_spinner=False)
def grid(toy_name: str, params: tuple, n: int = 160, bounds: tuple | None = None):
    """(xs, ys, Z) of the toy on an n x n grid (viz.contour.toy_grid)."""
    return toy_grid(get_toy(toy_name), dict(params), n, bounds)


@st.cache_data(max_entries=64, show_spinner=False)
def minima(toy_name: str, params: tuple) -> tuple[np.ndarray, float | None]:
    """(minimisers (k, 2), L* = the smallest listed minimum value, or None without minima)."""
    toy = get_toy(toy_name)
    if not toy.has_minima():
        return np.zeros((0, 2)), None
    p = toy.params(dict(params))
    points = toy.minima(p)
    values = toy.min_values(p) if toy.min_values is not None else np.asarray(toy.value(points, p))
    return points, float(np.min(values))


class Summary(NamedTuple):
    """Per-run numbers for the table under the plots."""

    final_gap: float            # L(w_T) - L* (or L(w_T) without L*)
    rises: np.ndarray           # steps t where L(w_t) > L(w_{t-1})
    largest_rise: float
    diverged_at: int | None     # first step that is non-finite or beyond 1e6 max(d_0, tol)
    rate: float | None          # envelope rate (dynamics.rates.envelope_rate), None without minima
    steps_to_tol: int | None


def distances(spec: RunSpec, w: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """d_t to the nearest listed minimiser (to the set of minimisers for a valley toy)."""
    toy = get_toy(spec.toy)
    if not len(points):
        return None
    if toy.valley and toy.set_residual is not None:
        return np.abs(np.asarray(toy.set_residual(w, spec.params), dtype=np.float64))
    return np.min(np.linalg.norm(w[:, None, :] - points[None, :, :], axis=-1), axis=1)


def summarize(spec: RunSpec, traj: dict[str, np.ndarray], points: np.ndarray, l_star: float | None) -> Summary:
    loss = traj["loss"]
    with np.errstate(invalid="ignore", over="ignore"):
        rises, sizes = loss_rises(loss)
        bad = ~np.isfinite(loss) | ~np.all(np.isfinite(traj["w"]), axis=-1)
        d = distances(spec, traj["w"], points)
        tol = DEFAULT_TOL[spec.dtype]
        if d is not None:
            bad |= ~np.isfinite(d) | (d > divergence_limit(float(d[0]), tol))
        else:
            bad |= np.linalg.norm(traj["w"], axis=-1) > 1e6 * (np.linalg.norm(traj["w"][0]) + 1)
    diverged_at = int(np.argmax(bad)) if bad.any() else None
    rate = envelope_rate(d, tol, loss) if d is not None else None
    final = float(loss[-1] - (l_star or 0.0))
    return Summary(final, rises, float(sizes.max()) if len(sizes) else 0.0, diverged_at,
                   None if rate is None or rate.diverged else rate.rate,
                   None if rate is None or rate.steps_to_tol < 0 else rate.steps_to_tol)


@st.cache_data(max_entries=512, show_spinner=False)
def sweep_block(spec: RunSpec, lr_axis: tuple, beta_rows: tuple, steps: int) -> dict[str, np.ndarray]:
    """The rate metrics of rows ``beta_rows`` x columns ``lr_axis`` (dynamics.sweep.sweep;
    spec's own lr and beta are replaced by the grid)."""
    res = sweep(spec.setup(), get_toy(spec.toy), lr_axis, beta_rows, steps, hp=spec.hyper(), start=spec.start,
                toy_params=spec.params)
    return dict(rate=res.rate, diverged=res.diverged, steps_to_tol=res.steps_to_tol,
                max_loss_rise=res.max_loss_rise)


def rate_map(spec: RunSpec, lr_axis: np.ndarray, beta_axis: np.ndarray, steps: int,
             progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """The full map, block by block (each block cached); ``progress(done_rows, rows)``
    is called before the first block and after each one."""
    rows = max(1, BLOCK_CELLS // len(lr_axis))
    lr_t = tuple(float(x) for x in lr_axis)
    parts = []
    for i in range(0, len(beta_axis), rows):
        if progress is not None:
            progress(i, len(beta_axis))
        parts.append(sweep_block(spec, lr_t, tuple(float(b) for b in beta_axis[i:i + rows]), int(steps)))
    if progress is not None:
        progress(len(beta_axis), len(beta_axis))
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


@st.cache_data(max_entries=32, show_spinner=False)
def flow(spec: RunSpec, solver: str, substeps: int, init: str, lion_sign: str, sign_tau: float, rtol: float,
         atol: float) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ODE solution of spec's flow over 0 <= t <= steps (dynamics.ode.integrate):
    (arrays, solver status as a dict)."""
    setup = spec.setup(lion_sign=lion_sign)
    hp = spec.hyper(sign_tau=sign_tau)
    out = integrate(setup, get_toy(spec.toy), hp, spec.steps, solver=solver, substeps=substeps, start=spec.start,
                    toy_params=spec.params, init=init, rtol=rtol, atol=atol)
    arrays = {k: v for k, v in out._asdict().items() if k != "status"}
    return arrays, out.status.as_dict()


@st.cache_data(max_entries=32, show_spinner=False)
def anatomy(spec: RunSpec) -> dict[str, np.ndarray]:
    """The anatomy of every step of spec's roll-out (dynamics.anatomy.step_anatomy)."""
    traj = Trajectory(**trajectory(spec))
    return step_anatomy(spec.setup(), spec.hyper(), traj)._asdict()
