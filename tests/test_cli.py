"""``python -m dynamics run``: the JSON output against the library roll-out, the
resolved config, the quadratic's kappa shorthand, the summary, and bad values
(exit status 2, one line on stderr naming the option, no traceback)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from dynamics import Setup, loss_rises, make_hyper, rollout
from toys import TOYS, get_toy

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    """main(["run", ...]) in-process: (exit status, stdout, stderr)."""
    try:
        code = main(["run", *argv])
    except SystemExit as exc:   # argparse's own errors (e.g. choices)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_equals_the_library(capsys):
    argv = ["--toy", "rosenbrock", "--optimizer", "gdm", "--lr", "0.001", "--beta", "0.95", "--steps", "60",
            "--cautious", "--mask", "elementwise-ge", "--compensation", "count", "--start", "-1.5,2",  # leading minus
            "--toy-param", "b=50", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert {"iterates", "loss", "hamiltonian", "masked_fraction", "loss_rises", "diverged", "config"} <= set(data)
    for key in ("iterates", "loss", "hamiltonian", "masked_fraction"):
        assert len(data[key]) == 61
    assert all(isinstance(w, list) and len(w) == 2 for w in data["iterates"])
    ref = rollout(Setup("gdm", cautious=True, mask="elementwise-ge", compensation="count"), get_toy("rosenbrock"),
                  make_hyper(lr=0.001, beta=0.95), 60, start=(-1.5, 2.0), toy_params={"b": 50.0})
    np.testing.assert_array_equal(np.array(data["iterates"]), ref.w)   # JSON floats round-trip exactly
    np.testing.assert_array_equal(data["loss"], ref.loss)
    np.testing.assert_array_equal(data["hamiltonian"], ref.hamiltonian)
    np.testing.assert_array_equal(data["masked_fraction"], ref.masked_fraction)
    steps, sizes = loss_rises(ref.loss)
    assert data["loss_rises"] == {"steps": steps.tolist(), "sizes": sizes.tolist()}
    assert data["diverged"] is False
    assert data["config"] == dict(
        toy="rosenbrock", toy_params={"a": 1.0, "b": 50.0}, start=[-1.5, 2.0], optimizer="gdm", dampening=False,
        cautious=True, mask="elementwise-ge", compensation="count", weight_decay_mode="none", wd=0.0,
        lr=0.001, beta=0.95, beta2=0.999, adam_eps=1e-8, tau=1e-3, mu=1.0, steps=60, dtype="float64",
        mode="discrete", bias_correction=True, lion_sign="hard", sign_tau=1e-3)


def test_json_defaults_and_decay(capsys):
    code, out, _ = run(capsys, "--optimizer", "lion", "--weight-decay-mode", "cautious", "--wd", "0.2",
                       "--steps", "20", "--json")
    data = json.loads(out)
    cfg = data["config"]
    assert code == 0 and cfg["toy"] == "quad-repo" and cfg["start"] == [-5.0, 5.0] and cfg["beta2"] == 0.99
    ref = rollout(Setup("lion", decay="cautious"), get_toy("quad-repo"),
                  make_hyper(lr=0.01, beta=0.9, beta2=0.99, wd=0.2), 20)
    np.testing.assert_array_equal(np.array(data["iterates"]), ref.w)


def test_json_loss_rises_use_the_threshold_and_the_toys_minimum_value(capsys):
    """The six-hump camel (L* = -1.0316284534898774, its published minimum) from a start
    with L(w_0) = -0.0098: a rise counts above 1e-12 max(|L(w_0)|, |L(w_0) - L*|) = 1.02e-12,
    not above 1e-12 |L(w_0)| (which would count rounding-sized rises near L*)."""
    argv = ["--toy", "camel", "--start", "0.1,-0.1", "--lr", "0.02", "--beta", "0.9", "--steps", "3000", "--json"]
    data = json.loads(run(capsys, *argv)[1])
    loss = np.array(data["loss"])
    d = np.diff(loss)
    expected = np.nonzero(d > 1e-12 * max(abs(loss[0]), abs(loss[0] + 1.0316284534898774)))[0] + 1
    assert data["loss_rises"]["steps"] == expected.tolist() and len(expected) > 0
    assert len(np.nonzero(d > 1e-12 * abs(loss[0]))[0]) > len(expected)     # the threshold matters here
    assert "rise_rel" not in data["config"]                                 # the default is not recorded
    data = json.loads(run(capsys, *argv, "--rise-rel", "0")[1])
    assert data["loss_rises"]["steps"] == (np.nonzero(d > 0)[0] + 1).tolist() and data["config"]["rise_rel"] == 0.0


@pytest.mark.parametrize("params, h1, h2", [
    (["kappa=10", "angle=0.3"], 2.0, 20.0),           # h1 stays at the default 2
    (["kappa=4", "h1=0.5"], 0.5, 2.0),                # kappa applies to the h1 given, in either order
    (["h1=0.5", "kappa=4"], 0.5, 2.0),
])
def test_kappa_sets_h2(capsys, params, h1, h2):
    argv = ["--toy", "quadratic", "--steps", "15", "--json"]
    for item in params:
        argv += ["--toy-param", item]
    code, out, _ = run(capsys, *argv)
    data = json.loads(out)
    toy_params = data["config"]["toy_params"]
    assert code == 0 and (toy_params["h1"], toy_params["h2"]) == (h1, h2) and "kappa" not in toy_params
    ref = rollout(Setup("gdm"), get_toy("quadratic"), make_hyper(), 15, toy_params=toy_params)
    np.testing.assert_array_equal(data["loss"], ref.loss)


def test_summary_reports_the_paper_toy(capsys):
    code, out, _ = run(capsys, "--lr", "0.01", "--beta", "0.99", "--steps", "1000")
    assert code == 0 and "GDM on quad-repo, 1000 steps" in out
    assert "loss rose by more than 1e-12 L(w_0) at 484 steps" in out
    code, out, _ = run(capsys, "--lr", "0.01", "--beta", "0.99", "--steps", "1000", "--cautious")
    assert code == 0 and "C-GDM on quad-repo" in out
    assert "loss rose by more than 1e-12 L(w_0) at 4 steps (largest rise 0.001)" in out
    code, out, _ = run(capsys, "--lr", "0.01", "--beta", "0.99", "--steps", "1000", "--cautious", "--rise-rel", "0")
    assert "loss rose by more than 0 L(w_0) at 10 steps (largest rise 0.001)" in out   # every rise


@pytest.mark.parametrize("argv, option, allowed", [
    (["--toy", "nope"], "--toy", "quad-repo, quad-k4, rosenbrock"),
    (["--lr", "-0.1"], "--lr", "> 0"),
    (["--lr", "0"], "--lr", "> 0"),
    (["--lr", "-1e-3"], "--lr", "> 0"),              # a value with a minus, not an option
    (["--beta", "1.0"], "--beta", "[0, 1)"),
    (["--beta", "-0.1"], "--beta", "[0, 1)"),
    (["--optimizer", "adam", "--beta2", "1"], "--beta2", "[0, 1)"),
    (["--start", "1,2,3"], "--start", "two finite numbers X,Y"),
    (["--start", "a,b"], "--start", "two finite numbers X,Y"),
    (["--start", "-1,2,3"], "--start", "two finite numbers X,Y"),
    (["--toy-param", "zz=1"], "--toy-param", "allowed: angle, cx, cy, h1, h2, kappa"),
    (["--toy", "rosenbrock", "--toy-param", "kappa=2"], "--toy-param", "allowed: a, b"),
    (["--toy-param", "h1"], "--toy-param", "KEY=VALUE"),
    (["--toy-param", "kappa=-1"], "--toy-param", "> 0"),
    (["--optimizer", "sgd"], "--optimizer", "'gd', 'gdm', 'nesterov', 'adam', 'lion'"),
    (["--mask", "sign"], "--mask", "'elementwise', 'elementwise-ge', 'inner', 'threshold', 'smooth'"),
    (["--steps", "0"], "--steps", ">= 1"),
    (["--wd", "-1"], "--wd", ">= 0"),
    (["--rise-rel", "-1e-12"], "--rise-rel", "in [0, 1]"),
])
def test_bad_values_exit_2_with_one_line(capsys, argv, option, allowed):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert f"argument {option}" in err and allowed in err, err
    assert "Traceback" not in err


def test_unknown_toy_lists_every_toy(capsys):
    _, _, err = run(capsys, "--toy", "nope")
    assert all(name in err for name in TOYS)


def python_m_dynamics(*argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dynamics", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_python_m_dynamics_help_and_exit_status():
    top = python_m_dynamics("--help")
    assert top.returncode == 0 and "run" in top.stdout and "w_{t+1} = w_t - lr * u_t" in top.stdout
    sub = python_m_dynamics("run", "--help")
    assert sub.returncode == 0
    for option in ("--toy", "--toy-param", "--start", "--optimizer", "--lr", "--beta", "--cautious", "--mask",
                   "--compensation", "--weight-decay-mode", "--steps", "--json"):
        assert option in sub.stdout
    bad = python_m_dynamics("run", "--beta", "1.0")
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "python -m dynamics run: error: argument --beta: must be in [0, 1), got 1"
