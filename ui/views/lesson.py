"""Lesson: a guided sequence of steps to click through in class (ui.presets.LESSON):
gradient descent zig-zags on an ill-conditioned quadratic, momentum speeds it up, too
much momentum oscillates, the Hamiltonian explains why, the cautious mask keeps the loss
falling, the rate map shows the best (eps, beta) and the edge of stability, and
cautious weight decay slides to the minimum-norm solution.

Each step shows the figure of the view it borrows (Trajectories, Rate maps, Weight
decay: the same builders and cached runs) and 2-4 sentences whose numbers ui.lesson
reads from those runs.  Choosing a step (previous / next, the step list, a link
``?view=lesson&lesson=3``) loads its settings into the sidebar, like a preset; after
that the sidebar is the user's: the figure and the numbers follow it, and a note names
what differs from the step's settings, with a button that loads them again.  Opening
the tab itself loads nothing, so settings made elsewhere are never lost silently.
"""
from __future__ import annotations

import streamlit as st

from dynamics.decay_study import STUDY_HYPER
from ui import downloads, guard, lesson, screen
from ui.presets import LESSON, lesson_values
from ui.session import Context, on_lesson
from ui.views import decay, rates, trajectories

IGNORED = ("present", "lesson")     # not settings of a step
RATE_STEP = 6                       # a rate map (the Rate maps tab's figure)
DECAY_STEP = 7                      # runs the Weight decay tab's study, which reads only the d_ settings
PRESENT_HEIGHT = 630                # px: presentation mode, under the step's title row (fits 1600 x 1000)
TRAJECTORY_TEXT = (lesson.step_1, lesson.step_2, lesson.step_3, lesson.step_4, lesson.step_5)   # steps 1-5


def changed(values: dict, step: int) -> list[str]:
    """The settings (state keys) that the step's figure reads and whose value differs from
    lesson step ``step``'s."""
    own = lesson_values(step)
    return [k for k, v in own.items() if k not in IGNORED and values.get(k) != v
            and (step != DECAY_STEP or k.startswith("d_"))]


def _navigation(step: int) -> None:
    """Previous / the step's title / next, in one row."""
    left, middle, right = st.columns([1, 6, 1], vertical_alignment="center")
    left.button("← Previous", key="_lesson_prev", disabled=step <= 1, on_click=on_lesson, args=(step - 1,),
                width="stretch")
    middle.subheader(f"{step}. {LESSON[step - 1][0]}")
    right.button("Next →", key="_lesson_next", disabled=step >= len(LESSON), on_click=on_lesson, args=(step + 1,),
                 width="stretch")


def _step_list(step: int) -> None:
    """Every step by title (choosing one loads its settings) and the link to this one."""
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.selectbox("Go to step", range(1, len(LESSON) + 1), key="lesson",
                   format_func=lambda k: f"Step {k} of {len(LESSON)}: {LESSON[k - 1][0]}",
                   on_change=lambda: on_lesson(st.session_state["lesson"]))
    right.caption(f"Link to this step with its own settings: `?view=lesson&lesson={step}`")


def _trajectory_step(ctx: Context, step: int) -> list[str]:
    if not trajectories.affordable(ctx):
        raise lesson.Unavailable("the runs are too large for this server")
    runs = trajectories.runs(ctx)
    points, l_star, trajs, summaries = runs
    fig, curves = trajectories.figures(ctx, trajs, summaries, points, l_star, trajectories.window_grid(ctx, trajs),
                                       click_grid=False, present_height=PRESENT_HEIGHT)
    left, right = st.columns([1.05, 1])
    with left:
        downloads.plotly_chart(fig, "lesson_contour")
    with right:
        downloads.plotly_chart(curves, "lesson_curves")
    return TRAJECTORY_TEXT[step - 1](ctx, runs)


def _rate_step(ctx: Context) -> list[str]:
    if not ctx.toy.has_minima():
        raise lesson.Unavailable("a rate map needs a toy with a minimiser")
    spec = ctx.focus
    lr_axis, beta_axis = rates.grid_axes(ctx.values)
    seeds = int(ctx.values["r_seeds"]) if spec.hyper.noise_sigma > 0 else 1
    if not guard.affordable(rates.cost(ctx.values, spec), f"{rates.LOWER} (Rate maps tab)"):
        raise lesson.Unavailable("the rate maps are too large for this server")
    _, panels, theory, fig = rates.maps_figure(ctx, (spec.twin(False), spec.twin(True)), lr_axis, beta_axis, seeds)
    downloads.plotly_chart(fig, "lesson_rates")
    return lesson.step_6(ctx, panels, theory, beta_axis)


def _decay_step(ctx: Context) -> list[str]:
    study, hyper = decay.run_study(ctx), STUDY_HYPER[lesson.DECAY_OPTIMIZER]
    left, right = st.columns([1.2, 1])
    with left:
        downloads.plotly_chart(decay.paths_figure(study, lesson.DECAY_OPTIMIZER, ctx.presentation, ctx.dark),
                               "lesson_decay")
    with right:
        st.caption("Green: the set of minimisers; star: its minimum-norm point; crosses: where each run ends. This "
                   "step runs the Weight decay tab's study (its own settings, GDM with ε = "
                   f"{hyper['lr']:g}, β = {hyper['beta']:g}), not the sidebar's.")
    return lesson.step_7(study, hyper["wd"])


def render(ctx: Context) -> None:
    step = int(ctx.values["lesson"])
    _navigation(step)
    text, figure = screen.slots(ctx.presentation)       # presentation: the figure first, on the screen
    diff = changed(ctx.values, step)
    if diff:
        c1, c2 = text.columns([5, 1], vertical_alignment="center")
        c1.info(f"Your settings differ from this step's ({', '.join(diff)}): the figure and the numbers "
                "follow yours.")
        c2.button("Load the step's settings", key="_lesson_reload", on_click=on_lesson, args=(step,))
    try:
        with figure:
            if step == RATE_STEP:
                sentences = _rate_step(ctx)
            else:
                sentences = _decay_step(ctx) if step == DECAY_STEP else _trajectory_step(ctx, step)
    except lesson.Unavailable as why:
        text.info(f"No sentences for these settings: {why}. Load the step's settings to see them.")
    else:
        text.markdown(" ".join(sentences))
    _step_list(step)
