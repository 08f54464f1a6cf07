"""The Lesson tab: every step renders with a figure, previous / next and the URL move the
step and load its settings, and every number its sentences state matches a computation
written here from scratch (NumPy loops of gradient descent, the heavy ball, the cautious
mask and the weight decays; the closed forms of the quadratic).  Claims ("the loss
rose", "H fell at every step") are checked on settings where they fail too."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.test_app import assert_clean, charts, new_app
from ui.presets import LESSON
from ui.state import LESSON_STEPS

H = np.array([0.5, 50.0])               # the lesson quadratic's eigenvalues, L = 1/2 (0.5 w1^2 + 50 w2^2)
START = np.array([-2.0, 1.5])           # the quadratic toy's start
LR = 2.0 / float(H.sum())                    # GD's best step size
BETA2 = (1.0 - math.sqrt(LR * H[0])) ** 2
RISE_REL = 1e-12                        # the default rise threshold (relative to L(w0))
CHART = {6: "lesson_rates", 7: "lesson_decay"}


def heavy_ball(lr: float, beta: float, steps: int, cautious: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, L, H) of s <- beta s + g, w <- w - lr u with u = s (cautious: u = s 1[s g > 0] /
    max(mean 1[s g > 0], 1e-3)) on the lesson quadratic, H = L + lr/2 |s|^2."""
    w, s = START.copy(), np.zeros(2)
    ws, losses, hams = [w.copy()], [0.5 * H @ w**2], [0.5 * H @ w**2]
    for _ in range(steps):
        g = H * w
        s = beta * s + g
        u = s
        if cautious:
            keep = (s * g > 0).astype(float)
            u = s * keep / max(keep.mean(), 1e-3)
        w = w - lr * u
        ws.append(w.copy())
        losses.append(0.5 * H @ w**2)
        hams.append(losses[-1] + lr / 2 * s @ s)
    return np.array(ws), np.array(losses), np.array(hams)


def settled_at(loss: np.ndarray, tol: float = 1e-6) -> int:
    """The first step from which every later L is <= tol (L* = 0)."""
    t = len(loss)
    while t > 0 and loss[t - 1] <= tol:
        t -= 1
    assert t < len(loss), "the run never got below tol"
    return t


def rises(values: np.ndarray) -> int:
    return int(np.sum(np.diff(values) > RISE_REL * abs(values[0])))


def heavy_ball_rate(lr: float, beta: float) -> float:
    """The largest spectral radius of [[beta, l], [-lr beta, 1 - lr l]] over the eigenvalues l."""
    return max(np.max(np.abs(np.linalg.eigvals(np.array([[beta, lam], [-lr * beta, 1 - lr * lam]])))) for lam in H)


def lesson_text(at) -> str:
    return next(m.value for m in at.markdown if "$" in m.value)


def open_step(step: int, **settings):
    at = new_app({"view": "lesson", "lesson": str(step)}).run()
    if settings:
        for key, value in settings.items():
            at.session_state[key] = value
        at.run()
    assert_clean(at)
    return at


@pytest.fixture(scope="module")
def steps():
    return {k: open_step(k) for k in range(1, LESSON_STEPS + 1)}


def test_the_lesson_has_its_steps():
    assert len(LESSON) == LESSON_STEPS and 6 <= LESSON_STEPS <= 8


def test_every_step_renders_a_figure_and_sentences_without_a_note(steps):
    for k, at in steps.items():
        assert CHART.get(k, "lesson_contour") in charts(at), k
        assert not at.info, (k, [i.value for i in at.info])        # the link loaded the step's own settings
        assert at.session_state["lesson"] == k and at.subheader[0].value.startswith(f"{k}. ")
        assert lesson_text(at).count(". ") >= 1


def test_step_1_gd_zigzags_and_its_step_count(steps):
    text = lesson_text(steps[1])
    w, loss, _ = heavy_ball(LR, 0.0, 600)
    crossings = int(np.sum(np.sign(w[1:21, 1]) != np.sign(w[:20, 1])))
    assert crossings == 20
    assert f"**{crossings} of the first 20 steps**" in text
    assert f"GD needs **{settled_at(loss)} steps**" in text
    assert f"= {1 - LR * H[1]:.3f}$" in text and f"= {1 - LR * H[0]:.3f}$" in text
    assert f"= {(100 - 1) / (100 + 1):.3f}$" in text


