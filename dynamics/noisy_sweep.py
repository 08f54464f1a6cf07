"""Sweeps with noisy gradients over several seeds (dynamics.sweep, docs/theory.md
Section 5): every (lr, beta) cell runs for K seeds in one batch, the seeds being one
more cell axis.  Step t of the cell with seed k uses g_t + sigma z_t, z_t drawn from
fold_in(key(k), t) (dynamics.noise): the roll-out with seed k.  The result holds the
K maps and their reductions over the seeds (means; the median steps to tol of
dynamics.metrics).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from dynamics.batch import ProgressFn
from dynamics.config import Hyper, Setup
from dynamics.metrics import median_steps_to_tol
from dynamics.sweep import SweepResult, sweep_maps
from toys import Toy


class NoisySweepResult(NamedTuple):
    """The maps of a noisy sweep for K seeds: arrays of shape (K, len(beta), len(lr)),
    seed ``seeds[k]`` in slice k (see SweepResult for each map); the properties reduce
    them over the seeds."""

    lr: np.ndarray
    beta: np.ndarray
    seeds: np.ndarray
    rate: np.ndarray
    steps_to_tol: np.ndarray
    final_suboptimality: np.ndarray
    max_loss_rise: np.ndarray
    diverged: np.ndarray
    steps: int
    tol: float
    noise_drop: np.ndarray | None = None
    rate_uncertainty: np.ndarray | None = None
    settled: np.ndarray | None = None

    @property
    def rate_mean(self) -> np.ndarray:
        """Mean rate over the seeds (a diverged seed counts RATE_DIVERGED = 1)."""
        return self.rate.mean(axis=0)

    @property
    def rate_std(self) -> np.ndarray:
        """Standard deviation of the rate over the seeds."""
        return self.rate.std(axis=0)

    @property
    def diverged_fraction(self) -> np.ndarray:
        """Fraction of the seeds that diverged."""
        return self.diverged.mean(axis=0)

    @property
    def suboptimality_mean(self) -> np.ndarray:
        """Mean of L(w_T) - min L over the seeds."""
        return self.final_suboptimality.mean(axis=0)

    @property
    def uncertainty_mean(self) -> np.ndarray:
        """Mean over the seeds of each fit's spread (rate_uncertainty)."""
        return self.rate_uncertainty.mean(axis=0)

    @property
    def settled_on_every_seed(self) -> np.ndarray:
        """Whether the fit settled on every seed."""
        return self.settled.all(axis=0)

    @property
    def noise_drop_mean(self) -> np.ndarray | None:
        """Mean over the seeds of the fraction the mask dropped because of the noise (None
        when the sweep is not cautious)."""
        return None if self.noise_drop is None else self.noise_drop.mean(axis=0)

    @property
    def median_steps_to_tol(self) -> np.ndarray:
        """Median over the seeds that reached tol of steps_to_tol, -1 where none did
        (dynamics.metrics.median_steps_to_tol)."""
        return median_steps_to_tol(self.steps_to_tol)

    def run(self, k: int) -> SweepResult:
        """The map of seed ``seeds[k]`` alone."""
        maps = {f: getattr(self, f)[k] for f in ("rate", "steps_to_tol", "final_suboptimality", "max_loss_rise",
                                                 "diverged", "rate_uncertainty", "settled")}
        drop = None if self.noise_drop is None else self.noise_drop[k]
        return SweepResult(lr=self.lr, beta=self.beta, steps=self.steps, tol=self.tol, noise_drop=drop,
                           rate_estimate=maps["rate"], **maps)


def noisy_sweep(setup: Setup, toy: Toy, lr: Sequence[float], beta: Sequence[float], steps: int, *,
                seeds: int | Sequence[int] = 8, hp: Hyper | None = None, tol: float | None = None, start=None,
                toy_params=None, chunk_cells: int | None = None, progress: ProgressFn | None = None,
                devices: Sequence | None = None) -> NoisySweepResult:
    """``sweep`` with gradient noise (setup.noise on, sigma = hp.noise_sigma) for every
    seed of ``seeds`` (an int K means seeds 0..K-1), all cells of all seeds in one
    batched computation.  A cell with seed k equals (up to rounding) the roll-out with
    seed k.  With sigma = 0 the noise-free program runs once and every seed's map is it."""
    if setup.noise == "none":
        raise ValueError("noisy_sweep needs a noisy setup (Setup(noise='gaussian')); use sweep without noise")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = range(seeds)
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    maps, lr_axis, beta_axis, steps, tol = sweep_maps(setup, toy, lr, beta, steps, hp, tol, start, toy_params,
                                                      chunk_cells, progress, devices, seeds)
    k = len(seeds)
    maps = {name: np.broadcast_to(v, (k,) + v.shape[1:]) for name, v in maps.items()}
    if setup.cautious and "noise_drop" not in maps:          # sigma = 0: the noise drops nothing
        maps["noise_drop"] = np.zeros((k, beta_axis.size, lr_axis.size))
    return NoisySweepResult(lr=lr_axis, beta=beta_axis, seeds=np.asarray(seeds, np.int64), steps=steps, tol=tol,
                            **maps)
