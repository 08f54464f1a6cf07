"""Contour of a toy with trajectories overlaid and an optional invisible grid of
clickable points (to pick a start point); viz.animation adds the play/step animation.

Levels are log-spaced: the contour lines are those of log10(L - min L + offset) on the
plotted grid, so the flat bottom of a valley keeps as many lines as its steep walls.
The lines are computed here (contourpy) and drawn as scatter lines, not as a Plotly
contour trace: a frame of an animation drawn without a full redraw replots only the
animated traces, and plotly.js then deletes the layer of every other trace type on the
same axes (the contour's lines vanished at the first frame, issue 13), while scatter
traces it leaves alone.
Axes keep the aspect ratio 1:1, so angles between vectors (gradient, step) are true.
The window is the toy's domain, grown to hold the whole path when a path leaves it
(``path_window``); the contour grid and the clickable points cover that window.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import contourpy
import numpy as np
import plotly.graph_objects as go

from toys import Toy
from toys.grid import toy_grid
from viz.theme import PALETTE, ink, line_width, style

CLICK_GRID = "click-grid"        # name of the clickable-points trace
CONTOUR = "contour of L"         # name of every contour-line trace
LEVELS = 25                      # contour lines
WINDOW_MARGIN = 0.05             # a window grown for a path: this share of its span added on each side
WINDOW_GROWTH = 10.0             # ... and at most this many domain spans beyond the domain on each side


class PathStyle(NamedTuple):
    colour: str
    dash: str = "solid"


def log_levels(z: np.ndarray) -> np.ndarray:
    """log10(z - min z + offset), offset = 1e-4 of the 95th percentile of z - min z."""
    finite = np.isfinite(z)
    if not finite.any():
        return np.zeros_like(z)
    rel = z - np.min(z[finite])
    offset = max(1e-4 * float(np.percentile(rel[finite], 95)), 1e-12)
    with np.errstate(invalid="ignore"):
        return np.log10(np.where(finite, rel, np.nan) + offset)


def iso_lines(grid, n: int = LEVELS) -> list[tuple[float, np.ndarray]]:
    """The contour lines of log_levels(L) on ``grid`` = (xs, ys, L) at ``n`` levels evenly
    spaced strictly inside its range, as (level's share of that range in (0, 1), (m, 2)
    points with a NaN row between lines); levels without a line are left out."""
    xs, ys, z = grid
    lz = log_levels(np.asarray(z, dtype=np.float64))
    finite = lz[np.isfinite(lz)]
    if not finite.size or not finite.max() > finite.min():
        return []
    lo, hi = float(finite.min()), float(finite.max())
    gen = contourpy.contour_generator(np.asarray(xs, float), np.asarray(ys, float), np.ma.masked_invalid(lz),
                                      line_type=contourpy.LineType.ChunkCombinedNan)
    lines = []
    for share in np.arange(1, n + 1) / (n + 1):
        points = gen.lines(lo + share * (hi - lo))[0][0]
        if points is not None and len(points):
            lines.append((float(share), points))
    return lines


def finite_path(w: np.ndarray) -> np.ndarray:
    """w with non-finite rows as NaN (plotted as a gap; JSON has no inf)."""
    w = np.asarray(w, dtype=np.float64)
    return np.where(np.isfinite(w).all(axis=-1, keepdims=True), w, np.nan)


def path_window(domain, paths: Mapping[str, np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The plotting window of ``paths`` (label -> (T+1, 2) iterates) over a toy's
    ``domain`` ((x0, x1), (y0, y1)): the domain itself when every finite iterate lies in
    it.  Otherwise the smallest box holding the domain and every finite iterate (cut at
    WINDOW_GROWTH domain spans beyond the domain, so that a diverging path does not shrink
    the toy to a dot), widened by WINDOW_MARGIN of its span on each side and then, about
    its centre, to the domain's aspect ratio (the figure keeps its shape)."""
    lo0, hi0 = np.array([domain[0][0], domain[1][0]], float), np.array([domain[0][1], domain[1][1]], float)
    pts = np.concatenate([np.asarray(w, dtype=np.float64).reshape(-1, 2) for w in paths.values()] or [np.zeros((0, 2))])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts) or (np.all(pts >= lo0) and np.all(pts <= hi0)):
        return tuple((float(a), float(b)) for a, b in zip(lo0, hi0))
    span0 = hi0 - lo0
    lo = np.maximum(np.minimum(lo0, pts.min(axis=0)), lo0 - WINDOW_GROWTH * span0)
    hi = np.minimum(np.maximum(hi0, pts.max(axis=0)), hi0 + WINDOW_GROWTH * span0)
    half = span0 * np.max((hi - lo) * (1 + 2 * WINDOW_MARGIN) / span0) / 2
    centre = (lo + hi) / 2
    return tuple((float(c - h), float(c + h)) for c, h in zip(centre, half))


