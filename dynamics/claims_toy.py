"""Claims of arXiv 2411.16085v4, Section 3.1 and Figure 1 (the 2-D toy L = 4 w1^2 + w2^2
from w_0 = (1, 1)): GDM's loss fluctuates, C-GDM's decreases monotonically, C-GDM
decreases GDM's Hamiltonian monotonically and faster, and C-GDM beats GDM at the six
(eps, beta) pairs of Figure 1 (right).

GDM is the paper's heavy ball s_t = beta s_(t-1) + grad L(w_t), w_t = w_(t-1) - eps s_t;
C-GDM masks it with Algorithm 1 (phi = 1[s g > 0], alpha = 1/mean(phi)).  GDM's
Hamiltonian is H = L + (eps/2)|s|^2 (dynamics.optimizers), the one its flow
w' = -eps s, s' = g - (1 - beta) s decreases.  Every statement is measured on the
discrete iterates (dynamics.rollout) and on the flow (dynamics.ode, RK4), at several
eps with the same total time eps * T, counting a rise only above RISE_REL * L(w_0).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from dynamics.claims_base import (PAPER, PAPER_KIND, RISE_REL, Claim, ClaimSettings, flows, fmt, hyper,
                                  judge, rises, rollouts)
from dynamics.config import Setup

GDM, CGDM = Setup("gdm"), Setup("gdm", cautious=True)


def _steps(s: ClaimSettings, lr: float) -> int:
    return int(round(s.total_time / lr))


def _literal(s: ClaimSettings) -> tuple[tuple[float, float], ...]:
    """The six pairs read as the paper prints them, "(beta, eps) in {(0.01, 0.5), ...}"."""
    return tuple((b, a) for a, b in s.ablation)


@functools.lru_cache(maxsize=4)
def toy_runs(s: ClaimSettings) -> dict[str, Any]:
    """The discrete runs (rise study, ablation pairs in both readings) and the flows of
    GDM and C-GDM on the paper's toy, one compiled program per setup."""
    n = max(_steps(s, min(s.rise_lrs)), s.ablation_steps)
    pairs = [(lr, s.beta) for lr in s.rise_lrs] + list(s.ablation) + list(_literal(s))
    hps = [hyper(lr=lr, beta=b) for lr, b in pairs]
    disc = {name: rollouts(setup, s.toy, hps, n, start=s.start, toy_params=s.params)
            for name, setup in (("gdm", GDM), ("cgdm", CGDM))}
    flow_hps = [hyper(lr=lr, beta=s.beta) for lr in s.rise_lrs]
    flow = {name: flows(setup, s.toy, flow_hps, _steps(s, min(s.rise_lrs)), s, start=s.start, toy_params=s.params)
            for name, setup in (("gdm", GDM), ("cgdm", CGDM))}
    index = {pair: i for i, pair in enumerate(pairs)}
    return dict(disc=disc, flow=flow, index=index, steps=n)


REFINE = 4    # sub-step factor of the re-run that tells solver chatter from a rise of a cautious flow


@functools.lru_cache(maxsize=4)
def fine_flows(s: ClaimSettings, name: str) -> dict[str, np.ndarray]:
    """The flows of toy_runs for ``name`` again with REFINE x the RK4 sub-steps.  The
    cautious flow's right-hand side jumps where the mask switches; a fixed-step solver
    chatters across that surface by ~ eps/sub-steps, so a rise between grid points that
    shrinks in this re-run is the solver's, not the flow's."""
    setup = {"gdm": GDM, "cgdm": CGDM}[name]
    fine = dataclasses.replace(s, substeps=REFINE * s.substeps)
    return flows(setup, s.toy, [hyper(lr=lr, beta=s.beta) for lr in s.rise_lrs], _steps(s, min(s.rise_lrs)), fine,
                 start=s.start, toy_params=s.params)


def flow_ok(row: dict[str, Any]) -> bool:
    """No rise on the flow, or only rises that at least halve with REFINE x the sub-steps."""
    return row["flow_rises"] == 0 or ("fine_flow_largest_rise" in row
                                      and row["fine_flow_largest_rise"] <= 0.5 * row["flow_largest_rise"])


def _series(runs, kind: str, name: str, key: str, i: int, lr: float, s: ClaimSettings) -> np.ndarray:
    """Row i of a run's ``key`` up to T = total_time / lr (flows: row = position in rise_lrs)."""
    return runs[kind][name][key][i][: _steps(s, lr) + 1]


