"""Trajectories: the contour with every run overlaid (play / step / scrub animation with
each run's L and H at the step, viz.animation, at the speed and looping as chosen above
it; click to set the start; the window grows to hold every path), and L - L*, H - L* and the
fraction masked against the step, with the steps where L rose by more than the
sidebar's threshold (dynamics.rollout.loss_rises) ticked in a strip under the loss."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from dynamics.budget import runs_cost
from dynamics.schedules import step_sizes
from ui import compute, downloads, guard, movie
from ui.session import Context, on_start_click
from ui.text import plain
from viz.animation import SPEEDS, Readout, add_playback, frame_stride, playback_px
from viz.contour import contour_figure, path_window
from viz.curves import Series, step_curves

CONTOUR_KEY = "traj_contour"
PRESENT_HEIGHT = 680            # px: both figures in presentation mode (ui.screen)


def _fmt(x, spec: str = ".3g") -> str:
    return "—" if x is None else format(x, spec)


def summary_table(ctx: Context, trajs: dict, summaries: dict, l_star) -> pd.DataFrame:
    gap = "final L" if l_star is None else "final L − L*"
    rose = f"steps where L rose by > {ctx.values['rise_rel']:g} L(w₀)"
    rows = []
    for spec in ctx.runs:
        s, traj = summaries[spec.label], trajs[spec.label]
        rows.append({"run": spec.label, gap: _fmt(s.final_gap), rose: len(s.rises),
                     "largest rise": _fmt(s.largest_rise), "mean fraction masked": _fmt(
                         float(np.nanmean(traj["masked_fraction"][1:])) if spec.setup.cautious else None, ".2f"),
                     "rate (late-window fit)": compute.rate_text(s), "steps to tol": _fmt(s.steps_to_tol, "d"),
                     "diverged at step": _fmt(s.diverged_at, "d")})
        if spec.setup.cautious and spec.hyper.noise_sigma > 0:   # dropped: the true gradient would keep it
            rows[-1]["dropped by noise"] = _fmt(float(np.nanmean(traj["noise_drop"][1:])), ".3f")
    return pd.DataFrame(rows)


def export_data(ctx: Context, trajs: dict, l_star, grid) -> tuple[dict, dict]:
    """(table, NPZ arrays) behind both figures: per run and step t, w, L, H and the
    fraction masked (the raw values, also where a curve is drawn as its envelope); the
    contour ``grid`` (xs, ys, L) and L* (NaN without a minimiser)."""
    table = downloads.run_table({label: dict(t=np.arange(len(tr["loss"])), w1=tr["w"][:, 0], w2=tr["w"][:, 1],
                                             loss=tr["loss"], hamiltonian=tr["hamiltonian"],
                                             masked_fraction=tr["masked_fraction"]) for label, tr in trajs.items()})
    xs, ys, z = grid
    return table, dict(contour_x=xs, contour_y=ys, contour_loss=z, l_star=np.float64(np.nan if l_star is None
                                                                                        else l_star))


def window_grid(ctx: Context, trajs: dict):
    """The contour grid (xs, ys, L) over the toy's domain grown to hold every run's path."""
    return compute.grid(ctx.toy.name, ctx.params_key, 160, path_window(ctx.toy.domain,
                                                                       {k: t["w"] for k, t in trajs.items()}))


def figures(ctx: Context, trajs: dict, summaries: dict, points, l_star, grid, click_grid: bool,
            present_height: int = PRESENT_HEIGHT):
    """(contour with every run's path and the playback at the settings' speed and loop
    (viz.animation); L - L*, H - L* and the fraction masked against the step, with the
    rises of each summary ticked); in presentation mode both ``present_height`` px tall."""
    paths = {label: t["w"] for label, t in trajs.items()}
    height = present_height if ctx.presentation else 560       # presentation: the whole figure fits the screen
    fig = contour_figure(ctx.toy, ctx.params, paths, styles=ctx.styles, start=(ctx.values["sx"], ctx.values["sy"]),
                         path_opacity=0.35, click_grid=click_grid, grid=grid, minima=points,
                         presentation=ctx.presentation,
                         height=height - (playback_px(len(paths), True) if ctx.presentation else 0), dark=ctx.dark)
    add_playback(fig, paths, {label: Readout(t["loss"], t["hamiltonian"]) for label, t in trajs.items()},
                 ctx.styles, ctx.values["a_speed"], ctx.values["a_loop"], ctx.presentation, ctx.dark)
    spec = ctx.focus          # the schedule is a shared setting: every run has the same eps_t
    eps = step_sizes(spec.setup, spec.hyper, spec.steps)
    return fig, step_curves(curve_series(ctx, trajs, summaries), l_star, ctx.presentation,
                            rise_rel=ctx.values["rise_rel"], height=height,
                            step_size=None if eps is None else (np.arange(1, spec.steps + 1), eps))


def playback_controls(ctx: Context) -> None:
    """Speed and loop of the contour's playback (URL fields a_speed, a_loop)."""
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.select_slider("animation speed", SPEEDS, key="a_speed", format_func=lambda v: f"{v} steps/s",
                     help="steps per second; up to 25 steps/s every step is a frame, faster a frame skips "
                          "steps (the trail still passes through every iterate)")
    c2.toggle("loop", key="a_loop", help="play starts again from step 0 at the end (for ten minutes)")


