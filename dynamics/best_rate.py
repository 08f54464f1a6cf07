"""The best cell of a swept rate map and the rate quoted for it: one computation for
the paper figure ``fig3`` (figures.compute) and the claims report
(dynamics.claims_rates), so that both state the same numbers for the same settings.

Which cell (``best_of``, by dynamics.rates.best_cell): among the converging cells (not
diverged, rate < 1) the one with the smallest rate; on an estimated map only the cells whose estimate has settled
(dynamics.rates: an unsettled estimate is still drifting, and the smallest of those
reads whichever transient happens to be lowest).

What is quoted (``quoted_best``).  A closed-form map's best cell is quoted as it is,
with uncertainty 0.  An estimated map's minimum is the smallest of thousands of
estimates, each off by its own error, so it is biased low: the winning cell tends to
be one whose error is negative (the winner's curse).  Its rate is therefore measured
again, apart from the selection: the cell alone is run RECHECK_FACTOR times as long and
its rate fitted on the late window of that run (steps ~2T..4T for a map of T steps;
the map's own window is ~T/2..T).  The quoted uncertainty is the larger of that fit's
half-window spread and its distance from the map's estimate, so a rate that moved
between the two windows says so.  (A distance run that reaches its tolerance ends its
window there, so its re-run repeats the map's fit; the homogeneous maps of the
cautious heavy ball on a quadratic run to their horizon.)

``format_rate`` is the one way the figure and the report print such a rate.
"""
from __future__ import annotations

import numpy as np

from dynamics.rates import best_cell
from dynamics.sweep import SweepResult, sweep

RECHECK_FACTOR = 4        # the re-run is this many times as long as the map's runs


def format_rate(rate: float, uncertainty: float | None = None) -> str:
    """A rate to four decimals, with its uncertainty (one significant digit) if given."""
    return f"{rate:.4f}" if uncertainty is None else f"{rate:.4f} ± {uncertainty:.1g}"


def best_of(res: SweepResult, rate: np.ndarray, settled_only: bool) -> dict:
    """The converging cell (not diverged, ``rate`` < 1; settled too when
    ``settled_only``) with the smallest ``rate``: {rate, lr, beta, row, col, uncertainty,
    settled} (the uncertainty and settled flag of the map's estimate), with the counts
    converging_cells and unsettled_cells (converging, estimate not settled); rate None
    and no cell keys when no cell qualifies."""
    ok = ~res.diverged & (rate < 1)
    out = dict(rate=None, converging_cells=int(ok.sum()), unsettled_cells=int((ok & ~res.settled).sum()))
    cell = best_cell(res.lr, res.beta, rate, res.diverged | ~res.settled if settled_only else res.diverged)
    if cell is None:
        return out
    i, j = cell["row"], cell["col"]
    return dict(out, **cell, uncertainty=float(res.rate_uncertainty[i, j]), settled=bool(res.settled[i, j]))


def quoted_best(res: SweepResult, setup, toy, *, start=None, toy_params=None, hp=None) -> dict:
    """The best cell of ``res`` (a ``sweep`` of ``setup`` on ``toy`` from ``start`` with
    ``toy_params`` and ``hp``) and its quoted rate (module docstring): ``best_of`` with
    ``rate`` and ``uncertainty`` replaced by the quoted ones, the map's own values kept
    as map_rate and map_uncertainty, and, for an estimated map, the re-run's length
    recheck_steps and settled flag recheck_settled."""
    exact = res.rate_method == "exact"
    cell = best_of(res, res.rate, settled_only=not exact)
    if cell["rate"] is None:
        return cell
    cell.update(map_rate=cell["rate"], map_uncertainty=0.0 if exact else cell["uncertainty"])
    if exact:
        return dict(cell, uncertainty=0.0)
    steps = RECHECK_FACTOR * res.steps
    again = sweep(setup, toy, [cell["lr"]], [cell["beta"]], steps, hp=hp, tol=res.tol, start=start,
                  toy_params=toy_params, rate_method="estimate")
    rate = float(again.rate[0, 0])
    spread = max(float(again.rate_uncertainty[0, 0]), abs(rate - cell["map_rate"]))
    return dict(cell, rate=rate, uncertainty=spread, recheck_steps=steps, recheck_settled=bool(again.settled[0, 0]))
