"""Gradient clipping (Setup.clip, Hyper.clip_norm): g <- g min(1, c/|g|) first in the
chain, so the base optimizer and the cautious mask read the clipped gradient.  Also
the interfaces of the schedules and clipping: the command line, configuration files
and the app's URL (dynamics.settings)."""
from __future__ import annotations

import json

import numpy as np
import optax
import pytest

from cli.main import main
from dynamics.anatomy import step_anatomy
from dynamics.config import Setup, make_hyper
from dynamics.configfile import ConfigError, dumps, loads, setup_hyper
from dynamics.ode import integrate
from dynamics.rates import has_closed_form, is_homogeneous
from dynamics.rollout import rollout
from figures import presets
from tests.test_schedules import ROSEN, optax_iterates, optax_schedule, reference
from toys import get_toy
from ui.state import defaults, parse_query, runs_of

QUAD = get_toy("quad-k4")                  # w1^2 + 4 w2^2, gradient (2 w1, 8 w2)


@pytest.mark.parametrize("optimizer", ["gd", "gdm", "adam"])
def test_iterates_equal_optax_clip_then_the_optimizer(optimizer):
    ours = rollout(Setup(optimizer, clip=True), ROSEN, make_hyper(lr=1e-3, beta=0.9, clip_norm=2.0), 40)
    theirs = optax_iterates(optax.chain(optax.clip_by_global_norm(2.0), reference(optimizer, 1e-3)), ROSEN)
    np.testing.assert_allclose(ours.w, theirs, rtol=0, atol=1e-12)
    unclipped = rollout(Setup(optimizer), ROSEN, make_hyper(lr=1e-3, beta=0.9), 40)
    assert np.abs(unclipped.w - ours.w).max() > 1e-3          # the gradient here is far above norm 2


def test_clipping_and_a_schedule_together_equal_optax():
    hp = make_hyper(lr=1e-3, beta=0.9, clip_norm=2.0, warmup=10, lr_final=0.1)
    ours = rollout(Setup("adam", clip=True, schedule="warmup-cosine"), ROSEN, hp, 40)
    chain = optax.chain(optax.clip_by_global_norm(2.0), reference("adam", optax_schedule("warmup-cosine", 1e-3)))
    np.testing.assert_allclose(ours.w, optax_iterates(chain, ROSEN), rtol=0, atol=1e-12)


def threshold_gdm(w0, lr, beta, mu, c, steps, factors=None, mask_factors=None):
    """Cautious GDM with the threshold mask, compensation none, by hand: g clipped to
    norm c (c None: not clipped), s = beta s + g, keep iff g.s >= -(mu eps'/2)|s|^2,
    w <- w - eps keep s, with eps = lr factors[t] and eps' = lr mask_factors[t] at the
    step from w_t (both 1 when None).  Returns (masks of steps 1..T, iterates w_0..w_T)."""
    factors = np.ones(steps) if factors is None else factors
    mask_factors = factors if mask_factors is None else mask_factors
    w, s, masks, ws = np.array(w0, float), np.zeros(2), [], [np.array(w0, float)]
    for t in range(steps):
        g = np.array([2 * w[0], 8 * w[1]])
        if c is not None:
            g = g * min(1.0, c / np.linalg.norm(g))
        s = beta * s + g
        keep = float(g @ s >= -(mu * lr * mask_factors[t] / 2) * (s @ s))
        w = w - lr * factors[t] * keep * s
        masks.append(keep)
        ws.append(w)
    return np.array(masks), np.array(ws)


def test_the_threshold_mask_reads_the_clipped_gradient():
    """With c = 0.5 the mask keeps step 3, which it drops without clipping: the mask's
    decision is the one computed from the clipped gradient."""
    setup = Setup("gdm", cautious=True, mask="threshold", compensation="none", clip=True)
    hp = make_hyper(lr=0.1, beta=0.9, mu=1.0, clip_norm=0.5)
    run = rollout(setup, QUAD, hp, 6, start=(1.0, 1.0))
    masks, ws = threshold_gdm((1.0, 1.0), 0.1, 0.9, 1.0, 0.5, 6)
    plain_masks, _ = threshold_gdm((1.0, 1.0), 0.1, 0.9, 1.0, None, 6)
    assert plain_masks[2] == 0 and masks[2] == 1                 # clipping changes the decision at step 3
    np.testing.assert_array_equal(run.mask[1:, 0], masks)
    np.testing.assert_allclose(run.w, ws, rtol=0, atol=1e-12)


def test_the_threshold_mask_reads_the_scheduled_step_size():
    """Under a step schedule (gamma 0.5 every step) the mask bounds the step actually
    taken, eps_t = lr f(t-1): it drops step 3, which a mask reading the peak lr keeps."""
    setup = Setup("gdm", cautious=True, mask="threshold", compensation="none", schedule="step")
    hp = make_hyper(lr=0.1, beta=0.9, mu=4.0, decay_every=1, decay_factor=0.5)
    run = rollout(setup, QUAD, hp, 8, start=(1.0, 1.0))
    f = 0.5 ** np.arange(8)
    masks, ws = threshold_gdm((1.0, 1.0), 0.1, 0.9, 4.0, None, 8, f)
    peak_masks, _ = threshold_gdm((1.0, 1.0), 0.1, 0.9, 4.0, None, 8, f, np.ones(8))
    assert masks[2] == 0 and peak_masks[2] == 1
    np.testing.assert_array_equal(run.mask[1:, 0], masks)
    np.testing.assert_allclose(run.w, ws, rtol=0, atol=1e-12)


