"""The numbers behind the paper figures (figures.presets): each ``compute_*(config)``
runs the configuration's optimizers (dynamics) and returns a FigureData (viz.paper)
that the figure's builder draws and the command line writes as CSV or NPZ.

- ``compute_trajectories``: per run and step, the iterates, loss and Hamiltonian.
- ``compute_decay``: per run and step, the iterates, loss, |w| and the distance to the
  set of minimisers.
- ``compute_rates``: per run and (beta, lr) cell of the grid, the rate map (dynamics.sweep)
  and the rate quoted for its best cell (dynamics.best_rate).

The contour grid of L (CONTOUR_N x CONTOUR_N over the toy's domain) travels in
FigureData.arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dynamics.best_rate import quoted_best
from dynamics.configfile import setup_hyper
from dynamics.metrics import set_distance
from dynamics.rollout import rollout
from dynamics.sweep import grid_axis, sweep
from toys import get_toy
from toys.grid import toy_grid
from viz.export import stack_rows
from viz.paper import FigureData

CONTOUR_N = 120


def _rollouts(config: dict) -> list[tuple[dict, Any]]:
    toy = get_toy(config["toy"])
    out = []
    for run in config["runs"]:
        setup, hp = setup_hyper(run)
        out.append((run, rollout(setup, toy, hp, config["steps"], start=config["start"],
                                 toy_params=config["toy_params"])))
    return out


def _contour_arrays(config: dict) -> dict[str, np.ndarray]:
    toy = get_toy(config["toy"])
    xs, ys, z = toy_grid(toy, toy.params(config["toy_params"]), CONTOUR_N)
    return dict(contour_x=xs, contour_y=ys, contour_loss=z)


def compute_trajectories(config: dict) -> FigureData:
    """Per run and step t = 0..T: w1, w2, loss, hamiltonian (and lr, beta of the run)."""
    rows = []
    for run, traj in _rollouts(config):
        t = np.arange(len(traj.loss))
        rows.append(dict(run=np.array(run["label"]), lr=np.float64(run["lr"]), beta=np.float64(run["beta"]), t=t,
                         w1=traj.w[:, 0], w2=traj.w[:, 1], loss=traj.loss, hamiltonian=traj.hamiltonian))
    return FigureData(stack_rows(rows), _contour_arrays(config))


def compute_decay(config: dict) -> FigureData:
    """Per run and step: w1, w2, loss, |w|, and the distance to the set of minimisers
    (dynamics.metrics.set_distance)."""
    toy = get_toy(config["toy"])
    rows = []
    for run, traj in _rollouts(config):
        rows.append(dict(run=np.array(run["label"]), t=np.arange(len(traj.loss)), w1=traj.w[:, 0],
                         w2=traj.w[:, 1], loss=traj.loss, norm=np.linalg.norm(traj.w, axis=1),
                         set_distance=set_distance(toy, traj.w, config["toy_params"])))
    return FigureData(stack_rows(rows), _contour_arrays(config))


def rate_grid(config: dict) -> tuple[np.ndarray, np.ndarray]:
    """The (lr, beta) axes of a rate-map configuration's grid."""
    lr_r, beta_r = config["lr_range"], config["beta_range"]
    return (grid_axis(lr_r["lo"], lr_r["hi"], lr_r["n"], lr_r["scale"]),
            grid_axis(beta_r["lo"], beta_r["hi"], beta_r["n"], beta_r["scale"]))


def compute_rates(config: dict) -> FigureData:
    """Per run and (beta, lr) cell: the rate of the map (by config["rate_method"]), the
    method used, the simulation's estimate with its uncertainty and settled flag,
    diverged, steps_to_tol, the closed form of the run's optimizer where one exists (NaN
    otherwise), whether it is the run's best cell, and at that cell only (NaN elsewhere)
    the rate the figure quotes and its uncertainty (dynamics.best_rate.quoted_best: an
    estimated map's best settled cell re-measured on a longer run; the claims report
    quotes the same)."""
    toy = get_toy(config["toy"])
    lr, beta = rate_grid(config)
    rows = []
    for run in config["runs"]:
        setup, hp = setup_hyper(run)
        kw = dict(start=config["start"], toy_params=config["toy_params"])
        res = sweep(setup, toy, lr, beta, config["steps"], hp=hp, tol=config["tol"], rate_method=config["rate_method"],
                    **kw)
        best = np.zeros(res.rate.shape, bool)
        quoted = {key: np.full(res.rate.shape, np.nan) for key in ("rate", "uncertainty")}
        cell = quoted_best(res, setup, toy, hp=hp, **kw)
        if cell["rate"] is not None:
            best[cell["row"], cell["col"]] = True
            for key, q in quoted.items():
                q[cell["row"], cell["col"]] = cell[key]
        exact = res.rate_exact if res.rate_exact is not None else np.full(res.rate.shape, np.nan)
        lr_map, beta_map = np.meshgrid(lr, beta)
        rows.append(dict(run=np.array(run["label"]), rate_method=np.array(res.rate_method), lr=lr_map.ravel(),
                         beta=beta_map.ravel(), rate=res.rate.ravel(), rate_estimate=res.rate_estimate.ravel(),
                         rate_uncertainty=res.rate_uncertainty.ravel(), settled=res.settled.ravel(),
                         diverged=res.diverged.ravel(), steps_to_tol=res.steps_to_tol.ravel(), best=best.ravel(),
                         rate_exact=exact.ravel(), quoted_rate=quoted["rate"].ravel(),
                         quoted_uncertainty=quoted["uncertainty"].ravel()))
    return FigureData(stack_rows(rows), {})
