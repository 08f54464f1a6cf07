"""Noisy gradients (dynamics.noise; issue 7): the noise is the seeded Gaussian of the
docstring, sigma = 0 is the noise-free run exactly, runs and sweeps are reproducible
from their seeds, a sweep cell follows the roll-out with its seed, the mean map over
seeds tends to the noise-free map as sigma -> 0, and the mask-flip statistic matches a
NumPy reimplementation."""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cli.main import main
from dynamics import Setup, make_hyper, rollout
from dynamics.noise import check_seed, mask_flips, noise_key
from dynamics.rates import distance_rate
from dynamics.horizon import step_bucket
from dynamics.rollout import cast_inputs, compiled_rollout
from dynamics.noisy_sweep import noisy_sweep
from dynamics.sweep import grid_axis, sweep
from toys import get_toy

QUAD = get_toy("quad-k4")          # w1^2 + 4 w2^2
STEPS = 300


def noisy(setup: Setup) -> Setup:
    return dataclasses.replace(setup, noise="gaussian")


def reference_noise(seed: int, steps: int) -> np.ndarray:
    """z_t = normal(fold_in(key(seed), t)), t = 1..steps, drawn one by one."""
    key = jax.random.key(np.uint32(seed))
    return np.array([jax.random.normal(jax.random.fold_in(key, t), (2,), jnp.float64) for t in range(1, steps + 1)])


def test_gd_steps_with_the_seeded_gaussian():
    """gd: w_t = w_{t-1} - lr (g_{t-1} + sigma z_t), so z_t can be read back from the iterates."""
    lr, sigma, seed = 0.05, 0.3, 7
    tr = rollout(noisy(Setup("gd")), QUAD, make_hyper(lr=lr, noise_sigma=sigma), 200, seed=seed)
    z = -(np.diff(tr.w, axis=0) / lr + tr.grad[:-1]) / sigma
    np.testing.assert_allclose(z, reference_noise(seed, 200), rtol=0, atol=1e-9)
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1) < 0.1


@pytest.mark.parametrize("setup", [Setup("gdm", cautious=True), Setup("adam", cautious=True, decay="cautious"),
                                   Setup("lion", decay="cautious")])
def test_sigma_zero_is_the_noise_free_run_bit_for_bit(setup):
    toy, hp = get_toy("valley-line"), make_hyper(lr=0.02, wd=0.1, beta2=0.99)
    base = rollout(setup, toy, hp, STEPS)
    zero = rollout(noisy(setup), toy, hp, STEPS, seed=5)
    for field in ("w", "loss", "hamiltonian", "masked_fraction", "grad", "update", "mask", "decay_mask"):
        np.testing.assert_array_equal(getattr(zero, field), getattr(base, field))
    if setup.cautious:
        assert not zero.noise_drop.any() and not zero.noise_keep.any()
    # the noisy program itself (which rollout skips at sigma = 0) differs by rounding only
    w0, hp_arr, p = cast_inputs(setup, toy, toy.start, hp)
    raw = compiled_rollout(noisy(setup), toy, step_bucket(STEPS))(w0, hp_arr, p, jnp.asarray(STEPS), jnp.uint32(5))
    np.testing.assert_allclose(np.asarray(raw["w"])[:STEPS + 1], base.w, rtol=0, atol=1e-12)


def test_runs_are_reproducible_from_their_seed():
    setup, hp = noisy(Setup("gdm", cautious=True)), make_hyper(lr=0.05, noise_sigma=0.5)
    a = rollout(setup, QUAD, hp, STEPS, seed=11)
    b = rollout(setup, QUAD, hp, STEPS, seed=11)
    c = rollout(setup, QUAD, hp, STEPS, seed=12)
    for field in a._fields:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert np.abs(a.w - c.w).max() > 1e-3


