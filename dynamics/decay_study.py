"""Cautious weight decay study (arXiv 2510.12402): no decay, decoupled decay and
cautious decay side by side on toys with a set of minimisers.

With u_t the optimizer's direction (after the cautious mask, if any) and lambda = wd
(dynamics.decay; the paper's Section 3):

    none        w_{t+1} = w_t - eps u_t
    decoupled   w_{t+1} = w_t - eps (u_t + lambda w_t)
    cautious    w_{t+1} = w_t - eps (u_t + lambda 1[u_t * w_t >= 0] w_t)

Decoupled decay converges to a stationary point of a regularised proxy, not of L: for
the undampened heavy ball the fixed point has g/(1-beta) + lambda w = 0, i.e. it
minimises L + ((1-beta) lambda/2)|w|^2 (for lion, whose |u_i| = 1, it keeps
|w|_inf <= 1/lambda instead).  Cautious decay only decays coordinates that u already
moves towards 0, so it does not pull against the gradient; once on the minimiser set
it can *slide* along it towards small norm (the sliding mode: the mask switches on and
off while L stays ~0), ending near the set's minimum-norm point, the Pareto front of
(L, |w|).  Discrete steps show two regimes: when the approach to the set oscillates
(heavy ball with large beta), the mask chatters and the run slides towards the Pareto
point with a residual gradient of the order of the step; when it is monotone, the run
reaches a stationary point of L with |g| ~ 0 and the sliding stops there (with a
smaller norm than the run without decay).

Toys: ``valley-line`` (w1 + w2 - s)^2 and ``valley-hyperbola`` (w1 w2 - s)^2, whose
listed minima are the minimum-norm points of their sets, and a quadratic with its
centre off the origin (a single minimiser, where decoupled decay shifts the end point
and cautious decay does not).  Every function returns NumPy arrays ready to plot.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.config import DECAY_MODES, Hyper, Setup, make_hyper
from dynamics.rollout import rollout
from dynamics.sweep import _distance2, _minima
from toys import Toy, get_toy

STUDY_TOYS = ("valley-line", "valley-hyperbola", "quadratic")
STUDY_OPTIMIZERS = ("gdm", "adam", "lion")
STUDY_TOY_PARAMS = {"quadratic": {"cx": 1.0, "cy": 0.5}}   # a minimiser away from the origin
STUDY_HYPER = {   # per optimizer: settings in which the cautious run slides along the valleys
    "gdm": dict(lr=0.02, beta=0.9, wd=1.0),
    "adam": dict(lr=0.01, beta=0.9, beta2=0.999, wd=1.0),
    "lion": dict(lr=0.003, beta=0.9, beta2=0.99, wd=0.5),
}
STUDY_STEPS = 3000


class EndPoint(NamedTuple):
    """Where a run ends: w_T, L(w_T), |grad L(w_T)|, the distance to the minimiser set
    (|set_residual| on a valley toy, else to the nearest listed minimiser), |w_T|, the
    nearest minimum-norm point of the set (the Pareto point), the distance to it, the
    norm gap |w_T| - |Pareto point|, and ``stationary`` = |grad L(w_T)| < grad_tol."""

    w: np.ndarray
    loss: float
    grad_norm: float
    set_distance: float
    norm: float
    pareto_point: np.ndarray
    pareto_distance: float
    norm_gap: float
    stationary: bool


class DecayRun(NamedTuple):
    """One run, arrays with T+1 rows (row t describes w_t; see dynamics.rollout).

    decay_on: (T+1, d), 1 where the decay acted on a coordinate in the step that
    produced w_t (row 0: zeros; all ones for decoupled, zeros for none).
    on_set: set_distance < set_tol.  sliding: on the set and the decay on for some
    coordinate (the sliding phase)."""

    toy: str
    optimizer: str
    decay: str
    w: np.ndarray
    loss: np.ndarray
    norm: np.ndarray
    grad_norm: np.ndarray
    set_distance: np.ndarray
    decay_on: np.ndarray
    on_set: np.ndarray
    sliding: np.ndarray
    end: EndPoint


def study_hyper(optimizer: str, dtype: str = "float64", **overrides: float) -> Hyper:
    """STUDY_HYPER[optimizer] (make_hyper defaults elsewhere) updated by ``overrides``."""
    return make_hyper(dtype, **{**STUDY_HYPER.get(optimizer, {}), **overrides})


def set_distance(toy: Toy, w, toy_params=None) -> np.ndarray:
    """Distance of each row of w (shape (..., 2)) to the toy's minimiser set: |set_residual|
    on a valley toy, else the distance to the nearest listed minimiser (in float64)."""
    p = toy.params(toy_params)
    minima, _ = _minima(toy, tuple(sorted(p.items())))
    with jax.enable_x64(True):
        pj = {k: jnp.asarray(v, jnp.float64) for k, v in p.items()}
        w = jnp.asarray(w, jnp.float64)
        d2 = jax.vmap(lambda x: _distance2(toy)(x, pj, jnp.asarray(minima)))(w.reshape(-1, 2))
        return np.sqrt(np.asarray(d2)).reshape(w.shape[:-1])


def decay_run(toy: Toy | str, optimizer: str = "gdm", decay: str = "cautious", hp: Hyper | None = None,
              steps: int = STUDY_STEPS, *, start=None, toy_params=None, cautious: bool = False,
              set_tol: float = 0.05, grad_tol: float = 1e-8) -> DecayRun:
    """Run ``optimizer`` with weight-decay mode ``decay`` (and the cautious mask of arXiv
    2411.16085 on the direction when ``cautious``) on ``toy`` and measure it against
    the minimiser set.  hp: default ``study_hyper(optimizer)``; toy_params: default
    STUDY_TOY_PARAMS for the toy."""
    toy = get_toy(toy) if isinstance(toy, str) else toy
    if not toy.has_minima():
        raise ValueError(f"toy {toy.name!r} has no minimiser set to measure against")
    if not (set_tol > 0 and grad_tol > 0):
        raise ValueError(f"set_tol and grad_tol must be > 0; got {set_tol:g}, {grad_tol:g}")
    toy_params = STUDY_TOY_PARAMS.get(toy.name) if toy_params is None else toy_params
    setup = Setup(optimizer, cautious=cautious, decay=decay)
    hp = study_hyper(optimizer) if hp is None else hp
    tr = rollout(setup, toy, hp, steps, start=start, toy_params=toy_params)
    if setup.decay == "cautious":
        decay_on = tr.decay_mask
    else:
        decay_on = np.full_like(tr.w, 1.0 if setup.decay == "decoupled" else 0.0)
        decay_on[0] = 0.0
    dist = set_distance(toy, tr.w, toy_params)
    norm = np.linalg.norm(tr.w, axis=1)
    grad_norm = np.linalg.norm(tr.grad, axis=1)
    on_set = dist < set_tol
    minima, _ = _minima(toy, tuple(sorted(toy.params(toy_params).items())))
    nearest = minima[np.argmin(np.linalg.norm(minima - tr.w[-1], axis=1))]
    end = EndPoint(w=tr.w[-1], loss=float(tr.loss[-1]), grad_norm=float(grad_norm[-1]), set_distance=float(dist[-1]),
                   norm=float(norm[-1]), pareto_point=nearest,
                   pareto_distance=float(np.linalg.norm(tr.w[-1] - nearest)),
                   norm_gap=float(norm[-1] - np.linalg.norm(nearest)), stationary=bool(grad_norm[-1] < grad_tol))
    return DecayRun(toy=toy.name, optimizer=optimizer, decay=setup.decay, w=tr.w, loss=tr.loss, norm=norm,
                    grad_norm=grad_norm, set_distance=dist, decay_on=decay_on, on_set=on_set,
                    sliding=on_set & (decay_on.max(axis=1) > 0), end=end)


def decay_study(toy: Toy | str, optimizers: Sequence[str] = STUDY_OPTIMIZERS, decays: Sequence[str] = DECAY_MODES,
                steps: int = STUDY_STEPS, *, hypers: dict[str, Hyper] | None = None, start=None, toy_params=None,
                cautious: bool = False, set_tol: float = 0.05,
                grad_tol: float = 1e-8) -> dict[tuple[str, str], DecayRun]:
    """``decay_run`` for every (optimizer, decay) pair, keyed by that pair; ``hypers``
    maps an optimizer to its Hyper (default ``study_hyper``)."""
    hypers = hypers or {}
    return {(opt, mode): decay_run(toy, opt, mode, hypers.get(opt), steps, start=start, toy_params=toy_params,
                                   cautious=cautious, set_tol=set_tol, grad_tol=grad_tol)
            for opt in optimizers for mode in decays}


def study_table(study: dict[tuple[str, str], DecayRun]) -> list[dict]:
    """One row of plain numbers per run of a study: where it ends (EndPoint), the
    fraction of the run spent sliding and the decay's on-fraction over the last tenth
    of the steps."""
    rows = []
    for (opt, mode), run in study.items():
        tail = max(1, (len(run.w) - 1) // 10)
        row = dict(toy=run.toy, optimizer=opt, decay=mode, sliding_fraction=float(run.sliding[1:].mean()),
                   decay_on_tail=float(run.decay_on[-tail:].mean()))
        row.update({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in run.end._asdict().items()})
        rows.append(row)
    return rows

