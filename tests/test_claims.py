"""The paper-claims report (dynamics.claims): every verdict re-derived here from the
claim's own measured numbers by an independent reading of its criterion; the JSON
schema and the command line; project observations labelled as such; and the numbers
behind the one-step theorems, the flow rates, the rises and the rate maps recomputed
directly in NumPy (hand-made states, closed-form rates, heavy-ball eigenvalues).

Cheap settings (small grids, few draws, short horizons) keep the file fast; the full
report runs at the defaults (``python -m dynamics claims``)."""
import dataclasses
import json
import math

import numpy as np
import pytest

from cli.claims import report
from cli.main import main
from dynamics.claims import (CHECKS, CONDITIONAL, FAILS, HOLDS, OBSERVATION, PAPER_KIND, VERDICTS, ClaimSettings,
                             run_claims)
from dynamics.claims_decay import pareto_distance
from dynamics.claims_steps import loss, project_direction, theorem_2_3_bound
from dynamics.claims_toy import toy_runs
from dynamics.decay_study import study_hyper
from dynamics.sweep import grid_axis

SMALL = ClaimSettings(rise_lrs=(0.01, 0.003), total_time=3.0, ablation_steps=300, speed_steps=200,
                      rate_grids=(16, 24), inner_grids=(16,), rate_steps=300, rate_chunk_cells=128, draws=400,
                      rosenbrock_steps=600,
                      adam_steps=400, decay_toys=("valley-line",), decay_steps=600, decay_optimizers=("gdm", "lion"),
                      decay_refine=2, sam_optimizers=("gd",), sam_lrs=(0.05,), sam_rhos=(0.3, 0.8), sam_grid=12,
                      sam_steps=1000)
A_PAPER = np.array([8.0, 2.0])          # L = 4 w1^2 + w2^2 = 1/2 (8 w1^2 + 2 w2^2), the paper's Section 3.1
KEYS = ["id", "kind", "source", "quote", "statement", "verdict", "condition", "test", "measured", "note"]


@pytest.fixture(scope="module")
def claims():
    return {c.id: c for c in run_claims(SMALL)}


# ----------------------------------------------------------------------------- verdicts from the numbers

def _flow_ok(r):      # no rise, or only rises that at least halve with finer RK4 sub-steps (solver chatter)
    return r["flow_rises"] == 0 or ("fine_flow_largest_rise" in r
                                    and r["fine_flow_largest_rise"] <= 0.5 * r["flow_largest_rise"])


def _all_discrete_flow(m):
    rows = m["by_eps"].values()
    if all(r["discrete_rises"] == 0 and _flow_ok(r) for r in rows):
        return HOLDS
    return CONDITIONAL if all(_flow_ok(r) for r in rows) else FAILS


def _grids(ok: list[bool]):
    if all(ok):
        return HOLDS
    return CONDITIONAL if ok[-1] else FAILS


def _rate_ok(grid, key, bound):
    cell = grid[key]
    margin = max(cell["uncertainty"], grid["estimator_error_on_gdm"]["max"]) if cell["rate"] is not None else 0
    return cell["rate"] is not None and cell["rate"] + margin < bound


def _speed(m):
    inf = lambda n: math.inf if n < 0 else n  # noqa: E731
    c, g = m["cgdm"], m["gdm"]
    ok = (inf(c["steps_to_tol"]) < inf(g["steps_to_tol"]) and c["max_overshoot"] < g["max_overshoot"]
          and c["loss_rises"] <= g["loss_rises"] and c["sign_changes"] < g["sign_changes"])
    return HOLDS if ok else FAILS


def _monotone_flows(m):
    def ok(r):
        if r["max_dL_dt"] > 0:
            return False
        return r["grid_rises"] == 0 or (r.get("fine_max_dL_dt", 1) <= 0
                                        and r["fine_largest_rise"] <= 0.5 * r["largest_rise"])
    return HOLDS if all(ok(r) for r in m.values()) else FAILS


