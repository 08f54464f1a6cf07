"""Figures of the cautious weight decay study (arXiv 2510.12402, Section 3;
dynamics.decay_study): no decay, decoupled decay u += lambda w and cautious decay
u += lambda 1[u * w >= 0] w on a toy with a set of minimisers.

- ``decay_paths_figure``: the contour of L with the minimiser set (the zero level of
  the toy's set residual; a single point for a quadratic) and its minimum-norm points
  (stars), and one path per decay mode; the cautious run's path is drawn solid where
  its decay mask 1[u * w >= 0] is on for some coordinate and dotted where it is off, so
  the sliding phase (on the set with the decay on) shows as the solid stretch along the
  set.
- ``decay_curves_figure``: |w_t| and the distance to the minimiser set against t, one
  column per optimizer; a curve that alternates step to step is drawn as its running
  min–max band (viz.curves.add_curve).
- ``decay_ends_figure``: where each run ends, as (distance of w_T to the set, |w_T|),
  with the minimum-norm point at (0, |w*|) and the Pareto front of (distance, norm) over
  the plotted domain: the smallest |w| among the grid points within each distance of
  the set.  Cautious decay ends near the minimum-norm point, decoupled decay off the set
  (on the front: smaller norm, larger loss), no decay on the set with a larger norm.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dynamics.decay_study import DecayRun
from dynamics.optimizers import spec_of
from viz.contour import contour_base, finite_path
from viz.curves import add_curve, band_legend
from viz.theme import DECAY_COLOURS, DECAY_NAMES, font_px, ink, line_width, optimizer_name, style

SET_COLOUR = "#009E73"        # the minimiser set (Okabe-Ito green)
MASK_OFF = "decay mask off"
SMALL_LEGEND = 11             # px: the legends under a third of the page (screen mode)
MASK_ON = "decay mask on"


def _legend_px(presentation: bool) -> int:
    """The legend text of the narrow decay figures: small on a screen, the presentation size on a projector."""
    return font_px(True) if presentation else SMALL_LEGEND


def _mask_on(run: DecayRun) -> np.ndarray:
    """1 where the decay acted on some coordinate in the step that produced w_t."""
    return np.asarray(run.decay_on).max(axis=1) > 0


def split_path(w: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(path where ``on``, path where not): w with the other rows as NaN, each segment
    w_{t-1} -> w_t assigned to the step's flag ``on[t]`` (both ends kept, so the two
    pieces join)."""
    w = finite_path(w)
    seg_on = np.zeros(len(w), bool)
    seg_on[1:] |= on[1:]
    seg_on[:-1] |= on[1:]
    seg_off = np.zeros(len(w), bool)
    seg_off[1:] |= ~on[1:]
    seg_off[:-1] |= ~on[1:]
    return np.where(seg_on[:, None], w, np.nan), np.where(seg_off[:, None], w, np.nan)


def decay_paths_figure(grid, minima: np.ndarray, runs: Mapping[str, DecayRun], residual: np.ndarray | None,
                       title: str, presentation: bool = False, height: int = 620, dark: bool = False) -> go.Figure:
    """The contour of ``grid`` (xs, ys, L) with the set {residual = 0} (residual on the
    same grid; None: the set is the listed minimiser), the minimum-norm points as stars
    and one path per decay mode of ``runs`` (mode -> DecayRun); black marks in
    ``ink(dark)``."""
    xs, ys, _ = grid
    fig = contour_base(grid, minima, None, presentation, height, dark)
    if len(minima):
        fig.data[-1].name = "minimum-norm point(s)" if residual is not None else "minimiser"
    if residual is not None:
        fig.add_trace(go.Contour(x=xs, y=ys, z=residual, contours=dict(start=0, end=0, size=1, coloring="none"),
                                 line=dict(color=SET_COLOUR, width=3), showscale=False, hoverinfo="skip",
                                 name="set of minimisers", showlegend=True))
    width = line_width(presentation)
    for mode, run in runs.items():
        colour, name = ink(dark, DECAY_COLOURS[mode]), DECAY_NAMES[mode]
        steps = np.arange(len(run.w))
        hover = f"{name}<br>t = %{{customdata}}<br>w = (%{{x:.4g}}, %{{y:.4g}})<extra></extra>"
        w = finite_path(run.w)
        fig.add_trace(go.Scatter(x=w[:, 0], y=w[:, 1], mode="lines", name=name, legendgroup=mode, customdata=steps,
                                 line=dict(color=colour, width=width), opacity=0.35 if mode == "cautious" else 1.0,
                                 hovertemplate=hover))
        if mode == "cautious":
            on, off = split_path(run.w, _mask_on(run))
            fig.add_trace(go.Scatter(x=on[:, 0], y=on[:, 1], mode="lines", name=f"{name}: {MASK_ON}",
                                     legendgroup=mode, line=dict(color=colour, width=width * 1.6), customdata=steps,
                                     hovertemplate=hover))
            fig.add_trace(go.Scatter(x=off[:, 0], y=off[:, 1], mode="lines", name=f"{name}: {MASK_OFF}",
                                     legendgroup=mode, line=dict(color="#E69F00", width=width, dash="dot"),
                                     customdata=steps, hovertemplate=hover))
        fig.add_trace(go.Scatter(x=w[-1:, 0], y=w[-1:, 1], mode="markers", name=f"{name}: end",
                                 legendgroup=mode, showlegend=False,
                                 marker=dict(symbol="x", size=12, color=colour, line=dict(color=ink(dark), width=1)),
                                 hovertemplate=f"{name} ends at (%{{x:.4g}}, %{{y:.4g}})<extra></extra>"))
    start = runs[next(iter(runs))].w[0]
    fig.add_trace(go.Scatter(x=[start[0]], y=[start[1]], mode="markers", name="start w₀",
                             marker=dict(symbol="circle-open", size=13, color=ink(dark), line=dict(width=3)),
                             hovertemplate="start (%{x:.4g}, %{y:.4g})<extra></extra>"))
    fig.update_layout(title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=font_px(presentation))),
                      margin=dict(t=55 if presentation else 40, b=40),
                      legend=dict(orientation="h", yanchor="top", y=-0.2 if presentation else -0.12, xanchor="left",
                                  x=0, font=dict(size=_legend_px(presentation))))
    return fig


