"""Convergence rates (DESIGN.md Section 7): the empirical estimator shared by the
single run and the batched sweep, and the closed-form rates on a quadratic.

Empirical rate
--------------
d_t = |w_t - w*| is the distance to the nearest known minimiser (to the set of
minimisers for a valley toy), t = 0..T.  A run *diverges* when d_t is non-finite, the
loss is non-finite, or d_t > 1e6 max(d_0, tol); it then gets the flag, rate
``RATE_DIVERGED`` (= 1.0) and steps_to_tol ``-1``: never a NaN.  Otherwise

    T'  = the first t with d_t < tol   (steps_to_tol), or T if there is none,
    a2  = the window start of ceil(T'/2),   a1 = the window start of ceil(T'/4),
    E2  = max_{a2 <= t <= T'} d_t,          E1 = max_{a1 <= t < a2} d_t,
    rho = (E2 / E1) ** (1 / (a2 - a1))      (rho = (E2 / d_0) ** (1 / a2) when a1 = a2,
                                             i.e. T' <= 2;  rho = 0 when T' = 0).

The maxima are envelopes: they remove the phase of an oscillating d_t (DESIGN.md's
"E = max of d_t over [T'/2, T']").  Taking the ratio of two consecutive envelopes
instead of E / d_0 cancels the constant C of d_t ~ C rho^t (the eigenvector geometry),
which E / d_0 would fold into rho as C^(2/T').  A double root (the optimal heavy-ball
cell, d_t ~ t rho^t) still biases rho up by (a2/a1)^(1/(a2-a1)) ~ 2^(4/T'): long
windows (a small ``tol``) estimate it best.

The window start of s is the first step of the *block* that holds s.  Blocks are the
steps 0, 1, ..., 63 one by one, then blocks of length floor(start/32): a window edge
is exact for T' <= 128 and within 3.1% of its position beyond.  A sweep therefore
keeps one running maximum per block (O(log T) numbers per cell) instead of the whole
trajectory, and the exponent uses the actual starts a1, a2, so the rounding costs
no bias.

Analytic rates (quadratic with Hessian eigenvalues lambda_i)
------------------------------------------------------------
heavy ball (gdm):  s' = beta s + lambda z,  z' = z - eps s'   gives
    [s', z'] = [[beta, lambda], [-eps beta, 1 - eps lambda]] [s, z],
    characteristic polynomial  x^2 - (1 + beta - eps lambda) x + beta,
    rate = max_i spectral radius;  optimum eps* = (2/(sqrt(l1)+sqrt(l2)))^2,
    beta* = ((sqrt(k)-1)/(sqrt(k)+1))^2, rate* = (sqrt(k)-1)/(sqrt(k)+1), k = l2/l1;
    stable iff 0 <= beta < 1 and eps lambda_max < 2 (1 + beta).
dampened gdm (s' = beta s + (1-beta) g) is the heavy ball with eps (1 - beta).
nesterov (u = g + beta s'):  [[beta, lambda], [-eps beta^2, 1 - eps lambda (1+beta)]],
    polynomial x^2 - (1+beta)(1 - eps lambda) x + beta (1 - eps lambda);
    stable iff eps lambda_max < 2 (1 + beta) / (1 + 2 beta).
gd:  rate = max_i |1 - eps lambda_i|;  optimum eps = 2/(l1+l2), rate (k-1)/(k+1).

For w1^2 + 4 w2^2 (lambda = 2, 8, the paper's Figure 3, arXiv 2411.16085):
eps* = 2/9, beta* = 1/9, rate* = 1/3.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

RATE_DIVERGED = 1.0       # rate reported for a diverged run (with diverged = True)
STEPS_NOT_REACHED = -1    # steps_to_tol when d_t never fell below tol (or the run diverged)
DIVERGENCE_FACTOR = 1e6   # d_t > 1e6 max(d_0, tol) counts as divergence
UNIT_BLOCKS = 64          # steps 0..63 are blocks of their own
BLOCK_FRACTION = 32       # later blocks have length floor(start / 32)

ANALYTIC_OPTIMIZERS = ("gd", "gdm", "nesterov")


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
    steps_to_tol: int
    diverged: bool


def divergence_limit(d0: float, tol: float) -> float:
    """d_t above this counts as divergence: 1e6 max(d_0, tol)."""
    return DIVERGENCE_FACTOR * max(d0, tol)


def envelope_rate(distance, tol: float, loss=None) -> RunRate:
    """The empirical rate of one run from its distances d_0..d_T (and, optionally, its
    losses, whose non-finite values also mean divergence): a direct NumPy reading of
    the module docstring, the reference the batched sweep is tested against."""
    d = np.asarray(distance, dtype=np.float64)
    steps = d.size - 1
    bad = ~np.isfinite(d) | (d > divergence_limit(float(d[0]), tol))
    if loss is not None:
        bad |= ~np.isfinite(np.asarray(loss, dtype=np.float64))
    if bad.any():
        return RunRate(RATE_DIVERGED, STEPS_NOT_REACHED, True)
    below = np.nonzero(d < tol)[0]
    reached = below.size > 0
    t_end = int(below[0]) if reached else steps
    steps_to_tol = t_end if reached else STEPS_NOT_REACHED
    if t_end == 0:
        return RunRate(0.0, steps_to_tol, False)
    start = window_starts(steps)
    a2, a1 = int(start[(t_end + 1) // 2]), int(start[(t_end + 3) // 4])
    e2 = float(d[a2:t_end + 1].max())
    if a2 > a1:
        return RunRate(float((e2 / d[a1:a2].max()) ** (1.0 / (a2 - a1))), steps_to_tol, False)
    return RunRate(float((e2 / d[0]) ** (1.0 / a2)), steps_to_tol, False)


def block_envelope_rate(blocks, t_end, d2_0, starts, win, xp=np):
    """The same estimator, batched, from the running maxima of d^2 per block: blocks has
    shape (len(starts), cells) (row k: max of d_t^2 over block k, up to T'), t_end = T'
    per cell, d2_0 = d_0^2, ``win = window_starts(steps)``; ``xp`` is numpy or jax.numpy.
    Computed in logs, so no ratio overflows:
    log rho = (log E2^2 - log E1^2) / (2 (a2 - a1))."""
    starts, win = xp.asarray(starts), xp.asarray(win)
    a2, a1 = win[(t_end + 1) // 2], win[(t_end + 3) // 4]
    s = starts[:, None]
    e2 = xp.max(xp.where((s >= a2) & (s <= t_end), blocks, 0), axis=0)
    e1 = xp.max(xp.where((s >= a1) & (s < a2), blocks, 0), axis=0)
    two = a2 > a1
    den = xp.where(two, e1, d2_0)
    span = xp.where(two, a2 - a1, xp.maximum(a2, 1)).astype(blocks.dtype)
    with np.errstate(divide="ignore"):   # log(0) = -inf is intended: rho = 0
        log_ratio = xp.log(e2) - xp.log(xp.where(den > 0, den, 1))
    return xp.where(t_end == 0, 0, xp.exp(log_ratio / (2 * span)))


# ----------------------------------------------------------------------------- analytic

def _spectral_radius(trace, det):
    """Largest |root| of x^2 - trace x + det (real coefficients), elementwise."""
    disc = trace * trace - 4 * det
    real = (np.abs(trace) + np.sqrt(np.maximum(disc, 0))) / 2
    return np.where(disc >= 0, real, np.sqrt(np.maximum(det, 0)))


def heavy_ball_rate(lr, beta, eigenvalues, dampening: bool = False) -> np.ndarray:
    """max_i spectral radius of [[beta, l_i], [-lr beta, 1 - lr l_i]] (broadcast over
    lr, beta).  ``dampening``: s = beta s + (1-beta) g, the heavy ball with lr (1-beta)."""
    lr, beta = np.broadcast_arrays(np.asarray(lr, float), np.asarray(beta, float))
    eff = lr * (1 - beta) if dampening else lr
    return np.max([_spectral_radius(1 + beta - eff * lam, beta) for lam in eigenvalues], axis=0)


def nesterov_rate(lr, beta, eigenvalues) -> np.ndarray:
    """max_i spectral radius of [[beta, l_i], [-lr beta^2, 1 - lr l_i (1+beta)]]."""
    lr, beta = np.broadcast_arrays(np.asarray(lr, float), np.asarray(beta, float))
    return np.max([_spectral_radius((1 + beta) * (1 - lr * lam), beta * (1 - lr * lam))
                   for lam in eigenvalues], axis=0)


def gd_rate(lr, eigenvalues) -> np.ndarray:
    """max_i |1 - lr l_i|."""
    lr = np.asarray(lr, float)
    return np.max([np.abs(1 - lr * lam) for lam in eigenvalues], axis=0)


def analytic_rate(optimizer: str, lr, beta, eigenvalues, dampening: bool = False) -> np.ndarray:
    """The closed-form rate map of gd, gdm or nesterov on a quadratic (lr, beta broadcast;
    gd ignores beta)."""
    if optimizer == "gd":
        return gd_rate(np.broadcast_arrays(np.asarray(lr, float), np.asarray(beta, float))[0], eigenvalues)
    if optimizer == "gdm":
        return heavy_ball_rate(lr, beta, eigenvalues, dampening)
    if optimizer == "nesterov":
        return nesterov_rate(lr, beta, eigenvalues)
    raise ValueError(f"analytic rates exist for {', '.join(ANALYTIC_OPTIMIZERS)}; got {optimizer!r}")


def heavy_ball_optimum(l1: float, l2: float) -> dict[str, float]:
    """eps* = (2/(sqrt l1 + sqrt l2))^2, beta* = ((sqrt k - 1)/(sqrt k + 1))^2, rate (sqrt k - 1)/(sqrt k + 1)."""
    lo, hi = min(l1, l2), max(l1, l2)
    q = (math.sqrt(hi / lo) - 1) / (math.sqrt(hi / lo) + 1)
    return dict(lr=(2 / (math.sqrt(lo) + math.sqrt(hi))) ** 2, beta=q * q, rate=q)


def gd_optimum(l1: float, l2: float) -> dict[str, float]:
    """eps = 2/(l1 + l2), rate (k-1)/(k+1)."""
    lo, hi = min(l1, l2), max(l1, l2)
    return dict(lr=2 / (lo + hi), beta=0.0, rate=(hi - lo) / (hi + lo))


def stable_lr_limit(optimizer: str, beta, lam_max: float, dampening: bool = False) -> np.ndarray:
    """The analytic stability boundary: the largest stable lr at each beta (0 <= beta < 1).
    gd 2/l; gdm 2(1+beta)/l (divided by 1-beta with dampening); nesterov 2(1+beta)/((1+2beta) l)."""
    beta = np.asarray(beta, float)
    if optimizer == "gd":
        return np.full_like(beta, 2 / lam_max)
    if optimizer == "gdm":
        limit = 2 * (1 + beta) / lam_max
        return limit / (1 - beta) if dampening else limit
    if optimizer == "nesterov":
        return 2 * (1 + beta) / ((1 + 2 * beta) * lam_max)
    raise ValueError(f"analytic rates exist for {', '.join(ANALYTIC_OPTIMIZERS)}; got {optimizer!r}")


# ----------------------------------------------------------------------------- maps

def best_cell(lr, beta, rate, diverged=None) -> dict[str, Any]:
    """The (lr, beta) cell of a rate map (rows = beta, columns = lr) with the smallest
    rate among the cells that did not diverge: {lr, beta, rate, row, col}; rate is
    RATE_DIVERGED and row = col = -1 when every cell diverged."""
    rate = np.asarray(rate, float)
    ok = np.isfinite(rate) if diverged is None else ~np.asarray(diverged, bool) & np.isfinite(rate)
    if not ok.any():
        return dict(lr=float(lr[0]), beta=float(beta[0]), rate=RATE_DIVERGED, row=-1, col=-1)
    row, col = np.unravel_index(np.argmin(np.where(ok, rate, np.inf)), rate.shape)
    return dict(lr=float(lr[col]), beta=float(beta[row]), rate=float(rate[row, col]), row=int(row), col=int(col))


def rate_difference(cautious_rate, base_rate) -> np.ndarray:
    """cautious minus base, cell by cell (negative: caution converges faster).  Both maps
    carry RATE_DIVERGED in diverged cells, so the difference is finite everywhere."""
    return np.asarray(cautious_rate, float) - np.asarray(base_rate, float)


def stability_boundary(lr, rate, diverged) -> tuple[np.ndarray, np.ndarray]:
    """For each beta row of a map, the largest lr whose cell converges (rate < 1, not
    diverged): (lr_max per row, found per row); lr_max is 0 where no cell converges."""
    lr = np.asarray(lr, float)
    stable = (np.asarray(rate) < 1) & ~np.asarray(diverged, bool)
    found = stable.any(axis=1)
    best = np.where(stable, lr[None, :], -np.inf).max(axis=1)
    return np.where(found, best, 0.0), found