def _unbiased(m):
    rows = m["cautious"]
    coarse = {k[: -len(", eps")]: v for k, v in rows.items() if k.endswith(", eps")}
    fine = {k.rsplit(", eps/", 1)[0]: v for k, v in rows.items() if ", eps/" in k}
    if all(v["tail_mean_grad_norm"] <= 1e-8 for v in coarse.values()):
        return HOLDS
    shrink = all(c["tail_mean_grad_norm"] <= 1e-8 or fine[k]["tail_mean_grad_norm"] <= 0.5 * c["tail_mean_grad_norm"]
                 for k, c in coarse.items())
    return CONDITIONAL if shrink else FAILS


def _lion_box(m):
    lr = float(study_hyper("lion").lr)
    ok = all(v["tail_max_abs_coordinate"] <= v["box"] + 2 * lr
             and v["tail_mean_distance_to_constrained_minimiser"] <= 4 * lr for v in m.values())
    return HOLDS if ok and m else FAILS


def _yes(ok):
    return HOLDS if ok else FAILS


REDERIVE = {
    "fig1-gdm-loss-fluctuates": lambda m: _yes(m["by_eps"][f"eps={SMALL.lr:g}"]["discrete_rises"] > 0
                                               and all(r["flow_rises"] > 0 for r in m["by_eps"].values())),
    "fig1-cgdm-loss-monotone": _all_discrete_flow,
    "fig1-cgdm-hamiltonian-monotone": _all_discrete_flow,
    "sec2.1-gdm-hamiltonian-descent": _all_discrete_flow,
    "fig1-cgdm-hamiltonian-faster": lambda m: (
        HOLDS if m["discrete"]["max_excess"] <= m["discrete"]["threshold"] and m["flow"]["max_excess"] <= m["flow"][
            "threshold"] else CONDITIONAL if m["flow"]["max_excess"] <= m["flow"]["threshold"] else FAILS),
    "fig1-ablation-outperforms": lambda m: _yes(all(
        r["cgdm_final_loss"] is not None and not r["cgdm_diverged"]
        and (r["gdm_diverged"] or r["cgdm_final_loss"] < r["gdm_final_loss"]) for r in m["pairs"].values())),
    "fig1-ablation-not-worse": lambda m: _yes(all(
        not r["cgdm_diverged"] and (r["gdm_diverged"] or r["cgdm_final_loss"] <= r["gdm_final_loss"])
        for r in m["pairs"].values())),
    "fig2-cgdm-rate-below-heavy-ball": lambda m: _grids(
        [_rate_ok(g, "cgdm_min", m["heavy_ball_optimum"]["rate"]) for g in m["grids"].values()]),
    "fig2-inner-mask-rate-below-heavy-ball": lambda m: _grids(
        [_rate_ok(g, "inner_min", g["gdm_exact_min"]["rate"]) for g in m.values()]),
    "sec3.1-optimal-speed": _speed,
    "thm2.1-loss-monotone": _monotone_flows,
    "thm2.1-faster-mean": lambda m: _yes(all(
        r["max_dH_dt_minus_base"] <= r["tolerance"] and r["max_dL_dt_minus_base"] <= r["tolerance"]
        and r["cautious_max_dH_dt"] <= r["tolerance"] for r in m.values())),
    "thm2.1-count-compensation": lambda m: _yes(m["max_dH_dt_minus_base"] > m["tolerance"]),
    "cor2.2-stationary": lambda m: _yes(all(
        r["grad_norm_end"] <= 1e-6 * r["grad_norm_start"] and r["momentum_norm_end"] <= 1e-6 * r["grad_norm_start"]
        for r in m.values())),
    "obs-cautious-flow-loss-below-base": lambda m: _yes(all(r["max_excess"] <= r["threshold"] for r in m.values())),
    "exA.1-adam-hamiltonian": lambda m: _yes(all(
        m["adam"][k]["max_dH_dt"] <= 0 and m["cautious_adam"][k]["max_dH_dt"] <= 0
        for k, r in m["adam"].items() if r["condition_a_ge_b_over_4"])),
    "exA.1-adam-condition-needed": lambda m: _yes(all(r["max_dH_dt"] > 0 for r in m["adam"].values())),
    "thm2.3-one-step-comparison": lambda m: _yes(m["within_bound"]["violations"] == 0 and m["min_Delta"] >= 0),
    "thm2.4-threshold-mask-descent": lambda m: _yes(m["descent"]["violations"] == 0),
    "thmA.5-inner-mask-convex": lambda m: _yes(m["convex"]["violations"] == 0),
    "corA.6-separable-quadratic": lambda m: _yes(m["inner"]["violations"] == 0
                                                 and m["elementwise-ge"]["violations"] == 0),
    "obs-corA.6-with-compensation": lambda m: _yes(m["elementwise_mean"]["violations"] > 0),
    "thmA.7-inner-threshold-descent": lambda m: _yes(m["descent"]["violations"] == 0),
    "obs-project-threshold-mask": lambda m: _yes(m["project_mask_descent"]["violations"] > 0),
    "cwd-unbiased": _unbiased,
    "cwd-pareto-front": lambda m: _yes(all(g <= 1e-6 for g in m["beyond_P"].values())),
    "cwd-decoupled-sgd-is-l2": lambda m: _yes(all(r["max_abs_difference"] <= 1e-9 for r in m.values())),
    "cwd-decoupled-lion-box": _lion_box,
    "obs-cwd-smaller-norm": lambda m: _yes(all(r["cautious_final_norm"] < r["no_decay_final_norm"]
                                               for r in m.values())),
    "obs-sam-fewer-sharp": lambda m: _yes(all(
        all(v["sharp"] < r["base"]["sharp"] for k, v in r.items() if k.startswith("rho="))
        and np.all(np.diff([v["sharp"] for k, v in r.items() if k.startswith("rho=")]) <= 0) for r in m.values())),
    "obs-sam-more-flat": lambda m: _yes(all(v["flat"] > r["base"]["flat"] for r in m.values()
                                            for k, v in r.items() if k.startswith("rho="))),
}


