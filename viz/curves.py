"""Curves against the step (or the time t of a flow): the loss gap L - L* on a log axis,
under it a strip with a tick at each step where L rose (by more than the threshold of
dynamics.rollout.loss_rises), the Hamiltonian gap H - L* (H = L + K(state),
docs/theory.md, Section 4) and the fraction of coordinates the cautious mask dropped.

Without a known minimum value L* (a toy with no minimiser) L and H are drawn as they
are, on a linear axis.  Values <= 0 (exactly converged, or rounding) and non-finite
values (divergence) leave a gap on a log axis; the app says so in words.

Rises are ticks in their own strip, not markers on the curve: a run that oscillates
rises at hundreds of steps, and markers on the curve would hide it.  Where a curve
chatters (oscillates faster than the figure can show, e.g. Lion near a minimiser) it is
drawn as its running envelope (``add_curve``), a band rather than a solid block.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb
from plotly.subplots import make_subplots

from dynamics.rollout import RISE_REL
from viz.theme import legend_swatch, line_width, style

RISE_TICK = "line-ns-open"
ENVELOPE_SPAN = 200       # an envelope's window: about 1/ENVELOPE_SPAN of the curve on either side
BAND_GREY = "#C8C8C8"     # the legend swatch of the min-max bands (each band has its run's colour)


class Series(NamedTuple):
    """One curve family: label, colour, dash, abscissa x (steps or times), loss,
    hamiltonian, masked fraction (None: not cautious, row skipped), rises (indices into
    x of the steps where L rose, dynamics.rollout.loss_rises; None: not marked), mode
    ("lines" or "markers")."""

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

def envelope_window(n: int) -> int:
    """The odd number of points of an envelope's window for a curve of n points:
    2 k + 1 with k = max(1, n // ENVELOPE_SPAN) (11 for 1001 points)."""
    return 2 * max(1, n // ENVELOPE_SPAN) + 1


def chattering(y: np.ndarray, window: int) -> np.ndarray:
    """Where a curve chatters: the points whose centred window of ``window`` points holds
    an oscillation of period shorter than half the window, i.e. the curve turns back,
    (y_{s+1} - y_s)(y_s - y_{s-1}) < 0, at more than 4 / window of the points s where both
    differences are finite and not 0 (a flat stretch neither turns nor moves); a period-P
    oscillation turns at 2/P of its points.  Step-to-step alternation (period 2) chatters
    in any window of 11 or more points; GDM's loss on the paper's quadratic (period about
    20, 1001 points, window 11) does not; a period-12 cycle over 3001 points (window 31)
    does, being about a pixel wide on the screen.  A stretch shorter than the window is
    left out: a few steps of chatter are readable as they are."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.diff(np.asarray(y, dtype=np.float64))
        prod = np.r_[np.nan, d[1:] * d[:-1], np.nan]
    known = np.isfinite(prod) & (prod != 0)
    kernel = np.ones(window)
    turns = np.convolve(known & (np.where(known, prod, 0.0) < 0), kernel, "same")
    chat = turns > 4 / window * np.convolve(known, kernel, "same")
    edges = np.flatnonzero(np.diff(np.r_[0, chat.astype(int), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        chat[a:b] = b - a >= window
    return chat


def running_envelope(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of y over the centred window of ``window`` points (odd; cut at the
    ends), ignoring NaN; NaN where the window holds no number."""
    k = window // 2
    padded = np.pad(np.asarray(y, dtype=np.float64), k, constant_values=np.nan)
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN windows
        return np.nanmin(view, axis=1), np.nanmax(view, axis=1)


def band_outline(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, where: np.ndarray) -> tuple[list, list]:
    """(xs, ys) of the closed outlines of the band between ``lo`` and ``hi`` over each run
    of consecutive points where ``where`` holds, separated by None (one filled shape
    each: a band does not bridge the stretches between)."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(where, dtype=int), 0]))
    xs, ys = [], []
    for a, b in zip(edges[::2], edges[1::2]):
        xs += [*x[a:b], *x[a:b][::-1], x[a], None]
        ys += [*hi[a:b], *lo[a:b][::-1], hi[a], None]
    return xs, ys


def add_curve(fig: go.Figure, trace: go.Scatter, row: int, col: int) -> int | None:
    """Add ``trace`` (one curve) to panel (row, col), readably where it chatters; return
    the envelope's window (None: the curve is drawn as it is).

    The rule: where the curve chatters (``chattering``: it oscillates with a period shorter
    than half of envelope_window, a sliver of the figure's width), it is drawn as its
    running envelope, a light band between the min and the max over that window with the
    max as a full line, and the curve itself faint inside; elsewhere it is drawn as it is,
    so a slower oscillation (GDM's) stays a curve.  The faint trace holds every
    raw value (its hover; the data exported with a figure are the raw values too)."""
    y = np.asarray(trace.y, dtype=np.float64)
    window = envelope_window(len(y))
    chat = chattering(y, window)
    if not chat.any():
        fig.add_trace(trace, row=row, col=col)
        return None
    x = np.asarray(trace.x, dtype=np.float64)
    lo, hi = running_envelope(y, window)
    calm = ~chat
    calm[1:] |= calm[:-1].copy()
    calm[:-1] |= calm[1:].copy()                   # one point into the band on each side: the line joins it
    colour, name = trace.line.color, trace.name
    bx, by = band_outline(x, lo, hi, chat)
    common = dict(mode="lines", legendgroup=trace.legendgroup, hoverinfo="skip")
    fig.add_trace(go.Scatter(x=bx, y=by, fill="toself", fillcolor=f"rgba({', '.join(map(str, hex_to_rgb(colour)))}, "
                             "0.22)", line=dict(color=colour, width=0.8), showlegend=False,
                             name=f"{name}: min–max over {window} steps", **common), row=row, col=col)
    fig.add_trace(go.Scatter(x=x, y=np.where(chat, hi, np.nan), line=trace.line, showlegend=False,
                             name=f"{name}: max over {window} steps", **common), row=row, col=col)
    fig.add_trace(go.Scatter(x=x, y=np.where(calm, y, np.nan), line=trace.line, name=name,
                             showlegend=trace.showlegend is not False, **common), row=row, col=col)
    fig.add_trace(trace.update(opacity=0.3, showlegend=False, name=f"{name}: every step"), row=row, col=col)
    return window


def band_note(windows) -> str:
    """The words for the bands add_curve drew (its returned windows; None: no band):
    " (band: min–max over 11 steps)", or "" without a band."""
    sizes = sorted({w for w in windows if w is not None})
    return f" (band: min–max over {' / '.join(map(str, sizes))} steps)" if sizes else ""


def band_legend(fig: go.Figure, windows) -> None:
    """One legend entry, a light grey square, saying what the bands of add_curve are (its
    returned ``windows``; nothing when no curve was drawn as a band)."""
    note = band_note(windows).strip(" ()")
    if note:
        fig.add_trace(legend_swatch(note, BAND_GREY))


def _rise_strip(fig: go.Figure, series: Sequence[Series], rise_rel: float, row: int, presentation: bool) -> None:
    """One line of ticks per series with rises, a tick at each step where L rose, in row
    ``row``; each legend entry states the threshold and the count."""
    marked = [s for s in series if s.rises is not None]
    for i, s in enumerate(marked):
        idx = np.asarray(s.rises, dtype=int)
        name = f"{s.label}: L rose by > {rise_rel:g} L(w₀): {len(idx)} steps"
        fig.add_trace(go.Scatter(x=np.asarray(s.x)[idx], y=np.full(len(idx), i), mode="markers",
                                 legendgroup=s.label, name=name,
                                 marker=dict(symbol=RISE_TICK, size=14 if presentation else 11, color=s.colour,
                                             line=dict(color=s.colour, width=1.5)),
                                 hovertemplate=f"{s.label}: L rose at step %{{x}}<extra></extra>"), row=row, col=1)
    fig.update_yaxes(tickvals=list(range(len(marked))), ticktext=[s.label for s in marked], showgrid=False,
                     zeroline=False, range=[-0.6, len(marked) - 0.4], fixedrange=True, row=row, col=1)


def step_curves(series: Sequence[Series], l_star: float | None, presentation: bool = False,
                xlabel: str = "step t", height: int = 560, rise_rel: float = RISE_REL,
                step_size: tuple | None = None) -> go.Figure:
    """Rows: L - L* (log), the steps where L rose by more than ``rise_rel`` times the
    scale of dynamics.rollout.loss_rises (if any series marks them), H - L* (log),
    fraction masked (if any series has a mask), and the step size eps_t of a
    learning-rate schedule (``step_size`` = (steps t, eps_t); None: no row).  Each curve
    goes through add_curve."""
    masked_row = any(s.masked is not None for s in series)
    rise_row = any(s.rises is not None for s in series)
    suffix = "" if l_star is None else " − L*"
    strip = 0.08 * max(1, sum(s.rises is not None for s in series))       # a line of ticks per run: labels apart
    panels = [("loss", f"loss L{suffix}", 0.42), ("rises", "", strip), ("H", f"Hamiltonian H = L + K{suffix}", 0.34),
              ("masked", "fraction masked 1 − mean φ", 0.16), ("lr", "step size ε_t = lr·f(t−1) (schedule)", 0.16)]
    panels = [p for p in panels if (p[0] != "rises" or rise_row) and (p[0] != "masked" or masked_row)
              and (p[0] != "lr" or step_size is not None)]
    at = {key: i + 1 for i, (key, _, _) in enumerate(panels)}
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[p[1] for p in panels], row_heights=[p[2] for p in panels])
    width = line_width(presentation)
    bands: dict[str, list] = {"loss": [], "H": [], "masked": []}
    for s in series:
        common = dict(x=s.x, mode=s.mode, legendgroup=s.label, line=dict(color=s.colour, width=width, dash=s.dash),
                      marker=dict(color=s.colour, size=5))
        bands["loss"].append(add_curve(fig, go.Scatter(
            y=gap(s.loss, l_star), name=s.label, **common,
            hovertemplate=f"{s.label}<br>%{{x}}: L{suffix} = %{{y:.4g}}<extra></extra>"), at["loss"], 1))
        bands["H"].append(add_curve(fig, go.Scatter(
            y=gap(s.hamiltonian, l_star), name=s.label, showlegend=False, **common,
            hovertemplate=f"{s.label}<br>%{{x}}: H{suffix} = %{{y:.4g}}<extra></extra>"), at["H"], 1))
        if masked_row and s.masked is not None:
            bands["masked"].append(add_curve(fig, go.Scatter(
                y=s.masked, showlegend=False, name=s.label, **common,
                hovertemplate=f"{s.label}<br>%{{x}}: masked %{{y:.2f}}<extra></extra>"), at["masked"], 1))
    titles = {key: title for key, title, _ in panels}
    for note in fig.layout.annotations:
        key = next((k for k, title in titles.items() if title and note.text == title), None)
        if key in bands:
            note.text += band_note(bands[key])
    if rise_row:
        _rise_strip(fig, series, rise_rel, at["rises"], presentation)
    axis_type = "linear" if l_star is None else "log"
    for key in ("loss", "H"):
        fig.update_yaxes(type=axis_type, exponentformat="power", row=at[key], col=1)
    if masked_row:
        fig.update_yaxes(range=[-0.05, 1.05], row=at["masked"], col=1)
    if step_size is not None:
        fig.add_trace(go.Scatter(x=step_size[0], y=step_size[1], mode="lines", showlegend=False, name="ε_t",
                                 line=dict(color="grey", width=width), hovertemplate="step %{x}: ε = %{y:.4g}"
                                 "<extra></extra>"), row=at["lr"], col=1)
        fig.update_yaxes(nticks=3, rangemode="tozero", row=at["lr"], col=1)
    fig.update_xaxes(title_text=xlabel, row=len(panels), col=1)
    style(fig, presentation, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.08 if presentation else 1.04, xanchor="left",
                                  x=0))        # above the first panel's title
    return fig
