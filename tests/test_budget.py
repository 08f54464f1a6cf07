"""The work budget (dynamics.budget): sizes against hand counts, the limit's environment
variable, and the command line's refusals (exit 2, one line, before any computation)
and --allow-large."""
from __future__ import annotations

import json
import time

import pytest

from cli.main import main
from dynamics import budget
from dynamics.budget import BudgetError, flow_cost, grid_cost, problem, runs_cost, work_limit
from dynamics.configfile import save
from dynamics.ode import ADAPTIVE_DEFAULTS
from figures import presets

ATTACK = dict(per_axis=(256, 256), steps=5000, seeds=64, runs=2, noisy=True)   # the probe's rate maps

ADAPTIVE = ADAPTIVE_DEFAULTS["method"], ADAPTIVE_DEFAULTS["max_steps"]     # the adaptive solver's own options


def test_grid_cost_counts_cells_steps_seeds_runs_and_noise():
    cost = grid_cost("the rate maps", ATTACK["per_axis"], ATTACK["steps"], ATTACK["seeds"], ATTACK["runs"], True)
    assert cost.work == 167_772_160_000             # 65536 cells x 5000 x 64 seeds x 2 runs x 4 (noise)
    assert cost.bytes == 2_147_483_648              # 65536 x 64 x 2 cell-runs x 16 floats x 8 bytes x 2 copies
    assert cost.formula == "256 x 256 cells x 5000 steps x 64 seeds x 2 runs with noise"
    plain = grid_cost("the sweep", (3, 5), 7)
    assert (plain.work, plain.bytes) == (105, 3840)   # 15 cells x 7 steps; 15 x 256 bytes


def test_flow_and_run_costs_count_stages_and_substeps():
    assert flow_cost("f", 1000, "rk4", 10, *ADAPTIVE).work == 40_000               # 1000 x 10 substeps x 4 stages
    assert flow_cost("f", 1000, "euler", 10, *ADAPTIVE, runs=3).work == 30_000
    assert flow_cost("f", 1000, "adaptive", 10, *ADAPTIVE).work == 700_000   # 100000 steps at most x 7 (tsit5)
    assert flow_cost("f", 1000, "adaptive", 10, "dopri8", 10).work == 130
    assert flow_cost("f", 1000, "rk4", 10, *ADAPTIVE).bytes == 1001 * 256
    run = runs_cost("r", 1000, runs=3)
    assert (run.work, run.bytes) == (3000, 1001 * 3 * 256)
    assert runs_cost("r", 1000, runs=3, noisy=True).work == 12_000
    both = run + flow_cost("f", 1000, "rk4", 10, *ADAPTIVE)
    assert (both.work, both.what) == (43_000, "r and f")


def test_the_probe_is_refused_with_one_line_naming_size_limit_and_remedy():
    cost = grid_cost("the rate maps", ATTACK["per_axis"], ATTACK["steps"], ATTACK["seeds"], ATTACK["runs"], True)
    text = problem(cost, budget.APP_WORK_LIMIT, "raise it", lower="lower the seeds")
    assert text == ("too large: the rate maps = 1.68e+11 gradient evaluations (256 x 256 cells x 5000 steps x 64 seeds "
                    "x 2 runs with noise), above the limit of 1e+09; lower the seeds, or raise it")
    assert problem(grid_cost("m", (64, 64), 1000, runs=2), budget.APP_WORK_LIMIT, "") is None   # the opening view
    assert problem(cost, None, "") is None                  # no work limit, and 2 GiB fits in memory
    huge = runs_cost("the run", 10**25)
    assert "memory limit of 8 GiB" in problem(huge, None, "")


@pytest.mark.parametrize("text, value", [("5e9", 5_000_000_000), (" 1234 ", 1234), ("", 77)])
def test_the_environment_variable_sets_the_limit(monkeypatch, text, value):
    monkeypatch.setenv(budget.ENV, text)
    assert work_limit(77) == value


@pytest.mark.parametrize("text", ["abc", "-1", "0", "inf", "nan", "1e400"])
def test_a_bad_environment_variable_is_one_clear_error(monkeypatch, text):
    monkeypatch.setenv(budget.ENV, text)
    with pytest.raises(BudgetError, match=f"^DYNAMICS_WORK_LIMIT must be a number of gradient evaluations >= 1 "
                                          f"such as 5e9; got '{text}'$"):
        work_limit(77)


def cli(capsys, *argv):
    """main(argv) in-process: (exit status, stdout, stderr, seconds)."""
    t0 = time.perf_counter()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err, time.perf_counter() - t0


