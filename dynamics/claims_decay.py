"""Claims of arXiv 2510.12402v2 (Cautious Weight Decay, CWD) on the valley toys
(valley-line (w1 + w2 - 2)^2, valley-hyperbola (w1 w2 - 1)^2: a curve of minimisers)
with GDM, Adam and Lion, in the study settings of dynamics.decay_study:

- Section 2.2: SGD with decoupled decay "is exactly SGD on an l2-regularized objective",
  and Lion with decoupled decay solves min f s.t. |x|_inf <= 1/lambda;
- Section 3: with CWD "every accumulation point x* of the trajectory satisfies
  grad f(x*) = 0" (unbiased);
- Section 3.2: CWD slides within the stationary manifold to its local Pareto front P
  (no nearby stationary point is smaller in magnitude in every coordinate);
- and the project's observation that CWD ends with a smaller norm than no decay.

P on the valley toys: on w1 + w2 = s (s > 0) a point is locally Pareto-optimal iff both
coordinates are >= 0 (moving along the line grows one magnitude and shrinks the other
only there), so P is the segment between (s, 0) and (0, s); on w1 w2 = s every point is
(one magnitude grows as the other shrinks), so P is the whole set.

Discrete steps chatter around the set at a distance that shrinks with eps (the flow's
sliding mode), so each statement about the limit is also measured at eps / refine with
refine x the steps (the same eps * T).
"""
from __future__ import annotations

import functools

import numpy as np

from dynamics.claims_base import (OBSERVATION, PAPER_KIND, PAPER_WD, Claim, ClaimSettings, fmt, hyper, judge,
                                  rollouts)
from dynamics.config import Setup
from dynamics.decay_study import set_distance, study_hyper
from toys import get_toy

TAIL = 10            # the last 1/TAIL of the steps is the tail


def pareto_distance(toy_name: str, w: np.ndarray, s_param: float) -> np.ndarray:
    """Distance of points w (..., 2) to the local Pareto front P of the toy's set of
    minimisers (module docstring): the segment of w1 + w2 = s with w >= 0, or the
    hyperbola w1 w2 = s itself (where it equals the distance to the set)."""
    w = np.asarray(w, float)
    if toy_name == "valley-line":
        a = np.clip((w[..., 0] - w[..., 1] + s_param) / 2, 0.0, s_param)     # projection onto the segment
        return np.hypot(w[..., 0] - a, w[..., 1] - (s_param - a))
    if toy_name == "valley-hyperbola":
        return set_distance(get_toy(toy_name), w)
    raise ValueError(f"no Pareto front is written down for toy {toy_name!r}")


def _hp(opt: str, mode: str, refine: int = 1, wd: float | None = None):
    hp = study_hyper(opt)
    hp = hp._replace(lr=hp.lr / refine)
    if mode == "none":
        return hp._replace(wd=0.0 * hp.wd)
    return hp if wd is None else hp._replace(wd=hp.wd * 0 + wd)


@functools.lru_cache(maxsize=4)
def decay_runs(s: ClaimSettings) -> dict:
    """Every run of the decay claims, keyed (toy, optimizer, mode, refine): CWD with each
    optimizer and GDM without decay at eps and eps/refine (one compiled program of
    refine x the steps, the eps run cut at s.decay_steps), and Lion with decoupled
    decay lambda = s.lion_box_wd (key mode ``decoupled-box``)."""
    long = s.decay_steps * s.decay_refine
    out = {}
    for toy in s.decay_toys:
        for opt in s.decay_optimizers:
            for mode in ("none", "cautious"):
                if mode == "none" and opt != "gdm":
                    continue
                hps = [_hp(opt, mode, 1), _hp(opt, mode, s.decay_refine)]
                r = rollouts(Setup(opt, decay=mode), toy, hps, long)
                for k, refine in enumerate((1, s.decay_refine)):
                    n = s.decay_steps * refine
                    out[(toy, opt, mode, refine)] = {key: v[k][: n + 1] for key, v in r.items()}
        if "lion" in s.decay_optimizers:
            r = rollouts(Setup("lion", decay="decoupled"), toy, [_hp("lion", "decoupled", 1, s.lion_box_wd)],
                         s.decay_steps)
            out[(toy, "lion", "decoupled-box", 1)] = {key: v[0] for key, v in r.items()}
    return out


