"""Continuous-time claims of arXiv 2411.16085v4: Theorem 2.1 (the cautious dynamics
decrease L monotonically and, when x(1 - phi(x)) <= 0, decrease H and L faster than the
original system), Corollary 2.2 (convergence to a stationary point), Example A.1 /
Appendix A.3.1 (Adam's Hamiltonian decreases when a >= b/4, also for cautious Adam),
and the project's observations beside them: the ``count`` compensation (Eq. (1)'s
default alpha = dim/(nnz + 1)) is below 1 where nothing is masked, and the cautious
flow's loss need not stay below the base flow's from the same start.

Flows (dynamics.flows, time unit = one step): GDM w' = -eps s, s' = g - (1 - beta) s,
H = L + (eps/2)|s|^2; the cautious flow replaces s by alpha phi(s g) s.  In the paper's
notation x = grad L o grad K(s) = eps g o s, phi(x) = alpha 1[x > 0].
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.claims_base import (OBSERVATION, PAPER, PAPER_KIND, RISE_REL, Claim, ClaimSettings, flows, hyper,
                                  judge, rises)
from dynamics.claims_toy import CGDM, GDM, toy_runs
from dynamics.config import Setup
from dynamics.flows import FlowState, diagnostics
from toys import get_toy

COUNT = Setup("gdm", cautious=True, compensation="count")
TOL = 1e-12          # rate comparisons: cautious - base <= TOL * max |base rate|


def _rates_at(setup: Setup, toy_name: str, params, lr: float, beta: float, arrays) -> dict[str, np.ndarray]:
    """dH/dt and dL/dt of ``setup``'s flow evaluated at the states (w, m, v) of ``arrays``."""
    toy = get_toy(toy_name)
    hp = hyper(lr=lr, beta=beta)
    p = {k: jnp.asarray(v) for k, v in toy.params(params).items()}
    diag = jax.jit(jax.vmap(lambda y: diagnostics(setup, toy.value)(y, (hp, p))))
    out = diag(FlowState(jnp.asarray(arrays["w"]), jnp.asarray(arrays["m"]), jnp.asarray(arrays["v"])))
    return {"dH_dt": np.asarray(out["dH_dt"]), "dL_dt": np.asarray(out["dL_dt"])}


def _row(batch, i: int, T: int) -> dict[str, np.ndarray]:
    return {k: v[i][: T + 1] for k, v in batch.items() if k != "time"}


@functools.lru_cache(maxsize=4)
def count_flow(s: ClaimSettings):
    T = int(round(s.total_time / s.lr))
    return _row(flows(COUNT, s.toy, [hyper(lr=s.lr, beta=s.beta)], T, s, start=s.start, toy_params=s.params), 0, T)


@functools.lru_cache(maxsize=4)
def rosenbrock_flows(s: ClaimSettings):
    hp = [hyper(lr=s.rosenbrock_lr, beta=s.beta)]
    return {name: _row(flows(setup, "rosenbrock", hp, s.rosenbrock_steps, s), 0, s.rosenbrock_steps)
            for name, setup in (("gdm", GDM), ("cgdm", CGDM))}


def paper_flows(s: ClaimSettings, name: str, lr: float | None = None) -> dict[str, np.ndarray]:
    """GDM or C-GDM flow on the paper's toy at eps = lr (default s.lr), t = 0..total_time/eps."""
    lr = s.lr if lr is None else lr
    j = s.rise_lrs.index(lr)
    return _row(toy_runs(s)["flow"][name], j, int(round(s.total_time / lr)))


def _comparison(s: ClaimSettings, caut: dict, toy_name: str, params, lr: float) -> dict[str, float]:
    """Cautious rates minus base rates at the cautious flow's states."""
    base = _rates_at(GDM, toy_name, params, lr, s.beta, caut)
    scale = float(np.max(np.abs(base["dH_dt"]))) or 1.0
    dh, dl = caut["dH_dt"] - base["dH_dt"], caut["dL_dt"] - base["dL_dt"]
    return dict(max_dH_dt_minus_base=float(dh.max()), max_dL_dt_minus_base=float(dl.max()),
                min_dH_dt_minus_base=float(dh.min()), cautious_max_dH_dt=float(np.max(caut["dH_dt"])),
                base_rate_scale=scale, tolerance=TOL * scale)


REFINE = 4        # sub-step factor of the re-run that tells solver chatter from a rise of the flow


@functools.lru_cache(maxsize=4)
def rosenbrock_fine(s: ClaimSettings):
    """The Rosenbrock C-GDM flow again with REFINE x the sub-steps."""
    fine = dataclasses.replace(s, substeps=REFINE * s.substeps)
    return _row(flows(CGDM, "rosenbrock", [hyper(lr=s.rosenbrock_lr, beta=s.beta)], s.rosenbrock_steps, fine), 0,
                s.rosenbrock_steps)