def test_every_claim_is_rederived(claims):
    assert set(claims) == set(REDERIVE)


@pytest.mark.parametrize("claim_id", sorted(REDERIVE))
def test_verdict_follows_from_the_measured_numbers(claims, claim_id):
    d = claims[claim_id].as_dict()           # the JSON values (non-finite numbers as None)
    assert d["verdict"] == REDERIVE[claim_id](d["measured"])
    assert (d["verdict"] == CONDITIONAL) == bool(d["condition"])


def test_conditions_name_where(claims):
    for c in claims.values():
        if c.verdict == CONDITIONAL:
            assert c.condition.startswith(("for the flow", "in the small-step limit", "on the finer grid"))
            assert "not" in c.condition or "limit" in c.condition


def test_schema_kinds_and_quotes(claims):
    for c in claims.values():
        d = c.as_dict()
        assert list(d) == KEYS and d["verdict"] in VERDICTS and d["kind"] in (PAPER_KIND, OBSERVATION)
        assert all(isinstance(d[k], str) and d[k] for k in ("id", "source", "statement", "test"))
        json.dumps(d, allow_nan=False)
        if d["kind"] == PAPER_KIND:           # a paper claim quotes its paper and says where
            assert d["quote"] and "arXiv" in d["source"]
            assert any(w in d["source"] for w in ("Section", "Figure", "Theorem", "Corollary", "Example"))
        else:
            assert d["source"].startswith("project observation") and d["id"].startswith(("obs-", "exA.1", "thm2.1"))
    count = claims["thm2.1-count-compensation"]
    assert count.kind == OBSERVATION and count.quote is None and "2/3" in count.statement
    assert claims["exA.1-adam-condition-needed"].kind == OBSERVATION


