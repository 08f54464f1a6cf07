"""Cautious weight decay (arXiv 2510.12402, Section 3): no decay, decoupled decay and
cautious decay for GDM, Adam and Lion on a toy with a set of minimisers (the valleys
(w1 + w2 - s)^2 and (w1 w2 - s)^2) or a quadratic with its minimiser off the origin
(dynamics.decay_study, its settings STUDY_HYPER).  Paths on the contour with the set
drawn and the cautious decay's mask marked, |w_t| and the distance to the set, where
each run ends relative to the set's minimum-norm point, and a table of the end points.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pandas as pd
import streamlit as st

from dynamics.decay_study import STUDY_HYPER, STUDY_OPTIMIZERS, STUDY_STEPS, STUDY_TOY_PARAMS, STUDY_TOYS, \
    set_distance, study_table
from toys import Toy, get_toy
from ui import compute, downloads, screen
from ui.session import Context
from viz.decay import decay_curves_figure, decay_ends_figure, decay_paths_figure, pareto_front
from viz.theme import DECAY_NAMES, optimizer_name

GRID = 160
PRESENT_HEIGHT = 640            # px: the paths' figures in presentation mode (ui.screen)


HYPER_SYMBOLS = {"lr": "ε", "beta": "β", "beta2": "β₂", "wd": "λ"}


def _hyper_text(opt: str) -> str:
    """The study's settings of ``opt`` in symbols: "ε = 0.02, β = 0.9, λ = 1"."""
    return ", ".join(f"{HYPER_SYMBOLS.get(k, k)} = {v:g}" for k, v in STUDY_HYPER[opt].items())


def table(study) -> pd.DataFrame:
    """study_table with readable column names and numbers."""
    rows = []
    for r in study_table(study):
        rows.append({"optimizer": optimizer_name(r["optimizer"]), "decay": DECAY_NAMES[r["decay"]],
                     "final w": f"({r['w'][0]:.4g}, {r['w'][1]:.4g})", "final L": f"{r['loss']:.3g}",
                     "final |∇L|": f"{r['grad_norm']:.3g}", "distance to the set": f"{r['set_distance']:.3g}",
                     "final |w|": f"{r['norm']:.5g}", "final |w| − |w*|": f"{r['norm_gap']:+.3g}",
                     "distance to w*": f"{r['pareto_distance']:.3g}",
                     "sliding fraction": f"{r['sliding_fraction']:.2f}",
                     "decay on (last 10%)": f"{r['decay_on_tail']:.2f}"})
    return pd.DataFrame(rows)


def export_table(study) -> dict:
    """One row per run (optimizer, decay mode) and step: w_t, |w_t|, the distance to the
    set and whether the decay acted (the plotted numbers)."""
    return downloads.run_table({f"{optimizer_name(o)} / {DECAY_NAMES[mode]}": dict(
        step=np.arange(len(run.w)), w1=run.w[:, 0], w2=run.w[:, 1], loss=run.loss, norm=run.norm,
        set_distance=run.set_distance, decay_on=run.decay_on.any(axis=1)) for (o, mode), run in study.items()})


class Study(NamedTuple):
    """The decay study of the state's objective (d_toy, d_cmask) with what its figures need."""

    toy: Toy
    cmask: bool
    params: dict
    runs: dict                  # (optimizer, decay mode) -> DecayRun
    grid: tuple                 # (xs, ys, L)
    minima: np.ndarray          # the set's minimum-norm point(s)
    residual: np.ndarray | None     # the set's residual on the grid (None: a single minimiser)


def run_study(ctx: Context) -> Study:
    """The cached decay study of the state's objective, its grid, minima and set residual."""
    name, cmask = ctx.values["d_toy"], bool(ctx.values["d_cmask"])
    toy = get_toy(name)
    params = toy.params(STUDY_TOY_PARAMS.get(name))
    params_key = tuple(sorted(params.items()))
    with st.spinner(f"Running {len(STUDY_OPTIMIZERS) * 3} runs of {STUDY_STEPS} steps…"):
        runs = compute.decay_runs(name, cmask)
    grid = compute.grid(name, params_key, GRID)
    minima, _ = compute.minima(name, params_key)
    residual = None
    if toy.valley and toy.set_residual is not None:
        pts = jnp.asarray(np.stack(np.meshgrid(*grid[:2]), axis=-1))
        residual = np.asarray(toy.set_residual(pts, {k: jnp.asarray(v) for k, v in params.items()}))
    return Study(toy, cmask, params, runs, grid, minima, residual)


