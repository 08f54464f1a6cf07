"""Batched (lr, beta) sweeps (dynamics.sweep, docs/theory.md Section 5): the estimated
rate map of gdm on w1^2 + 4 w2^2 against the closed form (the acceptance grid of the
paper's Figure 3 in float64, rotated and in float32), the optimal cell, one cell
against the single run, no recompilation, chunking, several devices, sentinels, the
command line and a smoke run of the benchmark."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cli.main import main
from dynamics import Setup, make_hyper, rollout
from dynamics.horizon import step_bucket
from dynamics.metrics import minimiser_set
from dynamics.noisy_sweep import noisy_sweep
from dynamics.optimizers.gdm import optimum as heavy_ball_optimum, rate as heavy_ball_rate
from dynamics.optimizers.nesterov import rate as nesterov_rate
from dynamics.rates import RATE_DIVERGED, distance_rate
from dynamics.sweep import grid_axis, sweep
from dynamics.sweep_program import compiled_sweep
from toys import Toy, get_toy

ROOT = Path(__file__).resolve().parents[1]
QUAD = get_toy("quad-k4")                 # w1^2 + 4 w2^2: Hessian eigenvalues 2, 8
LR = grid_axis(0.02, 0.5, 32)
BETA = grid_axis(0.0, 0.9, 32)
STEPS = 1000
TOL = 1e-30                               # long rate windows: the minimiser is 0, so no float floor


@pytest.fixture(scope="module")
def gdm_map():
    return sweep(Setup("gdm"), QUAD, LR, BETA, STEPS, tol=TOL, rate_method="estimate")


def _outputs(r):
    return (r.rate, r.steps_to_tol, r.final_suboptimality, r.max_loss_rise, r.diverged, r.rate_uncertainty,
            r.settled)


def _assert_same_cells(a, b):
    """Trajectory outputs bit for bit; the fitted rate and uncertainty to a few ulps (the
    fit of another chunk shape may round differently in the last bit)."""
    for name, x, y in zip(("rate", "steps", "sub", "rise", "diverged", "spread", "settled"), a, b):
        if name in ("rate", "spread"):
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


# The paper's Figure 3 grid (issue 10's acceptance): lr 0.01..0.5 x beta 0..0.95, 128 x 128, 1000 steps.
FIG3_LR, FIG3_BETA = grid_axis(0.01, 0.5, 128), grid_axis(0.0, 0.95, 128)


@pytest.mark.parametrize("dtype,angle,max_err", [("float64", 0.0, 2e-3), ("float64", 0.3, 2e-3),
                                                 ("float32", 0.0, 2e-3), ("float32", 0.3, 2e-3)])
def test_estimated_gdm_map_equals_the_closed_form_on_the_figure_3_grid(dtype, angle, max_err):
    """The estimator against the heavy ball's spectral radius, cell by cell over the
    converging cells: median < 1e-4, max < 2e-3, no cell below the optimum 1/3, the
    best cell the exact best cell (measured: median 6e-6, max 6e-4 unrotated, 1e-3
    rotated, in both precisions); diverging cells read their rho > 1 as well."""
    r = sweep(Setup("gdm", dtype=dtype), QUAD, FIG3_LR, FIG3_BETA, 1000, toy_params=dict(angle=angle),
              rate_method="estimate")
    exact = heavy_ball_rate(FIG3_LR[None, :], FIG3_BETA[:, None], [2.0, 8.0])
    np.testing.assert_array_equal(r.rate_exact, exact)
    conv = exact < 1
    err = np.abs(r.rate - exact)
    assert np.median(err[conv]) < 1e-4 and err[conv].max() < max_err
    assert not (r.rate[conv] < 1 / 3).any()
    row, col = np.unravel_index(np.argmin(np.where(conv, exact, np.inf)), exact.shape)
    assert (r.best()["row"], r.best()["col"]) == (row, col)
    assert np.median(err[~conv]) < 1e-4                                  # rho > 1 read as it is
    assert r.settled[conv].mean() > 0.99
    assert np.all(exact[r.diverged] > 1)                                 # flagged only where unstable


def test_auto_is_exact_where_a_closed_form_exists():
    r = sweep(Setup("nesterov"), QUAD, LR[::4], BETA[::4], 300, tol=TOL)
    exact = nesterov_rate(LR[::4][None, :], BETA[::4][:, None], [2.0, 8.0])
    assert r.rate_method == "exact" and np.array_equal(r.rate, exact) and np.array_equal(r.rate_exact, exact)
    conv = exact < 1
    assert np.abs(r.rate_estimate - exact)[conv].max() < 2e-3             # the simulation beside it
    c = sweep(Setup("nesterov", cautious=True), QUAD, LR[::4], BETA[::4], 300, tol=TOL)
    assert c.rate_method == "estimate" and c.rate_exact is None and np.array_equal(c.rate, c.rate_estimate)
    with pytest.raises(ValueError, match="no closed-form rate"):
        sweep(Setup("nesterov", cautious=True), QUAD, [0.1], [0.5], 10, rate_method="exact")


def test_best_gdm_cell_is_the_heavy_ball_optimum(gdm_map):
    opt = heavy_ball_optimum(2.0, 8.0)                 # eps* = 2/9, beta* = 1/9, rate 1/3
    best = gdm_map.best()
    assert abs(best["lr"] - opt["lr"]) <= LR[1] - LR[0]
    assert abs(best["beta"] - opt["beta"]) <= BETA[1] - BETA[0]
    assert best["rate"] > 1 / 3
    assert best["rate"] == pytest.approx(heavy_ball_rate(best["lr"], best["beta"], [2.0, 8.0]), abs=1e-4)


def test_outputs_are_finite_and_sentinels_mark_divergence(gdm_map):
    for arr in _outputs(gdm_map):
        assert np.all(np.isfinite(arr))
    d = gdm_map.diverged
    assert d.any() and (~d).any()
    assert np.all(gdm_map.rate[d] > 1) and np.all(gdm_map.steps_to_tol[d] == -1)
    assert np.all(gdm_map.max_loss_rise >= 0)


def test_the_cautious_map_does_not_underflow():
    """A cell where the product u_i g_i underflowed (issue 10: a coordinate froze at
    7.6e-156 and the old map read rate ~1 there): renormalised and masked from signs,
    it converges at its rate to the end."""
    lr, beta = 0.16555555555555557, 0.04523809523809523
    r = sweep(Setup("gdm", cautious=True), QUAD, [lr], [beta], 1000, rate_method="estimate")
    assert r.rate[0, 0] < 0.7 and not r.diverged[0, 0] and r.steps_to_tol[0, 0] > 0


def test_second_call_with_the_same_shapes_does_not_recompile(gdm_map):
    fn = compiled_sweep(Setup("gdm"), QUAD, step_bucket(STEPS))
    before = fn._cache_size()
    assert before >= 1
    again = sweep(Setup("gdm"), QUAD, LR * 0.9, BETA * 0.5, STEPS, tol=1e-20, start=(1.0, -1.0))   # new numbers
    assert fn._cache_size() == before
    assert not np.array_equal(again.rate, gdm_map.rate)


def _single_run(setup, toy, hp, steps, tol):
    """The rate metrics of one cell computed from the single run (dynamics.rollout)."""
    traj = rollout(setup, toy, hp, steps)
    params = toy.params()
    minima, loss_min = minimiser_set(toy)
    if toy.valley:
        d = np.abs(np.asarray(toy.set_residual(traj.w, params)))
    else:
        d = np.sqrt(((traj.w[:, None, :] - minima[None]) ** 2).sum(-1)).min(1)
    rr = distance_rate(d, tol, traj.loss)
    return rr, traj.loss[-1] - loss_min, max(0.0, float(np.diff(traj.loss).max()))


def _numpy_reference():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_sweep import numpy_sweep
    finally:
        sys.path.pop(0)
    return numpy_sweep


CELL_CASES = [
    ("quad-k4", Setup("gdm"), [0.05, 0.2, 0.3], [0.0, 0.5, 0.9], 300, 1e-12, {}),
    ("quad-k4", Setup("gdm", cautious=True, mask="smooth"), [0.05, 0.15], [0.3, 0.8], 300, 1e-12, dict(tau=0.1)),
    ("rosenbrock", Setup("adam", cautious=True), [1e-3, 1e-2], [0.8, 0.9], 400, 1e-6, dict(beta2=0.999)),
    ("himmelblau", Setup("lion"), [1e-3, 1e-2], [0.9, 0.95], 400, 1e-4, dict(beta2=0.99)),
    ("valley-line", Setup("nesterov", decay="cautious"), [0.05, 0.3], [0.5, 0.9], 300, 1e-8, dict(wd=0.01)),
]


@pytest.mark.parametrize("case", CELL_CASES, ids=lambda c: f"{c[0]}-{c[1].optimizer}")
def test_every_cell_equals_the_single_run(case):
    """One optax code path (make_optimizer): each cell of the sweep equals dynamics.rollout
    with the same settings, to floating-point rounding (XLA contracts multiply-adds into
    FMAs differently in the batched and the single program, by ~1 ulp per step).  The
    rate of a distance run is distance_rate of the roll-out's d_t; that of a renormalised
    run (gdm on a quadratic) the independent NumPy implementation of bench_sweep."""
    name, setup, lrs, betas, steps, tol, extra = case
    toy = get_toy(name)
    hp = make_hyper(setup.dtype, **extra)
    r = sweep(setup, toy, lrs, betas, steps, tol=tol, hp=hp, rate_method="estimate")
    renormalised = toy.eigenvalues is not None and not setup.cautious
    if renormalised:
        lr_c, beta_c = np.tile(lrs, len(betas)), np.repeat(betas, len(lrs))
        numpy_rate = _numpy_reference()(lr_c, beta_c, (2.0, 8.0), toy.start, steps, tol, False)["rate"]
    for i, b in enumerate(betas):
        for j, lr in enumerate(lrs):
            ref, subopt, rise = _single_run(setup, toy, hp._replace(lr=lr, beta=b), steps, tol)
            cell = r.cell(j, i)
            assert (cell["diverged"], cell["steps_to_tol"]) == (ref.diverged, ref.steps_to_tol), (lr, b)
            expected = numpy_rate[i * len(lrs) + j] if renormalised else ref.rate
            assert cell["rate"] == pytest.approx(expected, rel=1e-9), (lr, b)
            if not renormalised:
                assert cell["rate_uncertainty"] == pytest.approx(ref.uncertainty, rel=1e-6, abs=1e-12)
                assert cell["settled"] == ref.settled
            if not ref.diverged:
                assert cell["final_suboptimality"] == pytest.approx(subopt, rel=1e-7, abs=1e-12)
                assert cell["max_loss_rise"] == pytest.approx(rise, rel=1e-7, abs=1e-12)


def test_a_cell_alone_equals_the_same_cell_in_a_grid():
    """Bitwise trajectories, even for the hard cautious mask whose dynamics amplify
    rounding: chunking and padding do not change a cell's program (the fit to a few ulps)."""
    setup = Setup("gdm", cautious=True)
    lr, beta = LR[::4], BETA[::4]
    grid = sweep(setup, QUAD, lr, beta, 300, tol=TOL)
    for i, j in [(0, 0), (2, 3), (5, 1), (7, 7)]:
        alone = sweep(setup, QUAD, [lr[j]], [beta[i]], 300, tol=TOL)
        a, b = alone.cell(0, 0), grid.cell(j, i)
        for key in ("rate", "rate_estimate", "rate_uncertainty"):
            assert a.pop(key) == pytest.approx(b.pop(key), rel=1e-13, abs=1e-12)
        assert a == b


