"""Curves against the step (or the time t of a flow): the loss gap L - L* on a log axis
with the steps where L rose marked, the Hamiltonian gap H - L* (H = L + K(state),
docs/theory.md, Section 4) and the fraction of coordinates the cautious mask dropped.

Without a known minimum value L* (a toy with no minimiser) L and H are drawn as they
are, on a linear axis.  Values <= 0 (exactly converged, or rounding) and non-finite
values (divergence) leave a gap on a log axis; the app says so in words.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.theme import line_width, style

RISE_SYMBOL = "triangle-up-open"


class Series(NamedTuple):
    """One curve family: label, colour, dash, abscissa x (steps or times), loss,
    hamiltonian, masked fraction (None: not cautious, row skipped), rises (steps of x
    where L rose; None: not marked), mode ("lines" or "markers")."""

    label: str
    colour: str
    dash: str
    x: np.ndarray
    loss: np.ndarray
    hamiltonian: np.ndarray
    masked: np.ndarray | None = None
    rises: np.ndarray | None = None
    mode: str = "lines"


def gap(values: np.ndarray, l_star: float | None) -> np.ndarray:
    """values - L* with non-finite values as NaN and, on a log axis (L* known), values <= 0 as NaN."""
    v = np.asarray(values, dtype=np.float64)
    if l_star is None:
        return np.where(np.isfinite(v), v, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        d = v - l_star
        return np.where(np.isfinite(d) & (d > 0), d, np.nan)


def step_curves(series: Sequence[Series], l_star: float | None, presentation: bool = False,
                xlabel: str = "step t", height: int = 560) -> go.Figure:
    """Rows: L - L* (log), H - L* (log), fraction masked (if any series has a mask)."""
    masked_row = any(s.masked is not None for s in series)
    rows = 3 if masked_row else 2
    suffix = "" if l_star is None else " − L*"
    titles = [f"loss L{suffix}", f"Hamiltonian H = L + K{suffix}"] + (["fraction masked 1 − mean φ"] if masked_row
                                                                        else [])
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=titles,
                        row_heights=[0.42, 0.38, 0.2][:rows])
    width = line_width(presentation)
    for s in series:
        loss, ham = gap(s.loss, l_star), gap(s.hamiltonian, l_star)
        common = dict(mode=s.mode, legendgroup=s.label, line=dict(color=s.colour, width=width, dash=s.dash),
                      marker=dict(color=s.colour, size=5))
        fig.add_trace(go.Scatter(x=s.x, y=loss, name=s.label, **common,
                                 hovertemplate=f"{s.label}<br>%{{x}}: L{suffix} = %{{y:.4g}}<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=s.x, y=ham, name=s.label, showlegend=False, **common,
                                 hovertemplate=f"{s.label}<br>%{{x}}: H{suffix} = %{{y:.4g}}<extra></extra>"),
                      row=2, col=1)
        if s.rises is not None and len(s.rises):
            idx = np.asarray(s.rises, dtype=int)
            fig.add_trace(go.Scatter(x=np.asarray(s.x)[idx], y=loss[idx], mode="markers", legendgroup=s.label,
                                     name=f"{s.label}: L rose ({len(idx)} steps)",
                                     marker=dict(symbol=RISE_SYMBOL, size=8 if presentation else 6,
                                                 color=s.colour, line=dict(color=s.colour, width=1.5)),
                                     hovertemplate=f"{s.label}: L rose at step %{{x}}<extra></extra>"),
                          row=1, col=1)
        if masked_row and s.masked is not None:
            fig.add_trace(go.Scatter(x=s.x, y=s.masked, showlegend=False, **common,
                                     hovertemplate=f"{s.label}<br>%{{x}}: masked %{{y:.2f}}<extra></extra>"),
                          row=3, col=1)
    axis_type = "linear" if l_star is None else "log"
    fig.update_yaxes(type=axis_type, exponentformat="power", row=1, col=1)
    fig.update_yaxes(type=axis_type, exponentformat="power", row=2, col=1)
    if masked_row:
        fig.update_yaxes(range=[-0.05, 1.05], row=3, col=1)
    fig.update_xaxes(title_text=xlabel, row=rows, col=1)
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.04, xanchor="left", x=0))
    return fig
