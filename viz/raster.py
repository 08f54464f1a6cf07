"""Heatmaps as images of a chosen resolution, for static export (viz.export).

plotly.js paints a heatmap on a canvas of the figure's own pixel size, so a vector file
rendered at its physical size (one layout pixel = 1/96 in) would carry a coarse, blurred
image.  ``rasterise_heatmaps`` instead paints the heatmaps itself: every cell becomes a
block of k x k image pixels (k chosen so the image has at least ``scale`` pixels per
layout pixel of the panel), coloured through the trace's colour scale with 256 levels,
NaN cells transparent so the plot background shows through.  The heatmaps of one panel
are composited in trace order (later on top) into one layout image, because plotly
draws only one below-the-data image per panel.  The image sits in the panel's axis
coordinates (log10 units on a log axis, as plotly places layout images) under the data;
the panel's grid and zero lines, which a heatmap would hide but a layout image lies under,
are turned off; each heatmap trace is replaced by an empty one that keeps its colour bar, so
no canvas is painted.  The axes' ranges are set to the outer cell edges (what plotly's
autorange shows for a heatmap).

Cells: ``x`` (and ``y``) of length n + 1 are cell edges, of length n cell centres
(edges halfway between them, the outer ones half a cell out), absent: 0..n-1.  The
image samples the cells at its pixel centres, so cells of unequal width in axis units
are drawn to within one image pixel.
"""
from __future__ import annotations

import base64
import io
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import convert_colors_to_same_type, unlabel_rgb

from viz.ticks import plotly_array

LEVELS = 256


def _edges(coords, n: int, log: bool) -> np.ndarray:
    """Cell edges in axis units (log10 on a log axis) from a heatmap's x or y."""
    c = np.arange(n, dtype=float) if coords is None else plotly_array(coords)
    if log:
        c = np.log10(c)
    if c.size == n + 1:
        return c
    if c.size != n:
        raise ValueError(f"a heatmap axis has {c.size} coordinates for {n} cells")
    if n == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def _sample(edges: np.ndarray, lo: float, hi: float, pixels: int) -> np.ndarray:
    """The cell index under each of ``pixels`` equal pixels from ``lo`` up to ``hi``; -1
    where a pixel lies outside the cells."""
    ascending = edges[-1] > edges[0]
    sorted_edges = edges if ascending else edges[::-1]
    centres = lo + (np.arange(pixels) + 0.5) * (hi - lo) / pixels
    cells = np.searchsorted(sorted_edges, centres, side="right") - 1
    inside = (cells >= 0) & (cells < edges.size - 1)
    cells = cells if ascending else edges.size - 2 - cells
    return np.where(inside, cells, -1)


def _range(trace) -> tuple[float, float]:
    """A heatmap's own colour range: zmin / zmax, else its data's (symmetric about zmid)."""
    z = plotly_array(trace.z)
    lo = float(np.nanmin(z)) if trace.zmin is None else trace.zmin
    hi = float(np.nanmax(z)) if trace.zmax is None else trace.zmax
    if trace.zmid is not None and (trace.zmin is None or trace.zmax is None):
        half = max(hi - trace.zmid, trace.zmid - lo)
        lo, hi = trace.zmid - half, trace.zmid + half
    return lo, hi


def _colours(fig: go.Figure, trace) -> tuple[list, float, float]:
    """(colour scale, low, high) of a heatmap: its colour axis's, else its own; a heatmap
    without a scale takes the layout's sequential scale, else its template's (as plotly)."""
    if trace.coloraxis:
        axis = fig.layout[trace.coloraxis]
        if axis.cmin is None or axis.cmax is None:
            raise ValueError(f"{trace.coloraxis} needs cmin and cmax for export")
        source, (lo, hi) = axis, (axis.cmin, axis.cmax)
    else:
        source, (lo, hi) = trace, _range(trace)
    scale = source.colorscale or fig.layout.colorscale.sequential or fig.layout.template.layout.colorscale.sequential
    if not scale:
        raise ValueError(f"heatmap {trace.name!r} needs a colour scale for export")
    if trace.zsmooth:
        raise ValueError(f"heatmap {trace.name!r}: smoothed heatmaps (zsmooth) are not exported as images")
    scale = list(scale)
    if source.reversescale:
        scale = [[1 - p, c] for p, c in reversed(scale)]
    return scale, float(lo), float(hi)


def _table(scale: list) -> np.ndarray:
    """LEVELS colours (uint8 RGB) interpolated linearly in RGB along a plotly colour scale."""
    positions = np.array([float(p) for p, _ in scale])
    rgb = np.array([unlabel_rgb(convert_colors_to_same_type(c, "rgb")[0][0]) for _, c in scale], float)
    levels = (np.arange(LEVELS) + 0.5) / LEVELS
    return np.round(np.stack([np.interp(levels, positions, rgb[:, k]) for k in range(3)], axis=1)).astype(np.uint8)


def _rgba(z: np.ndarray, scale: list, lo: float, hi: float, opacity: float | None) -> np.ndarray:
    """Cells as RGBA bytes through ``scale`` at LEVELS levels; NaN cells transparent."""
    table = _table(scale)
    level = np.clip(np.floor((z - lo) / (hi - lo if hi > lo else 1.0) * LEVELS), 0, LEVELS - 1)
    rgba = np.zeros(z.shape + (4,), np.uint8)
    ok = np.isfinite(z)
    rgba[ok, :3] = table[level[ok].astype(int)]
    rgba[ok, 3] = 255 if opacity is None else round(255 * opacity)
    return rgba


