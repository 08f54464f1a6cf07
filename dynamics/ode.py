"""ODE mode: integrate an optimizer's flow (dynamics.flows) with a solver
(dynamics.solvers) and read out, on the grid t = 0, 1, ..., T (time unit = one step,
docs/theory.md, Section 4), the iterate w(t), L, H = L + K, dL/dt = g.w', dH/dt and the
fraction masked 1 - mean(phi).  Rates are the formulas evaluated at the state (not
finite differences of the series).

The jitted integrator is built once per (setup, toy, bucket of T, solver, substeps, ...)
and takes every number (start, hyperparameters, toy parameters, tolerances) and T itself
as array arguments: a second call with new numbers, or a new T in the same bucket
(dynamics.horizon.step_bucket), reuses the compiled program.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.config import Hyper, Setup
from dynamics.flows import INITS, diagnostics, initial_state, is_smooth, semi_implicit_step, vector_field
from dynamics.horizon import step_bucket
from dynamics.rollout import cast_inputs, run_factors
from dynamics.solvers import (ADAPTIVE_METHODS, FIXED_SOLVERS, SOLVERS, SolverStatus, adaptive_report,
                              adaptive_solve, euler_step, fixed_step_solve, rk4_step)
from toys import Toy

ADAPTIVE_DEFAULTS = dict(rtol=1e-6, atol=1e-9, dtmin=1e-6, method="tsit5", max_steps=100_000)


class ODETrajectory(NamedTuple):
    """Arrays on the grid t = 0..T (T+1 rows): time, w, the moments m and v, loss L,
    hamiltonian H, dH_dt, dL_dt, masked_fraction, c_norm (lion's |c|_1, else 0);
    status: what the solver did (solvers.SolverStatus)."""

    time: np.ndarray
    w: np.ndarray
    m: np.ndarray
    v: np.ndarray
    loss: np.ndarray
    hamiltonian: np.ndarray
    dH_dt: np.ndarray
    dL_dt: np.ndarray
    masked_fraction: np.ndarray
    c_norm: np.ndarray
    status: SolverStatus


def _fixed_step(setup: Setup, value, solver: str):
    if solver == "semi-implicit":
        return semi_implicit_step(setup, value)
    f = vector_field(setup, value)
    return euler_step(f) if solver == "euler" else rk4_step(f)


def _integrator_fn(setup: Setup, value, bucket: int, solver: str, substeps, method, max_steps, init: str):
    diag = diagnostics(setup, value)

    def run(w0, hp: Hyper, p, tol, units, factors=None):
        args = (hp, p) if factors is None else (hp, p, factors)
        y0 = initial_state(setup, value, w0, p, hp, init)
        if solver == "adaptive":
            ys, stats = adaptive_solve(vector_field(setup, value), y0, args, units, tol, rows=bucket,
                                       method=method, max_steps=max_steps)
        else:
            ys, stats = fixed_step_solve(_fixed_step(setup, value, solver), y0, args, units, substeps, bucket), {}
        times = jnp.arange(bucket + 1, dtype=w0.dtype)
        out = jax.vmap(lambda y, t: diag(y, args, t))(ys, times)
        return dict(w=ys.w, m=ys.m, v=ys.v, **out), stats

    return run


@functools.lru_cache(maxsize=64)
def compiled_integrator(setup: Setup, toy: Toy, bucket: int, solver: str, substeps: int | None = None,
                        method: str | None = None, max_steps: int | None = None, init: str = "auto",
                        batched: bool = False):
    """The jitted ``fn(w0, hp, toy_params, tol, T[, factors]) -> (arrays, stats)`` for a
    bucket of T (dynamics.horizon.step_bucket), built once per process; ``tol = (rtol,
    atol, dtmin, dt0)`` (read by the adaptive solver only); T an int32 <= bucket;
    ``factors``: the schedule's f(0..bucket) (dynamics.schedules) under a schedule.  The
    arrays have bucket + 1 rows, of which the first T + 1 are the grid t = 0..T.
    batched: vmapped over (w0, hp[, factors]) (leading axis), toy parameters, tol and T shared."""
    fn = _integrator_fn(setup, toy.value, bucket, solver, substeps, method, max_steps, init)
    if batched:
        fn = jax.vmap(fn, in_axes=(0, 0, None, None, None, 0))
    return jax.jit(fn)


def _check_args(setup: Setup, solver: str, units: int, substeps: int, init: str, method: str, max_steps: int) -> None:
    if setup.clip:
        raise ValueError("gradient clipping is a discrete-mode option: the flows have no clipped form")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    if method not in ADAPTIVE_METHODS:
        raise ValueError(f"method must be one of {', '.join(ADAPTIVE_METHODS)}; got {method!r}")
    for name, value in (("T", units), ("substeps", substeps), ("max_steps", max_steps)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value}")


def _key(solver: str, substeps: int, method: str, max_steps: int):
    """Static parts of the cache key: only what the chosen solver reads."""
    if solver == "adaptive":
        return None, method, int(max_steps)
    return int(substeps), None, None


def integrate(setup: Setup, toy: Toy, hp: Hyper, T: int, solver: str = "rk4", substeps: int = 10,
              start=None, toy_params=None, init: str = "auto", rtol: float = 1e-6, atol: float = 1e-9,
              dtmin: float = 1e-6, method: str = "tsit5", max_steps: int = 100_000) -> ODETrajectory:
    """Integrate the flow of ``setup`` on ``toy`` from ``start`` (default the toy's)
    over 0 <= t <= T and return NumPy arrays on the grid t = 0..T.

    solver: euler, semi-implicit, rk4 (h = 1/substeps) or adaptive (diffrax ``method``
    with a PID controller: rtol, atol, first step 1/substeps, steps below dtmin forced
    through, at most max_steps steps).  init: ``auto`` (adam m0 = g0, v0 = g0^2, all
    other moments 0) or ``zeros``.
    """
    _check_args(setup, solver, T, substeps, init, method, max_steps)
    w0, hp, p = cast_inputs(setup, toy, toy.start if start is None else start, hp, toy_params)
    factors = run_factors(setup, hp, int(T), step_bucket(T) + 1, w0.dtype)
    sub, meth, steps = _key(solver, substeps, method, max_steps)
    fn = compiled_integrator(setup, toy, step_bucket(T), solver, sub, meth, steps, init)
    tol = tuple(jnp.asarray(x, jnp.float64) for x in (rtol, atol, dtmin, 1.0 / substeps))
    out, stats = fn(w0, hp, p, tol, jnp.asarray(int(T), jnp.int32), *(() if factors is None else (factors,)))
    arrays = {k: np.array(np.asarray(v)[:int(T) + 1]) for k, v in out.items()}
    if solver == "adaptive":
        finite = np.all(np.isfinite(arrays["w"]), axis=-1)
        if int(stats["result"]) != 0:  # rows the solver never reached: NaN, not diffrax's inf
            for k, a in arrays.items():
                a[~finite] = np.nan
        status = adaptive_report(stats, finite, smooth=is_smooth(setup), method=method, max_steps=max_steps,
                                 dtmin=dtmin, units=int(T))
    else:
        status = SolverStatus(solver=solver, substeps=int(substeps))
        if not is_smooth(setup):
            status.warnings.append("the right-hand side is non-smooth (hard mask, sign or cautious decay): "
                                   "fixed-step solvers chatter across switching surfaces with amplitude ~ lr/substeps")
    return ODETrajectory(time=np.arange(T + 1, dtype=float), status=status, **arrays)


def integrate_batch(setup: Setup, toy: Toy, hps: Hyper, T: int, starts, solver: str = "rk4", substeps: int = 10,
                    toy_params=None, init: str = "auto") -> dict[str, np.ndarray]:
    """A fixed-step solve for a batch: ``hps`` has a leading batch axis on every leaf and
    ``starts`` has shape (batch, d); one compiled, vmapped program.  Returns the arrays
    of ODETrajectory (time, w, m, v, loss, ...) with a leading batch axis (time: T+1)."""
    if solver not in FIXED_SOLVERS:
        raise ValueError(f"batched solves use a fixed-step solver: one of {', '.join(FIXED_SOLVERS)}; got {solver!r}")
    _check_args(setup, solver, T, substeps, init, "tsit5", 1)
    w0, hps, p = cast_inputs(setup, toy, starts, hps, toy_params)
    hps = Hyper(*(jnp.broadcast_to(x, w0.shape[:1]) for x in hps))
    bucket = step_bucket(T)
    rows = [run_factors(setup, Hyper(*(x[i] for x in hps)), int(T), bucket + 1, w0.dtype) for i in range(len(w0))]
    fn = compiled_integrator(setup, toy, bucket, solver, int(substeps), None, None, init, batched=True)
    factors = None if rows[0] is None else jnp.stack(rows)
    out, _ = fn(w0, hps, p, tuple(jnp.zeros((), jnp.float64) for _ in range(4)), jnp.asarray(int(T), jnp.int32),
                factors)
    return dict(time=np.arange(T + 1, dtype=float), **{k: np.asarray(v)[:, :int(T) + 1] for k, v in out.items()})