def cautious_gdm_numpy(w0, lr, beta, sigma, z):
    """Heavy ball with the cautious mask (Algorithm 1, mean compensation) stepping with
    g + sigma z_t, and the mask-flip fractions of each step."""
    w, s = np.array(w0, float), np.zeros(2)
    ws, drops, keeps = [w.copy()], [0.0], [0.0]
    for zt in z:
        g = np.array([2 * w[0], 8 * w[1]])                  # grad of w1^2 + 4 w2^2
        gn = g + sigma * zt
        s = beta * s + gn
        phi_n, phi_t = (s * gn > 0).astype(float), (s * g > 0).astype(float)
        drops.append(np.mean(np.maximum(phi_t - phi_n, 0)))
        keeps.append(np.mean(np.maximum(phi_n - phi_t, 0)))
        w = w - lr * s * phi_n / max(phi_n.mean(), 1e-3)
        ws.append(w.copy())
    return np.array(ws), np.array(drops), np.array(keeps)


def test_mask_flip_statistics_match_numpy():
    lr, beta, sigma, seed = 0.05, 0.9, 0.5, 3
    tr = rollout(noisy(Setup("gdm", cautious=True)), QUAD, make_hyper(lr=lr, beta=beta, noise_sigma=sigma), STEPS,
                 seed=seed)
    ws, drops, keeps = cautious_gdm_numpy(QUAD.start, lr, beta, sigma, reference_noise(seed, STEPS))
    np.testing.assert_allclose(tr.w, ws, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(tr.noise_drop, drops)
    np.testing.assert_array_equal(tr.noise_keep, keeps)
    print(f"\nmean per step: masked {tr.masked_fraction[1:].mean():.3f}, dropped by noise {drops.mean():.3f}, "
          f"kept by noise {keeps.mean():.3f}")
    assert 0.02 < drops.mean() < tr.masked_fraction[1:].mean()   # noise causes some, not all, of the drops


def test_mask_flips_of_gd_direction():
    """For u = g~ the noisy mask keeps everything, the true one drops where g~ g < 0."""
    g = jnp.array([1.0, -2.0, 0.5, 3.0])
    gn = jnp.array([-0.5, -1.0, 0.7, -0.1])
    drop, keep = mask_flips(gn, g, gn, "elementwise")
    assert float(drop) == 0.0 and float(keep) == 0.5


def test_noisy_sweep_is_reproducible_and_follows_the_rollout_with_its_seed():
    setup, hp = noisy(Setup("gdm")), make_hyper(noise_sigma=0.05)
    lr, beta = grid_axis(0.05, 0.3, 5), grid_axis(0.0, 0.6, 4)
    a = noisy_sweep(setup, QUAD, lr, beta, STEPS, seeds=(0, 9, 42), hp=hp, tol=1e-3)
    b = noisy_sweep(setup, QUAD, lr, beta, STEPS, seeds=(0, 9, 42), hp=hp, tol=1e-3, chunk_cells=7)
    for field in ("rate", "steps_to_tol", "final_suboptimality", "max_loss_rise", "diverged"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.rate.shape == (3, 4, 5) and np.abs(a.rate[0] - a.rate[1]).max() > 1e-6
    one = sweep(setup, QUAD, lr, beta, STEPS, hp=hp, tol=1e-3, seed=9)
    np.testing.assert_array_equal(one.rate, a.rate[1])
    for k, seed in enumerate(a.seeds):
        for i, j in [(0, 0), (2, 3), (3, 4)]:
            tr = rollout(setup, QUAD, hp._replace(lr=lr[j], beta=beta[i]), STEPS, seed=int(seed))
            ref = distance_rate(np.linalg.norm(tr.w, axis=1), 1e-3, tr.loss)
            assert a.rate[k, i, j] == pytest.approx(ref.rate, abs=1e-9)
            assert a.steps_to_tol[k, i, j] == ref.steps_to_tol


def test_mean_over_seeds_tends_to_the_noise_free_map():
    lr, beta = grid_axis(0.02, 0.3, 12), grid_axis(0.0, 0.9, 10)
    # a noisy run is read from its distances (no renormalisation: the noise is not scale-free),
    # so it is compared with the noise-free run read the same way: the quadratic with its
    # eigenvalues hidden (no renormalisation, no closed form)
    base = sweep(Setup("gdm"), dataclasses.replace(QUAD, eigenvalues=None), lr, beta, STEPS, tol=1e-4)
    assert base.rate_method == "estimate"
    tiny = noisy_sweep(noisy(Setup("gdm")), QUAD, lr, beta, STEPS, seeds=4, hp=make_hyper(noise_sigma=1e-9), tol=1e-4)
    ok = ~base.diverged
    err = np.abs(tiny.rate_mean - base.rate)[ok]
    print(f"\nsigma 1e-9: max |mean rate - noise-free rate| = {err.max():.2e} over {ok.sum()} cells")
    assert ok.sum() > 60 and err.max() < 1e-6
    np.testing.assert_array_equal(tiny.diverged_fraction, base.diverged.astype(float))
    loud = noisy_sweep(noisy(Setup("gdm")), QUAD, lr, beta, STEPS, seeds=4, hp=make_hyper(noise_sigma=1e-2), tol=1e-4)
    assert np.abs(loud.rate_mean - base.rate)[ok].max() > 1e-2     # the comparison can fail
    zero = noisy_sweep(noisy(Setup("gdm")), QUAD, lr, beta, STEPS, seeds=3, hp=make_hyper(noise_sigma=0.0), tol=1e-4)
    clean = sweep(Setup("gdm"), QUAD, lr, beta, STEPS, tol=1e-4, rate_method="estimate")
    for k in range(3):                                               # sigma = 0: the noise-free map, bit for bit
        np.testing.assert_array_equal(zero.rate[k], clean.rate)
        np.testing.assert_array_equal(zero.steps_to_tol[k], clean.steps_to_tol)


def test_noisy_cautious_sweep_maps_the_noise_drops():
    lr, beta = grid_axis(0.05, 0.3, 4), grid_axis(0.5, 0.9, 3)
    res = noisy_sweep(noisy(Setup("gdm", cautious=True)), QUAD, lr, beta, STEPS, seeds=2,
                      hp=make_hyper(noise_sigma=0.5), tol=1e-3)
    assert res.noise_drop.shape == (2, 3, 4)
    assert np.all((res.noise_drop >= 0) & (res.noise_drop <= 1)) and res.noise_drop.max() > 0.01
    # cell (seed 0, beta[1], lr[2]) against the roll-out's per-step fractions
    tr = rollout(noisy(Setup("gdm", cautious=True)), QUAD, make_hyper(lr=lr[2], beta=beta[1], noise_sigma=0.5), STEPS,
                 seed=0)
    assert res.noise_drop[0, 1, 2] == pytest.approx(tr.noise_drop[1:].mean(), abs=1e-12)


def test_bad_noise_input_is_rejected():
    with pytest.raises(ValueError, match="noise must be one of"):
        Setup("gdm", noise="uniform")
    with pytest.raises(ValueError, match="noise_sigma"):
        rollout(noisy(Setup("gdm")), QUAD, make_hyper(noise_sigma=-1.0), 10)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            check_seed(seed)
    with pytest.raises(ValueError, match="noisy setup"):
        noisy_sweep(Setup("gdm"), QUAD, [0.1], [0.5], 10)
    assert noise_key(3).dtype == jax.random.key(0).dtype


def test_command_line_noise_options(capsys):
    code = main(["run", "--toy", "quad-k4", "--cautious", "--lr", "0.05", "--steps", "40", "--noise-sigma", "0.3",
                 "--seed", "4", "--json"])
    data = json.loads(capsys.readouterr().out)
    ref = rollout(noisy(Setup("gdm", cautious=True)), QUAD, make_hyper(lr=0.05, noise_sigma=0.3), 40, seed=4)
    assert code == 0 and data["config"]["noise_sigma"] == 0.3 and data["config"]["seed"] == 4
    np.testing.assert_array_equal(np.array(data["iterates"]), ref.w)
    np.testing.assert_array_equal(data["noise_drop"], ref.noise_drop)
    assert main(["run", "--noise-sigma", "-0.1"]) == 2
    assert main(["run", "--seed", str(2**32)]) == 2
    assert main(["run", "--mode", "ode", "--noise-sigma", "0.1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all("error: argument --" in line for line in err)
