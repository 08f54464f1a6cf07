"""The work budget: every request (an app view, a command, a figure configuration) is
sized before it runs and refused, with one line, when it is too large.

A request's size is a ``Cost``: its work in gradient evaluations and the bytes of the
arrays it will hold.

- work = cells x steps x seeds x runs x (evaluations per step), where a discrete step
  is one evaluation, a fixed-step ODE sub-step is one (euler, semi-implicit) or four
  (rk4) and an adaptive solve is at most max_steps x the stages of its Runge-Kutta pair
  (tsit5 and dopri5 7, dopri8 13: rejected steps count too).  A step with gradient
  noise counts NOISE_WEIGHT evaluations (drawing the noise costs about three times the
  gradient of a 2-D toy).
- bytes = the floats the result holds (TRAJECTORY_FLOATS per step of a run,
  MAP_FLOATS per cell and seed of a grid) x 8 bytes x COPIES (the computation's arrays
  and the NumPy result live side by side).

Measured (AMD EPYC, 2 cores shared with other work, jax 0.10.2 CPU, float64, quad-k4,
2026-11-30; BENCHMARKS.md): a batched rate map runs about 5.7e7 cell-steps a second on
an idle machine (17.6 ns, BENCHMARKS.md's table) and a noisy one (64 seeds) about 1.9e7
(a 256 x 256 x 5000-step x 64-seed map took 512 blocks x 2.2 s); basin maps and single
roll-outs or ODE solves (4.7e6 steps, 6e6 rk4 evaluations a second under load) are
bounded by the app's fields long before the limit.  So APP_WORK_LIMIT = 1e9 weighted
evaluations is about 18 s of a plain rate map and 13 s of a noisy one on an idle
machine, within ~30 s of CPU per view.  The command line's CLI_WORK_LIMIT = 2e10 is
about 6 minutes of batched work; MEMORY_LIMIT = 8 GiB of arrays fits a 24 GB machine
with room for JAX's own copies.

The environment variable DYNAMICS_WORK_LIMIT (a number of gradient evaluations, e.g.
5e9) replaces both work limits; ``--allow-large`` (command line) lifts the work limit.
Nothing lifts the memory limit: a request whose arrays cannot fit is refused.
"""
from __future__ import annotations

import math
import os
from typing import NamedTuple

ENV = "DYNAMICS_WORK_LIMIT"
APP_WORK_LIMIT = 10**9              # weighted gradient evaluations per app view (about 18 s, module docstring)
CLI_WORK_LIMIT = 2 * 10**10         # per command (about 6 minutes of batched work)
MEMORY_LIMIT = 8 * 2**30            # bytes of arrays a request may hold (command line and app)
NOISE_WEIGHT = 4                    # evaluations a noisy step counts (noise draws are ~3x a 2-D gradient)
TRAJECTORY_FLOATS = 16              # floats per step of a run (w, loss, H, mask, grad, update, noise, decay)
MAP_FLOATS = 16                     # floats per cell and seed of a grid (state, rates, fits, flags)
COPIES = 2                          # the computation's arrays and the NumPy result
STAGES = {"euler": 1, "semi-implicit": 1, "rk4": 4, "tsit5": 7, "dopri5": 7, "dopri8": 13}


class BudgetError(ValueError):
    """A bad DYNAMICS_WORK_LIMIT: its message is one line."""


class Cost(NamedTuple):
    """The size of a request: ``what`` it is ("the rate maps"), its ``work`` in weighted
    gradient evaluations, the ``bytes`` of its arrays, and ``formula``, the work's
    factors in words ("256 x 256 cells x 5000 steps x 64 seeds x 2 runs")."""

    what: str
    work: int
    bytes: int
    formula: str

    def __add__(self, other: Cost) -> Cost:          # two requests of one view
        return Cost(f"{self.what} and {other.what}", self.work + other.work, self.bytes + other.bytes,
                    f"{self.formula}; {other.formula}")


def _factors(*pairs) -> str:
    return " x ".join(f"{n} {unit}" for n, unit in pairs if n != 1 or unit in ("steps", "cells"))


