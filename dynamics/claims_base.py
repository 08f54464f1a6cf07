"""Shared pieces of the paper-claims report (dynamics.claims): the Claim record, the
settings, the verdict rules and the helpers that run optimizers and flows for a list of
hyperparameters.

A Claim is one statement, judged on its own words.  ``kind`` is ``paper`` (a statement
of arXiv 2411.16085v4 or arXiv 2510.12402v2, quoted with its section, figure or
theorem) or ``project observation`` (a statement of this project, e.g. about the
``count`` compensation, which the papers do not make).  ``verdict`` is one of VERDICTS
and always computed from the measured numbers by ``judge``; for ``holds only under a
condition`` the ``condition`` names the condition (built from the numbers too).

Quotes are copied from the stored text of v4 (a PDF extraction, 15 Feb 2026) and of
2510.12402v2 (24 Feb 2026): the mathematics has lost its typography there (bold vectors
carry a stray "v", as in "vϕk"; d/dt reads "ddt"; the bar that marks the cautious
iterate is gone, so "L(wt+1) ≤ L(wt+1)" compares the cautious and the base iterate).

Numbering: the stored copy of the paper is v4 (15 Feb 2026).  Its continuous-time
theorem is Theorem 2.1 (this project's docstrings, written from an earlier version,
call it Theorem 2.3), the discrete one-step comparison is Theorem 2.3, the toy is
Section 3.1 with Figure 1 (loss, Hamiltonian, the six (eps, beta) pairs) and Figure 2
(rate maps); the inner-product and threshold masks are Appendix A.4-A.5.  v4 has no
Theorem 2.5, 2.7, 2.8, Corollary 2.6 or Example 2.1 (the labels this project used): the
one-step statements are Theorems 2.3, 2.4 (= A.4), A.5, Corollary A.6 and Theorem A.7,
Adam's Hamiltonian is Example A.1.  v4's toy is L = kappa w1^2 + w2^2 with kappa = 4 from
(1, 1) for both figures; the 0.5 w1^2 + 0.1 w2^2 of the project's ``quad-paper`` toy
does not occur in v4.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from dynamics.config import Hyper, Setup, make_hyper
from dynamics.ode import integrate_batch
from dynamics.rollout import RISE_REL, loss_rises, rise_threshold, rollout
from toys import get_toy

PAPER = "arXiv 2411.16085v4"
PAPER_WD = "arXiv 2510.12402v2"
HOLDS, FAILS, CONDITIONAL = "holds", "does not hold", "holds only under a condition"
VERDICTS = (HOLDS, FAILS, CONDITIONAL)
MARK = {HOLDS: "✓", FAILS: "✗", CONDITIONAL: "◐"}       # a verdict's sign in reports
WRITTEN = ("quote", "statement", "condition", "test")     # a claim's written parts, in reading order


def written_parts(claim: dict) -> list[tuple[str, str]]:
    """(part, text) for each of WRITTEN that the claim (an ``as_dict``) has, in order:
    what every report prints before the measured numbers."""
    return [(part, claim[part]) for part in WRITTEN if claim[part]]
PAPER_KIND, OBSERVATION = "paper", "project observation"
KINDS = (PAPER_KIND, OBSERVATION)


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """Where each claim is measured.  Defaults: the paper's toy (Section 3.1: L = 4 w1^2 +
    w2^2, i.e. quad-k4 with h1 = 8, h2 = 2, from w_0 = (1, 1)) and the report's own
    sizes; tests pass smaller ones."""

    toy: str = "quad-k4"
    toy_params: tuple[tuple[str, float], ...] = (("h1", 8.0), ("h2", 2.0))
    start: tuple[float, float] = (1.0, 1.0)
    lr: float = 0.01
    beta: float = 0.99
    total_time: float = 10.0                  # eps * T, the same for every eps of the rise study
    rise_lrs: tuple[float, ...] = (0.01, 0.003, 0.001)
    substeps: int = 10                        # RK4 sub-steps per unit time (one step) in the flows
    ablation: tuple[tuple[float, float], ...] = ((0.01, 0.5), (0.01, 0.9), (0.01, 0.99), (0.01, 0.999),
                                                 (0.1, 0.99), (0.001, 0.99))
    ablation_steps: int = 1000
    rate_toy: str = "quad-k4"
    rate_lr: tuple[float, float] = (0.01, 0.5)
    rate_beta: tuple[float, float] = (0.0, 0.95)
    rate_grids: tuple[int, ...] = (64, 128, 256)
    inner_grids: tuple[int, ...] = (128,)       # the inner-mask map (Figure 2's phi_inner)
    rate_chunk_cells: int = 2048                # one chunk shape for every grid: one compiled sweep per map
    rate_steps: int = 1000
    speed_steps: int = 300
    draws: int = 10000
    seed: int = 0
    rosenbrock_lr: float = 0.001
    rosenbrock_steps: int = 3000
    adam_pairs: tuple[tuple[float, float], ...] = ((0.9, 0.999), (0.99, 0.9))   # (b1, b2): meets / violates
    adam_lr: float = 0.01
    adam_steps: int = 2000
    decay_toys: tuple[str, ...] = ("valley-line", "valley-hyperbola")
    decay_optimizers: tuple[str, ...] = ("gdm", "adam", "lion")
    decay_steps: int = 3000
    decay_refine: int = 4                     # the small-step run: eps / decay_refine, decay_refine x the steps
    lion_box_wd: float = 2.0                  # lambda of the Lion box test (box |x|_inf <= 1/lambda binds)
    sam_toy: str = "two-wells"                # SAM's basins (dynamics.claims_sam)
    sam_optimizers: tuple[str, ...] = ("gd", "adam")
    sam_lrs: tuple[float, ...] = (0.05, 0.01)   # one per optimizer
    sam_rhos: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.8)
    sam_grid: int = 48
    sam_steps: int = 2000
    sam_radius: float = 0.25

    @property
    def params(self) -> dict[str, float]:
        return dict(self.toy_params)


@dataclasses.dataclass
class Claim:
    """One statement and its verdict.  id: a stable key.  kind: KINDS.  source: where
    the paper says it (or "project observation").  quote: the paper's exact words
    (None when not found, then ``note`` says so).  statement: the claim in the paper's
    terms, as tested.  test: what was measured and the criterion.  measured: numbers.
    verdict: VERDICTS, computed.  condition: for CONDITIONAL, the condition, else None."""

    id: str
    kind: str
    source: str
    quote: str | None
    statement: str
    test: str
    measured: dict[str, Any]
    verdict: str
    condition: str | None = None
    note: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}")
        if (self.verdict == CONDITIONAL) != bool(self.condition):
            raise ValueError("a condition goes with the verdict 'holds only under a condition', and only there")

    @property
    def holds(self) -> bool:
        """The verdict is HOLDS (not CONDITIONAL)."""
        return self.verdict == HOLDS

    @property
    def key(self) -> str:
        """The id (the name of the field before ids)."""
        return self.id

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (NumPy scalars as Python numbers; a non-finite float,
        e.g. the loss of a diverged run, as None)."""
        d = dataclasses.asdict(self)
        return {k: plain(d[k]) for k in ("id", "kind", "source", "quote", "statement", "verdict", "condition",
                                         "test", "measured", "note")}


