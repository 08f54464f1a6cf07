"""Project observations on sharpness-aware minimization (SAM, arXiv 2010.01412,
dynamics.sam; docs/theory.md, Section 7): which minimiser of the two-wells toy SAM's
runs end at, against its base optimizer's, over a range of radii rho.

The toy (toys.catalog ``two-wells``) has a sharp well (listed first, index 0) and a
flat one (index 1) of close depths.  Each optimizer of ``s.sam_optimizers`` runs from
every start of an n x n grid over the toy's domain (dynamics.basins), without SAM and
with SAM at each rho of ``s.sam_rhos``.  A run ends at a minimiser when its last
iterate lies within ``s.sam_radius`` of it.  The radius is that large because SAM with
a fixed rho does not converge to a minimiser: on a one-dimensional quadratic of
curvature h its step ends in the 2-cycle +-eps h rho / (2 - eps h) about it (Section 7).

Two statements of this project, none of the SAM paper's (it reports image-classification
accuracy, not toy basins):

``obs-sam-fewer-sharp``   SAM ends fewer starts at the sharp minimiser than its base
                          optimizer, at every rho of the range, and fewer the larger rho.
``obs-sam-more-flat``     SAM ends more starts at the flat minimiser than its base
                          optimizer, at every rho of the range.

The measured numbers also say where the starts go that SAM takes from the sharp well:
``neither`` is the fraction that ends within the radius of no minimiser, with the
median distance of their last iterates from the sharp minimiser.  A point w whose
perturbed point w + rho g/|g| is a stationary point of L is a fixed point of GD-SAM
(its step is eps grad L(w + rho g/|g|) = 0) that is no minimiser of L: at rho = 0.8
the stalled runs end about rho from the sharp minimiser, as such points do.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dynamics.basins import basin_map
from dynamics.claims_base import FAILS, HOLDS, OBSERVATION, Claim, ClaimSettings, fmt, hyper
from dynamics.config import Setup
from toys import get_toy

SHARP, FLAT = 0, 1         # the two-wells toy's listed minimisers


def _row(setup: Setup, lr: float, rho: float, s: ClaimSettings) -> dict[str, float]:
    """Fractions of the grid's starts ending at the sharp / flat minimiser / neither (of
    which ``diverged`` diverged), and the median distance of the last iterates of the
    ``neither`` cells that did not diverge from the sharp minimiser."""
    toy = get_toy(s.sam_toy)
    m = basin_map(setup, toy, hyper(lr=lr, rho=rho), s.sam_steps, n=s.sam_grid, radius=s.sam_radius)
    fr = m.fractions()
    stalled = m.final[(m.index == -1) & ~m.diverged]
    dist = np.linalg.norm(stalled - m.minima[SHARP], axis=-1)
    return dict(sharp=fr[SHARP], flat=fr[FLAT], neither=fr[-1], diverged=float(np.mean(m.diverged)),
                neither_median_distance_to_sharp=float(np.median(dist)) if dist.size else None)


def sam_basins(s: ClaimSettings) -> dict[str, dict[str, Any]]:
    """{optimizer: {"lr", "base": row, "rho=R": row, ...}} (rows of ``_row``)."""
    out = {}
    for opt, lr in zip(s.sam_optimizers, s.sam_lrs):
        rows = {"lr": lr, "base": _row(Setup(opt), lr, 0.0, s)}
        rows.update({f"rho={rho:g}": _row(Setup(opt, sam=True), lr, rho, s) for rho in s.sam_rhos})
        out[opt] = rows
    return out


def _sam_rows(rows: dict[str, Any]) -> list[dict[str, float]]:
    """The SAM rows of one optimizer, in the order of increasing rho."""
    return [v for k, v in rows.items() if k.startswith("rho=")]


def fewer_sharp(measured: dict[str, dict[str, Any]]) -> bool:
    """Every SAM row ends fewer starts at the sharp minimiser than the base row, and the
    fraction does not grow with rho (rows in increasing rho)."""
    for rows in measured.values():
        sharp = [r["sharp"] for r in _sam_rows(rows)]
        if not (all(x < rows["base"]["sharp"] for x in sharp) and all(b <= a for a, b in zip(sharp, sharp[1:]))):
            return False
    return True


def more_flat(measured: dict[str, dict[str, Any]]) -> bool:
    """Every SAM row ends more starts at the flat minimiser than the base row."""
    return all(r["flat"] > rows["base"]["flat"] for rows in measured.values() for r in _sam_rows(rows))


def checks_sam(s: ClaimSettings) -> list[Claim]:
    """The two observations of the module docstring, measured live."""
    m = sam_basins(s)
    where = (f"{s.sam_toy} toy, {s.sam_grid} x {s.sam_grid} starts over its domain, {s.sam_steps} steps, "
             f"{', '.join(f'{o} (lr {fmt(lr)})' for o, lr in zip(s.sam_optimizers, s.sam_lrs))}, "
             f"rho in {{{', '.join(fmt(r) for r in s.sam_rhos)}}}, radius {fmt(s.sam_radius)}")
    source = "project observation (SAM: arXiv 2010.01412)"
    note = ("'neither': the fraction of starts that end within the radius of no minimiser or diverge ('diverged': "
            "those that diverged), with the median distance from the sharp minimiser of the last iterates of those "
            "that did not diverge; a point w at distance rho from a "
            "stationary point w' of L with w' = w + rho g(w)/|g(w)| is a fixed point of GD-SAM.")
    return [
        Claim("obs-sam-fewer-sharp", OBSERVATION, source, None,
              "SAM ends fewer starts at the sharp minimiser than its base optimizer, at every rho of the range, "
              "and fewer the larger rho.",
              f"{where}: the fraction of starts ending within the radius of the sharp minimiser, SAM below the base "
              "at every rho and non-increasing in rho.", m, HOLDS if fewer_sharp(m) else FAILS, note=note),
        Claim("obs-sam-more-flat", OBSERVATION, source, None,
              "SAM ends more starts at the flat minimiser than its base optimizer, at every rho of the range.",
              f"{where}: the fraction of starts ending within the radius of the flat minimiser, SAM above the base "
              "at every rho.", m, HOLDS if more_flat(m) else FAILS, note=note),
    ]