def decay_curves_figure(study: Mapping[tuple[str, str], DecayRun], optimizers: Sequence[str],
                        min_norm: float, presentation: bool = False, height: int = 520,
                        dark: bool = False) -> go.Figure:
    """Rows |w_t| and distance to the minimiser set (log), one column per optimizer;
    the dashed line is the norm of the set's minimum-norm point.  Each curve goes through
    viz.curves.add_curve: where it oscillates faster than the figure can show (Lion's, and
    the sliding runs' distance) it is drawn as its running min–max band, which a legend
    entry names."""
    fig = make_subplots(rows=2, cols=len(optimizers), shared_xaxes=True, vertical_spacing=0.1,
                        horizontal_spacing=0.06, subplot_titles=[optimizer_name(o) for o in optimizers])
    width = line_width(presentation)
    windows = []
    for col, opt in enumerate(optimizers, start=1):
        for (o, mode), run in study.items():
            if o != opt:
                continue
            t = np.arange(len(run.w))
            common = dict(x=t, mode="lines", legendgroup=mode, line=dict(color=ink(dark, DECAY_COLOURS[mode]),
                                                                          width=width))
            windows.append(add_curve(fig, go.Scatter(y=run.norm, name=DECAY_NAMES[mode], showlegend=col == 1, **common,
                                                     hovertemplate="t = %{x}: |w| = %{y:.5g}<extra></extra>"), 1, col))
            dist = np.where(np.asarray(run.set_distance) > 0, run.set_distance, np.nan)
            windows.append(add_curve(fig, go.Scatter(y=dist, name=f"{DECAY_NAMES[mode]}: distance", showlegend=False,
                                                     **common,
                                                     hovertemplate="t = %{x}: distance %{y:.3g}<extra></extra>"), 2, col))
        fig.add_hline(y=min_norm, line=dict(color="#555555", dash="dash", width=1), row=1, col=col)
    fig.update_yaxes(title_text="norm |wₜ|", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=2)
    fig.update_yaxes(title_text="distance to the set", row=2, col=1)
    fig.update_xaxes(title_text="step t", row=2)
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.06, xanchor="left", x=0), margin=dict(t=90))
    band_legend(fig, windows)
    return fig


def pareto_front(distance: np.ndarray, norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points (d, n) of the lower-left envelope: for each distance d of the sample,
    the smallest norm among the samples at distance <= d (non-finite samples ignored)."""
    d, n = np.ravel(distance), np.ravel(norm)
    keep = np.isfinite(d) & np.isfinite(n)
    order = np.argsort(d[keep], kind="stable")
    d, n = d[keep][order], np.minimum.accumulate(n[keep][order])
    first = np.r_[True, n[1:] < n[:-1]]          # where the envelope drops
    return d[first], n[first]


def decay_ends_figure(study: Mapping[tuple[str, str], DecayRun], min_norm: float, front: tuple[np.ndarray, np.ndarray],
                      presentation: bool = False, height: int = 560, dark: bool = False) -> go.Figure:
    """End points (distance of w_T to the set, |w_T|), marker colour by decay mode and
    shape by optimizer, with the minimum-norm point and the Pareto front ``front``;
    black marks in ``ink(dark)``."""
    fig = go.Figure()
    ends = np.array([[run.end.set_distance, run.end.norm] for run in study.values()])
    reach = max(float(np.nanmax(ends[:, 0])) * 1.3, 1e-3) if np.isfinite(ends[:, 0]).any() else 1.0
    d, n = front
    inside = d <= reach
    fig.add_trace(go.Scatter(x=d[inside], y=n[inside], mode="lines", name="Pareto front (smallest |w| within "
                             "that distance)", line=dict(color="#999999", width=2, shape="hv"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[0.0], y=[min_norm], mode="markers", name="minimum-norm point of the set",
                             marker=dict(symbol="star", size=16, color=ink(dark)),
                             hovertemplate="minimum-norm point: |w*| = %{y:.4g}<extra></extra>"))
    for (opt, mode), run in study.items():
        label = f"{optimizer_name(opt)}, {DECAY_NAMES[mode]}"
        fig.add_trace(go.Scatter(x=[run.end.set_distance], y=[run.end.norm], mode="markers", name=label,
                                 marker=dict(symbol=spec_of(opt).symbol, size=12,
                                             color=ink(dark, DECAY_COLOURS[mode]), line=dict(color="#FFFFFF", width=1)),
                                 hovertemplate=(f"{label}<br>distance to the set %{{x:.3g}}<br>final |w| = %{{y:.5g}}"
                                                f"<br>final L = {run.end.loss:.3g}<extra></extra>")))
    fig.update_xaxes(title_text="distance of the final w to the set of minimisers", rangemode="tozero")
    fig.update_yaxes(title_text="final norm |w|")
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0,
                                  font=dict(size=_legend_px(presentation))), margin=dict(b=40))
    return fig