def plain(x: Any) -> Any:
    """x with NumPy scalars and arrays as Python numbers and lists, tuples as lists, and
    non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [plain(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def judge(holds: bool, condition: str | None = None) -> tuple[str, str | None]:
    """(verdict, condition): HOLDS when ``holds``; else CONDITIONAL with ``condition``
    when one was established (a non-empty string), else FAILS."""
    if holds:
        return HOLDS, None
    return (CONDITIONAL, condition) if condition else (FAILS, None)


def rises(values, rel: float = RISE_REL) -> dict[str, Any]:
    """Rises of a sequence above rel * |values[0]| (dynamics.rollout.loss_rises, the
    project's one rule; the claims' toys have L* = 0 and H(0) > 0): count, largest, the
    first step with a rise (-1: none) and the threshold itself."""
    steps, sizes = loss_rises(values, rel)
    return dict(count=int(len(steps)), largest=float(sizes.max()) if len(steps) else 0.0,
                first_step=int(steps[0]) if len(steps) else -1, threshold=rise_threshold(values, rel))


def rollouts(setup: Setup, toy_name: str, hps: list[Hyper], steps: int, start=None,
             toy_params=None) -> dict[str, np.ndarray]:
    """dynamics.rollout for each Hyper of a list (one compiled program, reused): the
    Trajectory arrays (w, loss, hamiltonian, ...) stacked on a leading batch axis."""
    toy = get_toy(toy_name)
    runs = [rollout(setup, toy, hp, int(steps), start=start, toy_params=toy_params) for hp in hps]
    return {k: np.stack([getattr(r, k) for r in runs]) for k in ("w", "loss", "hamiltonian", "masked_fraction",
                                                                    "grad")}


def flows(setup: Setup, toy_name: str, hps: list[Hyper], T: int, s: ClaimSettings, start=None,
          toy_params=None) -> dict[str, np.ndarray]:
    """dynamics.ode.integrate_batch (RK4, s.substeps per unit time) for a list of Hyper
    from one start: arrays with a leading batch axis on the grid t = 0..T."""
    toy = get_toy(toy_name)
    start = toy.start if start is None else start
    batch = Hyper(*(jnp.stack([jnp.asarray(x, jnp.float64) for x in leaf]) for leaf in zip(*hps)))
    starts = jnp.broadcast_to(jnp.asarray(start, jnp.float64), (len(hps), 2))
    return integrate_batch(setup, toy, batch, int(T), starts, solver="rk4", substeps=s.substeps,
                           toy_params=toy_params)


def hyper(**values: float) -> Hyper:
    """make_hyper in float64."""
    return make_hyper(**values)


def fmt(x: float) -> str:
    return format(float(x), ".3g")