def refused(capsys, *argv, command: str = "") -> str:
    code, out, err, seconds = cli(capsys, *argv)
    assert code == 2 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, (code, err)
    assert err.startswith(f"python -m dynamics {command or argv[0]}: error: ")
    assert seconds < 5, seconds                   # refused before any computation
    return err.strip()


@pytest.mark.parametrize("argv, what", [
    (("run", "--steps", "1000000000"), "the run would hold 238 GiB of arrays (1000000000 steps), above the "
                                       "memory limit of 8 GiB"),
    (("run", "--steps", "99999999999999999999999999"), "the run would hold about 10^28 bytes"),
    (("run", "--steps", "99999999999999999999999999", "--allow-large"), "the run would hold about 10^28 bytes"),
    (("run", "--mode", "ode", "--substeps", "10000000"), "the ODE solve = 4e+10 gradient evaluations (1000 steps "
                                                         "x 10000000 substeps x 4 stages), above the limit of 2e+10"),
    (("run", "--mode", "ode", "--solver", "adaptive", "--max-steps", "10000000000"), "the ODE solve = 7e+10"),
    (("sweep", "--lr-range", "0.01:0.5:4096", "--beta-range", "0:0.9:4096", "--steps", "5000"),
     "the sweep = 8.39e+10 gradient evaluations (4096 x 4096 cells x 5000 steps)"),
    (("sweep", "--noise-sigma", "1", "--seeds", "1024", "--lr-range", "0.01:0.5:256", "--beta-range", "0:0.9:64"),
     "the sweep = 6.71e+10 gradient evaluations (64 x 256 cells x 1000 steps x 1024 seeds with noise)"),
])
def test_the_command_line_refuses_large_requests_before_computing(capsys, argv, what):
    assert f"error: too large: {what}" in refused(capsys, *argv)


def test_a_huge_fig3_configuration_is_refused_before_allocation(capsys, tmp_path):
    config = presets.default_config("fig3")
    config["lr_range"]["n"] = config["beta_range"]["n"] = 100000
    save(config, str(tmp_path / "fig3.json"))
    err = refused(capsys, "figure", "--config", str(tmp_path / "fig3.json"), "--out", str(tmp_path / "f.pdf"),
                  "--allow-large")
    # 1e10 cells x 2 runs x 16 floats x 8 bytes x 2 copies = 5.12e12 bytes = 4768 GiB
    assert "too large: the fig3 rate maps would hold 4.77e+03 GiB of arrays (100000 x 100000 cells x 1000 steps x " \
           "2 runs)" in err


def test_presets_are_sized_by_hand(monkeypatch, capsys, tmp_path):
    assert presets.cost(presets.default_config("fig3")).work == 32_768_000          # 128 x 128 x 1000 x 2 runs
    assert presets.cost(presets.default_config("fig2-ablation")).work == 12_000      # 12 runs x 1000 steps
    monkeypatch.setenv(budget.ENV, "1e6")
    err = refused(capsys, "figure", "--preset", "fig3", "--out", str(tmp_path / "f.pdf"))
    assert "the fig3 rate maps = 3.28e+07 gradient evaluations" in err and "--allow-large" in err
    err = refused(capsys, "animate", "--preset", "fig2", "--steps", "400000", "--out", str(tmp_path / "m.gif"))
    assert "the fig2 runs = 1.2e+06 gradient evaluations (400000 steps x 3 runs)" in err


def test_allow_large_lets_a_request_above_the_limit_through(monkeypatch, capsys):
    monkeypatch.setenv(budget.ENV, "100")
    argv = ("run", "--steps", "200", "--json")
    assert "the run = 200 gradient evaluations (200 steps), above the limit of 100" in refused(capsys, *argv)
    code, out, err, _ = cli(capsys, *argv, "--allow-large")
    assert code == 0 and len(json.loads(out)["loss"]) == 201
    sweep = ("sweep", "--lr-range", "0.1:0.2:2", "--beta-range", "0:0.5:2", "--steps", "50", "--json")
    assert "the sweep = 200 gradient evaluations" in refused(capsys, *sweep)
    code, out, err, _ = cli(capsys, *sweep, "--allow-large")
    assert code == 0 and len(json.loads(out)["rate"]) == 2


def test_a_bad_environment_variable_stops_the_command_line_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv(budget.ENV, "lots")
    assert refused(capsys, "run", "--steps", "10").endswith("DYNAMICS_WORK_LIMIT must be a number of gradient "
                                                            "evaluations >= 1 such as 5e9; got 'lots'")