def runs_cost(what: str, steps: int, runs: int = 1, noisy: bool = False, sam: bool = False) -> Cost:
    """Discrete roll-outs: ``runs`` runs of ``steps`` steps, each one evaluation
    (NOISE_WEIGHT with gradient noise; twice that with SAM, two gradients per step),
    TRAJECTORY_FLOATS per step held."""
    steps, runs = int(steps), int(runs)
    work = steps * runs * (NOISE_WEIGHT if noisy else 1) * (2 if sam else 1)
    held = (steps + 1) * runs * TRAJECTORY_FLOATS * 8 * COPIES
    formula = _factors((steps, "steps"), (runs, "runs"), (2 if sam else 1, "gradients per step (SAM)"))
    return Cost(what, work, held, formula + (" with noise" if noisy else ""))


def flow_cost(what: str, steps: int, solver: str, substeps: int, method: str, max_steps: int, runs: int = 1) -> Cost:
    """ODE solves over 0 <= t <= steps: a fixed-step solver evaluates STAGES[solver] x
    substeps per unit of time, an adaptive one at most max_steps x STAGES[method] (the
    adaptive solver's ``method`` and ``max_steps``: callers pass its options, by default
    dynamics.ode.ADAPTIVE_DEFAULTS; this module imports no JAX)."""
    steps, substeps, max_steps, runs = int(steps), int(substeps), int(max_steps), int(runs)
    if solver == "adaptive":
        work, formula = max_steps * STAGES[method] * runs, _factors((max_steps, "adaptive steps at most"),
                                                                     (STAGES[method], "stages"), (runs, "runs"))
    else:
        work = steps * substeps * STAGES[solver] * runs
        formula = _factors((steps, "steps"), (substeps, "substeps"), (STAGES[solver], "stages"), (runs, "runs"))
    return Cost(what, work, (steps + 1) * runs * TRAJECTORY_FLOATS * 8 * COPIES, formula)


def grid_cost(what: str, per_axis: tuple[int, int], steps: int, seeds: int = 1, runs: int = 1,
              noisy: bool = False, sam: bool = False) -> Cost:
    """A grid of cells (rate maps, basin maps): rows x columns cells x steps x seeds x
    runs, NOISE_WEIGHT per noisy step, twice the work with SAM (two gradients per step);
    MAP_FLOATS per cell and seed held."""
    rows, cols = (int(n) for n in per_axis)
    steps, seeds, runs = int(steps), int(seeds), int(runs)
    work = rows * cols * steps * seeds * runs * (NOISE_WEIGHT if noisy else 1) * (2 if sam else 1)
    held = rows * cols * seeds * runs * MAP_FLOATS * 8 * COPIES
    formula = _factors((f"{rows} x {cols}", "cells"), (steps, "steps"), (seeds, "seeds"), (runs, "runs"),
                       (2 if sam else 1, "gradients per step (SAM)"))
    return Cost(what, work, held, formula + (" with noise" if noisy else ""))


def work_limit(default: int) -> int:
    """DYNAMICS_WORK_LIMIT when set (a number >= 1, e.g. 5e9), else ``default``;
    BudgetError (one line) on a bad value."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise BudgetError(f"{ENV} must be a number of gradient evaluations >= 1 such as 5e9; got {text!r}")
    return int(value)


def _amount(x: int) -> str:
    return f"{x:.3g}" if x < 1e21 else f"about 10^{len(str(x)) - 1}"


def _bytes(x: int) -> str:
    return f"{x / 2**30:.3g} GiB" if x < 2**30 * 10**12 else f"about 10^{len(str(x)) - 1} bytes"


def problem(cost: Cost, limit: int | None, raise_hint: str, lower: str = "make it smaller") -> str | None:
    """None if ``cost`` fits MEMORY_LIMIT and ``limit`` (None: no work limit), else one
    line saying what is too large, its size, the limit, what to ``lower`` and, for the
    work, ``raise_hint`` (how to raise the limit)."""
    if cost.bytes > MEMORY_LIMIT:
        return (f"too large: {cost.what} would hold {_bytes(cost.bytes)} of arrays ({cost.formula}), above the "
                f"memory limit of {_bytes(MEMORY_LIMIT)}; {lower}")
    if limit is not None and cost.work > limit:
        return (f"too large: {cost.what} = {_amount(cost.work)} gradient evaluations ({cost.formula}), above the "
                f"limit of {_amount(limit)}; {lower}, or {raise_hint}")
    return None
