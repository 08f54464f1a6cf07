"""What the cautious mask does to one coordinate (arXiv 2411.16085, Theorem 2.3).

Along the flow, coordinate i contributes eps * alpha phi_i x_i to the decrease of L,
with x_i = u_i g_i.  The base optimizer contributes eps * x_i (negative when u_i points
uphill); the theorem's condition for the cautious flow to decrease H at least as fast
as the base flow is alpha phi(x) x >= max(x, 0).  In 2-D, alpha and (for the inner and
threshold masks) phi also depend on the other coordinate, so the figure draws the
contribution alpha phi_1 x_1 of coordinate 1 against x_1 twice: with the other
coordinate agreeing (x_2 = +1) and opposing (x_2 = -1), using the masks and
compensations of dynamics.caution with u = (x_1, x_2), g = (1, 1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import plotly.graph_objects as go

from dynamics.caution import compensation_alpha, mask_phi
from viz.theme import BLUE, ORANGE, ink, line_width, style


def contribution(x: np.ndarray, other: float, mask: str, compensation: str, lr: float = 0.01, mu: float = 1.0,
                 tau: float = 1e-3) -> np.ndarray:
    """alpha phi_1 x_1 for u = (x_1, other), g = (1, 1), at each x_1 of ``x`` (in float64)."""
    def one(x1):
        u = jnp.stack([x1, jnp.asarray(other, x1.dtype)])
        phi = mask_phi(u, jnp.ones_like(u), mask, lr=lr, mu=mu, tau=tau)
        return compensation_alpha(phi, compensation) * phi[0] * x1

    with jax.enable_x64(True):
        return np.asarray(jax.vmap(one)(jnp.asarray(x, jnp.float64)))


def mask_response_figure(mask: str, compensation: str, lr: float = 0.01, mu: float = 1.0, tau: float = 1e-3,
                         presentation: bool = False, height: int = 360, dark: bool = False) -> go.Figure:
    """The contribution of coordinate 1 against x₁: the base optimizer's (in ``ink(dark)``),
    the condition's max(x₁, 0) and the cautious one with the other coordinate agreeing
    and opposing."""
    x = np.linspace(-1.0, 1.0, 401)
    width = line_width(presentation)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=x, name="base: x₁", line=dict(color=ink(dark), width=width, dash="dot")))
    fig.add_trace(go.Scatter(x=x, y=np.maximum(x, 0), name="needed: max(x₁, 0)",
                             line=dict(color="#999999", width=width * 2.5)))
    for other, colour, dash, text in ((1.0, BLUE, "solid", "x₂ = +1 (agrees)"),
                                      (-1.0, ORANGE, "dash", "x₂ = −1 (opposes)")):
        fig.add_trace(go.Scatter(x=x, y=contribution(x, other, mask, compensation, lr, mu, tau),
                                 name=f"cautious α φ₁ x₁, {text}", line=dict(color=colour, width=width, dash=dash)))
    fig.update_xaxes(title_text="x₁ = u₁ g₁", zeroline=True)
    fig.update_yaxes(title_text="contribution to −dL/dt / ε", zeroline=True)
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0), margin=dict(t=80))
    return fig
