"""The toy-scale claims of the two papers, recomputed: measured value, claim, and whether
it holds under a stated test.  ``python -m dynamics claims`` prints them; the app's
panel calls ``run_claims``.

Claims (GDM: undampened heavy ball s = beta s + g, w -= eps s; C-GDM: w -= eps alpha
phi(s*g) s with the elementwise mask of Algorithm 1, compensation ``mean`` unless said):

``flow-monotone``  arXiv 2411.16085, Theorem 2.3: along the cautious flow
    w' = -eps alpha phi u, dL/dt = -eps alpha sum phi_i u_i g_i <= 0, so L is monotone.
    Test: integrate the flow (dynamics.ode, RK4), max dL/dt <= 0 on the grid t = 0..T and
    no rise of L between grid points beyond rounding (1e-12 L(w_0)); the base flow beside it.
``discrete-rises``  2411.16085, Section 2 and Figure 2: in discrete steps the cautious
    loss rises far less often and by far less.  Test: count the steps with
    L(w_t) > L(w_{t-1}) and the largest rise; holds if C-GDM has at least 10x fewer rises
    and a 100x smaller largest rise.
``hamiltonian-mean`` / ``hamiltonian-count``  2411.16085, Theorem 2.3: with alpha >= 1,
    dH/dt of the cautious flow <= dH/dt of the base flow at the same state, H = L +
    (eps/2)|s|^2.  Test: at every grid state of the cautious flow, evaluate both rates
    (dynamics.flows.diagnostics); holds if max (cautious - base) <= 1e-12 max |base|.
    ``count`` compensation alpha = d/(nnz phi + 1) is 2/3 in 2-D when nothing is masked,
    below the theorem's alpha >= 1: there the claim fails, and the report says by how much.
``rate-k4``  2411.16085, Figure 3: on w1^2 + 4 w2^2 the cautious map's minimum rate is
    below the heavy-ball optimum (sqrt(k)-1)/(sqrt(k)+1) = 1/3.  Test: both maps with
    the same estimator, grid, horizon and tolerance (dynamics.sweep); holds if the C-GDM
    minimum is below 1/3 and below the GDM map's own empirical minimum.  The finite-horizon
    estimator is biased: GDM's empirical rate falls below its analytic rate on some cells
    (below 1/3 even), so the report gives that bias and the same comparison on a coarser grid.
``decay-<toy>``  arXiv 2510.12402: cautious weight decay (u += lambda 1[u w >= 0] w)
    ends at a minimiser of L with a smaller norm than no decay, while decoupled decay
    (u += lambda w) ends off the set of minimisers.  Test on a valley toy, GDM: over the
    last 10% of steps, the mean distance to the set of minimisers (the toy's exact
    set_residual, via dynamics.decay_study.set_distance) of cautious decay is 5x below
    decoupled decay's, and its final norm is below no decay's.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.config import Setup, make_hyper
from dynamics.decay_study import set_distance
from dynamics.flows import FlowState, diagnostics
from dynamics.ode import integrate
from dynamics.rates import analytic_rate, best_cell, heavy_ball_optimum
from dynamics.rollout import loss_rises, rollout
from dynamics.sweep import grid_axis, sweep
from toys import get_toy

PAPER = "arXiv 2411.16085"
PAPER_WD = "arXiv 2510.12402"


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """Where each claim is measured (defaults: the papers' toy settings)."""

    toy: str = "quad-repo"
    lr: float = 0.01
    beta: float = 0.99
    steps: int = 1000
    substeps: int = 100                 # RK4 sub-steps per unit time in the flows
    rise_count_factor: float = 10.0
    rise_size_factor: float = 100.0
    rate_toy: str = "quad-k4"
    rate_lr: tuple[float, float] = (0.01, 0.5)
    rate_beta: tuple[float, float] = (0.0, 0.95)
    rate_n: int = 128
    rate_coarse_n: int = 64
    rate_steps: int = 1000
    rate_tol: float = 1e-10
    decay_toys: tuple[str, ...] = ("valley-line", "valley-hyperbola")
    decay_lr: float = 0.01
    decay_beta: float = 0.9
    decay_wd: float = 0.5
    decay_steps: int = 3000
    decay_factor: float = 5.0


@dataclasses.dataclass
class Claim:
    """One recomputed claim: key, source (paper and section), claim (the statement),
    test (what was measured and the criterion), measured (numbers), holds, note."""

    key: str
    source: str
    claim: str
    test: str
    measured: dict[str, Any]
    holds: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _hp(s: ClaimSettings):
    return make_hyper(lr=s.lr, beta=s.beta)


def _flow(s: ClaimSettings, setup: Setup):
    return integrate(setup, get_toy(s.toy), _hp(s), s.steps, solver="rk4", substeps=s.substeps)


def _rises(loss) -> tuple[int, float]:
    steps, sizes = loss_rises(loss)
    return len(steps), float(sizes.max()) if len(sizes) else 0.0


def flow_monotone(s: ClaimSettings) -> list[Claim]:
    cautious, base = _flow(s, Setup("gdm", cautious=True)), _flow(s, Setup("gdm"))
    n_c, max_c = _rises(cautious.loss)
    n_b, max_b = _rises(base.loss)
    measured = dict(cautious_max_dL_dt=float(np.max(cautious.dL_dt)), cautious_grid_rises=n_c,
                    cautious_largest_rise=max_c, base_max_dL_dt=float(np.max(base.dL_dt)), base_grid_rises=n_b,
                    base_largest_rise=max_b, final_loss_cautious=float(cautious.loss[-1]),
                    final_loss_base=float(base.loss[-1]))
    holds = measured["cautious_max_dL_dt"] <= 0 and max_c <= 1e-12 * float(cautious.loss[0])
    return [Claim(
        "flow-monotone", f"{PAPER}, Theorem 2.3",
        "The loss of cautious GDM is monotone along its flow (the base flow's is not).",
        f"{s.toy}, eps {s.lr:g}, beta {s.beta:g}, RK4 with {s.substeps} sub-steps per step, t = 0..{s.steps}: "
        "max dL/dt <= 0 on the grid and no rise of L between grid points beyond 1e-12 L(w_0).",
        measured, bool(holds),
        "The hard mask makes the right-hand side discontinuous; fixed-step solvers chatter across the switching "
        "surface with amplitude ~ eps/sub-steps, so coarse sub-steps can show rounding-size rises.")]


def discrete_rises(s: ClaimSettings) -> list[Claim]:
    toy, hp = get_toy(s.toy), _hp(s)
    n_b, max_b = _rises(rollout(Setup("gdm"), toy, hp, s.steps).loss)
    n_c, max_c = _rises(rollout(Setup("gdm", cautious=True), toy, hp, s.steps).loss)
    measured = dict(gdm_rise_steps=n_b, gdm_largest_rise=max_b, cgdm_rise_steps=n_c, cgdm_largest_rise=max_c)
    holds = n_c * s.rise_count_factor <= n_b and max_c * s.rise_size_factor <= max_b
    return [Claim(
        "discrete-rises", f"{PAPER}, Section 2 and Figure 2",
        "In discrete steps the loss of C-GDM rises far less often and by far less than GDM's.",
        f"{s.toy}, eps {s.lr:g}, beta {s.beta:g}, {s.steps} steps: steps with L(w_t) > L(w_(t-1)) and the largest "
        f"rise; holds if C-GDM has {s.rise_count_factor:g}x fewer rises and a {s.rise_size_factor:g}x smaller "
        "largest rise.",
        measured, bool(holds),
        f"Ratios: {n_b / max(n_c, 1):.1f}x fewer rises, {max_b / max_c if max_c > 0 else float('inf'):.3g}x "
        "smaller largest rise. Discrete C-GDM is not exactly monotone: a step can overshoot along a kept coordinate.")]


def _rate_at_states(setup: Setup, toy, hp, traj) -> np.ndarray:
    """dH/dt of ``setup``'s flow at the states (w, m, v) of ``traj``."""
    p = {k: jnp.asarray(v) for k, v in toy.params().items()}
    diag = jax.jit(jax.vmap(lambda y: diagnostics(setup, toy.value)(y, (hp, p))["dH_dt"]))
    return np.asarray(diag(FlowState(jnp.asarray(traj.w), jnp.asarray(traj.m), jnp.asarray(traj.v))))


def hamiltonian(s: ClaimSettings) -> list[Claim]:
    toy, hp = get_toy(s.toy), _hp(s)
    base = _flow(s, Setup("gdm"))
    out = []
    for comp in ("mean", "count"):
        traj = _flow(s, Setup("gdm", cautious=True, compensation=comp))
        diff = traj.dH_dt - _rate_at_states(Setup("gdm"), toy, hp, traj)
        scale = float(np.max(np.abs(base.dH_dt)))
        measured = dict(compensation=comp, max_rate_difference=float(np.max(diff)),
                        min_rate_difference=float(np.min(diff)), cautious_max_dH_dt=float(np.max(traj.dH_dt)),
                        max_H_cautious_minus_base=float(np.max(traj.hamiltonian - base.hamiltonian)),
                        base_rate_scale=scale)
        holds = measured["max_rate_difference"] <= 1e-12 * scale
        note = ("alpha = 1/max(mean phi, 1e-3) >= 1: the theorem's condition holds." if comp == "mean" else
                "count: alpha = d/(nnz phi + 1) = 2/3 in 2-D with nothing masked, below the theorem's alpha >= 1, so "
                "the cautious flow loses H slower where nothing is masked (by up to "
                f"{measured['max_rate_difference']:.3g}), its H even rises (max dH/dt {measured['cautious_max_dH_dt']:.3g}) and runs above the base H by "
                f"up to {measured['max_H_cautious_minus_base']:.3g}.")
        out.append(Claim(
            f"hamiltonian-{comp}", f"{PAPER}, Theorem 2.3",
            f"The cautious flow ({comp} compensation) decreases H = L + (eps/2)|s|^2 at least as fast as the base "
            "flow.",
            f"{s.toy}, eps {s.lr:g}, beta {s.beta:g}: dH/dt of both flows at every grid state of the cautious flow; "
            "holds if max(cautious - base) <= 1e-12 max|base dH/dt|.",
            measured, bool(holds), note))
    return out


def _rate_maps(s: ClaimSettings, n: int) -> dict[str, Any]:
    toy = get_toy(s.rate_toy)
    lr, beta = grid_axis(*s.rate_lr, n), grid_axis(*s.rate_beta, n)
    base = sweep(Setup("gdm"), toy, lr, beta, s.rate_steps, tol=s.rate_tol)
    caut = sweep(Setup("gdm", cautious=True), toy, lr, beta, s.rate_steps, tol=s.rate_tol)
    params = toy.params()
    analytic = analytic_rate("gdm", lr[None, :], beta[:, None], [params["h1"], params["h2"]])
    ok = ~base.diverged
    bias = analytic - base.rate
    optimum = heavy_ball_optimum(params["h1"], params["h2"])
    return dict(grid=f"{n} x {n}", cgdm_min=caut.best(), gdm_min=base.best(),
                gdm_analytic_min=best_cell(lr, beta, analytic),
                optimum_rate=optimum["rate"], gdm_bias_max=float(bias[ok].max()),
                gdm_cells_below_analytic_by_0_01=int((bias[ok] > 0.01).sum()),
                gdm_cells_below_optimum=int((base.rate[ok] < optimum["rate"]).sum()), converging_cells=int(ok.sum()))


def rate_k4(s: ClaimSettings) -> list[Claim]:
    fine, coarse = _rate_maps(s, s.rate_n), _rate_maps(s, s.rate_coarse_n)

    def verdict(m):
        c, b = m["cgdm_min"]["rate"], m["gdm_min"]["rate"]
        return c < m["optimum_rate"] and c < b

    c, b = fine["cgdm_min"]["rate"], fine["gdm_min"]["rate"]
    margin = b - c
    note = (f"Estimator bias: GDM's empirical rate falls up to {fine['gdm_bias_max']:.3f} below its analytic rate "
            f"({fine['gdm_cells_below_analytic_by_0_01']} of {fine['converging_cells']} converging cells by more than "
            f"0.01; {fine['gdm_cells_below_optimum']} cells below 1/3). The C-GDM margin over GDM's empirical "
            f"minimum is {margin:.3f}" + (", smaller than that bias." if margin < fine["gdm_bias_max"] else ".") +
            f" On the {coarse['grid']} grid: C-GDM {coarse['cgdm_min']['rate']:.4f}, "
            f"GDM {coarse['gdm_min']['rate']:.4f} -> the claim {'holds' if verdict(coarse) else 'does not hold'} there.")
    return [Claim(
        "rate-k4", f"{PAPER}, Figure 3",
        "On w1^2 + 4 w2^2 (kappa = 4) the minimum rate of the cautious map is below the heavy-ball optimum "
        "(sqrt(k)-1)/(sqrt(k)+1) = 1/3.",
        f"{s.rate_toy}, eps in [{s.rate_lr[0]:g}, {s.rate_lr[1]:g}] x beta in [{s.rate_beta[0]:g}, "
        f"{s.rate_beta[1]:g}], {fine['grid']} grid, {s.rate_steps} steps, tol {s.rate_tol:g}, the envelope-ratio "
        "estimator (dynamics.rates) for both maps; holds if min C-GDM < 1/3 and < min GDM (empirical).",
        dict(fine=fine, coarse=coarse), bool(verdict(fine)), note)]


def _decay_run(s: ClaimSettings, toy, mode: str) -> dict[str, Any]:
    hp = make_hyper(lr=s.decay_lr, beta=s.decay_beta, wd=0.0 if mode == "none" else s.decay_wd)
    traj = rollout(Setup("gdm", decay=mode), toy, hp, s.decay_steps)
    tail = traj.w[-max(1, s.decay_steps // 10):]
    dist = set_distance(toy, tail)
    return dict(final_w=traj.w[-1].tolist(), final_norm=float(np.linalg.norm(traj.w[-1])),
                final_loss=float(traj.loss[-1]), tail_mean_distance=float(dist.mean()),
                tail_mean_loss=float(traj.loss[-len(tail):].mean()))


def decay(s: ClaimSettings) -> list[Claim]:
    out = []
    for name in s.decay_toys:
        toy = get_toy(name)
        runs = {mode: _decay_run(s, toy, mode) for mode in ("none", "decoupled", "cautious")}
        min_norm = float(np.min(np.linalg.norm(toy.minima(), axis=1)))
        c, d, n = runs["cautious"], runs["decoupled"], runs["none"]
        holds = c["final_norm"] < n["final_norm"] and s.decay_factor * c["tail_mean_distance"] < d["tail_mean_distance"]
        out.append(Claim(
            f"decay-{name}", f"{PAPER_WD}, Sections 3-4",
            "Cautious weight decay ends at a minimiser of L with a smaller norm than no decay; decoupled decay ends "
            "off the set of minimisers.",
            f"{name}, GDM eps {s.decay_lr:g}, beta {s.decay_beta:g}, lambda {s.decay_wd:g}, {s.decay_steps} steps: "
            f"holds if cautious's mean distance to the set over the last 10% of steps is {s.decay_factor:g}x below "
            "decoupled's and its final norm is below no decay's.",
            dict(min_norm_on_set=min_norm, **{mode: r for mode, r in runs.items()}), bool(holds),
            f"Cautious decay slides along the valley towards the minimum norm {min_norm:.4f} (final norm "
            f"{c['final_norm']:.4f}, no decay {n['final_norm']:.4f}) and chatters around it at distance "
            f"{c['tail_mean_distance']:.2e} (sliding mode, shrinks with eps); decoupled decay settles "
            f"{d['tail_mean_distance']:.2e} off the set, at the minimiser of a regularised proxy."))
    return out


CHECKS: dict[str, Callable[[ClaimSettings], list[Claim]]] = {
    "flow-monotone": flow_monotone, "discrete-rises": discrete_rises, "hamiltonian": hamiltonian,
    "rate-k4": rate_k4, "decay": decay,
}


def run_claims(settings: ClaimSettings | None = None, only: list[str] | None = None) -> list[Claim]:
    """Recompute the claims (all, or the checks named in ``only``, keys of CHECKS)."""
    settings = settings or ClaimSettings()
    names = list(CHECKS) if only is None else list(only)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown} (allowed: {', '.join(CHECKS)})")
    return [claim for name in names for claim in CHECKS[name](settings)]