def loss_monotone(s: ClaimSettings) -> Claim:
    runs = {f"{s.toy} eps={lr:g} (mean)": (paper_flows(s, "cgdm", lr), None) for lr in s.rise_lrs}
    runs[f"{s.toy} eps={s.lr:g} (count)"] = (count_flow(s), None)
    runs[f"rosenbrock eps={s.rosenbrock_lr:g} (mean)"] = (rosenbrock_flows(s)["cgdm"], rosenbrock_fine)
    measured = {}
    for key, (run, fine) in runs.items():
        r = rises(run["loss"])
        m = dict(max_dL_dt=float(np.max(run["dL_dt"])), grid_rises=r["count"], largest_rise=r["largest"],
                 rise_threshold=r["threshold"])
        if r["count"] and fine is not None:
            f = rises(fine(s)["loss"])
            m.update(fine_substeps=REFINE * s.substeps, fine_grid_rises=f["count"], fine_largest_rise=f["largest"],
                     fine_max_dL_dt=float(np.max(fine(s)["dL_dt"])))
        measured[key] = m

    def ok(m):
        if m["max_dL_dt"] > 0:
            return False
        if m["grid_rises"] == 0:
            return True
        return "fine_largest_rise" in m and m["fine_max_dL_dt"] <= 0 and m["fine_largest_rise"] <= 0.5 * m[
            "largest_rise"]

    return Claim(
        "thm2.1-loss-monotone", PAPER_KIND, f"{PAPER}, Theorem 2.1 (Section 2.2; this project's docs: Theorem 2.3)",
        "\"If x⊤ϕ(x) ≥ 0 for any x ∈ Rd, then L decreases monotonically, ddtL(wt) ≤ 0.\"",
        "Along the cautious flow (phi = alpha 1[x > 0], alpha > 0, so x.phi(x) >= 0), dL/dt <= 0 at every time.",
        f"C-GDM flows (RK4, {s.substeps} sub-steps per step): the paper's toy from (1, 1) at eps in "
        f"{', '.join(f'{x:g}' for x in s.rise_lrs)} (mean compensation) and eps {s.lr:g} (count), Rosenbrock from "
        f"(-1.2, 1) at eps {s.rosenbrock_lr:g}; beta {s.beta:g}.  dL/dt is the theorem's pointwise quantity, evaluated "
        f"exactly at every grid state; L rising between grid points (by more than {RISE_REL:g} L(w_0)) is either the "
        f"flow's or the fixed-step solver's chatter across the mask's switching surface, told apart by a re-run with "
        f"{REFINE}x the sub-steps.  holds if max dL/dt <= 0 on every grid and any rise at least halves in the re-run.",
        measured, *judge(all(ok(m) for m in measured.values())))


def faster_mean(s: ClaimSettings) -> Claim:
    m = {f"{s.toy} eps={lr:g}": _comparison(s, paper_flows(s, "cgdm", lr), s.toy, s.params, lr) for lr in s.rise_lrs}
    m[f"rosenbrock eps={s.rosenbrock_lr:g}"] = _comparison(s, rosenbrock_flows(s)["cgdm"], "rosenbrock", None,
                                                            s.rosenbrock_lr)
    holds = all(v["max_dH_dt_minus_base"] <= v["tolerance"] and v["max_dL_dt_minus_base"] <= v["tolerance"]
                and v["cautious_max_dH_dt"] <= v["tolerance"] for v in m.values())
    return Claim(
        "thm2.1-faster-mean", PAPER_KIND, f"{PAPER}, Theorem 2.1 and Eq. (6) (Section 2.2)",
        "\"If x⊤(1−ϕ(x)) ≤ 0 for any x ∈ Rd, then both H and L decreases faster than the original system: "
        "ddtH(wt,st) ≤ −∆H(wt,st) ≤ 0, ddtL(wt) ≤ −∆L(wt,st).\"; \"the default choice ϕ(vx) = α(vx)I(vx ≥ 0) with "
        "α(vx) ≥ 1 satisfies the conditions above.\"",
        "With alpha >= 1 (mean compensation, alpha = 1/mean(phi)), at every state of the cautious flow dH/dt <= 0, "
        "dH/dt <= the original system's dH/dt and dL/dt <= the original system's dL/dt at the same state.",
        f"C-GDM flows (mean compensation) on the paper's toy at eps in {', '.join(f'{x:g}' for x in s.rise_lrs)} and "
        f"on Rosenbrock at eps {s.rosenbrock_lr:g}: both flows' rates (dynamics.flows.diagnostics) at every grid "
        f"state of the cautious flow; holds if cautious - base <= {TOL:g} max|base dH/dt| for dH/dt and dL/dt, and "
        "dH/dt <= that tolerance.",
        m, *judge(holds))


