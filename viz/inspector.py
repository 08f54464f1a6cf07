"""One step drawn on the contour (arXiv 2411.16085, Algorithm 1): from w_t, the
gradient step -eps g, the optimizer's step -eps u, the components the cautious mask
drops, the cautious step -eps alpha phi u, the weight-decay term and the step actually
taken, w_{t+1} - w_t (dynamics.anatomy).  Every vector is drawn as the displacement it
would cause, so lengths compare directly."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go

from viz.contour import PathStyle, add_paths, contour_base
from viz.theme import ink

DROPPED = "#7F7F7F"
DECAY = "#CC79A7"
STEP_TAKEN = "wₜ₊₁ − wₜ  (the step taken)"


class Arrow(NamedTuple):
    label: str
    vector: np.ndarray
    colour: str
    dash: str = "solid"
    width: float = 2.5


def step_arrows(lr: float, g, u, cautious_dir, mask, decay, step, base: str, light: str, is_cautious: bool,
                dark: bool = False):
    """The arrows of one step (displacements from w_t), in drawing order; the gradient
    step in ``ink(dark)``."""
    g, u, c, phi, d, s = (np.asarray(x, dtype=np.float64) for x in (g, u, cautious_dir, mask, decay, step))
    arrows = [Arrow("−ε g  (gradient step)", -lr * g, ink(dark), "dot"),
              Arrow("−ε u  (optimizer direction)", -lr * u, base, "solid")]
    if is_cautious:
        for i in np.nonzero(phi < 0.5)[0]:
            e = np.zeros_like(u)
            e[i] = -lr * u[i]
            arrows.append(Arrow(f"dropped by the mask: coordinate {i + 1}", e, DROPPED, "dash"))
        arrows.append(Arrow("−ε α φ⊙u  (cautious direction)", -lr * c, light, "solid"))
    if np.any(d != 0):
        arrows.append(Arrow("−ε (decay term)", -lr * d, DECAY, "dashdot"))
    arrows.append(Arrow(STEP_TAKEN, s, base, "solid", 5.0))
    return arrows


def window(w, arrows, floor: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square view centred on w that holds every arrow (half-width >= floor)."""
    reach = max([float(np.max(np.abs(a.vector))) for a in arrows if np.all(np.isfinite(a.vector))] + [0.0])
    half = max(1.35 * reach, floor)
    return (w[0] - half, w[0] + half), (w[1] - half, w[1] + half)


def step_figure(grid, minima, bounds, w, arrows, path: np.ndarray, path_style: PathStyle,
                presentation: bool = False, height: int = 640, dark: bool = False) -> go.Figure:
    """The contour ``grid`` over ``bounds`` with the path and the arrows drawn from w
    (marked in ``ink(dark)``)."""
    fig = contour_base(grid, minima, bounds, presentation, height, dark)
    add_paths(fig, {"path": path}, {"path": path_style}, presentation)
    fig.data[-1].update(opacity=0.45, showlegend=False)
    head = 18 if presentation else 14
    for a in arrows:
        tip = w + a.vector
        if not np.all(np.isfinite(tip)):
            continue
        fig.add_trace(go.Scatter(x=[w[0], tip[0]], y=[w[1], tip[1]], mode="lines+markers", name=a.label,
                                 line=dict(color=a.colour, width=a.width, dash=a.dash),
                                 marker=dict(symbol=["circle", "arrow"], size=[0, head + a.width], angleref="previous",
                                             color=a.colour),
                                 hovertemplate=(f"{a.label}<br>({a.vector[0]:.4g}, {a.vector[1]:.4g})"
                                                "<extra></extra>")))
    fig.add_trace(go.Scatter(x=[w[0]], y=[w[1]], mode="markers", name="wₜ",
                             marker=dict(color=ink(dark), size=11), hovertemplate="wₜ (%{x:.5g}, %{y:.5g})<extra></extra>"))
    legend = (dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02) if presentation  # beside: the
              else dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0))       # plot keeps its height
    fig.update_layout(legend=legend, margin=dict(t=20, b=20))
    return fig