def paths_figure(study: Study, opt: str, presentation: bool, dark: bool = False):
    """The contour with the set and the paths of ``opt`` with no, decoupled and cautious decay."""
    runs = {mode: run for (o, mode), run in study.runs.items() if o == opt}
    title = f"{optimizer_name(opt, study.cmask)} ({_hyper_text(opt)})"
    return decay_paths_figure(study.grid, study.minima, runs, study.residual, title, presentation,
                              PRESENT_HEIGHT if presentation else 620, dark)


def render(ctx: Context) -> None:
    """The intro and the study's settings, then its figures (in presentation mode the
    figures come first: ui.screen.slots)."""
    text, figure = screen.slots(ctx.presentation)      # presentation: the figures first
    with text:
        st.markdown("**Cautious weight decay** (arXiv 2510.12402) decays only the coordinates that the update already "
                    "moves towards 0, u ← u + λ·1[u ⊙ w ≥ 0] ⊙ w, where decoupled decay always adds λw. On a set of "
                    "minimisers the cautious run reaches the set and then *slides* along it towards its minimum-norm "
                    "point (the Pareto point of (L, |w|)); decoupled decay stops off the set, at a minimiser of the "
                    "regularised L + (λ/2)|w|²-like proxy. This tab runs its own settings, not the sidebar's.")
        c = st.columns([2, 3])
        c[0].selectbox("objective", STUDY_TOYS, key="d_toy", format_func=lambda n: f"{n}: {get_toy(n).title}")
        c[1].toggle("cautious mask on the direction too (C-GDM, C-Adam, C-Lion)", key="d_cmask")
    with figure:
        _figures(ctx, run_study(ctx))


def _figures(ctx: Context, study: Study) -> None:
    """The paths of every optimizer and decay mode, their norms and distances, where they end."""
    cols = st.columns(len(STUDY_OPTIMIZERS))
    for col, opt in zip(cols, STUDY_OPTIMIZERS):
        with col:
            downloads.plotly_chart(paths_figure(study, opt, ctx.presentation, ctx.dark), f"decay_paths_{opt}")
    st.caption("Green: the set of minimisers; stars: its minimum-norm points. The cautious-decay path is solid where "
               "its mask 1[u·w ≥ 0] decays some coordinate and dotted where it decays none; the solid stretch along "
               "the set is the sliding phase. Crosses: where each run ends.")
    toy, params, minima, (xs, ys, _) = study.toy, study.params, study.minima, study.grid
    min_norm = float(np.min(np.linalg.norm(minima, axis=1)))
    curves = decay_curves_figure(study.runs, STUDY_OPTIMIZERS, min_norm, ctx.presentation, dark=ctx.dark)
    downloads.plotly_chart(curves, "decay_curves")
    downloads.export_controls(curves, "decay_curves", export_table(study.runs))
    st.caption("Top: |wₜ| (dashed: |w*| of the minimum-norm point). Bottom: distance of wₜ to the set of "
               "minimisers (log axis; gaps: exactly 0). Where a curve oscillates faster than the plot can show "
               "(Lion; a run sliding along the set), it is drawn as a band, its min–max over the window named at the "
               "top right, with the curve faint inside; the downloaded data are the values of every step.")
    gx, gy = np.meshgrid(xs, ys)
    front = pareto_front(set_distance(toy, np.stack([gx, gy], axis=-1), params), np.hypot(gx, gy))
    left, right = st.columns([1, 1.3])
    with left:
        downloads.plotly_chart(decay_ends_figure(study.runs, min_norm, front, ctx.presentation, dark=ctx.dark),
                               "decay_ends")
    with right:
        st.markdown(f"**End points after {STUDY_STEPS} steps** on {toy.title}")
        st.dataframe(table(study.runs), hide_index=True, width="stretch")
        st.caption("Sliding fraction: the share of steps on the set (distance < 0.05) with the decay acting. "
                   "w*: the nearest minimum-norm point of the set.")
