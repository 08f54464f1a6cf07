"""dynamics.anatomy: the per-step decomposition the step inspector draws, checked against
the roll-out itself and against NumPy re-implementations of the optimizers' directions."""
from __future__ import annotations

import numpy as np
import pytest

from dynamics import Setup, make_hyper, rollout
from dynamics.anatomy import step_anatomy
from dynamics.config import OPTIMIZERS
from toys import get_toy

TOY = get_toy("quad-repo")


@pytest.mark.parametrize("setup", [
    Setup("gdm"), Setup("gdm", cautious=True), Setup("gdm", cautious=True, dampening=True),
    Setup("nesterov", cautious=True, mask="inner"), Setup("adam", cautious=True, decay="cautious"),
    Setup("lion", cautious=True, compensation="count"), Setup("gd", decay="decoupled"),
    Setup("gdm", cautious=True, mask="threshold", compensation="none"),
])
def test_steps_and_masks_reproduce_the_rollout(setup):
    hp = make_hyper(lr=0.01, beta=0.9, beta2=0.99, wd=0.05)
    traj = rollout(setup, TOY, hp, 300)
    a = step_anatomy(setup, hp, traj)
    np.testing.assert_allclose(a.step, np.diff(traj.w, axis=0), rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(a.mask, traj.mask[1:])
    np.testing.assert_array_equal(a.grad, traj.grad[:-1])
    c = a.alpha[:, None] * a.mask * a.direction
    np.testing.assert_allclose(a.cautious, c, rtol=1e-12, atol=1e-300)


def test_noisy_steps_read_the_noisy_gradients_of_the_rollout():
    """With gradient noise the anatomy adds the roll-out's noise (same seed) to g_t."""
    setup = Setup("gdm", cautious=True, noise="gaussian")
    hp = make_hyper(lr=0.01, beta=0.9, noise_sigma=0.5)
    traj = rollout(setup, TOY, hp, 200, seed=7)
    a = step_anatomy(setup, hp, traj, seed=7)
    np.testing.assert_allclose(a.step, np.diff(traj.w, axis=0), rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(a.mask, traj.mask[1:])
    assert np.abs(a.grad - traj.grad[:-1]).max() > 0.1          # the noise is in the gradients it read
    other = step_anatomy(setup, hp, traj, seed=8)
    assert not np.allclose(other.step, np.diff(traj.w, axis=0))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_cautious_with_decay(optimizer):
    setup = Setup(optimizer, cautious=True, decay="cautious")
    hp = make_hyper(lr=0.01, beta=0.9, beta2=0.99, wd=0.1)
    traj = rollout(setup, TOY, hp, 100)
    a = step_anatomy(setup, hp, traj)
    np.testing.assert_allclose(a.step, np.diff(traj.w, axis=0), rtol=1e-9, atol=1e-14)


def test_heavy_ball_direction_is_the_geometric_sum_of_gradients():
    """u_t = sum_k beta^(t-k) g_k (undampened heavy ball), also for a cautious run: the
    mask never touches the momentum."""
    setup, beta = Setup("gdm", cautious=True), 0.95
    hp = make_hyper(lr=0.01, beta=beta)
    traj = rollout(setup, TOY, hp, 200)
    a = step_anatomy(setup, hp, traj)
    s = np.zeros(2)
    for t, g in enumerate(traj.grad[:-1]):
        s = beta * s + g
        np.testing.assert_allclose(a.direction[t], s, rtol=1e-12, atol=1e-15)


def test_adam_direction_matches_numpy_adam():
    setup = Setup("adam")
    b1, b2, eps = 0.9, 0.999, 1e-8
    hp = make_hyper(lr=0.05, beta=b1, beta2=b2, adam_eps=eps)
    traj = rollout(setup, get_toy("rosenbrock"), hp, 100)
    a = step_anatomy(setup, hp, traj)
    m, v = np.zeros(2), np.zeros(2)
    for t, g in enumerate(traj.grad[:-1], start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(a.direction[t - 1], u, rtol=1e-10)


def test_elementwise_mask_and_mean_compensation_by_hand():
    setup = Setup("gdm", cautious=True)
    hp = make_hyper(lr=0.01, beta=0.99)
    traj = rollout(setup, TOY, hp, 400)
    a = step_anatomy(setup, hp, traj)
    phi = (a.direction * a.grad > 0).astype(float)
    np.testing.assert_array_equal(a.mask, phi)
    np.testing.assert_allclose(a.alpha, 1 / np.maximum(phi.mean(axis=1), 1e-3))
    assert 0 < (phi.sum(axis=1) < 2).mean() < 1          # the run has masked and unmasked steps


def test_needs_a_step():
    traj = rollout(Setup("gd"), TOY, make_hyper(), 1)
    with pytest.raises(ValueError, match="at least one step"):
        step_anatomy(Setup("gd"), make_hyper(), traj._replace(w=traj.w[:1], grad=traj.grad[:1]))
