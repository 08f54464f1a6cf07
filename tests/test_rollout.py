"""Roll-outs (dynamics.rollout): the paper's toy (arXiv 2411.16085, the image in its
code repository), loss_rises, the row layout of a Trajectory, compile-once
behaviour, float32, and input checks."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from dynamics import Setup, loss_rises, make_hyper, rollout
from dynamics.horizon import step_bucket
from dynamics.rollout import compiled_rollout, min_loss, rise_threshold
from toys import get_toy
from toys.expr import expression_toy

REPO = get_toy("quad-repo")              # x1^2 + 0.1 x2^2 from (-5, 5)
PAPER_HP = make_hyper(lr=0.01, beta=0.99)


def test_loss_rises_by_hand():
    steps, sizes = loss_rises(np.array([3.0, 2.0, 2.5, 1.0, 1.0, 1.5, 0.0]))
    np.testing.assert_array_equal(steps, [2, 5])        # L_2 > L_1, L_5 > L_4; the tie at 4 is no rise
    np.testing.assert_allclose(sizes, [0.5, 0.5])
    steps, sizes = loss_rises(np.array([2.0, 1.0, 0.5]))
    assert steps.size == 0 and sizes.size == 0


def test_a_rise_counts_only_above_the_relative_threshold():
    # L(w_0) = 1, L* = 0: the threshold is 1e-12 (the default rel)
    assert rise_threshold([1.0, 0.5]) == 1e-12
    steps, _ = loss_rises(np.array([1.0, 1e-10, 1e-10 + 1e-19, 0.5, 0.501]))
    np.testing.assert_array_equal(steps, [3, 4])       # a rise of 1e-19 is not counted; 0.5 - 1e-10 and 1e-3 are
    at, above = np.array([1.0, 0.0, 1e-12]), np.array([1.0, 0.0, 2e-12])
    assert loss_rises(at)[0].size == 0                 # exactly the threshold: not above it
    np.testing.assert_array_equal(loss_rises(above)[0], [2])
    np.testing.assert_array_equal(loss_rises(at, rel=0.0)[0], [2])    # rel = 0 counts every rise
    np.testing.assert_array_equal(loss_rises(at, rel=1e-13)[0], [2])  # the threshold is rel times the scale


def test_the_threshold_scale_with_a_negative_minimum_a_zero_or_an_infinite_start():
    # L* = -1 and L(w_0) = -0.999: the gap is 1e-3 but L rounds at |L| ~ 1, so the scale is
    # max(|L(w_0)|, |L(w_0) - L*|) = 0.999: a rise of 1e-13 (rounding at |L| ~ 1) is not counted, 1e-11 is
    loss = np.array([-0.999, -1.0 + 1e-4, -1.0 + 1e-4 + 1e-13, -1.0 + 1e-4 + 1e-13 + 1e-11])
    assert rise_threshold(loss, l_star=-1.0) == pytest.approx(0.999e-12, rel=1e-12)
    np.testing.assert_array_equal(loss_rises(loss, l_star=-1.0)[0], [3])
    # L(w_0) = 0.001 and L* = -1: the gap 1.001 is the scale
    assert rise_threshold([0.001, 0.0], l_star=-1.0) == pytest.approx(1.001e-12, rel=1e-12)
    # L* = 3 (Goldstein-Price) and a start 1e-3 above it: the scale is |L(w_0)| = 3.001
    assert rise_threshold([3.001, 3.0], l_star=3.0) == pytest.approx(3.001e-12, rel=1e-12)
    # a start at L = 0 = L*: the scale is the largest |L_t|, here 1 (the rise to 1 counts, 1e-13 does not)
    loss = np.array([0.0, 1.0, 0.5, 0.5 + 1e-13])
    assert rise_threshold(loss) == 1e-12
    np.testing.assert_array_equal(loss_rises(loss)[0], [1])
    # L(w_0) = inf: the scale is the largest finite |L_t| (2), and inf -> 2 is no rise
    loss = np.array([np.inf, 2.0, 1.0, 1.0 + 1e-13, 1.5])
    assert rise_threshold(loss) == 2e-12
    np.testing.assert_array_equal(loss_rises(loss)[0], [4])
    assert rise_threshold([np.nan, np.nan]) == 0.0 and loss_rises(np.array([np.nan, np.nan]))[0].size == 0
    for rel in (-1e-12, np.inf, np.nan):
        with pytest.raises(ValueError, match="relative rise threshold"):
            loss_rises(np.array([1.0, 2.0]), rel)


def test_min_loss_is_the_smallest_listed_minimum_value():
    assert min_loss(get_toy("camel")) == -1.0316284534898774          # the six-hump camel's published minimum
    assert min_loss(get_toy("goldstein-price")) == 3.0
    assert min_loss(REPO) == 0.0 and min_loss(get_toy("quadratic"), {"cx": 1.0}) == 0.0
    assert min_loss(get_toy("rosenbrock")) == 0.0 and min_loss(get_toy("saddle")) is None     # no minimiser
    typed = expression_toy("(x-1)^2 + (y+2)^2 - 5", minima=((1.0, -2.0),))      # no listed value: L at the minimiser
    assert min_loss(typed) == -5.0


def test_paper_toy_gdm_rises_and_cautious_gdm_barely_does():
    """1000 steps, lr 0.01, beta 0.99 from (-5, 5): the heavy ball's loss rises at 484
    steps (largest rise 2.779); the cautious one (elementwise mask, mean compensation)
    rises at 10 steps, by at most 1.0000e-3 (at step 27), and at 4 of them by more than
    the default threshold 1e-12 L(w_0) = 2.75e-11 (L(w_0) = 25 + 2.5)."""
    gdm = rollout(Setup("gdm"), REPO, PAPER_HP, 1000)
    steps, sizes = loss_rises(gdm.loss)
    assert len(steps) == 484
    np.testing.assert_allclose(sizes.max(), 2.779305, rtol=1e-3)
    np.testing.assert_array_equal(steps[:11], np.arange(12, 23))   # the first swing up, steps 12-22

    setup = Setup("gdm", cautious=True)
    assert (setup.mask, setup.compensation) == ("elementwise", "mean")   # the defaults
    cgdm = rollout(setup, REPO, PAPER_HP, 1000)
    counted, _ = loss_rises(cgdm.loss)
    np.testing.assert_array_equal(counted, [27, 224, 357, 407])
    steps, sizes = loss_rises(cgdm.loss, rel=0.0)                # every rise
    np.testing.assert_array_equal(steps, [27, 224, 357, 407, 526, 558, 589, 600, 705, 921])
    np.testing.assert_array_equal(counted, steps[sizes > 1e-12 * 27.5])
    np.testing.assert_allclose(sizes.max(), 1.0000e-3, rtol=1e-3)
    assert sizes.argmax() == 0 and np.all(sizes[1:] < 1e-5)
    # the steps returned are exactly where the loss went up
    up = np.nonzero(cgdm.loss[1:] > cgdm.loss[:-1])[0] + 1
    np.testing.assert_array_equal(steps, up)
    np.testing.assert_allclose(sizes, cgdm.loss[steps] - cgdm.loss[steps - 1], rtol=0, atol=0)
    # both runs start where the paper starts, and the cautious one ends lower
    np.testing.assert_array_equal(gdm.w[0], [-5.0, 5.0])
    assert cgdm.loss[-1] < gdm.loss[-1]


def test_trajectory_rows():
    toy, steps = get_toy("rosenbrock"), 30
    traj = rollout(Setup("gdm", cautious=True), toy, make_hyper(lr=1e-3, beta=0.9), steps)
    for name in ("w", "grad", "update", "mask"):
        assert getattr(traj, name).shape == (steps + 1, 2)
    for name in ("loss", "hamiltonian", "masked_fraction"):
        assert getattr(traj, name).shape == (steps + 1,)
    np.testing.assert_array_equal(traj.w[0], toy.start)
    np.testing.assert_array_equal(traj.update[0], 0.0)
    np.testing.assert_array_equal(traj.mask[0], 1.0)
    assert traj.masked_fraction[0] == 0
    np.testing.assert_allclose(traj.update[1:], np.diff(traj.w, axis=0), rtol=1e-12, atol=1e-15)
    p = toy.params()
    grads = np.asarray(jax.vmap(lambda w: toy.grad(w, p))(traj.w))
    np.testing.assert_allclose(traj.grad, grads, rtol=1e-13)
    np.testing.assert_allclose(traj.loss, np.asarray(toy.value(traj.w, p)), rtol=1e-13)
    np.testing.assert_allclose(traj.masked_fraction, 1 - traj.mask.mean(axis=1))


def test_new_numbers_do_not_recompile():
    setup, steps = Setup("adam", cautious=True, mask="threshold", compensation="count", decay="cautious"), 37
    fn = compiled_rollout(setup, REPO, step_bucket(steps))
    a = rollout(setup, REPO, make_hyper(lr=0.01, beta=0.9, wd=0.1), steps)
    assert fn._cache_size() == 1
    b = rollout(setup, REPO, make_hyper(lr=0.05, beta=0.5, beta2=0.9, wd=0.3, mu=2.0), steps,
                start=(1.0, -2.0), toy_params={"h1": 3.0, "cx": 0.5})
    assert fn._cache_size() == 1
    assert compiled_rollout(setup, REPO, step_bucket(steps)) is fn
    assert not np.allclose(a.w[-1], b.w[-1])   # the second call really used the new numbers


def test_float32():
    setup = Setup("gdm", cautious=True, dtype="float32")
    traj = rollout(setup, REPO, PAPER_HP, 200)
    for name in ("w", "loss", "hamiltonian", "masked_fraction", "grad", "update", "mask"):
        assert getattr(traj, name).dtype == np.float32, name
    ref = rollout(Setup("gdm", cautious=True), REPO, PAPER_HP, 200)
    np.testing.assert_allclose(traj.w, ref.w, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(traj.hamiltonian, ref.hamiltonian, rtol=1e-4, atol=1e-4)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="optimizer must be one of gd, gdm, nesterov"):
        Setup("sgd")
    with pytest.raises(ValueError, match="mask must be one of"):
        Setup("gdm", mask="sign")
    with pytest.raises(ValueError, match="dtype must be one of float64, float32"):
        Setup("gdm", dtype="float16")
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        make_hyper(momentum=0.9)
    with pytest.raises(ValueError, match="positive"):
        rollout(Setup("gd"), REPO, make_hyper(), 0)
    with pytest.raises(ValueError, match="no parameter"):
        rollout(Setup("gd"), REPO, make_hyper(), 5, toy_params={"kappa": 3.0})