def test_chunks_and_progress():
    setup = Setup("gdm", cautious=True)
    calls = []
    r = sweep(setup, QUAD, LR[:7], BETA[:5], 300, tol=TOL, chunk_cells=8,
              progress=lambda done, total: calls.append((done, total)))
    whole = sweep(setup, QUAD, LR[:7], BETA[:5], 300, tol=TOL)
    _assert_same_cells(_outputs(r), _outputs(whole))
    assert calls[0] == (0, 35) and calls[-1] == (35, 35) and len(calls) == 6
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def _cliff(w, p):
    """0.5 |w|^2, and an infinite loss (finite gradient) beyond w1 = 2."""
    return 0.5 * jnp.sum(w**2, axis=-1) + jnp.where(w[..., 0] > 2, jnp.inf, 0.0)


CLIFF = Toy(name="cliff", title="cliff", latex=lambda p: "", value=_cliff, defaults={},
            domain=((-3.0, 3.0), (-3.0, 3.0)), start=(-3.0, 0.5), approx_minima=lambda p: [(0.0, 0.0)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_divergence_never_gives_nan(dtype):
    """gd with lr 1.9 jumps to w1 = 2.7: the loss is infinite while d_t is still small; lr 3
    diverges in distance.  Both are flagged, and every output stays finite."""
    r = sweep(Setup("gd", dtype=dtype), CLIFF, [0.5, 1.9, 3.0], [0.0], 100, tol=1e-3)
    np.testing.assert_array_equal(r.diverged, [[False, True, True]])
    for arr in _outputs(r):
        assert np.all(np.isfinite(arr))
    assert r.rate[0, 0] == pytest.approx(0.5, rel=1e-5) and np.all(r.rate[0, 1:] == RATE_DIVERGED)
    traj = rollout(Setup("gd", dtype=dtype), CLIFF, make_hyper(dtype, lr=1.9), 100)
    assert distance_rate(np.linalg.norm(traj.w, axis=1), 1e-3, traj.loss).diverged


def test_rejects_toys_without_minima_and_bad_tolerances():
    with pytest.raises(ValueError, match="no minimiser"):
        sweep(Setup("gdm"), get_toy("saddle"), [0.1], [0.5], 10)
    with pytest.raises(ValueError, match="tol"):
        sweep(Setup("gdm", dtype="float32"), QUAD, [0.1], [0.5], 10, tol=1e-30)


_DEVICES_SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from dynamics import Setup, enable_float64
    from dynamics.sweep import grid_axis, sweep
    from dynamics.horizon import step_bucket
    from dynamics.sweep_program import compiled_sweep
    from toys import Toy, get_toy
    enable_float64()
    assert len(jax.devices()) == 4, jax.devices()
    r = sweep(Setup("gdm", cautious=True), get_toy("quad-k4"), grid_axis(0.02, 0.5, 12), grid_axis(0.0, 0.9, 10),
              300, tol=1e-30)
    fn = compiled_sweep(Setup("gdm", cautious=True), get_toy("quad-k4"), step_bucket(300), tuple(jax.devices()))
    assert fn._cache_size() == 1     # the sharded program ran
    np.savez(sys.argv[1], rate=r.rate, steps=r.steps_to_tol, sub=r.final_suboptimality, rise=r.max_loss_rise,
             diverged=r.diverged, spread=r.rate_uncertainty, settled=r.settled)
""")


def test_sharded_over_four_devices_equals_one_device(tmp_path):
    out = tmp_path / "four.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PYTHONPATH": str(ROOT),
           "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT, str(out)], env=env, check=True, cwd=ROOT, timeout=300)
    four = np.load(out)
    one = sweep(Setup("gdm", cautious=True), QUAD, grid_axis(0.02, 0.5, 12), grid_axis(0.0, 0.9, 10), 300, tol=1e-30)
    assert len(jax.devices()) == 1
    _assert_same_cells([four[key] for key in ("rate", "steps", "sub", "rise", "diverged", "spread", "settled")],
                       _outputs(one))


# ----------------------------------------------------------------------------- command line

def test_cli_json(capsys, tmp_path):
    npz = tmp_path / "map.npz"
    code = main(["sweep", "--toy", "quad-k4", "--lr-range", "0.02:0.5:6", "--lr-scale", "linear",
                 "--beta-range", "0:0.9:4", "--steps", "300", "--tol", "1e-30", "--json", "--out", str(npz)])
    captured = capsys.readouterr()
    assert code == 0
    data = json.loads(captured.out)
    assert {"lr", "beta", "rate", "rate_method", "rate_estimate", "rate_uncertainty", "settled", "rate_exact",
            "steps_to_tol", "diverged", "best", "config"} <= set(data)
    assert len(data["lr"]) == 6 and len(data["beta"]) == 4
    assert np.asarray(data["rate"]).shape == (4, 6) and np.asarray(data["diverged"]).dtype == bool
    assert np.asarray(data["settled"]).dtype == bool
    assert set(data["best"]) == {"lr", "beta", "rate"} and data["config"]["lr_range"]["n"] == 6
    assert data["rate_method"] == "exact" and data["config"]["rate_method"] == "auto"      # auto: the closed form
    assert "sweep: 24/24 cells (100%)" in captured.err
    saved = np.load(npz)
    exact = heavy_ball_rate(saved["lr"][None], saved["beta"][:, None], [2.0, 8.0])
    np.testing.assert_allclose(saved["rate"], data["rate"])
    np.testing.assert_array_equal(saved["rate"], exact)
    np.testing.assert_array_equal(saved["rate_exact"], exact)
    assert str(saved["rate_method"]) == "exact"
    np.testing.assert_allclose(saved["rate_estimate"], data["rate_estimate"])


def test_cli_rate_method_estimate_and_its_refusal(capsys):
    base = ["sweep", "--toy", "quad-k4", "--lr-range", "0.02:0.5:6", "--lr-scale", "linear", "--beta-range",
            "0:0.9:4", "--steps", "300", "--json"]
    assert main(base + ["--rate-method", "estimate"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rate_method"] == "estimate" and data["rate"] == data["rate_estimate"]
    assert main(base + ["--rate-method", "exact", "--cautious"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--rate-method" in err and "no closed-form rate" in err


def test_cli_json_best_is_null_when_every_cell_diverges(capsys):
    assert main(["sweep", "--toy", "quad-k4", "--lr-range", "1:2:3", "--beta-range", "0:0.5:2", "--steps", "200",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["best"] is None and all(all(row) for row in data["diverged"])


def test_cli_summary_names_the_best_cell(capsys):
    assert main(["sweep", "--toy", "quad-k4", "--lr-range", "0.02:0.5:6", "--lr-scale", "linear",
                 "--beta-range", "0:0.9:4", "--steps", "300", "--cautious"]) == 0
    out = capsys.readouterr().out
    assert "C-GDM on quad-k4: 4 x 6" in out and "best cell" in out


@pytest.mark.parametrize("argv,option,needle", [
    (["--lr-range", "0:1:10"], "--lr-range", "lr must be > 0"),
    (["--lr-range", "0.1:0.5"], "--lr-range", "LO:HI:N"),
    (["--beta-range", "0:1:5"], "--beta-range", "[0, 1)"),
    (["--beta-scale", "log"], "--beta-range", "LO > 0"),
    (["--toy", "saddle"], "--toy", "no minimiser"),
    (["--tol", "0"], "--tol", "> 0"),
    (["--lr-scale", "cubic"], "--lr-scale", "choose from"),
    (["--out", "/no/such/folder/x.npz"], "--out", "does not exist"),
    (["--noise-sigma", "-1"], "--noise-sigma", ">= 0"),
    (["--noise-sigma", "0.1", "--seeds", "0"], "--seeds", "from 1 to"),
])
def test_cli_bad_values_exit_2_with_one_line(capsys, argv, option, needle):
    try:
        code = main(["sweep", "--steps", "5", *argv])
    except SystemExit as stop:                       # argparse choices
        code = stop.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert option in err and needle in err


# ----------------------------------------------------------------------------- benchmark

def test_numpy_baseline_equals_the_jax_sweep():
    numpy_sweep = _numpy_reference()
    lr, beta = np.tile(LR, 32), np.repeat(BETA, 32)
    ref = numpy_sweep(lr, beta, (2.0, 8.0), QUAD.start, STEPS, TOL, cautious=False)
    r = sweep(Setup("gdm"), QUAD, LR, BETA, STEPS, tol=TOL, rate_method="estimate")
    np.testing.assert_array_equal(ref["diverged"].reshape(32, 32), r.diverged)
    np.testing.assert_array_equal(ref["steps_to_tol"].reshape(32, 32), r.steps_to_tol)
    np.testing.assert_allclose(ref["rate"].reshape(32, 32), r.rate, rtol=1e-9)
    np.testing.assert_allclose(ref["rate_uncertainty"].reshape(32, 32), r.rate_uncertainty, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(ref["settled"].reshape(32, 32), r.settled)
    np.testing.assert_allclose(ref["max_loss_rise"].reshape(32, 32), r.max_loss_rise, rtol=1e-6, atol=1e-12)


def test_benchmark_smoke_run(capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_sweep
    finally:
        sys.path.pop(0)
    assert bench_sweep.main(["--sizes", "8", "--steps", "40", "--dtypes", "float64", "--repeats", "1",
                             "--loop-cells", "1", "--rollout-cells", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 8x8 x 40")]
    assert len(rows) == 2 and "100.0%" in rows[0]      # NumPy agrees with JAX on every base-gdm cell


def test_cli_noisy_sweep_reports_the_means_over_seeds(capsys):
    """--noise-sigma S --seeds K: the JSON maps are noisy_sweep's reductions over seeds 0..K-1."""
    argv = ["sweep", "--toy", "quad-k4", "--lr-range", "0.05:0.4:5", "--beta-range", "0:0.9:4", "--steps", "200",
            "--cautious", "--noise-sigma", "1e-3", "--seeds", "3", "--tol", "1e-2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    ref = noisy_sweep(Setup("gdm", cautious=True, noise="gaussian"), get_toy("quad-k4"), out["lr"], out["beta"], 200,
                      seeds=3, hp=make_hyper(noise_sigma=1e-3), tol=1e-2)
    np.testing.assert_allclose(out["rate"], ref.rate_mean, rtol=1e-12)
    np.testing.assert_allclose(out["rate_std"], ref.rate_std, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(out["diverged"], ref.diverged_fraction)
    reached = ref.steps_to_tol >= 0
    for i, j in np.ndindex(*reached.shape[1:]):
        cell = ref.steps_to_tol[:, i, j][reached[:, i, j]]
        assert out["steps_to_tol"][i][j] == (int(np.median(cell)) if cell.size else -1)
    assert out["config"]["noise_sigma"] == 1e-3 and out["config"]["seeds"] == 3
    assert (ref.rate_std > 0).any()                  # the seeds did differ