def test_step_2_momentum_counts_and_rates(steps):
    text = lesson_text(steps[2])
    _, gd, _ = heavy_ball(LR, 0.0, 600)
    _, gdm, _ = heavy_ball(LR, BETA2, 600)
    n_gd, n_gdm = settled_at(gd), settled_at(gdm)
    assert f"in **{n_gdm} steps**, GD in **{n_gd} steps**: {n_gd / n_gdm:.1f} times fewer" in text
    assert f"$\\rho = {heavy_ball_rate(LR, BETA2):.3f}$ for GDM against ${max(abs(1 - LR * H)):.3f}$" in text
    assert f"rose at {rises(gdm)} of its 600 steps" in text


def test_step_3_too_much_momentum(steps):
    text = lesson_text(steps[3])
    _, loss, _ = heavy_ball(LR, 0.95, 600)
    _, ref, _ = heavy_ball(LR, BETA2, 600)
    assert rises(loss) > 0
    assert f"the loss rose at **{rises(loss)} of the 600 steps**" in text
    assert f"by up to ${np.max(np.diff(loss)):.3g}$" in text
    assert f"GDM needs **{settled_at(loss)} steps**" in text and f"it needed **{settled_at(ref)} steps**" in text
    assert f"$\\rho = {heavy_ball_rate(LR, 0.95):.3f}$" in text and "more momentum is slower" in text


def test_step_3_says_the_loss_did_not_rise_when_it_did_not():
    _, loss, _ = heavy_ball(LR, 0.0, 600)
    assert rises(loss) == 0
    text = lesson_text(open_step(3, beta=0.0))
    assert "the loss never rose" in text and "the loss rose at" not in text


def test_step_4_the_hamiltonian_falls_while_the_loss_rises(steps):
    text = lesson_text(steps[4])
    _, loss, ham = heavy_ball(0.001, 0.95, 1000)
    assert rises(loss) > 0 and rises(ham) == 0 and np.max(np.diff(ham)) < 0
    assert f"the loss rose at **{rises(loss)} of the 1000 steps**, while $H$ fell at every step" in text
    mantissa, exp = f"{np.max(np.diff(ham)):.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    assert f"${mantissa} \\times 10^{{{int(exp)}}}$" in text


def test_step_4_says_h_rose_when_the_steps_are_too_large():
    _, _, ham = heavy_ball(LR, 0.95, 1000)
    assert rises(ham) > 0
    text = lesson_text(open_step(4, lr=LR))
    assert f"$H$ rose too, at **{rises(ham)} steps**" in text and "fell at every step" not in text
    assert "a rising loss is no failure" not in text


def test_step_5_the_cautious_mask(steps):
    text = lesson_text(steps[5])
    _, base, _ = heavy_ball(0.001, 0.95, 1000)
    _, cautious, _ = heavy_ball(0.001, 0.95, 1000, cautious=True)
    assert f"C-GDM rose at **{rises(cautious)} of 1000 steps**, that of GDM at **{rises(base)}**" in text
    assert f"in **{settled_at(cautious)} steps**, GDM in **{settled_at(base)} steps**" in text