def count_observation(s: ClaimSettings) -> Claim:
    c = _comparison(s, count_flow(s), s.toy, s.params, s.lr)
    base = paper_flows(s, "gdm")
    c["max_H_count_minus_base_H"] = float(np.max(count_flow(s)["hamiltonian"] - base["hamiltonian"]))
    c["alpha_when_nothing_masked"] = 2 / 3
    holds = c["max_dH_dt_minus_base"] > c["tolerance"]
    return Claim(
        "thm2.1-count-compensation", OBSERVATION,
        f"project observation (on {PAPER}, Eq. (1) and Theorem 2.1)", None,
        "Eq. (1)'s default alpha = dim/(nnz + xi) with xi = 1 (this project's ``count`` compensation, also "
        "Algorithm 3, C-Lion) is d/(d + 1) < 1 where nothing is masked (2/3 in 2-D), outside Theorem 2.1's alpha >= 1: "
        "there x(1 - phi(x)) > 0, and the cautious flow's H decreases slower than the original system's.",
        f"C-GDM flow with count compensation on the paper's toy, eps {s.lr:g}, beta {s.beta:g}: dH/dt minus the base "
        "flow's dH/dt at its grid states; holds (the observation) if that difference exceeds "
        f"{TOL:g} max|base dH/dt| somewhere.",
        c, *judge(holds),
        "The paper's Algorithm 1 (PyTorch: m/(m.mean()+eps)) is the mean compensation, alpha >= 1 up to its eps.")


def stationary(s: ClaimSettings) -> Claim:
    r = toy_runs(s)["flow"]
    j = s.rise_lrs.index(s.lr)
    toy = get_toy(s.toy)
    p = {k: jnp.asarray(v) for k, v in toy.params(s.params).items()}
    grad = jax.jit(jax.vmap(lambda w: jax.grad(toy.value)(w, p)))
    m = {}
    for name in ("gdm", "cgdm"):
        w, mom = r[name]["w"][j], r[name]["m"][j]
        g = np.linalg.norm(np.asarray(grad(jnp.asarray(w[[0, -1]]))), axis=1)
        m[name] = dict(T=len(w) - 1, grad_norm_start=float(g[0]), grad_norm_end=float(g[1]),
                       momentum_norm_end=float(np.linalg.norm(mom[-1])),
                       loss_end=float(r[name]["loss"][j][-1]))
    holds = all(v["grad_norm_end"] <= 1e-6 * v["grad_norm_start"] and v["momentum_norm_end"] <= 1e-6 * v[
        "grad_norm_start"] for v in m.values())
    return Claim(
        "cor2.2-stationary", PAPER_KIND, f"{PAPER}, Corollary 2.2 (Section 2.2)",
        "\"the bounded solutions of the original system (2) converge to a stationary point of H(w,s). Similarly, "
        "the bounded solutions of (5) also converge to a stationary point of H(w,s).\"",
        "The GDM flow and the C-GDM flow both approach grad L = 0 with vanishing momentum.",
        f"Both flows on the paper's toy at eps {s.lr:g}, beta {s.beta:g}, over the longest horizon of the rise study "
        f"(T = {int(round(s.total_time / min(s.rise_lrs)))} steps): |grad L| and |s| at T; holds if both are below "
        "1e-6 |grad L(w_0)| for both flows (a finite-horizon check of a limit statement).",
        m, *judge(holds))


def flow_order(s: ClaimSettings) -> Claim:
    m = {}
    runs = {f"{s.toy} eps={s.lr:g}": (paper_flows(s, "cgdm"), paper_flows(s, "gdm")),
            f"rosenbrock eps={s.rosenbrock_lr:g}": (rosenbrock_flows(s)["cgdm"], rosenbrock_flows(s)["gdm"])}
    for key, (c, b) in runs.items():
        thr = RISE_REL * float(b["loss"][0])
        d = c["loss"] - b["loss"]
        above = np.nonzero(d > thr)[0]
        m[key] = dict(fraction_of_times_cautious_not_above=float(np.mean(d <= thr)), max_excess=float(d.max()),
                      first_time_above=int(above[0]) if len(above) else -1,
                      cautious_final_loss=float(c["loss"][-1]), base_final_loss=float(b["loss"][-1]), threshold=thr)
    holds = all(v["first_time_above"] == -1 for v in m.values())
    return Claim(
        "obs-cautious-flow-loss-below-base", OBSERVATION,
        f"project observation (cf. {PAPER}, Section 2.3, which makes no multi-step claim)",
        "(the paper, Section 2.3: \"after the first step, the two optimizers explore different regions of the loss "
        "landscape, making it easy to construct counterexamples where one method outperforms the other\")",
        "From the same start, the C-GDM flow's loss never exceeds the GDM flow's: L_C(t) <= L(t) for all t.",
        f"Both flows (RK4, {s.substeps} sub-steps) on the paper's toy at eps {s.lr:g} and on Rosenbrock at eps "
        f"{s.rosenbrock_lr:g}, beta {s.beta:g}; holds if L_C - L <= {RISE_REL:g} L(w_0) at every grid time.",
        m, *judge(holds))


