"""Cautious weight decay study (dynamics.decay_study; arXiv 2510.12402): on the valleys
of minimisers and on an off-centre quadratic, decoupled decay ends at the closed-form
minimiser of its proxy L + ((1-beta) lambda/2)|w|^2 (non-zero gradient of L), cautious
decay ends at a stationary point of L with a smaller norm than no decay, slides along
the set towards the minimum-norm (Pareto) point when the approach oscillates, and its
recorded decay mask equals 1[u * w >= 0] rebuilt in NumPy."""
import numpy as np
import pytest

from dynamics.decay_study import STUDY_STEPS, decay_run, decay_study, set_distance, study_hyper, study_table
from toys import get_toy

# overdamped heavy ball: the run reaches the set without oscillating (see the module docstring)
LR, BETA, WD, STEPS = 0.01, 0.5, 0.5, 4000
RHO = (1 - BETA) * WD            # the proxy's effective decay for the undampened heavy ball


def _hp(**kw):
    return study_hyper("gdm", lr=LR, beta=BETA, wd=WD, **kw)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for toy in ("valley-line", "valley-hyperbola", "quadratic"):
        for mode in ("none", "decoupled", "cautious"):
            out[toy, mode] = decay_run(toy, "gdm", mode, _hp(), STEPS)
    return out


def test_decoupled_decay_ends_at_the_proxy_minimiser(runs):
    """To 1e-7: along the set the distance to the fixed point shrinks by about 1 - lr wd per
    step, (1 - 0.005)^4000 ~ 2e-9 of its start."""
    # valley-line (w1 + w2 - 2)^2: g = 2r(1, 1); fixed point 2r/(1-beta) + lambda a = 0 on w = (a, a)
    a = 4 / (4 + RHO)
    end = runs["valley-line", "decoupled"].end
    np.testing.assert_allclose(end.w, [a, a], rtol=0, atol=1e-7)
    assert end.grad_norm == pytest.approx(4 * np.sqrt(2) * (1 - a), abs=1e-7)
    assert end.set_distance == pytest.approx(np.sqrt(2) * (1 - a), abs=1e-7)
    # valley-hyperbola (w1 w2 - 1)^2: on w = (a, a), 2 (a^2 - 1) a/(1-beta) + lambda a = 0
    end = runs["valley-hyperbola", "decoupled"].end
    np.testing.assert_allclose(end.w, [np.sqrt(1 - RHO / 2)] * 2, rtol=0, atol=1e-7)
    # quadratic with centre c = (1, 0.5), Hessian diag(2, 8): w = (H + rho I)^-1 H c
    h, c = np.array([2.0, 8.0]), np.array([1.0, 0.5])
    end = runs["quadratic", "decoupled"].end
    np.testing.assert_allclose(end.w, h * c / (h + RHO), rtol=0, atol=1e-7)
    for toy in ("valley-line", "valley-hyperbola", "quadratic"):
        assert runs[toy, "decoupled"].end.grad_norm > 0.2 and not runs[toy, "decoupled"].end.stationary


def test_cautious_decay_ends_at_a_minimiser_with_a_smaller_norm(runs):
    for toy in ("valley-line", "valley-hyperbola"):
        none, cwd = runs[toy, "none"].end, runs[toy, "cautious"].end
        print(f"\n{toy}: |w_T| none {none.norm:.4f}, cautious {cwd.norm:.4f} (|g| {cwd.grad_norm:.1e}), "
              f"decoupled {runs[toy, 'decoupled'].end.norm:.4f} (|g| {runs[toy, 'decoupled'].end.grad_norm:.2f})")
        assert cwd.stationary and cwd.grad_norm < 1e-10 and cwd.set_distance < 1e-10
        assert none.stationary
        assert cwd.norm < none.norm - 0.5
    # a single minimiser: cautious decay ends at it, as without decay
    np.testing.assert_allclose(runs["quadratic", "cautious"].end.w, [1.0, 0.5], rtol=0, atol=1e-10)


def test_decay_mask_equals_numpy_rebuild(runs):
    """gdm without caution: u_t = s_t, s_t = beta s_{t-1} + g_{t-1}; decay on 1[u w >= 0];
    on the default (sliding) run, which keeps moving until the end."""
    run = decay_run("valley-line", "gdm", "cautious")
    beta = float(study_hyper("gdm").beta)
    grads = 2 * (run.w[:, 0] + run.w[:, 1] - 2.0)[:, None] * np.ones((1, 2))   # closed-form gradient
    s = np.zeros(2)
    mask, clear = [np.zeros(2)], [np.ones(2, bool)]
    for t in range(1, len(run.w)):
        s = beta * s + grads[t - 1]
        mask.append((s * run.w[t - 1] >= 0).astype(float))
        clear.append(np.abs(s) > 1e-12)     # where |u| is at rounding level the sign of u is rounding
    clear = np.array(clear)
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(run.decay_on[clear], np.array(mask)[clear])
    assert 0 < run.decay_on[1:].mean() < 1
    np.testing.assert_array_equal(runs["valley-line", "decoupled"].decay_on[1:], 1.0)
    np.testing.assert_array_equal(runs["valley-line", "none"].decay_on, 0.0)


def test_cautious_decay_slides_to_the_pareto_point():
    """Default study settings (heavy ball beta = 0.9): the approach oscillates, the mask
    chatters on the set, and the run slides along it to near the minimum-norm point."""
    study = decay_study("valley-line", optimizers=("gdm",))
    none, cwd, dec = (study["gdm", m] for m in ("none", "cautious", "decoupled"))
    print(f"\nsliding: pareto distance none {none.end.pareto_distance:.3f}, cautious {cwd.end.pareto_distance:.3f}, "
          f"decoupled {dec.end.pareto_distance:.3f}; decay on {cwd.decay_on[-300:].mean():.3f} of the last steps")
    assert none.end.pareto_distance > 2.0 and cwd.end.pareto_distance < 0.05
    slide = np.nonzero(cwd.sliding)[0]
    assert slide.size > 0.05 * STUDY_STEPS
    assert cwd.norm[slide[0]] - cwd.norm[-1] > 0.5                # the norm shrinks while on the set
    assert 0.01 < cwd.decay_on[-300:].mean() < 0.5                # the mask switches on and off
    assert cwd.set_distance[-300:].max() < 0.05                   # ... and the run stays near the set
    assert dec.decay_on[1:].min() == 1.0
    rows = study_table(study)
    assert [(r["optimizer"], r["decay"]) for r in rows] == [("gdm", "none"), ("gdm", "decoupled"), ("gdm", "cautious")]
    assert rows[2]["pareto_distance"] == pytest.approx(cwd.end.pareto_distance)


def test_study_runs_adam_and_lion_on_every_toy():
    for toy in ("valley-hyperbola", "quadratic"):
        study = decay_study(toy, optimizers=("adam", "lion"), steps=500)
        assert len(study) == 6
        for run in study.values():
            assert run.w.shape == (501, 2) and np.all(np.isfinite(run.w))
            assert np.all(np.isfinite(run.set_distance))


def test_set_distance():
    line = get_toy("valley-line")
    np.testing.assert_allclose(set_distance(line, [[3.0, 1.0], [1.0, 1.0]]), [np.sqrt(2), 0.0], atol=1e-15)
    np.testing.assert_allclose(set_distance(get_toy("quadratic"), [3.0, 4.0]), 5.0)
    with pytest.raises(ValueError, match="no minimiser"):
        decay_run("saddle", steps=5)
