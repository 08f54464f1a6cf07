"""The claims of the two papers as they state them, each recomputed on this project's
toys and judged on its own words: arXiv 2411.16085v4 (Cautious Optimizers) and arXiv
2510.12402v2 (Cautious Weight Decay).  ``python -m dynamics claims`` prints them; the
app's panel calls ``run_claims`` per check of CHECKS.

Every entry (a dynamics.claims_base.Claim) carries: ``id``; ``kind`` (``paper``, or
``project observation`` for a statement of this project that the papers do not make);
``source`` (paper, section, figure or theorem); ``quote`` (the paper's exact words, or
None); ``statement`` (the claim in the paper's terms, as tested); ``test`` (what was
measured and the criterion); ``measured`` (numbers); ``verdict`` (``holds``, ``does not
hold`` or ``holds only under a condition``, computed from the numbers) and, for the
last, ``condition``.  A statement is never weakened until it passes: when it holds only
somewhere (for the flow, not for discrete steps; on finer grids only), the verdict says
so and the condition names where.

Checks (keys of CHECKS) and their claims:

``fig1-loss``         GDM's loss fluctuates; C-GDM's loss decreases monotonically (Section
                      3.1, Figure 1, Section 1), on discrete steps and flows at several eps
``fig1-hamiltonian``  GDM's own Hamiltonian decreases (Section 2.1, Eq. (3)); C-GDM decreases
                      GDM's Hamiltonian monotonically and faster (Figure 1)
``fig1-ablation``     C-GDM outperforms / is not worse than GDM at the six (eps, beta) pairs
``fig2-rates``        the cautious maps' best rate below the heavy ball's 1/3 (Figure 2;
                      64, 128, 256 grids, estimator and its error on GDM), and the speed of
                      both at their optimal (eps, beta) (Section 3.1)
``thm2.1``            Theorem 2.1 on flows: dL/dt <= 0; dH/dt, dL/dt below the original
                      system's with alpha >= 1 (mean); the count compensation (observation);
                      Corollary 2.2
``flow-order``        the cautious flow's loss below the base flow's (observation; the
                      paper makes no multi-step claim)
``adam``              Example A.1: Adam's dH/dt <= 0 when a >= b/4 (also cautious Adam), and
                      a rise where a < b/4 (observation)
``one-step``          Theorems 2.3, 2.4, A.5, Corollary A.6, Theorem A.7 on random
                      quadratics, states and directions; two observations
``decay``             Cautious weight decay: unbiased, Pareto front, decoupled SGD = l2,
                      decoupled Lion = box; CWD's smaller norm (observation)
``sam``               SAM (arXiv 2010.01412) on the two-wells toy: fewer starts end at the
                      sharp minimiser, more at the flat one (observations)

The module docstrings of dynamics.claims_toy, claims_theory, claims_rates, claims_steps,
claims_decay and claims_sam give the settings and the reading of each statement.
"""
from __future__ import annotations

from typing import Callable

from dynamics.claims_base import (CONDITIONAL, FAILS, HOLDS, KINDS, OBSERVATION, PAPER, PAPER_KIND, PAPER_WD,
                                  RISE_REL, VERDICTS, Claim, ClaimSettings)
from dynamics.claims_decay import checks_decay
from dynamics.claims_rates import checks_rates
from dynamics.claims_sam import checks_sam
from dynamics.claims_steps import checks_one_step
from dynamics.claims_theory import adam_hamiltonian, checks_flow_order, checks_theory
from dynamics.claims_toy import (ablation, cgdm_hamiltonian, cgdm_hamiltonian_faster, cgdm_monotone, gdm_fluctuates,
                                 gdm_hamiltonian)

__all__ = ["CHECKS", "CONDITIONAL", "FAILS", "HOLDS", "KINDS", "OBSERVATION", "PAPER", "PAPER_KIND", "PAPER_WD",
           "RISE_REL", "VERDICTS", "Claim", "ClaimSettings", "run_claims"]

CHECKS: dict[str, Callable[[ClaimSettings], list[Claim]]] = {
    "fig1-loss": lambda s: [gdm_fluctuates(s), cgdm_monotone(s)],
    "fig1-hamiltonian": lambda s: [gdm_hamiltonian(s), cgdm_hamiltonian(s), cgdm_hamiltonian_faster(s)],
    "fig1-ablation": ablation,
    "fig2-rates": checks_rates,
    "thm2.1": checks_theory,
    "flow-order": checks_flow_order,
    "adam": adam_hamiltonian,
    "one-step": checks_one_step,
    "decay": checks_decay,
    "sam": checks_sam,
}


def check_settings(s: ClaimSettings) -> None:
    """ValueError for settings the checks cannot use."""
    if s.lr not in s.rise_lrs:
        raise ValueError(f"lr {s.lr:g} must be one of rise_lrs {s.rise_lrs}")
    if not (s.total_time > 0 and s.substeps >= 1 and s.draws >= 4 and s.decay_refine >= 2):
        raise ValueError("total_time > 0, substeps >= 1, draws >= 4 and decay_refine >= 2 are needed")
    longest = round(s.total_time / min(s.rise_lrs))
    if s.ablation_steps > longest or s.speed_steps > longest:
        raise ValueError("ablation_steps and speed_steps must not exceed total_time / min(rise_lrs)")


def run_claims(settings: ClaimSettings | None = None, only: list[str] | None = None) -> list[Claim]:
    """Recompute the claims (all, or the checks named in ``only``, keys of CHECKS)."""
    settings = settings or ClaimSettings()
    check_settings(settings)
    names = list(CHECKS) if only is None else list(only)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown} (allowed: {', '.join(CHECKS)})")
    return [claim for name in names for claim in CHECKS[name](settings)]