def _end(s: ClaimSettings, toy: str, run: dict) -> dict:
    w = run["w"]
    tail = w[-max(1, (len(w) - 1) // TAIL):]
    dist = set_distance(get_toy(toy), tail)
    grad = np.linalg.norm(run["grad"][-len(tail):], axis=1)
    s_param = get_toy(toy).params()["s"]
    return dict(final_w=[float(x) for x in w[-1]], final_norm=float(np.linalg.norm(w[-1])),
                tail_mean_set_distance=float(dist.mean()), tail_mean_grad_norm=float(grad.mean()),
                final_pareto_distance=float(pareto_distance(toy, w[-1], s_param)),
                final_set_distance=float(set_distance(get_toy(toy), w[-1:])[0]))


def _table(s: ClaimSettings, mode: str, optimizers=None) -> dict:
    runs = decay_runs(s)
    out = {}
    for toy in s.decay_toys:
        for opt in optimizers or s.decay_optimizers:
            for refine in (1, s.decay_refine):
                key = (toy, opt, mode, refine)
                if key in runs:
                    out[f"{toy}, {opt}, eps/{refine}" if refine > 1 else f"{toy}, {opt}, eps"] = _end(s, toy, runs[key])
    return out


def _shrinks(table: dict, s: ClaimSettings, field: str) -> tuple[bool, bool, list[str]]:
    """(all exact, all shrink >= 2x at eps/refine, the runs that do neither)."""
    exact, shrink, bad = True, True, []
    for key, row in table.items():
        if key.endswith(", eps"):
            fine = table[key[: -len("eps")] + f"eps/{s.decay_refine}"]
            exact &= row[field] <= 1e-8
            ok = row[field] <= 1e-8 or fine[field] <= 0.5 * row[field]
            shrink &= ok
            if not ok:
                bad.append(key[: -len(", eps")])
    return exact, shrink, bad


def unbiased(s: ClaimSettings) -> Claim:
    table = _table(s, "cautious")
    exact, shrink, bad = _shrinks(table, s, "tail_mean_grad_norm")
    worst = max(v["tail_mean_grad_norm"] for k, v in table.items() if k.endswith(", eps"))
    cond = (f"in the small-step limit (the flow): at finite eps the iterates chatter around the set with tail mean "
            f"|grad f| up to {fmt(worst)}, at least halved at eps/{s.decay_refine}") if shrink else None
    return Claim(
        "cwd-unbiased", PAPER_KIND, f"{PAPER_WD}, Section 3 (and 3.1)",
        "\"Unbiased optimization, in the sense that every accumulation point x⋆ of the trajectory satisfies "
        "∇f(x⋆) = 0 under the same convergence conditions required of the base optimizer without weight decay.\"",
        "With cautious weight decay, GDM, Adam and Lion end at stationary points of the unmodified loss.",
        f"{', '.join(s.decay_toys)}; {', '.join(s.decay_optimizers)} with CWD in dynamics.decay_study's settings, "
        f"{s.decay_steps} steps, and at eps/{s.decay_refine} with {s.decay_refine}x the steps: the mean |grad f| over "
        f"the last 1/{TAIL} of the steps.  holds if it is <= 1e-8 everywhere; only under a condition if it at least "
        f"halves at eps/{s.decay_refine} in every run (a residual of the step size).",
        dict(cautious=table, not_shrinking=bad), *judge(exact, cond))


def pareto(s: ClaimSettings) -> Claim:
    table = _table(s, "cautious")
    none = _table(s, "none", ("gdm",))
    gap = {k: v["final_pareto_distance"] - v["final_set_distance"] for k, v in table.items()}
    holds = all(g <= 1e-6 for g in gap.values())
    return Claim(
        "cwd-pareto-front", PAPER_KIND, f"{PAPER_WD}, Section 3.2",
        "\"Consequently, the algorithm converges to a subset of the stationary manifold where further simultaneous "
        "reduction of all coordinates of x is no longer possible. Equivalently, it converges to a locally "
        "Pareto-optimal stationary point under a preference for smaller parameter magnitudes.\"",
        "With CWD the run ends at (the step-size neighbourhood of) the local Pareto front P of the set of minimisers.",
        "The CWD runs of cwd-unbiased: the end point's distance to P minus its distance to the set (how far along "
        "the set it is from P); holds if <= 1e-6 in every run.  On valley-line P is the segment w >= 0 of the line; "
        "on valley-hyperbola P is the whole set (every point qualifies there).  GDM without decay is beside it "
        "(no_decay): it stops at a point of the set that is not in P on valley-line.",
        dict(cautious=table, beyond_P=gap, no_decay=none), *judge(holds),
        "On valley-hyperbola every point of the set is in P, so there this test adds nothing to cwd-unbiased; "
        "valley-line is the toy where P is a proper part of the set.")


def decoupled_l2(s: ClaimSettings) -> Claim:
    """GD with decoupled decay against GD on f + (lambda/2)|x|^2, written independently in NumPy."""
    out = {}
    for toy_name in s.decay_toys:
        toy = get_toy(toy_name)
        lr, wd = 0.02, 1.0
        r = rollouts(Setup("gd", decay="decoupled"), toy_name, [hyper(lr=lr, wd=wd)], s.decay_steps)["w"][0]
        p = toy.params()
        x = np.array(toy.start, float)
        ref = [x]
        for _ in range(s.decay_steps):
            x = x - lr * (_valley_grad(toy_name, x, p["s"]) + wd * x)
            ref.append(x)
        ref = np.array(ref)
        out[toy_name] = dict(lr=lr, wd=wd, max_abs_difference=float(np.abs(r - ref).max()),
                             final_w=[float(v) for v in r[-1]],
                             final_set_distance=float(set_distance(toy, r[-1:])[0]))
    holds = all(v["max_abs_difference"] <= 1e-9 for v in out.values())
    return Claim(
        "cwd-decoupled-sgd-is-l2", PAPER_KIND, f"{PAPER_WD}, Section 2.2",
        "\"SGD with decoupled weight decay is exactly SGD on an ℓ2-regularized objective.\"",
        "GD with decoupled decay, x - eta (grad f(x) + lambda x), is GD on f + (lambda/2)|x|^2, so it ends at the "
        "regularised objective's minimiser, off the set of minimisers of f.",
        f"GD (dynamics.rollout, decay decoupled) against GD on f + (lambda/2)|x|^2 in NumPy, {s.decay_steps} steps on "
        f"{', '.join(s.decay_toys)}; holds if the iterates agree to 1e-9.",
        out, *judge(holds))


def _valley_grad(name: str, x: np.ndarray, s_param: float) -> np.ndarray:
    if name == "valley-line":
        return 2 * (x[0] + x[1] - s_param) * np.ones(2)
    if name == "valley-hyperbola":
        r = x[0] * x[1] - s_param
        return 2 * r * np.array([x[1], x[0]])
    raise ValueError(f"no closed-form gradient written for {name!r}")


def lion_box(s: ClaimSettings) -> Claim:
    runs = decay_runs(s)
    out = {}
    ok = True
    for toy in s.decay_toys:
        key = (toy, "lion", "decoupled-box", 1)
        if key not in runs:
            continue
        w = runs[key]["w"]
        tail = w[-max(1, (len(w) - 1) // TAIL):]
        box = 1 / s.lion_box_wd
        corner = np.full(2, box)            # the constrained minimiser on both valleys (s >= box^2, s >= 2 box)
        out[toy] = dict(wd=s.lion_box_wd, box=box, constrained_minimiser=corner.tolist(),
                        tail_max_abs_coordinate=float(np.abs(tail).max()),
                        tail_mean_distance_to_constrained_minimiser=float(np.linalg.norm(tail - corner, axis=1).mean()),
                        final_set_distance=float(set_distance(get_toy(toy), w[-1:])[0]))
        lr = float(study_hyper("lion").lr)
        ok &= out[toy]["tail_max_abs_coordinate"] <= box + 2 * lr and \
            out[toy]["tail_mean_distance_to_constrained_minimiser"] <= 4 * lr
    return Claim(
        "cwd-decoupled-lion-box", PAPER_KIND, f"{PAPER_WD}, Section 2.2",
        "\"In the special cases of Lion and Muon, K∗ is the 0-∞ indicator function of a dual norm ball, corresponding "
        "to the constrained optimization problems min f(x) s.t. ∥x∥∞ ≤ 1/λ\"",
        "Lion with decoupled decay lambda ends at a minimiser of f over the box |x|_inf <= 1/lambda (here off the set "
        "of minimisers of f, because the box excludes it).",
        f"Lion (dynamics.decay_study settings, lambda = {s.lion_box_wd:g}: box 1/lambda = {1 / s.lion_box_wd:g}, whose "
        f"constrained minimiser on both valleys is the corner (1/lambda, 1/lambda)), {s.decay_steps} steps: over the "
        "last tenth, max |x_i| and the mean distance to that corner; holds if max |x_i| <= 1/lambda + 2 eps and the "
        "distance <= 4 eps (Lion's sign steps chatter by eps).",
        out, *judge(ok and bool(out)))


def smaller_norm(s: ClaimSettings) -> Claim:
    c = _table(s, "cautious", ("gdm",))
    n = _table(s, "none", ("gdm",))
    rows = {k: dict(cautious_final_norm=c[k]["final_norm"], no_decay_final_norm=n[k]["final_norm"],
                    min_norm_on_set=float(np.linalg.norm(get_toy(k.split(",")[0]).minima()[0])))
            for k in c}
    holds = all(r["cautious_final_norm"] < r["no_decay_final_norm"] for r in rows.values())
    return Claim(
        "obs-cwd-smaller-norm", OBSERVATION, f"project observation (on {PAPER_WD}, Sections 3.2 and 4)", None,
        "On the valley toys, GDM with CWD ends with a smaller parameter norm than GDM without decay (it slides along "
        "the set towards small magnitudes instead of stopping where it lands).",
        f"GDM in dynamics.decay_study's settings on {', '.join(s.decay_toys)}, {s.decay_steps} steps (and eps/"
        f"{s.decay_refine}): final |w| with CWD and without decay; holds if smaller with CWD in every run.",
        rows, *judge(holds))


def checks_decay(s: ClaimSettings) -> list[Claim]:
    return [unbiased(s), pareto(s), decoupled_l2(s), lion_box(s), smaller_norm(s)]
