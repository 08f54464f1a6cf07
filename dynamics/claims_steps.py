"""One-step comparisons of arXiv 2411.16085v4 (Section 2.3 and Appendix A.4-A.5),
checked on random quadratics L(w) = 1/2 w^T A w, random states w and random base
directions u (any optimizer's u_k: the theorems hold for every u), with a fixed NumPy
seed.  For each statement: the fraction of draws where its inequality holds (up to
rounding, TOL relative) and the worst violation.

- Theorem 2.3: elementwise mask phi = alpha 1[u g > 0] with Delta(x) = -x^T(1 - phi(x))
  >= 0 (mean compensation, alpha >= 1), mu-smooth L, step eps <= 2 Delta/(mu |r| (2|u| +
  |r|)), r = u o (1 - phi): L(cautious step) <= L(base step).
- Theorem 2.4 (= A.4): phi = alpha 1[g o u >= (mu sigma/2) u o u] elementwise,
  sigma >= eps alpha: L(w_(k+1)) <= L(w_k).
- Theorem A.5: convex L, phi = 1[u^T g >= 0]: L(cautious) <= L(base) for any eps.
- Corollary A.6: L = 1/2 |a o w|^2, phi = 1[u^T g >= 0] or 1[u o g >= 0]: L(cautious)
  <= L(base) for any eps.
- Theorem A.7: phi = alpha 1[g^T u >= (alpha mu eps/2)|u|^2]: L(w_(k+1)) <= L(w_k) for any eps.

The masks this project implements (dynamics.caution: elementwise, elementwise-ge,
inner, threshold) are evaluated through ``cautious_direction`` itself; the two the
project lacks (Theorem 2.4's elementwise threshold, Theorem A.7's threshold with
+alpha mu eps/2) are written here from the paper.  The project's ``threshold`` mask
1[g.u >= -(mu eps/2)|u|^2] has the opposite sign of Theorem A.7's: measured as a
project observation.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.caution import cautious_direction
from dynamics.claims_base import OBSERVATION, PAPER, PAPER_KIND, Claim, ClaimSettings, judge

DIMS = (2, 3, 5, 10)
TOL = 1e-12             # an inequality a <= b holds when a - b <= TOL (|a| + |b|)


def loss(A: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1/2 w^T A w for batches: A (n, d, d), w (n, d)."""
    return 0.5 * np.einsum("ni,nij,nj->n", w, A, w)


@functools.lru_cache(maxsize=32)
def _direction_fn(mask: str, compensation: str):
    return jax.jit(jax.vmap(lambda u, g, lr, mu: cautious_direction(u, g, mask, compensation, lr=lr, mu=mu)[0]))


def project_direction(u, g, mask: str, compensation: str, lr=None, mu=None) -> np.ndarray:
    """alpha phi u of dynamics.caution.cautious_direction for a batch of (u, g)."""
    n = len(u)
    lr = np.ones(n) if lr is None else np.broadcast_to(lr, (n,))
    mu = np.ones(n) if mu is None else np.broadcast_to(mu, (n,))
    return np.asarray(_direction_fn(mask, compensation)(jnp.asarray(u), jnp.asarray(g), jnp.asarray(lr),
                                                        jnp.asarray(mu)))


def draws(rng: np.random.Generator, n: int, d: int, kind: str) -> dict[str, np.ndarray]:
    """n random (A, w, u): A = Q diag(lam) Q^T with log-uniform |lam| in [1e-2, 1e1]
    (``convex``: lam > 0; ``indefinite``: random signs; ``diagonal``: Q = I, lam > 0),
    w and u standard normal.  mu = max |lam| (the smoothness constant)."""
    lam = np.exp(rng.uniform(np.log(1e-2), np.log(1e1), (n, d)))
    if kind == "indefinite":
        lam = lam * rng.choice([-1.0, 1.0], (n, d))
    if kind == "diagonal":
        A = np.einsum("ni,ij->nij", lam, np.eye(d))
    else:
        Q, _ = np.linalg.qr(rng.standard_normal((n, d, d)))
        A = np.einsum("nij,nj,nkj->nik", Q, lam, Q)
    w, u = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    return dict(A=A, w=w, u=u, g=np.einsum("nij,nj->ni", A, w), mu=np.abs(lam).max(axis=1))


