"""Basin maps (dynamics.basins): a grid of start points w_0 coloured by the listed
minimiser each run ends at, for two runs side by side (the base optimizer and its
cautious twin, arXiv 2411.16085, or an optimizer without and with SAM), and the cells
where the two differ (``changed``).

One colour per minimiser (Okabe-Ito, the minimiser drawn as a star of the same
colour); grey: the run ended near no listed minimiser or diverged.  Rows are w2 (y),
columns w1 (x), as in BasinMap.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dynamics.basins import BasinMap, changed
from viz.theme import DIVERGED, PALETTE, font_px, ink, style

COLOUR_NAMES = dict(zip(PALETTE, ("blue", "sky blue", "vermillion", "orange", "green", "yellow", "purple", "black")))
NONE_LABEL = "no listed minimiser / diverged"


def minimiser_colours(k: int) -> list[str]:
    """The colour of minimiser 0..k-1 (PALETTE without black, cycled)."""
    colours = [c for c in PALETTE if c != "#000000"]
    return [colours[i % len(colours)] for i in range(k)]


def index_colorscale(k: int) -> list:
    """A stepped colorscale for z in {-1, 0, ..., k-1} with zmin = -1.5, zmax = k - 0.5:
    grey for -1, minimiser_colours(k) for 0..k-1."""
    colours = [DIVERGED] + minimiser_colours(k)
    n = len(colours)
    scale = []
    for i, c in enumerate(colours):
        scale += [[i / n, c], [(i + 1) / n, c]]
    return scale


def basins_figure(base: BasinMap, cautious: BasinMap, titles: tuple[str, str], presentation: bool = False,
                  height: int = 470, dark: bool = False) -> go.Figure:
    """Three panels: base map, cautious map (z = minimiser index, -1 none) and the
    changed map (z = 1 where the index differs, drawn in ``ink(dark)`` on the plot's
    background), with the minimisers as stars."""
    diff = changed(base, cautious)
    k = len(base.minima)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.05,
                        subplot_titles=[f"{titles[0]}: basins", f"{titles[1]}: basins",
                                        f"changed: {diff.mean():.1%} of the starts"])
    scale = index_colorscale(k)
    for col, (m, title) in enumerate(((base, titles[0]), (cautious, titles[1])), start=1):
        arrival = np.where(m.arrival >= 0, m.arrival, np.nan)
        fig.add_trace(go.Heatmap(x=m.x, y=m.y, z=m.index.astype(float), zmin=-1.5, zmax=k - 0.5, colorscale=scale,
                                 showscale=False, name=title, customdata=arrival,
                                 hovertemplate=(f"{title}<br>start (%{{x:.3g}}, %{{y:.3g}})<br>minimiser %{{z}}"
                                                "<br>arrives at step %{customdata}<extra></extra>")), 1, col)
    fig.add_trace(go.Heatmap(x=base.x, y=base.y, z=diff.astype(float), zmin=0, zmax=1, showscale=False,
                             colorscale=[[0, "rgba(0,0,0,0)"], [1, ink(dark)]], name="changed",
                             hovertemplate="start (%{x:.3g}, %{y:.3g})<br>changed: %{z}<extra></extra>"), 1, 3)
    colours = minimiser_colours(k)
    for col in (1, 2, 3):        # white stars labelled with their index: visible on their own basin's colour
        fig.add_trace(go.Scatter(x=base.minima[:, 0], y=base.minima[:, 1], mode="markers+text", showlegend=False,
                                 name="minima", text=[str(i) for i in range(k)], textposition="top right",
                                 textfont=dict(color=ink(dark and col == 3), size=font_px(presentation)),
                                 marker=dict(symbol="star", size=15, color="#FFFFFF",
                                             line=dict(color="#000000", width=1.5)),
                                 hovertemplate="minimiser %{text}: (%{x:.4g}, %{y:.4g})<extra></extra>"), 1, col)
    for i, c in enumerate(colours):        # legend entries for the categories
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"minimiser {i}",
                                 marker=dict(symbol="square", size=12, color=c)))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=NONE_LABEL,
                             marker=dict(symbol="square", size=12, color=DIVERGED)))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="changed (right)",
                             marker=dict(symbol="square", size=12, color=ink(dark))))
    for col in (1, 2, 3):
        suffix = "" if col == 1 else str(col)
        fig.update_xaxes(title_text="w₁ (start)", constrain="domain", row=1, col=col)
        fig.update_yaxes(scaleanchor=f"x{suffix}", scaleratio=1, constrain="domain", row=1, col=col)
    fig.update_yaxes(title_text="w₂ (start)", row=1, col=1)
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.1, xanchor="left", x=0), margin=dict(t=90))
    return fig