@functools.lru_cache(maxsize=4)
def adam_flows(s: ClaimSettings):
    hps = [hyper(lr=s.adam_lr, beta=b1, beta2=b2) for b1, b2 in s.adam_pairs]
    return {name: flows(setup, s.toy, hps, s.adam_steps, s, start=s.start, toy_params=s.params)
            for name, setup in (("adam", Setup("adam")),
                                ("c-adam", Setup("adam", cautious=True, compensation="none")))}


def _adam_table(s: ClaimSettings, name: str) -> dict:
    out = {}
    for i, (b1, b2) in enumerate(s.adam_pairs):
        a, b = 1 - b1, 1 - b2
        dh = adam_flows(s)[name]["dH_dt"][i]
        r = rises(adam_flows(s)[name]["hamiltonian"][i])
        out[f"b1={b1:g}, b2={b2:g}"] = dict(a=a, b=b, condition_a_ge_b_over_4=bool(a >= b / 4),
                                           max_dH_dt=float(np.nanmax(dh)), H_rises=r["count"],
                                           largest_H_rise=r["largest"], rise_threshold=r["threshold"])
    return out


def adam_hamiltonian(s: ClaimSettings) -> list[Claim]:
    base, caut = _adam_table(s, "adam"), _adam_table(s, "c-adam")
    meets = [k for k, v in base.items() if v["condition_a_ge_b_over_4"]]
    violates = [k for k, v in base.items() if not v["condition_a_ge_b_over_4"]]
    paper_ok = bool(meets) and all(base[k]["max_dH_dt"] <= 0 and caut[k]["max_dH_dt"] <= 0 for k in meets)
    where = (f"the Adam flow (m' = a(g - m), v' = b(g^2 - v), w' = -eps m/(sqrt(v) + e), init m0 = g0, v0 = g0^2) "
             f"on the paper's toy from (1, 1), eps {s.adam_lr:g}, t = 0..{s.adam_steps}, RK4 {s.substeps} sub-steps")
    out = [Claim(
        "exA.1-adam-hamiltonian", PAPER_KIND, f"{PAPER}, Example A.1 and Appendix A.3.1 (this project's docs: "
                                              "Example 2.1)",
        "\"with H(vw,vm,vv) = L(vw) + 1/(2a)⟨vm/(√vv + e), vm⟩. We can show that ddtH(vwt,vmt,vvt) ≤ 0 when a ≥ b/4.\" "
        "(Example A.1); for Cautious Adam \"H(wt,mt,vt) ... is also monotonically decreasing\" (A.3.1)",
        "With a = 1 - b1 >= b/4 = (1 - b2)/4, dH/dt <= 0 along the Adam flow and along the cautious Adam flow "
        "(mask 1[g m > 0], no compensation, as in A.3.1).",
        f"{where}, at (b1, b2) meeting the condition ({', '.join(meets) or 'none'}): max dH/dt over the grid for "
        "both flows; holds if <= 0.",
        dict(adam=base, cautious_adam=caut), *judge(paper_ok))]
    if violates:
        obs_ok = all(base[k]["max_dH_dt"] > 0 for k in violates)
        out.append(Claim(
            "exA.1-adam-condition-needed", OBSERVATION,
            f"project observation (on {PAPER}, Appendix A.3.1: \"For stability, we require dH/dt ≤ 0, which leads "
            "to β1 ≥ β2/4\", with β1, β2 the rates a, b)", None,
            "The condition a >= b/4 is not idle: where a < b/4, Adam's H rises somewhere along its flow.",
            f"{where}, at (b1, b2) violating it ({', '.join(violates)}): holds if max dH/dt > 0 there.",
            dict(adam={k: base[k] for k in violates}, cautious_adam={k: caut[k] for k in violates}), *judge(obs_ok),
            "The paper's statement is one-sided (a >= b/4 suffices); this shows the other side on this toy."))
    return out


def checks_theory(s: ClaimSettings) -> list[Claim]:
    return [loss_monotone(s), faster_mean(s), count_observation(s), stationary(s)]


def checks_flow_order(s: ClaimSettings) -> list[Claim]:
    return [flow_order(s)]

