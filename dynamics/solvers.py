"""ODE solvers for the flows of dynamics.flows, all returning the state on the grid
t = 0, 1, ..., T (time unit = one optimizer step; docs/theory.md, Section 4).

Fixed step, h = 1/substeps, one ``lax.fori_loop`` over the T units (T traced, so one
program serves a bucket of T: dynamics.horizon) with an inner loop over the substeps
(jit- and vmap-friendly):

  ``euler``          y_{n+1} = y_n + h f(t_n, y_n)                          (order 1)
  ``semi-implicit``  state first, then w with the new state (flows.semi_implicit_step;
                     order 1, the discrete optimizer when h = 1)
  ``rk4``            classical Runge-Kutta 4                                  (order 4)

Adaptive: ``adaptive`` is diffrax.diffeqsolve with an embedded Runge-Kutta pair
(Tsit5 by default, or Dopri5 / Dopri8) and a PID step-size controller (rtol, atol).
It is meant for smooth right-hand sides.  A hard mask or sign makes the right-hand side
discontinuous: near a switching surface the error estimate does not shrink with the
step, so the controller rejects step after step (a rejected-step storm) until dt
reaches ``dtmin``, where steps are forced through.  The solve is bounded by
``max_steps`` (it stops early, never hangs) and ``adaptive_report`` turns diffrax's
statistics into a status with warnings for the user.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

FIXED_SOLVERS = ("euler", "semi-implicit", "rk4")
SOLVERS = FIXED_SOLVERS + ("adaptive",)
ADAPTIVE_METHODS = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8}

def _tree_axpy(a, x, y):
    """y + a x, leaf by leaf."""
    return jax.tree.map(lambda xi, yi: yi + a * xi, x, y)


def euler_step(f: Callable) -> Callable:
    """step(t, y, h, args) = y + h f(t, y, args)."""
    return lambda t, y, h, args: _tree_axpy(h, f(t, y, args), y)


def rk4_step(f: Callable) -> Callable:
    """The classical fourth-order Runge-Kutta step."""

    def step(t, y, h, args):
        k1 = f(t, y, args)
        k2 = f(t + h / 2, _tree_axpy(h / 2, k1, y), args)
        k3 = f(t + h / 2, _tree_axpy(h / 2, k2, y), args)
        k4 = f(t + h, _tree_axpy(h, k3, y), args)
        return jax.tree.map(lambda yi, a, b, c, d: yi + h / 6 * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4)

    return step


def fixed_step_solve(step: Callable, y0, args, units, substeps: int, rows: int):
    """Apply ``step`` ``substeps`` times per unit of time for ``units`` units (a traced
    integer <= ``rows``, dynamics.horizon); return the states at t = 0..rows stacked
    along a leading axis (rows + 1 rows), of which the first units + 1 are the solve's
    (the rest are zeros).  Only ``units`` units are integrated."""
    h = 1.0 / substeps
    grid = jax.tree.map(lambda a: jnp.zeros((rows + 1,) + a.shape, a.dtype).at[0].set(a), y0)

    def unit(k, carry):
        y, grid = carry
        t = k.astype(jnp.result_type(float))
        y = jax.lax.fori_loop(0, substeps, lambda j, y: step(t + j * h, y, h, args), y)
        return y, jax.tree.map(lambda g, a: jax.lax.dynamic_update_index_in_dim(g, a, k + 1, 0), grid, y)

    return jax.lax.fori_loop(0, units, unit, (y0, grid))[1]


def adaptive_solve(f: Callable, y0, args, units, tol, *, rows: int, method: str = "tsit5",
                   max_steps: int = 100_000):
    """diffrax.diffeqsolve of y' = f(t, y, args) on [0, units], saved at t = 0..units:
    ``units`` is a traced integer <= ``rows`` (dynamics.horizon) and the result has
    rows + 1 rows, those past ``units`` repeating the state at t = units.

    tol = (rtol, atol, dtmin, dt0) as arrays (new values do not recompile).  Steps
    below dtmin are forced through (PIDController force_dtmin), at most ``max_steps``
    steps are taken, and failures are returned, not raised (throw=False): grid rows
    the solver never reached come back non-finite.  Returns (ys, stats) with stats =
    num_steps, num_accepted_steps, num_rejected_steps, result (0 = success), t_reached.
    """
    rtol, atol, dtmin, dt0 = tol
    controller = diffrax.PIDController(rtol=rtol, atol=atol, dtmin=dtmin, force_dtmin=True)
    t1 = jnp.asarray(units, jnp.result_type(float))
    ts = jnp.minimum(jnp.arange(rows + 1, dtype=t1.dtype), t1)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f), ADAPTIVE_METHODS[method](), t0=0.0, t1=t1, dt0=dt0, y0=y0, args=args,
        saveat=diffrax.SaveAt(ts=ts, t1=False), stepsize_controller=controller, max_steps=max_steps,
        throw=False)
    stats = dict(num_steps=sol.stats["num_steps"], num_accepted_steps=sol.stats["num_accepted_steps"],
                 num_rejected_steps=sol.stats["num_rejected_steps"],
                 result=jnp.asarray(sol.result._value, jnp.int32))
    return sol.ys, stats


@dataclasses.dataclass
class SolverStatus:
    """What the solver did: solver name, substeps (fixed step), for the adaptive
    solver the steps taken, accepted and rejected, whether it stopped early and where,
    and warnings meant for the user."""

    solver: str
    substeps: int | None = None
    method: str | None = None
    steps: int | None = None
    accepted: int | None = None
    rejected: int | None = None
    max_steps: int | None = None
    stopped_early: bool = False
    stopped_at: float | None = None
    message: str = "ok"
    warnings: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def adaptive_report(stats, finite_rows: np.ndarray, *, smooth: bool, method: str, max_steps: int,
                    dtmin: float, units: int) -> SolverStatus:
    """Turn adaptive-solve statistics into a SolverStatus with warnings.

    finite_rows: per grid row, whether the solution there is finite (rows the solver
    did not reach are not).  A storm is flagged when rejected steps exceed half the
    accepted ones (and 100 in number; a smooth problem rejects a few percent), or when
    the mean accepted step is within 10x of dtmin (the solver crawls at dtmin through a
    switching surface)."""
    steps, acc, rej = (int(stats[k]) for k in ("num_steps", "num_accepted_steps", "num_rejected_steps"))
    code = int(stats["result"])
    status = SolverStatus(solver="adaptive", method=method, steps=steps, accepted=acc, rejected=rej,
                          max_steps=max_steps)
    if code != 0:
        reached = int(np.argmin(finite_rows)) - 1 if not finite_rows.all() else units
        status.stopped_early = True
        status.stopped_at = float(max(reached, 0))
        messages = diffrax.RESULTS._index_to_message
        status.message = messages[code] if code < len(messages) else f"diffrax result {code}"
        if steps >= max_steps:
            status.message = f"stopped after max_steps = {max_steps} steps"
        status.warnings.append(
            f"the adaptive solver stopped early (last grid time reached: t = {status.stopped_at:g} of {units}): "
            f"{status.message}; later rows are null")
    span = status.stopped_at if status.stopped_early else units
    storm = rej > max(100, acc / 2) or (acc > 0 and span / acc < 10 * dtmin)
    if storm:
        status.warnings.append(
            f"rejected-step storm: {rej} rejected vs {acc} accepted steps; the right-hand side is "
            + ("non-smooth (hard mask, sign or cautious decay): " if not smooth else "stiff or non-smooth here: ")
            + "use a fixed-step solver (rk4, euler), the smooth mask (--mask smooth) or the smooth lion sign "
              "(--lion-sign smooth)")
    elif not smooth:
        status.warnings.append("the right-hand side is non-smooth (hard mask, sign or cautious decay): "
                               "the adaptive solver's error estimate is unreliable near switching surfaces")
    return status
