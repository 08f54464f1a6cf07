"""ODE solvers (dynamics.solvers, dynamics.ode) and the ``run --mode ode`` command:
convergence orders against scipy's DOP853, closed forms, the adaptive solver on smooth
and non-smooth right-hand sides, compiled-once behaviour, batching, the CLI."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from cli.main import main
from dynamics.config import Hyper, Setup, make_hyper
from dynamics.ode import compiled_integrator, integrate, integrate_batch
from toys import get_toy

QUAD = get_toy("quadratic")   # L = w1^2 + 4 w2^2: gradient diag(2, 8) w
HESS = np.diag([2.0, 8.0])
START = np.array([-2.0, 1.5])


def gdm_reference(lr, beta, T, start=START):
    """The gdm flow w' = -eps s, s' = g - (1-beta) s on the quadratic, by scipy's DOP853."""
    def rhs(t, y):
        w, s = y[:2], y[2:]
        return np.concatenate([-lr * s, HESS @ w - (1 - beta) * s])

    sol = solve_ivp(rhs, (0, T), np.concatenate([start, [0.0, 0.0]]), method="DOP853",
                    rtol=1e-12, atol=1e-14, t_eval=np.arange(T + 1))
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("solver, substeps, order", [
    ("euler", (8, 16, 32, 64), 1),
    ("semi-implicit", (8, 16, 32, 64), 1),
    ("rk4", (2, 4, 8, 16), 4),
])
def test_convergence_order_against_dop853(solver, substeps, order):
    lr, beta, T = 0.05, 0.8, 5
    ref = gdm_reference(lr, beta, T)
    hp = make_hyper(lr=lr, beta=beta)
    errors = []
    for n in substeps:
        tr = integrate(Setup("gdm"), QUAD, hp, T, solver=solver, substeps=n)
        errors.append(np.abs(np.concatenate([tr.w, tr.m], axis=1) - ref).max())
    slope = np.polyfit(np.log(1.0 / np.array(substeps)), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.3, (errors, slope)
    assert errors[-1] < (0.2 if order == 1 else 1e-5)


@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_fixed_step_gd_flow_matches_its_stability_polynomial(solver):
    """On y' = -eps H y a step multiplies each eigen-coordinate by R(z), z = -h eps lambda:
    R = 1 + z (Euler), 1 + z + z^2/2 + z^3/6 + z^4/24 (RK4); the flow itself by exp(z)."""
    lr, T, n = 0.1, 20, 4
    tr = integrate(Setup("gd"), QUAD, make_hyper(lr=lr), T, solver=solver, substeps=n)
    z = -lr * np.array([2.0, 8.0]) / n
    r = 1 + z if solver == "euler" else 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24
    steps = n * np.arange(T + 1)[:, None]
    np.testing.assert_allclose(tr.w, r**steps * START, rtol=1e-12, atol=1e-15)
    exact = np.exp(z * steps) * START
    assert np.abs(tr.w - exact).max() < (0.1 if solver == "euler" else 1e-4)
    np.testing.assert_allclose(tr.loss, np.sum(np.array([1.0, 4.0]) * tr.w**2, 1), rtol=1e-12)
    np.testing.assert_allclose(tr.dL_dt, -lr * np.sum((tr.w * [2.0, 8.0]) ** 2, 1), rtol=1e-12)
    np.testing.assert_allclose(tr.time, np.arange(T + 1))


def test_fixed_step_integrator_compiles_once_for_new_numbers():
    setup = Setup("adam", cautious=True)
    first = integrate(setup, QUAD, make_hyper(lr=0.01), 30, solver="rk4", substeps=3)
    fn = compiled_integrator(setup, QUAD, 64, "rk4", 3, None, None, "auto")
    assert fn._cache_size() == 1
    second = integrate(setup, QUAD, make_hyper(lr=0.02, beta=0.8, beta2=0.99, tau=0.1), 30, solver="rk4",
                       substeps=3, start=(1.0, -1.0), toy_params=dict(h1=1.0, angle=0.3))
    assert fn._cache_size() == 1
    assert not np.allclose(first.w, second.w)


def test_adaptive_solver_on_a_smooth_flow_matches_dop853_and_compiles_once():
    lr, beta, T = 0.05, 0.8, 20
    ref = gdm_reference(lr, beta, T)
    hp = make_hyper(lr=lr, beta=beta)
    tight = integrate(Setup("gdm"), QUAD, hp, T, solver="adaptive", rtol=1e-10, atol=1e-12)
    fn = compiled_integrator(Setup("gdm"), QUAD, 64, "adaptive", None, "tsit5", 100_000, "auto")
    loose = integrate(Setup("gdm"), QUAD, hp, T, solver="adaptive", rtol=1e-5, atol=1e-7)
    assert fn._cache_size() == 1  # tolerances are array arguments
    np.testing.assert_allclose(np.concatenate([tight.w, tight.m], 1), ref, atol=1e-8)
    assert np.abs(np.concatenate([loose.w, loose.m], 1) - ref).max() > 1e-8
    for tr in (tight, loose):
        assert not tr.status.stopped_early and not tr.status.warnings
        assert tr.status.rejected < 0.5 * tr.status.accepted
    assert tight.status.accepted > 2 * loose.status.accepted


def test_adaptive_solver_on_a_hard_mask_is_bounded_and_reports_the_storm():
    """The cautious mask makes the right-hand side discontinuous: the controller
    rejects step after step near the switching surface.  max_steps bounds the work."""
    setup = Setup("gdm", cautious=True)
    hp = make_hyper(lr=0.001)
    start = time.perf_counter()
    tr = integrate(setup, get_toy("rosenbrock"), hp, 200, solver="adaptive", max_steps=1000)
    assert time.perf_counter() - start < 30
    st = tr.status
    assert st.steps == 1000 and st.rejected > st.accepted
    assert st.stopped_early and 0 < st.stopped_at < 200
    assert any("stopped early" in w for w in st.warnings) and any("storm" in w for w in st.warnings)
    reached = int(st.stopped_at)
    assert np.all(np.isfinite(tr.w[: reached + 1])) and np.all(np.isnan(tr.w[reached + 1:]))
    assert np.all(np.isnan(tr.hamiltonian[reached + 1:]))
    # the same flow with a smooth mask and the same budget gets further
    smooth = integrate(Setup("gdm", cautious=True, mask="smooth"), get_toy("rosenbrock"),
                       make_hyper(lr=0.001, tau=0.1), 200, solver="adaptive", max_steps=1000)
    assert not smooth.status.stopped_early or smooth.status.stopped_at > reached


def test_batched_rk4_equals_single_runs():
    setup = Setup("gdm")
    lrs, betas = [0.01, 0.03, 0.05], [0.5, 0.8, 0.9]
    starts = np.array([[-2.0, 1.5], [1.0, 1.0], [0.5, -1.0]])
    base = make_hyper()
    hps = Hyper(*(np.full(3, float(x)) for x in base))._replace(lr=np.array(lrs), beta=np.array(betas))
    batch = integrate_batch(setup, QUAD, hps, 40, starts, solver="rk4", substeps=4)
    assert batch["w"].shape == (3, 41, 2) and batch["time"].shape == (41,)
    for i in range(3):
        one = integrate(setup, QUAD, make_hyper(lr=lrs[i], beta=betas[i]), 40, solver="rk4", substeps=4,
                        start=starts[i])
        np.testing.assert_allclose(batch["w"][i], one.w, atol=1e-13)
        np.testing.assert_allclose(batch["hamiltonian"][i], one.hamiltonian, atol=1e-12)


def test_bad_solver_arguments_raise():
    with pytest.raises(ValueError, match="solver must be one of"):
        integrate(Setup("gd"), QUAD, make_hyper(), 5, solver="midpoint")
    with pytest.raises(ValueError, match="substeps must be a positive integer"):
        integrate(Setup("gd"), QUAD, make_hyper(), 5, substeps=0)
    with pytest.raises(ValueError, match="fixed-step"):
        integrate_batch(Setup("gd"), QUAD, make_hyper(), 5, START[None], solver="adaptive")
    with pytest.raises(ValueError, match="flow option"):
        from dynamics.rollout import rollout
        rollout(Setup("lion", lion_sign="smooth"), QUAD, make_hyper(), 5)


# --- the command line ---------------------------------------------------------------------------

def run_cli(capsys, *argv):
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_ode_mode_json(capsys):
    args = ["--toy", "quadratic", "--optimizer", "gdm", "--lr", "0.05", "--beta", "0.8", "--steps", "5"]
    code, out, err = run_cli(capsys, *args, "--mode", "ode", "--solver", "rk4", "--substeps", "16", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"iterates", "loss", "hamiltonian", "masked_fraction", "loss_rises", "diverged", "config",
            "time", "dH_dt", "dL_dt", "solver_status"} <= set(data)
    assert data["time"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert data["config"]["mode"] == "ode" and data["config"]["solver"] == "rk4"
    ref = gdm_reference(0.05, 0.8, 5)
    np.testing.assert_allclose(np.array(data["iterates"]), ref[:, :2], atol=1e-5)
    assert all(x <= 1e-12 for x in data["dH_dt"]) and data["diverged"] is False
    # discrete mode keeps its keys (no ODE extras)
    code, out, _ = run_cli(capsys, *args, "--json")
    assert code == 0 and "time" not in json.loads(out) and json.loads(out)["config"]["mode"] == "discrete"


def test_cli_adaptive_stop_is_reported_as_null_rows(capsys):
    code, out, _ = run_cli(capsys, "--toy", "rosenbrock", "--lr", "0.001", "--cautious", "--steps", "200",
                           "--mode", "ode", "--solver", "adaptive", "--max-steps", "1000", "--json")
    data = json.loads(out)
    assert code == 0 and data["solver_status"]["stopped_early"] and data["iterates"][-1] == [None, None]
    assert data["diverged"] is False


@pytest.mark.parametrize("argv, option", [
    (["--mode", "ode", "--solver", "midpoint"], "--solver"),
    (["--mode", "ode", "--substeps", "0"], "--substeps"),
    (["--mode", "ode", "--solver", "adaptive", "--rtol", "-1"], "--rtol"),
    (["--mode", "ode", "--solver", "adaptive", "--max-steps", "0"], "--max-steps"),
    (["--mode", "sde"], "--mode"),
    (["--optimizer", "lion", "--lion-sign", "smooth"], "--lion-sign"),
])
def test_cli_bad_values_exit_2_with_one_line(capsys, argv, option):
    try:
        code = main(["run", *argv])
    except SystemExit as exc:  # argparse choices
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and option in err
