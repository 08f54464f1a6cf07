"""Convergence-rate heatmaps over (step size eps, momentum beta): base, cautious and
their difference (docs/theory.md, Section 5; the paper's Figure 3, arXiv 2411.16085).

Rows are beta, columns eps (dynamics.sweep.SweepResult).  A figure has one panel per
map and a last panel with the difference of the two simulated maps:

- where the base optimizer has a closed form (gd, gdm, nesterov on a quadratic,
  dynamics.rates.exact_rate_map) its closed-form map comes first, beside the simulated
  map of the same optimizer ("GDM: closed form", "GDM: simulation", "C-GDM:
  simulation", "C-GDM − GDM: simulation");
- diverged cells are left empty over a grey layer (DIVERGED, a colour the rate scale
  never takes; on a closed-form map: the cells with rate >= 1), named in the legend;
- cells whose estimate has not settled (dynamics.rates: the spread between the fits
  over the two halves of the late window is above SETTLED_SPREAD, or the window is too
  short) carry a light checkered layer; the difference panel marks a cell when either
  map has not settled there;
- the best converging cell of each map is a red dot (viz.theme.RED, as in the paper
  and the fig3 preset), read from the rates that panel shows; on quadratics the
  analytic optimum is a white cross and the analytic stability boundary eps_max(beta)
  a black dashed line (dynamics.rates).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dynamics.rates import SETTLED_SPREAD, best_cell
from viz.theme import ANALYTIC, DIFF_SCALE, DIVERGED, OPTIMUM, RATE_SCALE, ink, legend_swatch, style

CLICK_CELLS = "click-cells"
UNSETTLED = f"not settled (spread > {SETTLED_SPREAD:.0e})".replace("e-0", "e-")     # ... > 1e-3
UNSETTLED_COLOUR = "rgba(255, 255, 255, 0.75)"
SIMULATION, CLOSED_FORM = "simulation", "closed form"
LEGEND_ROWS = 5          # the rows the legend may wrap into on a narrow screen (viz: _legend_y)


class RateMap(NamedTuple):
    """One panel: the run's ``label`` (GDM), ``kind`` (``simulation`` or ``closed
    form``), ``rate`` (rows beta, columns lr), ``diverged`` (cells drawn grey), the
    ``best`` converging cell of ``rate`` (dict lr, beta, rate, row, col; None when no
    cell converged) and, for a simulation, the estimate's ``uncertainty`` and
    ``settled`` maps."""

    label: str
    kind: str
    rate: np.ndarray
    diverged: np.ndarray
    best: dict | None
    uncertainty: np.ndarray | None = None
    settled: np.ndarray | None = None

    @property
    def title(self) -> str:
        return f"{self.label}: {self.kind}"

    @property
    def unsettled(self) -> np.ndarray:
        """Cells drawn in colour whose estimate has not settled (none on a closed form)."""
        if self.settled is None:
            return np.zeros(self.rate.shape, bool)
        return ~np.asarray(self.settled, bool) & ~self.diverged


def simulated_map(label: str, lr, beta, rate, diverged, uncertainty, settled) -> RateMap:
    """The panel of a swept map (dynamics.sweep: rate_estimate, diverged,
    rate_uncertainty, settled); its best cell is the smallest ``rate`` among the cells
    whose estimate has settled (as the paper figure and the claims report quote it: a
    drifting estimate is not yet a rate)."""
    rate, diverged, settled = np.asarray(rate, float), np.asarray(diverged, bool), np.asarray(settled, bool)
    return RateMap(label, SIMULATION, rate, diverged, best_cell(lr, beta, rate, diverged | ~settled),
                   np.asarray(uncertainty, float), settled)


def closed_form_map(label: str, lr, beta, rate) -> RateMap:
    """The panel of a closed-form map: cells with rate >= 1 (no convergence) are grey."""
    rate = np.asarray(rate, float)
    diverged = ~(np.isfinite(rate) & (rate < 1))
    return RateMap(label, CLOSED_FORM, rate, diverged, best_cell(lr, beta, rate, diverged))


def max_exact_gap(exact: RateMap, simulated: RateMap) -> tuple[float, int]:
    """(max |estimate - exact|, number of cells) over the cells drawn in colour in both
    panels (the closed form converges and the simulation did not diverge); (nan, 0)
    when there is no such cell."""
    both = ~exact.diverged & ~simulated.diverged
    if not both.any():
        return float("nan"), 0
    return float(np.max(np.abs(simulated.rate - exact.rate)[both])), int(both.sum())


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


def halved_edges(edges: np.ndarray, scale: str) -> np.ndarray:
    """2n + 1 edges: every cell of ``edges`` split in two (geometrically on a log axis)."""
    e = np.log(edges) if scale == "log" else np.asarray(edges, float)
    out = np.empty(2 * e.size - 1)
    out[0::2], out[1::2] = e, (e[1:] + e[:-1]) / 2
    return np.exp(out) if scale == "log" else out


def log_ticks(lo: float, hi: float) -> list[float] | None:
    """Tick values for a log axis from lo to hi: the powers of ten inside when there are
    at least two, else 1, 2 and 5 times them, else finer steps (one label per decade keeps
    four narrow panels legible where plotly would add 2 and 5 to every decade); None
    (plotly's own ticks) inside too narrow a range."""
    decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    for mantissas in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        ticks = [float(m * 10.0 ** d) for d in decades for m in mantissas if lo <= m * 10.0 ** d <= hi]
        if len(ticks) >= 2:
            return ticks
    return None


def nearest_cell(lr_axis: np.ndarray, beta_axis: np.ndarray, lr: float, beta: float, scale: str) -> tuple[int, int]:
    """(lr index, beta index) of the cell nearest to (lr, beta) (log distance on a log lr axis)."""
    if scale == "log":
        j = int(np.argmin(np.abs(np.log(lr_axis) - np.log(max(lr, 1e-300)))))
    else:
        j = int(np.argmin(np.abs(lr_axis - lr)))
    return j, int(np.argmin(np.abs(beta_axis - beta)))


class _Grid(NamedTuple):
    """The axes of a figure: cell centres and edges."""

    lr: np.ndarray
    beta: np.ndarray
    lr_edges: np.ndarray
    beta_edges: np.ndarray
    lr_scale: str


class _Panel(NamedTuple):
    """What one heatmap panel draws: z (NaN where grey), the grey cells, the checkered
    (unsettled) cells, per-cell uncertainty (or None) and its hover text."""

    name: str
    z: np.ndarray
    grey: np.ndarray
    unsettled: np.ndarray
    uncertainty: np.ndarray | None
    value_label: str         # hover label of the value: "rate", "Δ rate"


# ----------------------------------------------------------------------------- layers

def _grey_layer(grey, g: _Grid):
    """Diverged cells in flat grey (a layer under the rate heatmap, whose diverged cells are empty)."""
    return go.Heatmap(x=g.lr_edges, y=g.beta_edges, z=np.where(grey, 1.0, np.nan), colorscale=[[0, DIVERGED],
                      [1, DIVERGED]], showscale=False, hoverinfo="skip", name="diverged")


def _unsettled_layer(unsettled, g: _Grid):
    """A checkerboard of half cells over the unsettled cells (a texture on any colour;
    on a fine grid it reads as a light wash)."""
    n_b, n_l = unsettled.shape
    fine = np.repeat(np.repeat(unsettled, 2, axis=0), 2, axis=1)
    checker = (np.add.outer(np.arange(2 * n_b), np.arange(2 * n_l)) % 2) == 0
    return go.Heatmap(x=halved_edges(g.lr_edges, g.lr_scale), y=halved_edges(g.beta_edges, "linear"),
                      z=np.where(fine & checker, 1.0, np.nan), colorscale=[[0, UNSETTLED_COLOUR],
                      [1, UNSETTLED_COLOUR]], showscale=False, hoverinfo="skip", name=UNSETTLED)


def _hover(p: _Panel, footer: str = "") -> str:
    """Hover lines of a panel from a cell's customdata (lr, beta, value, uncertainty)
    and text ("settled" / "not settled"), then ``footer``."""
    lines = [p.name, "ε = %{customdata[0]:.4g}", "β = %{customdata[1]:.4g}",
             f"{p.value_label} %{{customdata[2]:.4f}}"]
    if p.uncertainty is not None:
        lines[-1] += " ± %{customdata[3]:.1e}"
        lines.append("%{text}")
    return "<br>".join(lines + [footer] if footer else lines) + "<extra></extra>"


def _cell_data(p: _Panel, g: _Grid, ii, jj) -> tuple[np.ndarray, np.ndarray | None]:
    """(customdata [lr, beta, value, uncertainty], settled text) of the cells (ii, jj)."""
    unc = np.zeros(p.z.shape) if p.uncertainty is None else p.uncertainty
    custom = np.stack([g.lr[jj], g.beta[ii], p.z[ii, jj], unc[ii, jj]], axis=-1).astype(np.float32)
    text = None if p.uncertainty is None else np.where(p.unsettled[ii, jj], "not settled", "settled")
    return custom, text


def _heat(p: _Panel, g: _Grid, colorscale, zmin, zmax, zmid):
    ii, jj = np.meshgrid(np.arange(g.beta.size), np.arange(g.lr.size), indexing="ij")
    custom, text = _cell_data(p, g, ii, jj)
    return go.Heatmap(x=g.lr_edges, y=g.beta_edges, z=p.z, customdata=custom, text=text, colorscale=colorscale,
                      zmin=zmin, zmax=zmax, zmid=zmid, name=p.name, showscale=False, hoverongaps=False,
                      hovertemplate=_hover(p))


def _click_points(p: _Panel, g: _Grid, n_max: int):
    """Invisible points on (at most n_max x n_max of) the cell centres: plotly reports a
    click on a heatmap but selects no point of it, so these carry the click (the app
    maps the clicked point to the nearest cell)."""
    rows = np.unique(np.linspace(0, g.beta.size - 1, min(n_max, g.beta.size)).round().astype(int))
    cols = np.unique(np.linspace(0, g.lr.size - 1, min(n_max, g.lr.size)).round().astype(int))
    ii, jj = np.meshgrid(rows, cols, indexing="ij")
    custom, text = _cell_data(p, g, ii.ravel(), jj.ravel())
    return go.Scatter(x=g.lr[jj.ravel()], y=g.beta[ii.ravel()], customdata=custom, text=text, mode="markers",
                      name=CLICK_CELLS, showlegend=False, marker=dict(size=9, color="rgba(0,0,0,0)"),
                      selected=dict(marker=dict(color="rgba(0,0,0,0)")), unselected=dict(marker=dict(opacity=0)),
                      hovertemplate=_hover(p, "click: load this (ε, β)"))


# ----------------------------------------------------------------------------- panels

def _map_panel(m: RateMap) -> _Panel:
    return _Panel(m.title, np.where(m.diverged, np.nan, m.rate), m.diverged, m.unsettled, m.uncertainty, "rate")


def _difference_panel(base: RateMap, cautious: RateMap) -> _Panel:
    """cautious - base from the rates of those two panels (both diverged: empty; one
    diverged: its rate counts as 1); a cell is checkered where either has not settled."""
    both = base.diverged & cautious.diverged
    rate = lambda m: np.where(m.diverged, 1.0, m.rate)
    unc = None if base.uncertainty is None or cautious.uncertainty is None else base.uncertainty + cautious.uncertainty
    diff = np.where(both, np.nan, rate(cautious) - rate(base))
    unsettled = (base.unsettled | cautious.unsettled) & ~both
    return _Panel(f"{cautious.label} − {base.label}: {base.kind}", diff, both, unsettled, unc, "Δ rate")


def _span(z: np.ndarray) -> float:
    """Half-width of the difference's symmetric colour range (1 when there is nothing to show)."""
    span = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    return span if np.isfinite(span) and span > 0 else 1.0


def _add_panel(fig: go.Figure, col: int, p: _Panel, g: _Grid, difference: bool, click_points: int) -> go.Heatmap:
    """The layers of one panel, bottom to top: grey, heatmap, checkered, click targets.
    Returns the heatmap (the caller decides which one carries a colour bar)."""
    span = _span(p.z) if difference else 1.0
    scale, lims = (DIFF_SCALE, (-span, span, 0)) if difference else (RATE_SCALE, (0, 1, None))
    fig.add_trace(_grey_layer(p.grey, g), 1, col)
    fig.add_trace(_heat(p, g, scale, *lims), 1, col)
    heat = fig.data[-1]                      # the figure's copy (add_trace copies its argument)
    if p.unsettled.any():
        fig.add_trace(_unsettled_layer(p.unsettled, g), 1, col)
    fig.add_trace(_click_points(p, g, click_points), 1, col)
    return heat


def _add_best(fig: go.Figure, maps: Sequence[RateMap]) -> None:
    """A red dot on the best cell of each map, read from the rates of its own panel."""
    shown = False
    for col, m in enumerate(maps, start=1):
        if m.best is None:
            continue
        fig.add_trace(go.Scatter(x=[m.best["lr"]], y=[m.best["beta"]], mode="markers", showlegend=not shown,
                                 name="best cell", legendgroup="best",
                                 marker=dict(color=OPTIMUM, size=11, line=dict(color="#FFFFFF", width=2)),
                                 hovertemplate=(f"{m.title} best: ε = %{{x:.4g}}, β = %{{y:.4g}}, "
                                                f"rate {m.best['rate']:.4f}<extra></extra>")), 1, col)
        shown = True


def _add_analytic(fig: go.Figure, analytic: Analytic, beta: np.ndarray, cols: int, dark: bool = False) -> None:
    """The analytic stability boundary (dashes in ``ink(dark)``) and optimum (white cross) on every panel."""
    for col in range(1, cols + 1):
        fig.add_trace(go.Scatter(x=analytic.boundary_lr, y=beta, mode="lines", name="analytic stability boundary",
                                 legendgroup="boundary", showlegend=col == 1,
                                 line=dict(color=ink(dark), width=2.5, dash="dash"),
                                 hovertemplate="stable for ε < %{x:.4g} at β = %{y:.4g}<extra></extra>"), 1, col)
        if analytic.optimum is not None:
            o = analytic.optimum
            fig.add_trace(go.Scatter(x=[o["lr"]], y=[o["beta"]], mode="markers", name="analytic optimum",
                                     legendgroup="analytic", showlegend=col == 1,
                                     marker=dict(symbol="x", size=13, color=ANALYTIC,
                                                 line=dict(color="#000000", width=1.5)),
                                     hovertemplate=(f"analytic optimum ε* = {o['lr']:.4g}, β* = {o['beta']:.4g}, "
                                                    f"rate {o['rate']:.4f}<extra></extra>")), 1, col)


def _add_current(fig: go.Figure, current: tuple[float, float], cols: int, dark: bool = False) -> None:
    for col in range(1, cols + 1):
        fig.add_trace(go.Scatter(x=[current[0]], y=[current[1]], mode="markers", name="current (ε, β)",
                                 legendgroup="current", showlegend=col == 1,
                                 marker=dict(symbol="circle-open", size=15, color=ink(dark), line=dict(width=2.5)),
                                 hoverinfo="skip"), 1, col)


def _add_legend_keys(fig: go.Figure, unsettled: bool, closed_form: bool) -> None:
    """Legend entries of the grey and checkered layers (heatmaps have none); the grey
    one says what grey means on a closed-form panel when there is one."""
    grey = "diverged (closed form: ρ ≥ 1)" if closed_form else "diverged"
    fig.add_trace(legend_swatch(grey, DIVERGED, size=12))
    if unsettled:
        fig.add_trace(legend_swatch(f"checkered: {UNSETTLED}", "#F4F4F4", size=12,
                                    line=dict(color="#555555", width=1)))


def nice_below(x: float) -> float:
    """x > 0 rounded down to one significant digit (a tick inside a colour range of
    half-width x: 0.38 -> 0.3)."""
    decade = 10.0 ** np.floor(np.log10(x))
    return float(f"{np.floor(x / decade * (1 + 1e-12)) * decade:.1g}")


def _colour_bars(fig: go.Figure, rate_heat: go.Heatmap, diff_heat: go.Heatmap, n_rate: int) -> None:
    """Horizontal colour bars under the panels: one under the rate panels (columns
    1..n_rate), one under the difference (the last column)."""
    def bar(heat, first, last, title, ticks):
        x0 = fig.layout["xaxis" if first == 1 else f"xaxis{first}"].domain[0]
        x1 = fig.layout["xaxis" if last == 1 else f"xaxis{last}"].domain[1]
        heat.showscale = True
        heat.colorbar = dict(orientation="h", x=(x0 + x1) / 2, xanchor="center", len=(x1 - x0) * 0.9,
                             y=0, yref="container", yanchor="bottom", ypad=6, thickness=12, title=dict(text=title,
                             side="top"), **ticks)              # on top: beside the bar it meets a tick when narrow
    bar(rate_heat, 1, n_rate, "rate ρ", dict(nticks=6))
    tick = nice_below(diff_heat.zmax)        # the panel's title says what the difference is: no bar title
    bar(diff_heat, n_rate + 1, n_rate + 1, "", dict(tickvals=[-tick, 0, tick], tickformat="~g", tickangle=0))


def rate_maps_figure(lr: np.ndarray, beta: np.ndarray, base: RateMap, cautious: RateMap, exact: RateMap | None = None,
                     lr_scale: str = "log", analytic: Analytic | None = None,
                     current: tuple[float, float] | None = None, presentation: bool = False,
                     height: int | None = None, click_points: int = 48, dark: bool = False) -> go.Figure:
    """The panels side by side: ``exact`` (the base optimizer's closed form, when it has
    one), ``base`` and ``cautious`` (simulations), and cautious - base; each with up to
    ``click_points`` x ``click_points`` invisible clickable cell centres.  ``height``:
    pixels (default 500, 600 in presentation mode).  ``dark``: the page's dark theme
    (the boundary and the current (ε, β) in viz.theme.ink)."""
    height = height or (600 if presentation else 500)
    lr, beta = np.asarray(lr, float), np.asarray(beta, float)
    g = _Grid(lr, beta, cell_edges(lr, lr_scale), cell_edges(beta, "linear"), lr_scale)
    maps = [m for m in (exact, base, cautious) if m is not None]
    panels = [_map_panel(m) for m in maps] + [_difference_panel(base, cautious)]
    cols = len(panels)
    fig = make_subplots(rows=1, cols=cols, shared_yaxes=True, horizontal_spacing=0.045 if cols > 3 else 0.05,
                        subplot_titles=[p.name.replace(": ", "<br>", 1) for p in panels])   # two lines: narrow screens
    heats = [_add_panel(fig, col, p, g, col == cols, click_points) for col, p in enumerate(panels, start=1)]
    if analytic is not None:
        _add_analytic(fig, analytic, beta, cols, dark)
    _add_best(fig, maps)
    if current is not None:
        _add_current(fig, current, cols, dark)
    _add_legend_keys(fig, any(p.unsettled.any() for p in panels), exact is not None)
    _colour_bars(fig, heats[0], heats[-1], len(maps))
    _axes(fig, g, presentation, height)
    return fig


def _axes(fig: go.Figure, g: _Grid, presentation: bool, height: int) -> None:
    """Axes, style, margins, and the legend above the two-line panel titles."""
    if g.lr_scale == "log":
        lo, hi = g.lr_edges[0], g.lr_edges[-1]
        fig.update_xaxes(type="log", range=[np.log10(lo), np.log10(hi)], tickvals=log_ticks(lo, hi), tickformat="~g")
    else:
        fig.update_xaxes(type="linear", range=[g.lr_edges[0], g.lr_edges[-1]], nticks=4)
    fig.update_xaxes(title_text="step size ε", showgrid=False)
    fig.update_yaxes(range=[g.beta_edges[0], g.beta_edges[-1]], showgrid=False, nticks=6)
    fig.update_yaxes(title_text="momentum β", row=1, col=1)
    style(fig, presentation, height)
    bottom = 150 if presentation else 130
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=_legend_y(presentation, height, bottom),
                                  xanchor="left", x=0), margin=dict(t=30, b=bottom))


def _legend_y(presentation: bool, height: int, bottom: int) -> float:
    """The legend's bottom (paper units) above the two-line panel titles.  Plotly widens
    the top margin to fit the legend, which shrinks the plot and with it a gap given in
    paper units; the gap is sized so that the titles still fit when the legend wraps
    into LEGEND_ROWS rows (a narrow screen), and is a little larger than needed on a
    wide one."""
    font = 18 if presentation else 13
    titles = 2 * 1.3 * (font + 1) + 12              # two lines of panel title and a gap, px
    legend = LEGEND_ROWS * 1.6 * font               # px
    r = titles / (height - bottom - legend)         # the gap's share of the shrunk plot
    return 1 + r / (1 - r)