def test_count_compensation_is_slower_where_nothing_is_masked(claims):
    m = claims["thm2.1-count-compensation"].measured
    assert m["alpha_when_nothing_masked"] == pytest.approx(2 / 3)
    assert m["max_dH_dt_minus_base"] > 0.1 and m["cautious_max_dH_dt"] > 0   # its H even rises
    assert claims["thm2.1-count-compensation"].verdict == HOLDS


# ----------------------------------------------------------------------------- one-step theorems by hand

def test_elementwise_mask_and_theorem_2_3_bound_by_hand():
    # A = diag(8, 2) is the paper's toy; w = (1, 1): g = (8, 2); u = (1, -1): x = u g = (8, -2)
    A, w, u = np.diag(A_PAPER)[None], np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]])
    g = w * A_PAPER
    c = project_direction(u, g, "elementwise", "mean")
    np.testing.assert_allclose(c, [[2.0, 0.0]])              # phi = (1, 0), alpha = 1/mean(phi) = 2
    # Delta = -x.(1 - alpha phi) = -(8 (1 - 2) + (-2)(1 - 0)) = 10; r = u (1 - alpha phi) = (-1, -1)
    mu = 8.0
    bound = theorem_2_3_bound(u, g, c)[0] / mu
    assert bound == pytest.approx(2 * 10 / (mu * math.sqrt(2) * (2 * math.sqrt(2) + math.sqrt(2))))
    for eps in (0.1 * bound, bound):                          # the theorem: cautious <= base up to the bound
        lc, lb = loss(A, w - eps * c)[0], loss(A, w - eps * u)[0]
        assert lc <= lb
        assert lc == pytest.approx(0.5 * (8 * (1 - 2 * eps) ** 2 + 2 * 1.0))
        assert lb == pytest.approx(0.5 * (8 * (1 - eps) ** 2 + 2 * (1 + eps) ** 2))
    eps = 1.0                                                 # beyond it (2.4x) the kept coordinate overshoots
    assert loss(A, w - eps * c)[0] > loss(A, w - eps * u)[0]


def test_inner_mask_on_a_convex_quadratic_by_hand():
    A, w = np.diag(A_PAPER)[None], np.array([[1.0, 1.0]])
    g = w * A_PAPER
    u = np.array([[-1.0, 1.0]])                               # u.g = -6 < 0: the inner mask drops the step
    c = project_direction(u, g, "inner", "none")
    np.testing.assert_array_equal(c, [[0.0, 0.0]])
    for eps in (1e-3, 0.1, 10.0):                             # base: L(w - eps u) >= L(w) - eps u.g > L(w)
        assert loss(A, w - eps * c)[0] == loss(A, w)[0] < loss(A, w - eps * u)[0]
    u = np.array([[1.0, -1.0]])                               # u.g = 6 >= 0: kept whole, identical steps
    np.testing.assert_array_equal(project_direction(u, g, "inner", "none"), u)


def test_project_masks_against_numpy_on_random_draws():
    rng = np.random.default_rng(5)
    u, g = rng.standard_normal((500, 3)), rng.standard_normal((500, 3))
    phi = (u * g > 0).astype(float)
    mean = phi / np.maximum(phi.mean(axis=1, keepdims=True), 1e-3) * u
    np.testing.assert_allclose(project_direction(u, g, "elementwise", "mean"), mean, rtol=1e-15)
    keep = (np.sum(u * g, axis=1) >= 0)[:, None]
    np.testing.assert_allclose(project_direction(u, g, "inner", "none"), keep * u, rtol=1e-15)
    lr, mu = rng.uniform(0, 2, 500), rng.uniform(0.5, 2, 500)
    keep = (np.sum(u * g, axis=1) >= -(mu * lr / 2) * np.sum(u * u, axis=1))[:, None]
    np.testing.assert_allclose(project_direction(u, g, "threshold", "none", lr=lr, mu=mu), keep * u, rtol=1e-15)


