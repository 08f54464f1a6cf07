"""Convergence rates (docs/theory.md, Section 5): the empirical estimator shared by the
single run and the batched sweep, and the closed-form rates on a quadratic.

Empirical rate
--------------
The rate of a run is the asymptotic linear rate rho of d_t = |w_t - w*| (the distance
to the nearest known minimiser, or to the set of minimisers for a valley toy):
d_t ~ C rho^t.  It is read from a sequence y_t = log|Y_t|, t = 0..T', as

    rho = exp(slope of the least-squares line through (t, y_t), a <= t <= T')

over the late window [a, T'] with a = the window start of floor(T'/2).  A line fit
needs neither C nor a tolerance, and it averages the phase of an oscillating |Y_t|
out (its error falls like period / window^2) instead of reading it.  What Y_t is:

- *renormalised state* (``homogeneous`` setups: gd, gdm, nesterov and their
  hard-mask cautious variants on a quadratic, without noise or weight decay).  Their
  step is positively homogeneous about the minimiser, F(c Y) = c F(Y) for c > 0, with
  Y = (w - w*, the optimizer's moments): the gradient is linear in w - w*, the masks
  read signs only, the compensations are scale-free.  The sweep then rescales Y to
  unit norm after every step and adds log of the scale to y_t, so the whole horizon
  T' = T counts, nothing underflows or overflows and no tolerance enters: on a
  linear map this is the spectral radius up to the fit's averaging error.
- *distance* (everything else): Y_t = d_t of the real trajectory, up to the first
  step T' with d_t < tol (past it d_t sits at the floor of floating point).

Per run it also reports an *uncertainty*, the spread |rho_2 - rho_1| between the fits
over the two halves [a, m) and [m, T'] of the window (m = the window start of
ceil((a + T')/2)), and *settled* = the window holds at least MIN_WINDOW steps and the
spread is at most SETTLED_SPREAD (a rate that still drifts is flagged, not hidden).

A run *diverges* when d_t is non-finite, the loss is non-finite, or
d_t > 1e6 max(d_0, tol); it then gets the flag and steps_to_tol ``-1``: never a NaN.
A renormalised run keeps its fitted rho (> 1: slow and fast divergence are reported
as they are); a distance run that diverged gets rate ``RATE_DIVERGED`` (= 1.0).
A run that starts within tol has T' = 0 and rate 0.

Window edges fall on *blocks* of steps: steps 0, 1, ..., 63 one by one, then blocks
of length floor(start/32).  A sweep keeps two running sums per block and cell
(sum y_t and sum (t - block start) y_t; O(log T) numbers) instead of the trajectory,
and the fit over any union of whole blocks is exact.

Analytic rates (quadratic with Hessian eigenvalues lambda_i)
------------------------------------------------------------
The optimizer modules with a closed form (``SPEC.closed_form``: gd, gdm, nesterov) derive
their linear step, its spectral radius, the stability boundary and, for gd and gdm, the
optimum; ``analytic_rate``, ``stable_lr_limit`` and ``optimum`` ask the registry.
For w1^2 + 4 w2^2 (lambda = 2, 8, the paper's Figure 3, arXiv 2411.16085):
eps* = 2/9, beta* = 1/9, rate* = 1/3.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from dynamics.metrics import STEPS_NOT_REACHED, divergence_limit
from dynamics.optimizers import REGISTRY, spec_of

RATE_DIVERGED = 1.0       # rate of a diverged distance run (with diverged = True)
UNIT_BLOCKS = 64          # steps 0..63 are blocks of their own
BLOCK_FRACTION = 32       # later blocks have length floor(start / 32)

SETTLED_SPREAD = 1e-3     # |rho_2 - rho_1| above this: the rate has not settled
MIN_WINDOW = 8            # fewer steps in the late window: not settled

RATE_METHODS = ("auto", "exact", "estimate")
ANALYTIC_OPTIMIZERS = tuple(n for n, s in REGISTRY.items() if s.closed_form is not None)


# ----------------------------------------------------------------------------- empirical

def block_starts(steps: int) -> np.ndarray:
    """First steps of the blocks that cover 0..steps (see the module docstring)."""
    starts = [0]
    while True:
        s = starts[-1]
        nxt = s + (1 if s < UNIT_BLOCKS else s // BLOCK_FRACTION)
        if nxt > steps:
            return np.asarray(starts, dtype=np.int64)
        starts.append(nxt)


def window_starts(steps: int) -> np.ndarray:
    """For every t = 0..steps, the first step of the block that holds t."""
    starts = block_starts(steps)
    return starts[np.searchsorted(starts, np.arange(steps + 1), side="right") - 1]


class RunRate(NamedTuple):
    """The rate metrics of one run (see the module docstring)."""

    rate: float
    uncertainty: float
    settled: bool
    steps_to_tol: int
    diverged: bool


def late_window(t_end, win):
    """(a, m) for a window ending at T' = t_end (array or int; ``win = window_starts``):
    the window is [a, T'], its halves [a, m) and [m, T']."""
    a = win[t_end // 2]
    return a, win[(a + t_end + 1) // 2]


def _line_slope(n, sum_y, sum_ty, xp=np):
    """Least-squares slope of y against t from n consecutive points, sum_y = sum y_t and
    sum_ty = sum (t - t_first) y_t; 0 where n < 2."""
    n = xp.asarray(n, sum_y.dtype) if xp is not np else np.asarray(n, float)
    centred = sum_ty - (n - 1) / 2 * sum_y
    spread = n * (n * n - 1) / 12
    return xp.where(n >= 2, centred / xp.where(n >= 2, spread, 1), 0)


def _fit(n_window, slope, n1, slope1, n2, slope2, xp=np):
    """(rho, spread, settled) from the window's slope and its halves' slopes."""
    rho = xp.exp(slope)
    halves = (n1 >= 2) & (n2 >= 2)
    spread = xp.where(halves, xp.abs(xp.exp(slope2) - xp.exp(slope1)), 0)
    return rho, spread, (n_window >= MIN_WINDOW) & halves & (spread <= SETTLED_SPREAD)


def fit_rate(log_y, t_end: int | None = None) -> tuple[float, float, bool]:
    """(rho, uncertainty, settled) of the module docstring from y_t = log|Y_t|,
    t = 0..T' (``t_end`` = T', default the last index): a direct NumPy reading, the
    reference the batched sweep is tested against.  T' = 0 gives (0, 0, False)."""
    y = np.asarray(log_y, np.float64)
    t_end = y.size - 1 if t_end is None else int(t_end)
    if t_end == 0:
        return 0.0, 0.0, False
    a, m = late_window(t_end, window_starts(t_end))

    def slope(lo, hi):        # points lo..hi
        t = np.arange(lo, hi + 1)
        return _line_slope(t.size, y[lo:hi + 1].sum(), ((t - lo) * y[lo:hi + 1]).sum()), t.size

    (s, n), (s1, n1), (s2, n2) = slope(a, t_end), slope(a, m - 1), slope(m, t_end)
    rho, spread, settled = _fit(n, s, n1, s1, n2, s2)
    return float(rho), float(spread), bool(settled)