def _rise_table(s: ClaimSettings, name: str, key: str) -> dict[str, Any]:
    """Rises of ``key`` (loss or hamiltonian) of run ``name`` at each eps: discrete and flow."""
    r = toy_runs(s)
    table = {}
    for j, lr in enumerate(s.rise_lrs):
        d = _series(r, "disc", name, key, r["index"][(lr, s.beta)], lr, s)
        f = _series(r, "flow", name, key, j, lr, s)
        dr, fr = rises(d), rises(f)
        rel = dr["largest"] / max(float(d[dr["first_step"] - 1]), 1e-300) if dr["count"] else 0.0
        row = dict(steps=_steps(s, lr), discrete_rises=dr["count"], discrete_largest_rise=dr["largest"],
                   discrete_first_rise_step=dr["first_step"], discrete_first_rise_relative=rel,
                   flow_rises=fr["count"], flow_largest_rise=fr["largest"], rise_threshold=dr["threshold"])
        if fr["count"] and name == "cgdm":      # a jumping right-hand side: re-run finer (GDM's flow is smooth)
            ff = rises(fine_flows(s, name)[key][j][: _steps(s, lr) + 1])
            row.update(fine_substeps=REFINE * s.substeps, fine_flow_rises=ff["count"],
                       fine_flow_largest_rise=ff["largest"])
        table[f"eps={lr:g}"] = row
    return table


def _monotone_verdict(table: dict[str, Any], s: ClaimSettings, extra_flow: str = ""):
    """HOLDS if no eps shows a rise, discrete or flow; CONDITIONAL when the flow never
    rises (and say from which eps the discrete steps stop rising, if they do)."""
    disc = {k: v["discrete_rises"] for k, v in table.items()}
    flows_ok = all(flow_ok(v) for v in table.values())
    if all(n == 0 for n in disc.values()) and flows_ok:
        return judge(True)
    if not flows_ok:
        return judge(False)
    clean = [lr for lr in s.rise_lrs if all(table[f"eps={x:g}"]["discrete_rises"] == 0
                                            for x in s.rise_lrs if x <= lr)]
    failing = ", ".join(f"{table[f'eps={lr:g}']['discrete_rises']} at eps = {lr:g} (largest "
                        f"{fmt(table[f'eps={lr:g}']['discrete_largest_rise'])})"
                        for lr in s.rise_lrs if disc[f"eps={lr:g}"])
    chatter = sum(v["flow_rises"] > 0 for v in table.values())
    cond = f"for the flow (continuous time{extra_flow}: no rise at any eps"
    cond += (f" beyond the solver's chatter, at {chatter} eps, which shrinks with {REFINE}x the sub-steps)" if chatter
             else ")")
    cond += (f" and for discrete steps at eps <= {max(clean):g}" if clean else "")
    return judge(False, cond + f"; not for discrete steps: rises {failing}")


def gdm_fluctuates(s: ClaimSettings) -> Claim:
    table = _rise_table(s, "gdm", "loss")
    first = table[f"eps={s.lr:g}"]
    holds = first["discrete_rises"] > 0 and all(v["flow_rises"] > 0 for v in table.values())
    return Claim(
        "fig1-gdm-loss-fluctuates", PAPER_KIND, f"{PAPER}, Section 3.1 (Figure 1, left) and Section 1",
        "\"From the left of Figure 1, one can see that GDM, due to the momentum, has fluctuating L(wt)\" (Section "
        "3.1); \"typical momentum-based optimizers do not always guarantee a monotonic decrease in loss even with "
        "infinitesimal step sizes\" (Section 1)",
        "GDM's loss L(w_t) rises at some steps, and its flow (infinitesimal steps) rises too.",
        f"L = 4 w1^2 + w2^2 from (1, 1), beta {s.beta:g}: rises of L above {RISE_REL:g} L(w_0) on the GDM iterates at "
        f"eps = {s.lr:g} and on the GDM flow (RK4, {s.substeps} sub-steps per step) at eps in "
        f"{', '.join(f'{x:g}' for x in s.rise_lrs)} over eps T = {s.total_time:g}; holds if both rise.",
        dict(by_eps=table), *judge(holds))


def _monotone_parts(s: ClaimSettings, run: str, quantity: str, rate_key: str, rate_label: str):
    """(rise table of ``quantity`` along ``run``, the largest ``rate_key`` on its flows,
    verdict, condition) of a "never rises" statement."""
    table = _rise_table(s, run, quantity)
    r = toy_runs(s)
    top = max(float(np.max(_series(r, "flow", run, rate_key, j, lr, s))) for j, lr in enumerate(s.rise_lrs))
    return (table, top, *_monotone_verdict(table, s, f", max {rate_label} = {fmt(top)}"))