def test_clipping_has_no_closed_form_rate_and_no_flow():
    quad = get_toy("quad-repo")
    assert has_closed_form(Setup("gd"), quad) and not has_closed_form(Setup("gd", clip=True), quad)
    assert not has_closed_form(Setup("gd", schedule="step"), quad)
    assert not is_homogeneous(Setup("gd", clip=True), quad) and is_homogeneous(Setup("gd", schedule="step"), quad)
    with pytest.raises(ValueError, match="discrete-mode"):
        integrate(Setup("gd", clip=True), quad, make_hyper(), 5)


def cli(capsys, *argv):
    try:
        code = main(["run", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_line_runs_a_schedule_with_clipping(capsys):
    argv = ["--toy", "rosenbrock", "--optimizer", "adam", "--lr", "0.001", "--steps", "40", "--schedule",
            "warmup-cosine", "--warmup", "10", "--lr-final", "0.1", "--clip-norm", "2", "--json"]
    code, out, err = cli(capsys, *argv)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["config"]["schedule"] == "warmup-cosine" and data["config"]["clip_norm"] == 2.0
    run = rollout(Setup("adam", clip=True, schedule="warmup-cosine"), ROSEN,
                  make_hyper(lr=1e-3, clip_norm=2.0, warmup=10, lr_final=0.1), 40)
    np.testing.assert_allclose(data["iterates"], run.w, rtol=0, atol=1e-15)
    code, out, _ = cli(capsys, "--steps", "3", "--json")          # off: the settings are left out of the config
    assert code == 0 and not {"schedule", "warmup", "clip_norm"} & set(json.loads(out)["config"])


@pytest.mark.parametrize("argv,message", [
    (("--clip-norm", "0"), "argument --clip-norm: must be > 0, got 0"),
    (("--clip-norm", "nan"), "argument --clip-norm: must be finite and > 0, got nan"),
    (("--schedule", "step", "--decay-every", "0"), "argument --decay-every: must be an integer >= 1, got 0"),
    (("--decay-factor", "1.5"), "argument --decay-factor: must be in (0, 1], got 1.5"),
    (("--lr-final", "-0.1"), "argument --lr-final: must be in [0, 1], got -0.1"),
    (("--warmup", "-1"), "argument --warmup: must be an integer >= 0, got -1"),
    (("--schedule", "cosine"), "argument --schedule: invalid choice"),
    (("--mode", "ode", "--clip-norm", "1"), "argument --clip-norm: gradient clipping is a discrete-mode option"),
])
def test_bad_values_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_configuration_files_round_trip_and_old_runs_load():
    config = presets.default_config("fig2")
    config["runs"][0].update(schedule="one-cycle", warmup=30, clip=True, clip_norm=0.5)
    back, _ = loads(dumps(config))
    assert presets.validate(back) == []                              # the optional keys are known, not dropped
    setup, hp = setup_hyper(back["runs"][0])
    assert (setup.schedule, setup.clip, float(hp.warmup), float(hp.clip_norm)) == ("one-cycle", True, 30.0, 0.5)
    old = back["runs"][1]                                            # a run without the new keys
    assert "schedule" not in old and "clip_norm" not in old
    setup, hp = setup_hyper(old)
    assert (setup.schedule, setup.clip, float(hp.clip_norm)) == ("constant", False, 1.0)
    config["runs"][0]["clip_norm"] = 0
    with pytest.raises(ConfigError, match="clip_norm must be > 0"):
        presets.validate(loads(dumps(config))[0])


def test_the_url_sets_the_runs_schedule_and_clipping():
    values, warnings = parse_query({"schedule": "step", "decay_every": "30", "decay_factor": "0.25", "clip": "true",
                                    "clip_norm": "0.5"})
    assert warnings == []
    spec = runs_of({**defaults(), **values})[0]
    assert (spec.setup.schedule, spec.setup.clip) == ("step", True)
    assert (spec.hyper.decay_every, spec.hyper.decay_factor, spec.hyper.clip_norm) == (30, 0.25, 0.5)
    assert len(parse_query({"clip_norm": "-1"})[1]) == 1


def test_the_step_anatomy_reads_the_clipped_gradient_and_the_scheduled_step():
    """The inspector's per-step decomposition adds up to the roll-out's steps, and its
    mask is the roll-out's, with clipping and a schedule on."""
    setup = Setup("gdm", cautious=True, mask="threshold", compensation="none", clip=True, schedule="step")
    hp = make_hyper(lr=0.1, beta=0.9, mu=1.0, clip_norm=0.5, decay_every=2, decay_factor=0.5)
    run = rollout(setup, QUAD, hp, 6, start=(1.0, 1.0))
    parts = step_anatomy(setup, hp, run)
    np.testing.assert_allclose(parts.step, np.diff(run.w, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(parts.mask, run.mask[1:])
    assert np.all(np.linalg.norm(parts.grad, axis=1) <= 0.5 + 1e-12)
