"""Convergence-rate heatmaps over (step size eps, momentum beta): base, cautious and
their difference (DESIGN.md Section 7; the paper's Figure 3, arXiv 2411.16085).

Rows are beta, columns eps (dynamics.sweep.SweepResult).  Diverged cells are left
empty and show the grey background.  The best converging cell of each map is a red
dot; on quadratics the analytic heavy-ball (or GD) optimum is a white cross and the
analytic stability boundary eps_max(beta) a black dashed line (dynamics.rates).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import ANALYTIC, BLACK, DIFF_SCALE, DIVERGED, OPTIMUM, RATE_SCALE, style


CLICK_CELLS = "click-cells"


class RateMap(NamedTuple):
    """One map: title, rate (rows beta, columns lr), diverged mask, best cell
    (dict lr, beta, rate, row, col; row < 0 when nothing converged)."""

    title: str
    rate: np.ndarray
    diverged: np.ndarray
    best: dict


class Analytic(NamedTuple):
    """Closed forms on a quadratic: optimum (dict lr, beta, rate, or None) and the
    stability boundary lr_max per beta of the grid."""

    optimum: dict | None
    boundary_lr: np.ndarray


def cell_edges(centres: np.ndarray, scale: str) -> np.ndarray:
    """n + 1 cell edges around n sorted centres: midpoints (geometric on a log axis)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return np.array([c[0] * 0.9, c[0] * 1.1]) if scale == "log" else np.array([c[0] - 0.5, c[0] + 0.5])
    if scale == "log":
        return np.exp(cell_edges(np.log(c), "linear"))
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def nearest_cell(lr_axis: np.ndarray, beta_axis: np.ndarray, lr: float, beta: float, scale: str) -> tuple[int, int]:
    """(lr index, beta index) of the cell nearest to (lr, beta) (log distance on a log lr axis)."""
    if scale == "log":
        j = int(np.argmin(np.abs(np.log(lr_axis) - np.log(max(lr, 1e-300)))))
    else:
        j = int(np.argmin(np.abs(lr_axis - lr)))
    return j, int(np.argmin(np.abs(beta_axis - beta)))


def _diverged_layer(diverged, lr_edges, beta_edges):
    """Diverged cells in flat grey (a layer under the rate heatmap, whose diverged cells are empty)."""
    return go.Heatmap(x=lr_edges, y=beta_edges, z=np.where(diverged, 1.0, np.nan), colorscale=[[0, DIVERGED],
                      [1, DIVERGED]], showscale=False, hoverinfo="skip", name="diverged")


def _heat(rate, diverged, lr_edges, beta_edges, lr_axis, beta_axis, colorscale, zmin, zmax, zmid, bar_x, bar_title,
          label):
    z = np.where(diverged, np.nan, rate)
    custom = np.stack(np.broadcast_arrays(lr_axis[None, :], beta_axis[:, None]), axis=-1)
    return go.Heatmap(x=lr_edges, y=beta_edges, z=z, customdata=custom, colorscale=colorscale, zmin=zmin, zmax=zmax,
                      zmid=zmid, name=label, colorbar=dict(x=bar_x, len=0.9, thickness=14, title=dict(text=bar_title)),
                      hovertemplate=(f"{label}<br>ε = %{{customdata[0]:.4g}}<br>β = %{{customdata[1]:.4g}}"
                                     "<br>%{z:.4f}<extra></extra>"))


def _click_points(z, diverged, lr_axis, beta_axis, label, n_max: int):
    """Invisible points on (at most n_max x n_max of) the cell centres: plotly reports a
    click on a heatmap but selects no point of it, so these carry the click (the app
    maps the clicked point to the nearest cell)."""
    rows = np.unique(np.linspace(0, len(beta_axis) - 1, min(n_max, len(beta_axis))).round().astype(int))
    cols = np.unique(np.linspace(0, len(lr_axis) - 1, min(n_max, len(lr_axis))).round().astype(int))
    ii, jj = np.meshgrid(rows, cols, indexing="ij")
    value = np.where(diverged[ii, jj], np.nan, z[ii, jj]).ravel()
    return go.Scatter(x=lr_axis[jj].ravel(), y=beta_axis[ii].ravel(), customdata=value, mode="markers",
                      name=CLICK_CELLS, showlegend=False, marker=dict(size=9, color="rgba(0,0,0,0)"),
                      selected=dict(marker=dict(color="rgba(0,0,0,0)")), unselected=dict(marker=dict(opacity=0)),
                      hovertemplate=(f"{label}<br>ε = %{{x:.4g}}<br>β = %{{y:.4g}}<br>%{{customdata:.4f}}"
                                     "<br>click: load this (ε, β)<extra></extra>"))