def cgdm_monotone(s: ClaimSettings) -> Claim:
    table, max_dl, verdict, cond = _monotone_parts(s, "cgdm", "loss", "dL_dt", "dL/dt")
    return Claim(
        "fig1-cgdm-loss-monotone", PAPER_KIND, f"{PAPER}, Section 3.1 (Figure 1, left) and Section 1",
        "\"C-GDM ensures that L(wt) monotonically decreases\" (Section 3.1); \"This ensures decrease of the loss, "
        "i.e., L(wt+1) ≤ L(wt), when the step size is sufficiently small.\" (Section 1)",
        "C-GDM's loss never rises: L(w_(t+1)) <= L(w_t) at every step.",
        f"L = 4 w1^2 + w2^2 from (1, 1), beta {s.beta:g}: rises of L above {RISE_REL:g} L(w_0) on the C-GDM iterates "
        f"and on its flow (RK4, {s.substeps} sub-steps per step) at eps in {', '.join(f'{x:g}' for x in s.rise_lrs)} "
        f"with eps T = {s.total_time:g}; holds if none anywhere; only under a condition if the flow never rises (a rise between grid points "
        f"that at least halves with {REFINE}x the RK4 sub-steps is the solver's chatter, not the flow's).",
        dict(by_eps=table, flow_max_dL_dt=max_dl), verdict, cond,
        "The discrete rises come from overshooting along a kept coordinate (Taylor's remainder); at fixed beta "
        "they need not shrink monotonically with eps (see by_eps).")


def _hamiltonian_test(s: ClaimSettings, who: str) -> str:
    """The test text of the two "GDM's Hamiltonian never rises" claims, along ``who``."""
    return (f"L = 4 w1^2 + w2^2 from (1, 1), beta {s.beta:g}: rises of H above {RISE_REL:g} H(0) along the {who} "
            f"iterates and its flow at eps in {', '.join(f'{x:g}' for x in s.rise_lrs)} (eps T = {s.total_time:g}); "
            "holds if none; only under a condition if the flow never rises (solver chatter told apart as in "
            "fig1-cgdm-loss-monotone).")


def gdm_hamiltonian(s: ClaimSettings) -> Claim:
    table, max_dh, verdict, cond = _monotone_parts(s, "gdm", "hamiltonian", "dH_dt", "dH/dt")
    return Claim(
        "sec2.1-gdm-hamiltonian-descent", PAPER_KIND, f"{PAPER}, Section 2.1, Eq. (3)",
        "\"When the descending components Φt and Ψt are added, the system ensures that H(w,s) becomes monotonically "
        "non-decreasing: ddtH(wt,st) = −∆H(vwt,vst) ≤ 0\"; \"There can be cases where L(w) increases temporarily in "
        "exchange for a large decrease in the kinetic energy K(s), while still ensuring a decrease in the total "
        "energy H = L + K.\"",
        "Along GDM, its Hamiltonian H = L + (eps/2)|s|^2 never rises (dH/dt = -eps (1 - beta)|s|^2 <= 0), while L "
        "may (\"non-decreasing\" in the quote is the paper's slip for non-increasing: its formula says <= 0).",
        _hamiltonian_test(s, "GDM"),
        dict(by_eps=table, flow_max_dH_dt=max_dh), verdict, cond)


def cgdm_hamiltonian(s: ClaimSettings) -> Claim:
    table, max_dh, verdict, cond = _monotone_parts(s, "cgdm", "hamiltonian", "dH_dt", "dH/dt")
    return Claim(
        "fig1-cgdm-hamiltonian-monotone", PAPER_KIND, f"{PAPER}, Figure 1 caption (plots c, d)",
        "\"Plots (c) and (d) show that C-GDM consistently and monotonically decreases both the objective and the "
        "Hamiltonian associated with the original GDM\"",
        "Along C-GDM, GDM's Hamiltonian H = L + (eps/2)|s|^2 never rises (the objective: fig1-cgdm-loss-monotone).",
        _hamiltonian_test(s, "C-GDM"),
        dict(by_eps=table, flow_max_dH_dt=max_dh), verdict, cond)


