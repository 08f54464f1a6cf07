"""Batched (lr, beta) sweeps (dynamics.sweep, DESIGN.md Section 7; issue 4): the empirical
rate map of gdm on w1^2 + 4 w2^2 against the closed form, the optimal cell, one cell
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

from dynamics import Setup, make_hyper, rollout
from dynamics.cli import main
from dynamics.rates import RATE_DIVERGED, envelope_rate, heavy_ball_optimum, heavy_ball_rate
from dynamics.sweep import _minima, compiled_sweep, grid_axis, noisy_sweep, sweep
from toys import Toy, get_toy

ROOT = Path(__file__).resolve().parents[1]
QUAD = get_toy("quad-k4")                 # w1^2 + 4 w2^2: Hessian eigenvalues 2, 8
LR = grid_axis(0.02, 0.5, 32)
BETA = grid_axis(0.0, 0.9, 32)
STEPS = 1000
TOL = 1e-30                               # long rate windows: the minimiser is 0, so no float floor


@pytest.fixture(scope="module")
def gdm_map():
    return sweep(Setup("gdm"), QUAD, LR, BETA, STEPS, tol=TOL)


def _outputs(r):
    return (r.rate, r.steps_to_tol, r.final_suboptimality, r.max_loss_rise, r.diverged)


def test_gdm_rate_map_matches_the_heavy_ball_spectral_radius(gdm_map):
    analytic = heavy_ball_rate(LR[None, :], BETA[:, None], [2.0, 8.0])
    converging = ~gdm_map.diverged & (analytic < 1)
    err = np.abs(gdm_map.rate - analytic)
    worst = np.argsort(np.where(converging, err, -1), axis=None)[::-1][:5]
    report = ", ".join(f"(lr {LR[k % 32]:.3f}, beta {BETA[k // 32]:.3f}: analytic {analytic.flat[k]:.4f}, "
                       f"empirical {gdm_map.rate.flat[k]:.4f})" for k in worst)
    print(f"\nmedian |error| {np.median(err[converging]):.2e} over {converging.sum()} converging cells; worst: {report}")
    assert converging.sum() > 500
    assert np.median(err[converging]) < 0.01, report
    assert np.percentile(err[converging], 90) < 0.01 and err[converging].max() < 0.05, report
    # divergence only where the closed form says the heavy ball is unstable
    assert np.all(analytic[gdm_map.diverged] > 1)


def test_best_gdm_cell_is_the_heavy_ball_optimum(gdm_map):
    opt = heavy_ball_optimum(2.0, 8.0)                 # eps* = 2/9, beta* = 1/9, rate 1/3
    best = gdm_map.best()
    assert abs(best["lr"] - opt["lr"]) <= LR[1] - LR[0]
    assert abs(best["beta"] - opt["beta"]) <= BETA[1] - BETA[0]
    assert best["rate"] == pytest.approx(1 / 3, abs=0.015)
    assert best["rate"] == pytest.approx(heavy_ball_rate(best["lr"], best["beta"], [2.0, 8.0]), abs=0.005)


def test_outputs_are_finite_and_sentinels_mark_divergence(gdm_map):
    for arr in _outputs(gdm_map):
        assert np.all(np.isfinite(arr))
    d = gdm_map.diverged
    assert d.any() and (~d).any()
    assert np.all(gdm_map.rate[d] == RATE_DIVERGED) and np.all(gdm_map.steps_to_tol[d] == -1)
    assert np.all(gdm_map.max_loss_rise >= 0)


def test_second_call_with_the_same_shapes_does_not_recompile(gdm_map):
    fn = compiled_sweep(Setup("gdm"), QUAD, STEPS)
    before = fn._cache_size()
    assert before >= 1
    again = sweep(Setup("gdm"), QUAD, LR * 0.9, BETA * 0.5, STEPS, tol=1e-20, start=(1.0, -1.0))   # new numbers
    assert fn._cache_size() == before
    assert not np.array_equal(again.rate, gdm_map.rate)


def _single_run(setup, toy, hp, steps, tol):
    """The rate metrics of one cell computed from the single run (dynamics.rollout)."""
    traj = rollout(setup, toy, hp, steps)
    params = toy.params()
    minima, loss_min = _minima(toy, tuple(sorted(params.items())))
    if toy.valley:
        d = np.abs(np.asarray(toy.set_residual(traj.w, params)))
    else:
        d = np.sqrt(((traj.w[:, None, :] - minima[None]) ** 2).sum(-1)).min(1)
    rr = envelope_rate(d, tol, traj.loss)
    return rr, traj.loss[-1] - loss_min, max(0.0, float(np.diff(traj.loss).max()))


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
    FMAs differently in the batched and the single program, by ~1 ulp per step)."""
    name, setup, lrs, betas, steps, tol, extra = case
    toy = get_toy(name)
    hp = make_hyper(setup.dtype, **extra)
    r = sweep(setup, toy, lrs, betas, steps, tol=tol, hp=hp)
    for i, b in enumerate(betas):
        for j, lr in enumerate(lrs):
            ref, subopt, rise = _single_run(setup, toy, hp._replace(lr=lr, beta=b), steps, tol)
            cell = r.cell(j, i)
            assert (cell["diverged"], cell["steps_to_tol"]) == (ref.diverged, ref.steps_to_tol), (lr, b)
            assert cell["rate"] == pytest.approx(ref.rate, rel=1e-9), (lr, b)
            if not ref.diverged:
                assert cell["final_suboptimality"] == pytest.approx(subopt, rel=1e-7, abs=1e-12)
                assert cell["max_loss_rise"] == pytest.approx(rise, rel=1e-7, abs=1e-12)