def distance_rate(distance, tol: float, loss=None) -> RunRate:
    """The rate metrics of one run from its distances d_0..d_T (and, optionally, its
    losses, whose non-finite values also mean divergence), read as a *distance* run:
    y_t = log d_t up to T' (module docstring)."""
    d = np.asarray(distance, dtype=np.float64)
    steps = d.size - 1
    bad = ~np.isfinite(d) | (d > divergence_limit(float(d[0]), tol))
    if loss is not None:
        bad |= ~np.isfinite(np.asarray(loss, dtype=np.float64))
    if bad.any():
        return RunRate(RATE_DIVERGED, 0.0, False, STEPS_NOT_REACHED, True)
    below = np.nonzero(d < tol)[0]
    t_end = int(below[0]) if below.size else steps
    rho, spread, settled = fit_rate(log_floor(d[:t_end + 1]))
    return RunRate(rho, spread, settled, t_end if below.size else STEPS_NOT_REACHED, False)


def log_floor(d, xp=np):
    """log d with d floored at the dtype's smallest normal number (an exact 0 reads as
    a very fast step, not -inf)."""
    return xp.log(xp.maximum(d, xp.finfo(d.dtype).tiny))


def block_fit_rate(sum_y, sum_ty, t_end, starts, win, xp=np):
    """The same fit, batched, from the per-block sums of the module docstring: sum_y and
    sum_ty have shape (len(starts), cells) (row k: the sums over block k's steps up to
    T', t measured from the block's start), t_end = T' per cell, ``win =
    window_starts(steps)``; ``xp`` is numpy or jax.numpy.  Returns (rho, uncertainty,
    settled) per cell.  Rows of blocks that start after every t_end are never read (a
    compiled program serving several T passes the blocks of the largest)."""
    starts, win = xp.asarray(starts), xp.asarray(win)
    a, m = late_window(t_end, win)
    s = starts[:, None]

    def slope(lo, hi):       # the points lo..hi, lo a block start
        inside = (s >= lo) & (s <= hi)
        sy = xp.sum(xp.where(inside, sum_y, 0), axis=0)
        sty = xp.sum(xp.where(inside, sum_ty + (s - lo).astype(sum_y.dtype) * sum_y, 0), axis=0)
        n = hi - lo + 1
        return _line_slope(n, sy, sty, xp), n

    (sl, n), (s1, n1), (s2, n2) = slope(a, t_end), slope(a, m - 1), slope(m, t_end)
    rho, spread, settled = _fit(n, sl, n1, s1, n2, s2, xp)
    return xp.where(t_end == 0, 0, rho), spread, settled & (t_end > 0)