def _excess(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """How far sequence a runs above b: fraction of steps with a <= b (+ threshold), max a - b."""
    thr = RISE_REL * abs(float(b[0]))
    d = a - b
    return dict(fraction_not_above=float(np.mean(d <= thr)), max_excess=float(d.max()), first_step_above=int(
        np.argmax(d > thr)) if np.any(d > thr) else -1, threshold=thr)


def cgdm_hamiltonian_faster(s: ClaimSettings) -> Claim:
    r = toy_runs(s)
    i = r["index"][(s.lr, s.beta)]
    j = s.rise_lrs.index(s.lr)
    disc = _excess(_series(r, "disc", "cgdm", "hamiltonian", i, s.lr, s),
                   _series(r, "disc", "gdm", "hamiltonian", i, s.lr, s))
    flow = _excess(_series(r, "flow", "cgdm", "hamiltonian", j, s.lr, s),
                   _series(r, "flow", "gdm", "hamiltonian", j, s.lr, s))
    ok = {k: m["first_step_above"] == -1 for k, m in (("discrete", disc), ("flow", flow))}
    cond = ("for the flow; not for discrete steps (C-GDM's H first exceeds GDM's at step "
            f"{disc['first_step_above']}, by up to {fmt(disc['max_excess'])})") if ok["flow"] else None
    return Claim(
        "fig1-cgdm-hamiltonian-faster", PAPER_KIND, f"{PAPER}, Section 3.1 (Figure 1, left)",
        "\"In addition, C-GDM achieves a faster drop in terms of GDM’s Hamiltonian.\"",
        "From the same start, GDM's Hamiltonian along C-GDM stays at or below its value along GDM: "
        "H(C-GDM, t) <= H(GDM, t) for every t.",
        f"L = 4 w1^2 + w2^2 from (1, 1), eps {s.lr:g}, beta {s.beta:g}, T = {_steps(s, s.lr)}: H along both runs, "
        f"discrete and flow; holds if H(C-GDM) - H(GDM) <= {RISE_REL:g} H(0) at every t in both.",
        dict(discrete=disc, flow=flow), *judge(ok["discrete"] and ok["flow"], cond))


def _pair_table(s: ClaimSettings, pairs) -> dict[str, Any]:
    r = toy_runs(s)
    T = s.ablation_steps
    out = {}
    for lr, beta in pairs:
        i = r["index"][(lr, beta)]
        lg, lc = r["disc"]["gdm"]["loss"][i][: T + 1], r["disc"]["cgdm"]["loss"][i][: T + 1]
        with np.errstate(invalid="ignore"):
            not_worse = float(np.mean(lc <= lg))
        out[f"eps={lr:g}, beta={beta:g}"] = dict(
            gdm_final_loss=float(lg[-1]), cgdm_final_loss=float(lc[-1]),
            gdm_diverged=bool(not np.isfinite(lg[-1]) or lg[-1] > 1e6 * lg[0]),
            cgdm_diverged=bool(not np.isfinite(lc[-1]) or lc[-1] > 1e6 * lc[0]),
            fraction_of_steps_cgdm_not_worse=not_worse,
            masked_steps=int(np.sum(r["disc"]["cgdm"]["masked_fraction"][i][1: T + 1] > 0)))
    return out


def _beats(row) -> bool:
    if row["cgdm_diverged"]:
        return False
    return row["gdm_diverged"] or row["cgdm_final_loss"] < row["gdm_final_loss"]


ABLATION_QUOTE = ("\"We ablate over different combinations of (β,ϵ) ∈ {(0.01,0.5), (0.01,0.9), (0.01,0.99), "
                  "(0.01,0.999), (0.1,0.99), (0.001,0.99)}. Across all settings, C-GDM outperforms GDM, confirming the "
                  "importance of cautious masking. Given the same (ϵ,β), cautious is always not worse than momentum\"")
ABLATION_READING = ("The paper prints the pairs as (β,ϵ), but β = 0.01 with ϵ up to 0.999 puts GDM past its "
                    "stability bound on this toy (eps lambda_max = 8 eps > 2(1 + beta)); the pairs are read as "
                    "(eps, beta), and the literal reading is measured beside (literal_reading).")


def ablation(s: ClaimSettings) -> list[Claim]:
    table = _pair_table(s, s.ablation)
    literal = _pair_table(s, _literal(s))
    not_beaten = [k for k, row in table.items() if not _beats(row)]
    worse = [k for k, row in table.items() if row["cgdm_diverged"] or (
        not row["gdm_diverged"] and row["cgdm_final_loss"] > row["gdm_final_loss"])]
    where = f"L = 4 w1^2 + w2^2 from (1, 1), {s.ablation_steps} steps at each pair: the final losses; "
    return [Claim(
        "fig1-ablation-outperforms", PAPER_KIND, f"{PAPER}, Section 3.1 (Figure 1, right)", ABLATION_QUOTE,
        "At each of the six pairs (eps, beta), C-GDM ends with a strictly lower loss than GDM with the same pair.",
        where + "holds if C-GDM's is lower at every pair (a diverged GDM counts as beaten, a diverged C-GDM as not). "
        + ABLATION_READING,
        dict(pairs=table, not_outperformed=not_beaten, literal_reading=literal), *judge(not not_beaten),
        "Where the mask never acts (masked_steps = 0), C-GDM is GDM step for step and cannot outperform it."),
        Claim(
        "fig1-ablation-not-worse", PAPER_KIND, f"{PAPER}, Section 3.1 (Figure 1, right)", ABLATION_QUOTE,
        "At each of the six pairs (eps, beta), C-GDM ends with a loss no higher than GDM's with the same pair.",
        where + "holds if C-GDM's final loss <= GDM's at every pair (a diverged C-GDM counts as worse).  "
        "fraction_of_steps_cgdm_not_worse reads the whole curves (not the criterion). " + ABLATION_READING,
        dict(pairs=table, worse=worse), *judge(not worse))]