def _summary(lhs: np.ndarray, rhs: np.ndarray, scale: np.ndarray) -> dict[str, Any]:
    """How often lhs <= rhs (up to TOL), and the worst violation (absolute, and relative to scale)."""
    gap = lhs - rhs
    ok = gap <= TOL * (np.abs(lhs) + np.abs(rhs))
    worst = int(np.argmax(gap / np.maximum(scale, 1e-300)))
    return dict(draws=int(len(gap)), fraction_holding=float(ok.mean()), violations=int((~ok).sum()),
                worst_violation=float(max(gap.max(), 0.0)),
                worst_relative_violation=float(max(gap[worst] / max(scale[worst], 1e-300), 0.0)))


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(p["draws"] for p in parts)
    return dict(draws=n, fraction_holding=sum(p["fraction_holding"] * p["draws"] for p in parts) / n,
                violations=sum(p["violations"] for p in parts),
                worst_violation=max(p["worst_violation"] for p in parts),
                worst_relative_violation=max(p["worst_relative_violation"] for p in parts))


def _batches(s: ClaimSettings, salt: int, kind: str):
    rng = np.random.default_rng([s.seed, salt])
    per = max(1, s.draws // len(DIMS))
    return [draws(rng, per, d, kind) for d in DIMS], rng


def theorem_2_3_bound(u, g, cautious) -> np.ndarray:
    """Theorem 2.3's step-size bound 2 Delta/(mu |r| (2|u| + |r|)) without mu (divide by mu):
    Delta = -x^T(1 - phi) = sum(g o cautious - x) with x = u o g, r = u - cautious."""
    delta = np.sum(g * cautious - u * g, axis=1)
    r = np.linalg.norm(u - cautious, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, 2 * delta / (r * (2 * np.linalg.norm(u, axis=1) + r)), np.inf)


def thm_2_3(s: ClaimSettings) -> Claim:
    inside, beyond, deltas = [], [], []
    batches, rng = _batches(s, 23, "indefinite")
    for kind_batches in (batches, _batches(s, 24, "convex")[0]):
        for b in kind_batches:
            c = project_direction(b["u"], b["g"], "elementwise", "mean")
            bound = theorem_2_3_bound(b["u"], b["g"], c) / b["mu"]
            deltas.append(np.sum(b["g"] * c - b["u"] * b["g"], axis=1).min())
            finite = np.isfinite(bound)
            eps = np.where(finite, rng.uniform(0, 1, len(bound)) * np.where(finite, bound, 0),
                           rng.uniform(0, 2, len(bound)) / b["mu"])
            L0 = loss(b["A"], b["w"])
            inside.append(_summary(loss(b["A"], b["w"] - eps[:, None] * c),
                                   loss(b["A"], b["w"] - eps[:, None] * b["u"]), np.abs(L0) + 1e-300))
            far = rng.uniform(1, 20, len(bound)) * np.where(finite, bound, 0)
            sel = finite & (bound > 0)
            beyond.append(_summary(loss(b["A"][sel], b["w"][sel] - far[sel, None] * c[sel]),
                                   loss(b["A"][sel], b["w"][sel] - far[sel, None] * b["u"][sel]),
                                   np.abs(L0[sel]) + 1e-300))
    m = dict(within_bound=_merge(inside), min_Delta=float(min(deltas)), beyond_bound_1_to_20x=_merge(beyond))
    holds = m["within_bound"]["violations"] == 0 and m["min_Delta"] >= 0
    return Claim(
        "thm2.3-one-step-comparison", PAPER_KIND, f"{PAPER}, Theorem 2.3 (Section 2.3; proof in Appendix A.4)",
        "\"Consider (7) and (8) with a µ-smooth loss function L(·). Assume the element-wise operator ϕ satisfies "
        "∆(vx) := −vx⊤(1 − ϕ(vx)) ≥ 0. Starting from (wt,st) = (wt,st), we have L(wt+1) ≤ L(wt+1), which holds for "
        "step size ϵt ≤ 2∆(vut◦vgt) / (µ∥vrt∥(2·∥ut∥+∥vrt∥)), where vrt = ut◦(1−vϕt)\"",
        "From the same state, the cautious step w - eps u o phi (phi = alpha 1[u g > 0], alpha = 1/mean(phi) >= 1, "
        "so Delta >= 0) ends at a loss no higher than the base step w - eps u, for every eps up to the bound.",
        f"{s.draws} draws per curvature kind (indefinite and convex A, d in {DIMS}, |eigenvalues| log-uniform in "
        "[1e-2, 10], mu = max|eigenvalue|), w, u ~ N(0, I), the mask and alpha of dynamics.caution (elementwise, "
        f"mean), eps uniform in (0, bound]; seed {s.seed}.  holds if no draw violates L(cautious) <= L(base) beyond "
        f"{TOL:g} relative rounding.  beyond_bound_1_to_20x: the same at eps = 1..20 x the bound (not claimed).",
        m, *judge(holds))


def thm_2_4(s: ClaimSettings) -> Claim:
    parts = []
    batches, rng = _batches(s, 24_4, "indefinite")
    for b in batches:
        n = len(b["w"])
        alpha, eps = rng.uniform(1, 3, n), rng.uniform(0, 4, n) / b["mu"]
        sigma = eps * alpha * rng.uniform(1, 2, n)
        phi = alpha[:, None] * (b["g"] * b["u"] >= (b["mu"] * sigma / 2)[:, None] * b["u"] ** 2)
        L0 = loss(b["A"], b["w"])
        parts.append(_summary(loss(b["A"], b["w"] - eps[:, None] * phi * b["u"]), L0, np.abs(L0) + 1e-300))
    m = dict(descent=_merge(parts))
    return Claim(
        "thm2.4-threshold-mask-descent", PAPER_KIND, f"{PAPER}, Theorem 2.4 (Section 2.3; = Theorem A.4)",
        "\"Assuming L(·) is µ-smooth, and consider the following mask function: vϕk = αkI(∇L(wk) ◦ vuk ≥ µσ/2 vuk ◦ "
        "vuk), where {αk} is any sequence and σ ≥ ϵkαk. Starting from (wt,st) = (wt,st), we have L(wk+1) ≤ L(wk).\"",
        "With the elementwise threshold mask and sigma >= eps alpha, the cautious step never increases the loss.",
        f"{s.draws} draws (indefinite A, d in {DIMS}), alpha uniform in [1, 3], eps uniform in (0, 4/mu], sigma = "
        "eps alpha x uniform [1, 2]; the mask written from the paper (dynamics.caution has no elementwise threshold); "
        f"holds if L(w - eps phi o u) <= L(w) on every draw (up to {TOL:g} relative).",
        m, *judge(m["descent"]["violations"] == 0))


def _log_eps(rng, mu):
    return np.exp(rng.uniform(np.log(1e-3), np.log(1e2), len(mu))) / mu


def _compare(b, eps, c) -> dict[str, Any]:
    L0 = loss(b["A"], b["w"])
    return _summary(loss(b["A"], b["w"] - eps[:, None] * c), loss(b["A"], b["w"] - eps[:, None] * b["u"]),
                    np.abs(L0) + 1e-300)


def thm_a5(s: ClaimSettings) -> Claim:
    convex, nonconvex = [], []
    for kind, sink, salt in (("convex", convex, 55), ("indefinite", nonconvex, 56)):
        batches, rng = _batches(s, salt, kind)
        for b in batches:
            sink.append(_compare(b, _log_eps(rng, b["mu"]), project_direction(b["u"], b["g"], "inner", "none")))
    m = dict(convex=_merge(convex), indefinite_not_claimed=_merge(nonconvex))
    return Claim(
        "thmA.5-inner-mask-convex", PAPER_KIND, f"{PAPER}, Theorem A.5 (Appendix A.5)",
        "\"Assume L(·) is convex, and vϕk = I(u⊤k ∇L(wk) ≥ 0). Then, starting from the same point (wk,sk) = (wk,sk), "
        "we have L(wk+1) ≤ L(wk+1). which holds for any step size ϵk ≥ 0.\"",
        "On a convex L, the inner-product-masked step never ends above the base step, whatever eps.",
        f"{s.draws} convex quadratics (d in {DIMS}), eps log-uniform in [1e-3, 100]/mu, the project's ``inner`` mask "
        f"with alpha = 1; holds if L(cautious) <= L(base) on every draw (up to {TOL:g} relative).  The same on "
        "indefinite A is reported beside it (outside the theorem).",
        m, *judge(m["convex"]["violations"] == 0))


def cor_a6(s: ClaimSettings) -> list[Claim]:
    out: dict[str, list] = {"inner": [], "elementwise-ge": [], "elementwise, mean compensation": []}
    batches, rng = _batches(s, 66, "diagonal")
    for b in batches:
        eps = _log_eps(rng, b["mu"])
        out["inner"].append(_compare(b, eps, project_direction(b["u"], b["g"], "inner", "none")))
        out["elementwise-ge"].append(_compare(b, eps, project_direction(b["u"], b["g"], "elementwise-ge", "none")))
        out["elementwise, mean compensation"].append(
            _compare(b, eps, project_direction(b["u"], b["g"], "elementwise", "mean")))
    m = {k: _merge(v) for k, v in out.items()}
    paper = Claim(
        "corA.6-separable-quadratic", PAPER_KIND, f"{PAPER}, Corollary A.6 (Appendix A.5)",
        "\"Consider the elementary test function: L(w) = 1/2 ∥a ◦ w∥22 ... We have L(wk+1) ≤ L(wk+1) given (wk,sk) = "
        "(wk,sk), with either the inner product mask vϕk = I(u⊤k ∇L(wk) ≥ 0), or the element-wise mask vϕk = "
        "I(uk ◦ ∇L(wk) ≥ 0).\"",
        "On L = 1/2 |a o w|^2, the cautious step (inner or elementwise mask, no rescaling) never ends above the base "
        "step, whatever eps.",
        f"{s.draws} diagonal quadratics (d in {DIMS}), eps log-uniform in [1e-3, 100]/mu, the project's ``inner`` and "
        f"``elementwise-ge`` masks with alpha = 1; holds if L(cautious) <= L(base) on every draw for both masks.",
        {k: m[k] for k in ("inner", "elementwise-ge")},
        *judge(m["inner"]["violations"] == 0 and m["elementwise-ge"]["violations"] == 0))
    comp = m["elementwise, mean compensation"]
    obs = Claim(
        "obs-corA.6-with-compensation", OBSERVATION, f"project observation (on {PAPER}, Corollary A.6)", None,
        "With Algorithm 1's rescaling alpha = 1/mean(phi) (> 1 once a coordinate is masked), the comparison of "
        "Corollary A.6 no longer holds for every step size: the rescaled kept coordinates can overshoot.",
        "The same diagonal draws with the ``elementwise`` mask and mean compensation; holds (the observation) if some "
        "draw has L(cautious) > L(base).",
        dict(elementwise_mean=comp), *judge(comp["violations"] > 0))
    return [paper, obs]


def thm_a7(s: ClaimSettings) -> list[Claim]:
    paper_parts, project_parts = [], []
    batches, rng = _batches(s, 77, "indefinite")
    for b in batches:
        n = len(b["w"])
        alpha, eps = rng.uniform(1, 3, n), rng.uniform(0, 4, n) / b["mu"]
        u2 = np.sum(b["u"] ** 2, axis=1)
        keep = np.sum(b["g"] * b["u"], axis=1) >= alpha * b["mu"] * eps / 2 * u2
        L0 = loss(b["A"], b["w"])
        paper_parts.append(_summary(loss(b["A"], b["w"] - (eps * alpha * keep)[:, None] * b["u"]), L0,
                                    np.abs(L0) + 1e-300))
        c = project_direction(b["u"], b["g"], "threshold", "mean", lr=eps, mu=b["mu"])
        project_parts.append(_summary(loss(b["A"], b["w"] - eps[:, None] * c), L0, np.abs(L0) + 1e-300))
    paper, project = _merge(paper_parts), _merge(project_parts)
    return [Claim(
        "thmA.7-inner-threshold-descent", PAPER_KIND, f"{PAPER}, Theorem A.7 (Appendix A.5)",
        "\"Assuming L(·) is µ-smooth, and consider the following mask function: vϕk = αkI(∇L(wk)⊤vuk ≥ αkµϵk/2 "
        "∥vuk∥2), where αk is a scaling factor. We have L(wk+1) ≤ L(wk). which holds for any step size ϵk ≥ 0.\"",
        "With the inner-product threshold mask, the cautious step never increases the loss, whatever eps.",
        f"{s.draws} draws (indefinite A, d in {DIMS}), alpha uniform in [1, 3], eps uniform in (0, 4/mu]; the mask "
        f"written from the paper; holds if L(w - eps phi u) <= L(w) on every draw (up to {TOL:g} relative).",
        dict(descent=paper), *judge(paper["violations"] == 0)),
        Claim(
        "obs-project-threshold-mask", OBSERVATION, f"project observation (on {PAPER}, Theorem A.7)", None,
        "dynamics.caution's ``threshold`` mask, 1[g.u >= -(mu eps/2)|u|^2], has the opposite sign of Theorem A.7's "
        "1[g.u >= (alpha mu eps/2)|u|^2]: it keeps some steps with g.u < 0, and then the step can increase the loss.",
        "The same draws through the project's mask (mean compensation, mu = the draw's smoothness); holds (the "
        "observation) if some draw has L(w_(k+1)) > L(w_k).",
        dict(project_mask_descent=project), *judge(project["violations"] > 0),
        "The stored copy of the paper (v4) has no mask with the minus sign; the project's docstrings cite it as "
        "Theorem 2.7 of an earlier version, which could not be checked here.")]


def checks_one_step(s: ClaimSettings) -> list[Claim]:
    return [thm_2_3(s), thm_2_4(s), thm_a5(s), *cor_a6(s), *thm_a7(s)]