def test_one_step_fractions(claims):
    assert claims["thm2.3-one-step-comparison"].measured["within_bound"]["fraction_holding"] == 1.0
    beyond = claims["thm2.3-one-step-comparison"].measured["beyond_bound_1_to_20x"]
    assert 0 < beyond["fraction_holding"] < 1                 # the bound is not idle
    obs = claims["obs-project-threshold-mask"].measured["project_mask_descent"]
    assert obs["violations"] > 0 and obs["worst_violation"] > 0


# ----------------------------------------------------------------------------- flows and steps in NumPy

def test_theorem_2_1_rates_from_the_flow_states(claims):
    flow = toy_runs(SMALL)["flow"]["cgdm"]
    T = int(round(SMALL.total_time / SMALL.lr))
    w, s = flow["w"][0][: T + 1], flow["m"][0][: T + 1]
    g = w * A_PAPER
    phi = (s * g > 0).astype(float)
    u = phi / np.maximum(phi.mean(axis=1, keepdims=True), 1e-3) * s
    eps = SMALL.lr
    dl_c, dl_b = -eps * np.sum(g * u, axis=1), -eps * np.sum(g * s, axis=1)      # dL/dt = g.w'
    dh_c = dl_c + eps * np.sum(s * (g - (1 - SMALL.beta) * s), axis=1)          # + eps s.s'
    dh_b = -eps * (1 - SMALL.beta) * np.sum(s * s, axis=1)
    m = claims["thm2.1-faster-mean"].measured[f"{SMALL.toy} eps={SMALL.lr:g}"]
    assert m["max_dH_dt_minus_base"] == pytest.approx((dh_c - dh_b).max(), abs=1e-12)
    assert m["max_dL_dt_minus_base"] == pytest.approx((dl_c - dl_b).max(), abs=1e-12)
    assert m["min_dH_dt_minus_base"] == pytest.approx((dh_c - dh_b).min(), abs=1e-12)
    assert claims["thm2.1-loss-monotone"].measured[f"{SMALL.toy} eps={SMALL.lr:g} (mean)"]["max_dL_dt"] == \
        pytest.approx(max(dl_c.max(), 0.0), abs=1e-15)


def test_gdm_rises_against_a_numpy_heavy_ball(claims):
    for lr in SMALL.rise_lrs:
        T = int(round(SMALL.total_time / lr))
        w, s, losses = np.array([1.0, 1.0]), np.zeros(2), []
        losses.append(0.5 * np.sum(A_PAPER * w * w))
        for _ in range(T):
            s = SMALL.beta * s + A_PAPER * w
            w = w - lr * s
            losses.append(0.5 * np.sum(A_PAPER * w * w))
        d = np.diff(losses)
        up = d > 1e-12 * losses[0]
        row = claims["fig1-gdm-loss-fluctuates"].measured["by_eps"][f"eps={lr:g}"]
        assert row["discrete_rises"] == int(up.sum()) > 0
        assert row["discrete_largest_rise"] == pytest.approx(d[up].max(), rel=1e-9)
        assert row["rise_threshold"] == pytest.approx(5e-12)


def test_gdm_exact_map_against_heavy_ball_eigenvalues(claims):
    n = SMALL.rate_grids[0]
    lr, beta = grid_axis(*SMALL.rate_lr, n), grid_axis(*SMALL.rate_beta, n)
    rho = np.array([[max(np.abs(np.linalg.eigvals([[b, lam], [-e * b, 1 - e * lam]])).max() for lam in A_PAPER)
                     for e in lr] for b in beta])
    best = claims["fig2-cgdm-rate-below-heavy-ball"].measured["grids"][f"{n} x {n}"]["gdm_exact_min"]
    assert best["rate"] == pytest.approx(rho[rho < 1].min(), rel=1e-12)
    assert claims["fig2-cgdm-rate-below-heavy-ball"].measured["heavy_ball_optimum"]["rate"] == pytest.approx(1 / 3)