def _contour_caption(ctx: Context) -> None:
    stride = frame_stride(ctx.values["steps"], ctx.values["a_speed"])
    st.caption(f"▶ play, ◀ −1 / +1 ▶ or drag the slider: the trail is every iterate up to step t, the filled "
               f"marker wₜ; under the plot each run's L and H at t. A frame is {stride} step"
               f"{'s' if stride > 1 else ''} at this speed. Click anywhere on the contour to start there. "
               "Stars: minima; open circle: the start w₀. The window is the toy's domain, grown to hold every path.")


def runs(ctx: Context) -> tuple[np.ndarray, float | None, dict, dict]:
    """(minimisers, L*, trajectory and compute.Summary of every run by label)."""
    points, l_star = compute.minima(ctx.toy.name, ctx.params_key)
    trajs = {spec.label: compute.trajectory(spec) for spec in ctx.runs}
    summaries = {spec.label: compute.summarize(spec, trajs[spec.label], points, l_star, ctx.values["rise_rel"])
                 for spec in ctx.runs}
    return points, l_star, trajs, summaries


def curve_series(ctx: Context, trajs: dict, summaries: dict) -> list[Series]:
    """The loss, H and masked-fraction curves of ctx's runs, with their loss rises (viz.curves)."""
    return [Series(spec.label, ctx.styles[spec.label].colour, ctx.styles[spec.label].dash,
                   np.arange(spec.steps + 1), trajs[spec.label]["loss"], trajs[spec.label]["hamiltonian"],
                   trajs[spec.label]["masked_fraction"] if spec.setup.cautious else None,
                   summaries[spec.label].rises) for spec in ctx.runs]


def affordable(*ctxs: Context) -> bool:
    """True if the runs of ``ctxs`` fit the app's work budget; else one warning (ui.guard)."""
    specs = [spec for c in ctxs for spec in c.runs]
    noisy = any(spec.hyper.noise_sigma > 0 for spec in specs)
    sam = any(spec.setup.sam for spec in specs)
    return guard.affordable(runs_cost("the trajectories", max(spec.steps for spec in specs), len(specs), noisy, sam),
                            "the steps T or the number of optimizers")


def render(ctx: Context) -> None:
    if not affordable(ctx):
        return
    points, l_star, trajs, summaries = runs(ctx)
    rise_rel = ctx.values["rise_rel"]
    for label, s in summaries.items():
        if s.diverged_at is not None:
            st.warning(f"**{label} diverged at step {s.diverged_at}**: the iterate became non-finite or moved "
                       "10⁶ times farther from the minimiser than it started. The plots show the steps before; "
                       "try a smaller step size ε or momentum β.")
    if l_star is None:
        st.info(f"{plain(ctx.toy.title)}: {ctx.toy.note or 'no minimiser'}. L and H are drawn as they are (linear axis).")
    if ctx.focus.setup.sam:          # a shared setting: the legend's names are the base optimizers'
        st.info(f"Every run uses SAM (ρ = {ctx.focus.hyper.rho:g}): each step feeds its optimizer ∇L(w + ρ g/‖g‖) "
                "instead of g = ∇L(w); a cautious mask still compares with g (Learn tab).")

    grid = window_grid(ctx, trajs)
    fig, curves = figures(ctx, trajs, summaries, points, l_star, grid, click_grid=True)
    table, arrays = export_data(ctx, trajs, l_star, grid)
    left, right = st.columns([1.05, 1])
    with left:
        downloads.plotly_chart(fig, CONTOUR_KEY, on_select=functools.partial(on_start_click, CONTOUR_KEY),
                               selection_mode="points")
        playback_controls(ctx)
        _contour_caption(ctx)
        downloads.export_controls(fig, CONTOUR_KEY, table, arrays)
        movie.movie_download(ctx, trajs, points, l_star)
    with right:
        downloads.plotly_chart(curves, "traj_curves")
        st.caption(f"Ticks under the loss: the steps where L rose by more than {rise_rel:g} × max(|L(w₀)|, "
                   "|L(w₀) − L*|) (the sidebar's threshold; smaller rises are rounding). Where a curve oscillates faster "
                   "than the plot can show, it is drawn as a band, its min–max over the window named in the panel's "
                   "title, with the curve faint inside. H = L + K(state) is the Hamiltonian of the optimizer's flow (Learn tab); gaps on "
                   "the log axes are values ≤ 0 (converged to rounding) or non-finite.")
        downloads.export_controls(curves, "traj_curves", table, arrays)
    st.dataframe(summary_table(ctx, trajs, summaries, l_star), hide_index=True, width="stretch")
