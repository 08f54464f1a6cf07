"""Contour of a toy with trajectories overlaid."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import plotly.graph_objects as go

from toys import Toy

# Okabe-Ito: colour-blind-safe.  Base optimizers take the dark member of a pair,
# cautious variants the light one.
PALETTE = ["#0072B2", "#56B4E9", "#D55E00", "#E69F00", "#009E73", "#F0E442", "#CC79A7", "#000000"]


def toy_grid(toy: Toy, params: dict, n: int = 160):
    """(xs, ys, Z) with Z = L on an n x n grid over the toy's domain (NumPy)."""
    (x0, x1), (y0, y1) = toy.domain
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    p = {k: jnp.asarray(v) for k, v in params.items()}
    return xs, ys, np.asarray(toy.value(jnp.asarray(grid), p))


def contour_figure(toy: Toy, params: dict, paths: dict[str, np.ndarray], n: int = 160) -> go.Figure:
    """Log-spaced contour lines of L (shifted to be positive) with one line per path.

    paths: label -> (T+1, 2) iterates.  Minima are marked with stars, starts with circles.
    """
    xs, ys, z = toy_grid(toy, params, n)
    shifted = np.log10(z - np.nanmin(z) + 1e-3)
    fig = go.Figure(go.Contour(x=xs, y=ys, z=shifted, colorscale="Greys", reversescale=True,
                               contours=dict(coloring="lines"), ncontours=25, showscale=False,
                               hoverinfo="skip", name="log10 L"))
    for i, (label, w) in enumerate(paths.items()):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=w[:, 0], y=w[:, 1], mode="lines+markers", name=label,
                                 line=dict(color=colour, width=2), marker=dict(size=3)))
        fig.add_trace(go.Scatter(x=w[:1, 0], y=w[:1, 1], mode="markers", showlegend=False,
                                 marker=dict(color=colour, size=10, symbol="circle-open")))
    minima = toy.minima(params)
    if len(minima):
        fig.add_trace(go.Scatter(x=minima[:, 0], y=minima[:, 1], mode="markers", name="minima",
                                 marker=dict(symbol="star", size=14, color="#000000")))
    (x0, x1), (y0, y1) = toy.domain
    fig.update_layout(xaxis=dict(range=[x0, x1], title="w1"), yaxis=dict(range=[y0, y1], title="w2"),
                      template="plotly_white", margin=dict(l=40, r=10, t=30, b=40))
    return fig