def test_pareto_front_of_the_valleys_by_hand():
    assert pareto_distance("valley-line", np.array([2.75, -0.75]), 2.0) == pytest.approx(math.hypot(0.75, 0.75))
    assert pareto_distance("valley-line", np.array([1.5, 0.5]), 2.0) == pytest.approx(0.0, abs=1e-15)
    assert pareto_distance("valley-line", np.array([1.6, 0.6]), 2.0) == pytest.approx(0.2 / math.sqrt(2))
    assert pareto_distance("valley-hyperbola", np.array([2.0, 0.5]), 1.0) == pytest.approx(0.0, abs=1e-15)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="rise_lrs"):
        run_claims(dataclasses.replace(SMALL, lr=0.02), ["one-step"])
    with pytest.raises(ValueError, match="unknown checks"):
        run_claims(SMALL, ["nope"])


# ----------------------------------------------------------------------------- command line

def test_claims_command_json(capsys):
    assert main(["claims", "--only", "one-step", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"claims", "counts", "settings", "seconds"}
    ids = [c["id"] for c in out["claims"]]
    assert ids == ["thm2.3-one-step-comparison", "thm2.4-threshold-mask-descent", "thmA.5-inner-mask-convex",
                   "corA.6-separable-quadratic", "obs-corA.6-with-compensation", "thmA.7-inner-threshold-descent",
                   "obs-project-threshold-mask"]
    for c in out["claims"]:
        assert list(c) == KEYS and c["verdict"] in VERDICTS
        assert c["verdict"] == REDERIVE[c["id"]](c["measured"])
        assert c["kind"] == (OBSERVATION if c["id"].startswith("obs-") else PAPER_KIND)
    assert out["claims"][0]["measured"]["within_bound"]["draws"] == 2 * ClaimSettings().draws
    assert sum(out["counts"].values()) == len(ids) and out["settings"]["draws"] == ClaimSettings().draws


def test_claims_report_marks_each_verdict(claims):
    text = report([c.as_dict() for c in claims.values()], 1.0)
    for c in claims.values():
        mark = {HOLDS: "✓", FAILS: "✗", CONDITIONAL: "◐"}[c.verdict]
        assert f"[{mark} {c.verdict.upper()}] {c.id}" in text
    assert text.splitlines()[-1].startswith(f"{len(claims)} claims: ")


def test_claims_command_rejects_unknown_check(capsys):
    with pytest.raises(SystemExit) as err:
        main(["claims", "--only", "nope"])
    assert err.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_checks_cover_every_claim_once(claims):
    assert list(CHECKS) == ["fig1-loss", "fig1-hamiltonian", "fig1-ablation", "fig2-rates", "thm2.1", "flow-order",
                            "adam", "one-step", "decay", "sam"]
    assert len(claims) == len(REDERIVE)


def test_proven_statements_hold(claims):
    """Statements that are theorems of exact arithmetic (the one-step inequalities, Theorem
    2.1's pointwise rates with alpha >= 1, Example A.1's a >= b/4, decoupled SGD = l2) must
    come out ``holds``: a different verdict means the check, not the paper, is wrong."""
    for claim_id in ("thm2.3-one-step-comparison", "thm2.4-threshold-mask-descent", "thmA.5-inner-mask-convex",
                     "corA.6-separable-quadratic", "thmA.7-inner-threshold-descent", "thm2.1-faster-mean",
                     "thm2.1-loss-monotone", "exA.1-adam-hamiltonian", "cwd-decoupled-sgd-is-l2"):
        assert claims[claim_id].verdict == HOLDS, claim_id