def contour_base(grid, minima: np.ndarray | None = None, bounds=None, presentation: bool = False,
                 height: int = 560, dark: bool = False) -> go.Figure:
    """Contour lines of L from ``grid`` = (xs, ys, Z), minima as stars in ``ink(dark)``, 1:1 axes."""
    xs, ys, z = grid
    fig = go.Figure()
    for share, points in iso_lines(grid):
        grey = round(45 + 175 * share)                 # dark low in the valley, light up the walls
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="lines", name=CONTOUR, showlegend=False,
                                 line=dict(color=f"rgb({grey},{grey},{grey})", width=1), hoverinfo="skip"))
    if minima is not None and len(minima):
        fig.add_trace(go.Scatter(x=minima[:, 0], y=minima[:, 1], mode="markers", name="minima",
                                 marker=dict(symbol="star", size=16 if presentation else 13, color=ink(dark),
                                             line=dict(color=ink(not dark), width=1)),
                                 hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>"))
    x_range = [float(xs[0]), float(xs[-1])] if bounds is None else list(bounds[0])
    y_range = [float(ys[0]), float(ys[-1])] if bounds is None else list(bounds[1])
    fig.update_layout(xaxis=dict(range=x_range, title="w₁", constrain="domain", zeroline=False),
                      yaxis=dict(range=y_range, title="w₂", scaleanchor="x", scaleratio=1, constrain="domain",
                                 zeroline=False),
                      hovermode="closest")
    return style(fig, presentation, height)


def add_click_grid(fig: go.Figure, bounds, n: int = 48) -> None:
    """An invisible n x n grid of points: clicking one selects it (the app reads the
    selection as a new start point)."""
    (x0, x1), (y0, y1) = bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    fig.add_trace(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", name=CLICK_GRID, showlegend=False,
                             marker=dict(size=14, color="rgba(0,0,0,0)"),
                             selected=dict(marker=dict(color="rgba(0,0,0,0)")),
                             unselected=dict(marker=dict(opacity=0)),
                             hovertemplate="click: start here (%{x:.3g}, %{y:.3g})<extra></extra>"))


def add_start(fig: go.Figure, start, presentation: bool = False, dark: bool = False) -> None:
    """The start w₀ as an open circle in ``ink(dark)``."""
    fig.add_trace(go.Scatter(x=[start[0]], y=[start[1]], mode="markers", name="start w₀",
                             marker=dict(symbol="circle-open", size=18 if presentation else 14, color=ink(dark),
                                         line=dict(width=3)),
                             hovertemplate="start (%{x:.4g}, %{y:.4g})<extra></extra>"))


def add_paths(fig: go.Figure, paths: Mapping[str, np.ndarray], styles: Mapping[str, PathStyle] | None = None,
              presentation: bool = False, opacity: float = 1.0) -> None:
    """One line per path (label -> (T+1, 2) iterates), hovering shows t and w_t;
    ``opacity`` < 1: the faint backdrop of an animation (viz.animation)."""
    width = line_width(presentation)
    for i, (label, w) in enumerate(paths.items()):
        w = finite_path(w)
        ps = path_style(styles, label, i)
        fig.add_trace(go.Scatter(
            x=w[:, 0], y=w[:, 1], mode="lines+markers" if len(w) <= 400 else "lines", name=label,
            legendgroup=label, opacity=opacity, customdata=np.arange(len(w)),
            line=dict(color=ps.colour, width=width, dash=ps.dash), marker=dict(size=4, color=ps.colour),
            hovertemplate=f"{label}<br>t = %{{customdata}}<br>w = (%{{x:.4g}}, %{{y:.4g}})<extra></extra>"))


def path_style(styles: Mapping[str, PathStyle] | None, label: str, i: int) -> PathStyle:
    """The style of path ``label`` (the ``i``-th): from ``styles``, else the palette's i-th colour."""
    return (styles or {}).get(label, PathStyle(PALETTE[i % len(PALETTE)]))


def contour_figure(toy: Toy, params: dict, paths: dict[str, np.ndarray], n: int = 160, *,
                   styles: Mapping[str, PathStyle] | None = None, start=None, path_opacity: float = 1.0,
                   click_grid: bool = False, grid=None, minima=None, presentation: bool = False,
                   height: int = 560, dark: bool = False) -> go.Figure:
    """Log-spaced contour lines of L with one line per path (label -> (T+1, 2) iterates),
    the minima as stars and the start as an open circle (default: the first path's
    first point), in the window path_window(toy.domain, paths).  ``grid``/``minima``:
    precomputed toy_grid over that window / toy.minima (else computed).  ``dark``: the
    page's dark theme (viz.theme.ink)."""
    bounds = path_window(toy.domain, paths)
    grid = toy_grid(toy, params, n, bounds) if grid is None else grid
    minima = toy.minima(params) if minima is None else minima
    fig = contour_base(grid, minima, bounds, presentation, height, dark)
    if click_grid:
        add_click_grid(fig, bounds)
    add_paths(fig, paths, styles, presentation, path_opacity)
    if start is None and paths:
        start = next(iter(paths.values()))[0]
    if start is not None:
        add_start(fig, start, presentation, dark)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.03, xanchor="left", x=0))
    return fig