def test_step_6_best_cell_optimum_and_edge(steps):
    text = lesson_text(steps[6])
    lr_axis, beta_axis = np.linspace(0.002, 0.08, 64), np.linspace(0.0, 0.99, 64)
    rate = np.array([[heavy_ball_rate(e, b) for e in lr_axis] for b in beta_axis])
    i, j = np.unravel_index(np.argmin(np.where(rate < 1, rate, np.inf)), rate.shape)
    assert f"$\\varepsilon = {lr_axis[j]:.3g}$, $\\beta = {beta_axis[i]:.3g}$ with $\\rho = {rate[i, j]:.3f}$" in text
    kappa = H[1] / H[0]
    lr_star, q = (2 / (math.sqrt(H[0]) + math.sqrt(H[1]))) ** 2, (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    assert f"= {lr_star:.3g}$, $\\beta^* = {q * q:.3g}$" in text
    assert f"= {q:.3f}$; GD's best rate is ${(kappa - 1) / (kappa + 1):.3f}$" in text
    assert f"needs about {math.log(q) / math.log((kappa - 1) / (kappa + 1)):.2g} times fewer steps" in text
    assert f"from ${2 / H[1]:.3g}$ at $\\beta = 0$ to ${2 * 1.99 / H[1]:.3g}$ at $\\beta = 0.99$" in text
    assert f"sits at {lr_star / (2 * (1 + q * q) / H[1]):.0%} of the edge" in text


def decay_run(mode: str, steps: int = 3000) -> np.ndarray:
    """The end point of the heavy ball (lr 0.02, beta 0.9) on (w1 + w2 - 2)^2 from (3, -0.5)
    with weight decay lambda = 1 of ``mode`` added to the direction."""
    w, s = np.array([3.0, -0.5]), np.zeros(2)
    for _ in range(steps):
        g = 2 * (w.sum() - 2.0) * np.ones(2)
        s = 0.9 * s + g
        decay = {"none": 0.0, "decoupled": 1.0, "cautious": (s * w >= 0).astype(float)}[mode]
        w = w - 0.02 * (s + decay * w)
    return w


def test_step_7_cautious_decay_slides_to_the_minimum_norm_point(steps):
    text = lesson_text(steps[7])
    none, decoupled, cautious = (decay_run(m) for m in ("none", "decoupled", "cautious"))
    set_distance = lambda w: abs(w.sum() - 2.0) / math.sqrt(2)
    assert f"at $\\lVert w_T \\rVert = {np.linalg.norm(none):.4g}$" in text
    assert f"at distance ${set_distance(decoupled):.3g}$ from it" in text
    assert f"ends at $\\lVert w_T \\rVert = {np.linalg.norm(cautious):.4g}$" in text
    assert f"${np.linalg.norm(cautious - 1.0):.3g}$ from $w^*$" in text
    assert f"${set_distance(cautious):.3g}$ from the set" in text
    assert "$w^* = (1, 1)$" in text and f"{math.sqrt(2):.4g}" in text


def test_next_and_previous_move_the_step_its_settings_and_the_url():
    at = open_step(1)
    at.button(key="_lesson_next").click().run()
    assert_clean(at)
    assert at.session_state["lesson"] == 2 and at.session_state["opt"] == ["gd", "gdm"]
    assert at.query_params["lesson"] == "2" and at.query_params["view"] == "lesson"
    assert float(at.query_params["beta"]) == pytest.approx(BETA2)
    at.button(key="_lesson_next").click().run()
    at.button(key="_lesson_prev").click().run()
    assert at.session_state["lesson"] == 2 and at.query_params["lesson"] == "2"
    assert at.button(key="_lesson_prev").disabled is False
    at.button(key="_lesson_prev").click().run()
    assert at.session_state["lesson"] == 1 and at.button(key="_lesson_prev").disabled
    assert "lesson" not in at.query_params        # step 1 is the default


def test_a_url_with_settings_keeps_them_and_names_what_differs_from_the_step():
    at = new_app({"view": "lesson", "lesson": "3", "toy": "quadratic", "p_h1": "0.5", "p_h2": "50.0",
                  "opt": "gdm", "variants": "base", "steps": "600", "lr": repr(LR), "beta": "0.9"}).run()
    assert_clean(at)
    assert not at.warning and at.session_state["beta"] == 0.9
    assert "(beta)" in at.info[0].value
    at.button(key="_lesson_reload").click().run()
    assert at.session_state["beta"] == 0.95 and not at.info
    assert at.query_params["beta"] == "0.95"


def test_the_lesson_view_keeps_default_settings_in_its_url():
    at = new_app({"view": "lesson", "lesson": "2", "toy": "quad-repo"}).run()
    assert_clean(at)
    assert at.session_state["toy"] == "quad-repo" and at.session_state["opt"] == ["gdm"]     # not step 2's
    assert at.query_params["toy"] == "quad-repo"        # written although it is the default: reopens the same
    assert any("No sentences for these settings" in i.value for i in at.info)