def _axis(fig: go.Figure, ref: str):
    return fig.layout[f"{ref[0]}axis{ref[1:]}"]


def _png(rgba: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _panel_pixels(axis, size: float | None) -> float:
    """An upper bound on the panel's length in layout pixels (its domain of the figure)."""
    domain = axis.domain or (0, 1)
    return (size or 700) * (domain[1] - domain[0])


class _Layer(NamedTuple):
    """One heatmap's cells: edges in axis units and RGBA bytes (rows bottom to top)."""

    x_edges: np.ndarray
    y_edges: np.ndarray
    rgba: np.ndarray


def _layer(fig: go.Figure, trace, colours: tuple[list, float, float]) -> _Layer:
    z = plotly_array(trace.z)
    return _Layer(_edges(trace.x, z.shape[1], _axis(fig, trace.xaxis or "x").type == "log"),
                  _edges(trace.y, z.shape[0], _axis(fig, trace.yaxis or "y").type == "log"),
                  _rgba(z, *colours, trace.opacity))


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Float RGBA (0..1) of ``top`` drawn over ``bottom`` (straight alpha)."""
    a_top, a_bottom = top[..., 3:], bottom[..., 3:]
    alpha = a_top + a_bottom * (1 - a_top)
    colour = (top[..., :3] * a_top + bottom[..., :3] * a_bottom * (1 - a_top)) / np.where(alpha > 0, alpha, 1)
    return np.concatenate([colour, alpha], axis=-1)


def _panel_image(fig: go.Figure, refs: tuple[str, str], layers: list[_Layer], scale: float) -> dict:
    """One layout image for the heatmaps of one panel, in trace order (later on top), at
    ``scale`` image pixels per layout pixel: plotly draws one below-layer image per panel."""
    xa, ya = _axis(fig, refs[0]), _axis(fig, refs[1])
    box = []
    for axis, size, k in ((xa, fig.layout.width, 0), (ya, fig.layout.height, 1)):
        edges = [layer[k] for layer in layers]
        lo, hi = min(e.min() for e in edges), max(e.max() for e in edges)
        cells = max(e.size - 1 for e in edges)
        box.append((lo, hi, cells * int(np.ceil(_panel_pixels(axis, size) * scale / cells))))
        axis.update(showgrid=False, zeroline=False)   # a heatmap hides them; the image lies below them
        if axis.range is None:
            axis.range = [float(lo), float(hi)]
    image = np.zeros((box[1][2], box[0][2], 4))
    for layer in layers:
        ix, iy = _sample(layer.x_edges, *box[0]), _sample(layer.y_edges, *box[1])
        cells = layer.rgba[np.maximum(iy, 0)][:, np.maximum(ix, 0)] / 255.0
        cells[(iy < 0)[:, None] | (ix < 0)[None, :]] = 0.0
        image = _over(cells, image)
    (x0, x1, _), (y0, y1, _) = box
    return dict(source=_png(np.round(image[::-1] * 255).astype(np.uint8)), xref=refs[0], yref=refs[1],
                x=float(x0), y=float(y1), sizex=float(x1 - x0), sizey=float(y1 - y0), xanchor="left",
                yanchor="top", sizing="stretch", layer="below")       # image rows run top to bottom


def _colour_bar(trace, colours: tuple[list, float, float]) -> go.Scatter:
    """An empty trace that keeps the heatmap's colour bar (its colour axis's, or its own)."""
    if trace.coloraxis:
        marker = dict(color=[colours[1]], coloraxis=trace.coloraxis)
    else:
        marker = dict(color=[colours[1]], colorscale=colours[0], cmin=colours[1], cmax=colours[2],
                      showscale=trace.showscale is not False, colorbar=trace.colorbar.to_plotly_json())
    return go.Scatter(x=[None], y=[None], mode="markers", marker=marker, showlegend=False, hoverinfo="skip",
                      xaxis=trace.xaxis, yaxis=trace.yaxis, name=trace.name)


def rasterise_heatmaps(fig: go.Figure, scale: float) -> go.Figure:
    """A copy of ``fig`` whose heatmaps are layout images (one per panel) with at least
    ``scale`` image pixels per layout pixel, each heatmap replaced by an empty trace that
    keeps its colour bar (the module docstring says how); other traces unchanged."""
    panels: dict[tuple[str, str], list[_Layer]] = {}
    data = []
    for trace in fig.data:
        if trace.type == "heatmap" and trace.visible is not False and trace.z is not None:
            colours = _colours(fig, trace)
            panels.setdefault((trace.xaxis or "x", trace.yaxis or "y"), []).append(_layer(fig, trace, colours))
            trace = _colour_bar(trace, colours)
        data.append(trace)
    out = go.Figure(data=data, layout=fig.layout)            # the copy: ``fig`` is only read
    out.layout.images = list(out.layout.images) + [_panel_image(out, refs, layers, scale)
                                                   for refs, layers in panels.items()]
    return out