def test_a_cell_alone_equals_the_same_cell_in_a_grid():
    """Bitwise, even for the hard cautious mask whose dynamics amplify rounding: chunking
    and padding do not change a cell's program."""
    setup = Setup("gdm", cautious=True)
    lr, beta = LR[::4], BETA[::4]
    grid = sweep(setup, QUAD, lr, beta, 300, tol=TOL)
    for i, j in [(0, 0), (2, 3), (5, 1), (7, 7)]:
        alone = sweep(setup, QUAD, [lr[j]], [beta[i]], 300, tol=TOL)
        assert alone.cell(0, 0) == grid.cell(j, i)


def test_chunks_and_progress():
    setup = Setup("gdm", cautious=True)
    calls = []
    r = sweep(setup, QUAD, LR[:7], BETA[:5], 300, tol=TOL, chunk_cells=8,
              progress=lambda done, total: calls.append((done, total)))
    whole = sweep(setup, QUAD, LR[:7], BETA[:5], 300, tol=TOL)
    for a, b in zip(_outputs(r), _outputs(whole)):
        np.testing.assert_array_equal(a, b)
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
    assert envelope_rate(np.linalg.norm(traj.w, axis=1), 1e-3, traj.loss).diverged


def test_rejects_toys_without_minima_and_bad_tolerances():
    with pytest.raises(ValueError, match="no minimiser"):
        sweep(Setup("gdm"), get_toy("saddle"), [0.1], [0.5], 10)
    with pytest.raises(ValueError, match="tol"):
        sweep(Setup("gdm", dtype="float32"), QUAD, [0.1], [0.5], 10, tol=1e-30)


_DEVICES_SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from dynamics import Setup
    from dynamics.sweep import compiled_sweep, grid_axis, sweep
    from toys import Toy, get_toy
    assert len(jax.devices()) == 4, jax.devices()
    r = sweep(Setup("gdm", cautious=True), get_toy("quad-k4"), grid_axis(0.02, 0.5, 12), grid_axis(0.0, 0.9, 10),
              300, tol=1e-30)
    fn = compiled_sweep(Setup("gdm", cautious=True), get_toy("quad-k4"), 300, tuple(jax.devices()))
    assert fn._cache_size() == 1     # the sharded program ran
    np.savez(sys.argv[1], rate=r.rate, steps=r.steps_to_tol, sub=r.final_suboptimality, rise=r.max_loss_rise,
             diverged=r.diverged)
""")


def test_sharded_over_four_devices_equals_one_device(tmp_path):
    out = tmp_path / "four.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PYTHONPATH": str(ROOT),
           "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT, str(out)], env=env, check=True, cwd=ROOT, timeout=300)
    four = np.load(out)
    one = sweep(Setup("gdm", cautious=True), QUAD, grid_axis(0.02, 0.5, 12), grid_axis(0.0, 0.9, 10), 300, tol=1e-30)
    assert len(jax.devices()) == 1
    for key, arr in zip(("rate", "steps", "sub", "rise", "diverged"), _outputs(one)):
        np.testing.assert_array_equal(four[key], arr)


# ----------------------------------------------------------------------------- command line

def test_cli_json(capsys, tmp_path):
    npz = tmp_path / "map.npz"
    code = main(["sweep", "--toy", "quad-k4", "--lr-range", "0.02:0.5:6", "--lr-scale", "linear",
                 "--beta-range", "0:0.9:4", "--steps", "300", "--tol", "1e-30", "--json", "--out", str(npz)])
    captured = capsys.readouterr()
    assert code == 0
    data = json.loads(captured.out)
    assert {"lr", "beta", "rate", "steps_to_tol", "diverged", "best", "config"} <= set(data)
    assert len(data["lr"]) == 6 and len(data["beta"]) == 4
    assert np.asarray(data["rate"]).shape == (4, 6) and np.asarray(data["diverged"]).dtype == bool
    assert set(data["best"]) == {"lr", "beta", "rate"} and data["config"]["lr_range"]["n"] == 6
    assert "sweep: 24/24 cells (100%)" in captured.err
    saved = np.load(npz)
    np.testing.assert_allclose(saved["rate"], data["rate"])
    np.testing.assert_allclose(saved["analytic_rate"], heavy_ball_rate(saved["lr"][None], saved["beta"][:, None],
                                                                       [2.0, 8.0]))


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
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_sweep import numpy_sweep
    finally:
        sys.path.pop(0)
    lr, beta = np.tile(LR, 32), np.repeat(BETA, 32)
    ref = numpy_sweep(lr, beta, (2.0, 8.0), QUAD.start, STEPS, TOL, cautious=False)
    r = sweep(Setup("gdm"), QUAD, LR, BETA, STEPS, tol=TOL)
    np.testing.assert_array_equal(ref["diverged"].reshape(32, 32), r.diverged)
    np.testing.assert_array_equal(ref["steps_to_tol"].reshape(32, 32), r.steps_to_tol)
    np.testing.assert_allclose(ref["rate"].reshape(32, 32), r.rate, rtol=1e-9)
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