# ----------------------------------------------------------------------------- analytic

def analytic_rate(optimizer: str, lr, beta, eigenvalues, dampening: bool = False) -> np.ndarray:
    """The closed-form rate map of ``optimizer`` on a quadratic (lr, beta broadcast), from
    its registry entry (gd, gdm, nesterov); ValueError for an optimizer without one."""
    return _closed_form(optimizer).rate(lr, beta, eigenvalues, dampening)


def _closed_form(optimizer: str):
    form = spec_of(optimizer).closed_form
    if form is None:
        raise ValueError(f"analytic rates exist for {', '.join(ANALYTIC_OPTIMIZERS)}; got {optimizer!r}")
    return form


def has_closed_form(setup, toy) -> bool:
    """Whether the rate map of ``setup`` on ``toy`` has a closed form: gd, gdm (either
    form) or nesterov, no caution, weight decay, noise, schedule, clipping or SAM, on a
    quadratic (any rotation and centre: only the Hessian eigenvalues enter)."""
    return (toy.eigenvalues is not None and setup.optimizer in ANALYTIC_OPTIMIZERS and not setup.cautious
            and setup.decay == "none" and setup.noise == "none" and setup.schedule == "constant" and not setup.clip
            and not setup.sam)


def is_homogeneous(setup, toy) -> bool:
    """Whether the step of ``setup`` on ``toy`` is positively homogeneous about the
    minimiser (module docstring): gd, gdm or nesterov, optionally cautious with a hard
    mask, on a quadratic, without noise, weight decay, clipping or SAM (its fixed radius rho
    is a length: the step is not homogeneous; a schedule keeps it: each step is still
    homogeneous, with its own eps_t)."""
    return (toy.eigenvalues is not None and spec_of(setup.optimizer).homogeneous and setup.decay == "none"
            and setup.noise == "none" and not setup.clip and not setup.sam
            and not (setup.cautious and setup.mask == "smooth"))


def resolve_rate_method(method: str, setup, toy) -> str:
    """``exact`` or ``estimate`` for a requested method of RATE_METHODS: ``auto`` is
    ``exact`` where a closed form exists; ``exact`` without one is a ValueError."""
    if method not in RATE_METHODS:
        raise ValueError(f"rate method must be one of {', '.join(RATE_METHODS)}; got {method!r}")
    exact = has_closed_form(setup, toy)
    if method == "exact" and not exact:
        raise ValueError(f"no closed-form rate for this setup: it exists for {', '.join(ANALYTIC_OPTIMIZERS)} without "
                         "caution, weight decay, noise, schedule or clipping on a quadratic toy (use the estimate)")
    return "exact" if method == "exact" or (method == "auto" and exact) else "estimate"


def exact_rate_map(setup, toy, lr, beta, toy_params=None) -> np.ndarray | None:
    """The closed-form map (rows = beta, columns = lr) of ``setup`` on ``toy``, or None
    when there is none (has_closed_form)."""
    if not has_closed_form(setup, toy):
        return None
    eig = toy.eigenvalues(toy.params(toy_params))
    lr, beta = np.asarray(lr, float), np.asarray(beta, float)
    return analytic_rate(setup.optimizer, lr[None, :], beta[:, None], eig, setup.dampening)


def optimum(optimizer: str, l1: float, l2: float, dampening: bool = False) -> dict[str, float] | None:
    """The best (lr, beta) cell and its rate on a quadratic with eigenvalues l1, l2, where
    the optimizer's module derives it (gd, gdm); None otherwise."""
    form = spec_of(optimizer).closed_form
    return form.optimum(l1, l2, dampening) if form is not None and form.optimum is not None else None


def stable_lr_limit(optimizer: str, beta, lam_max: float, dampening: bool = False) -> np.ndarray:
    """The analytic stability boundary: the largest stable lr at each beta (0 <= beta < 1)."""
    return _closed_form(optimizer).lr_limit(beta, lam_max, dampening)


# ----------------------------------------------------------------------------- maps

def best_cell(lr, beta, rate, diverged=None) -> dict[str, Any] | None:
    """The (lr, beta) cell of a rate map (rows = beta, columns = lr) with the smallest
    rate among the converging cells (rate < 1 and not diverged): {lr, beta, rate, row,
    col}; None when no cell converges."""
    rate = np.asarray(rate, float)
    ok = np.isfinite(rate) & (rate < 1)
    if diverged is not None:
        ok &= ~np.asarray(diverged, bool)
    if not ok.any():
        return None
    row, col = np.unravel_index(np.argmin(np.where(ok, rate, np.inf)), rate.shape)
    return dict(lr=float(lr[col]), beta=float(beta[row]), rate=float(rate[row, col]), row=int(row), col=int(col))