def rate_maps_figure(lr: np.ndarray, beta: np.ndarray, base: RateMap, cautious: RateMap, lr_scale: str = "log",
                     analytic: Analytic | None = None, current: tuple[float, float] | None = None,
                     presentation: bool = False, height: int = 470, click_points: int = 48) -> go.Figure:
    """Three heatmaps side by side: base rate, cautious rate, cautious - base (both
    diverged: empty; one diverged: its rate counts as 1), each with up to
    ``click_points`` x ``click_points`` invisible clickable cell centres."""
    lr, beta = np.asarray(lr, float), np.asarray(beta, float)
    lr_e, beta_e = cell_edges(lr, lr_scale), cell_edges(beta, "linear")
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.07,
                        subplot_titles=[f"{base.title}: rate", f"{cautious.title}: rate",
                                        f"{cautious.title} − {base.title}"])
    both = base.diverged & cautious.diverged
    diff = cautious.rate - base.rate
    span = float(np.nanmax(np.abs(np.where(both, np.nan, diff)))) if (~both).any() else 1.0
    span = span if np.isfinite(span) and span > 0 else 1.0
    x1_end = fig.layout.xaxis2.domain[1]
    for col, (z, div, scale, lim, mid, bar, title, name) in enumerate((
            (base.rate, base.diverged, RATE_SCALE, (0, 1), None, None, "rate", base.title),
            (cautious.rate, cautious.diverged, RATE_SCALE, (0, 1), None, x1_end + 0.005, "rate", cautious.title),
            (diff, both, DIFF_SCALE, (-span, span), 0, 1.0, "Δ rate", "difference")), start=1):
        fig.add_trace(_diverged_layer(div, lr_e, beta_e), 1, col)
        heat = _heat(z, div, lr_e, beta_e, lr, beta, scale, *lim, mid, bar if bar is not None else 0, title, name)
        heat.showscale = bar is not None
        fig.add_trace(heat, 1, col)
        fig.add_trace(_click_points(z, div, lr, beta, name, click_points), 1, col)
    for col, m in ((1, base), (2, cautious)):
        if m.best["row"] >= 0:
            fig.add_trace(go.Scatter(x=[m.best["lr"]], y=[m.best["beta"]], mode="markers", showlegend=col == 1,
                                     name="best cell (red dot)", legendgroup="best",
                                     marker=dict(color=OPTIMUM, size=13, line=dict(color="#FFFFFF", width=2)),
                                     hovertemplate=(f"{m.title} best: ε = %{{x:.4g}}, β = %{{y:.4g}}, "
                                                    f"rate {m.best['rate']:.4f}<extra></extra>")), 1, col)
    if analytic is not None:
        for col in (1, 2, 3):
            fig.add_trace(go.Scatter(x=analytic.boundary_lr, y=beta, mode="lines", name="analytic stability boundary",
                                     legendgroup="boundary", showlegend=col == 1,
                                     line=dict(color=BLACK, width=2.5, dash="dash"),
                                     hovertemplate="stable for ε < %{x:.4g} at β = %{y:.4g}<extra></extra>"), 1, col)
            if analytic.optimum is not None:
                o = analytic.optimum
                fig.add_trace(go.Scatter(x=[o["lr"]], y=[o["beta"]], mode="markers", name="analytic optimum",
                                         legendgroup="analytic", showlegend=col == 1,
                                         marker=dict(symbol="x", size=13, color=ANALYTIC,
                                                     line=dict(color="#000000", width=1.5)),
                                         hovertemplate=(f"analytic optimum ε* = {o['lr']:.4g}, β* = {o['beta']:.4g}, "
                                                        f"rate {o['rate']:.4f}<extra></extra>")), 1, col)
    if current is not None:
        for col in (1, 2, 3):
            fig.add_trace(go.Scatter(x=[current[0]], y=[current[1]], mode="markers", name="current (ε, β)",
                                     legendgroup="current", showlegend=col == 1,
                                     marker=dict(symbol="circle-open", size=15, color="#000000", line=dict(width=2.5)),
                                     hoverinfo="skip"), 1, col)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="diverged (grey)",
                             marker=dict(symbol="square", size=12, color=DIVERGED)))
    lr_range = [np.log10(lr_e[0]), np.log10(lr_e[-1])] if lr_scale == "log" else [lr_e[0], lr_e[-1]]
    fig.update_xaxes(type=lr_scale, range=lr_range, title_text="step size ε", showgrid=False)
    fig.update_yaxes(range=[beta_e[0], beta_e[-1]], showgrid=False)
    fig.update_yaxes(title_text="momentum β", row=1, col=1)
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.08, xanchor="left", x=0),
                      margin=dict(t=90))
    return fig
