"""Paper figures drawn from computed data (the presets, their configurations and the
computation are figures.presets and figures.compute): ``build_*(config, data)`` take a
figure's configuration and its FigureData and return a themed Plotly figure.

- ``build_trajectories``: paths on the contours, L(w_t) and H_t (fig2-paper, fig2).
- ``build_ablation``: one loss panel per (eps, beta) (fig2-ablation).
- ``build_rates``: rate maps with each best cell and the analytic GDM optimum (fig3).
- ``build_decay``: paths on a valley, L(w_t) and |w_t| (wd-line, wd-hyperbola).

Losses <= 0 are left out of the log-scale panels (the table keeps them).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dynamics.best_rate import format_rate
from dynamics.optimizers.gdm import optimum as heavy_ball_optimum
from toys import get_toy
from viz.contour import contour_base
from viz.curves import add_curve, band_legend
from viz.ratemap import cell_edges
from viz.theme import (BLACK, DECAY_COLOURS, DIVERGED, RATE_SCALE, RED, apply_theme, label, legend_swatch,
                       optimizer_colour, optimizer_name, symbol)


class FigureData(NamedTuple):
    """The numbers behind a figure.  table: column -> 1-D array (one row per plotted
    point); arrays: extra NPZ arrays (the contour grid contour_x, contour_y, contour_loss)."""

    table: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]


def _eigenvalues(params: dict) -> list[float]:
    return [params["h1"], params["h2"]]


def _positive(y: np.ndarray) -> np.ndarray:
    """Log axes: values <= 0 (exact convergence) become gaps."""
    y = np.asarray(y, float)
    return np.where(y > 0, y, np.nan)


def _rows_of(table: dict, name: str) -> dict[str, np.ndarray]:
    keep = table["run"] == name
    return {k: v[keep] for k, v in table.items()}


def _contour_panel(fig: go.Figure, config: dict, data: FigureData, paths: list[tuple[str, str, np.ndarray]],
                   col: int) -> None:
    """Contour lines of L (viz.contour, on the data's contour grid) with one coloured path
    per run, a circle at the start."""
    toy = get_toy(config["toy"])
    params = toy.params(config["toy_params"])
    grid = tuple(data.arrays[key] for key in ("contour_x", "contour_y", "contour_loss"))
    background = contour_base(grid, toy.minima(params), toy.domain)
    for trace in background.data:
        trace.update(showlegend=False)
        if trace.name == "minima":
            trace.update(marker=dict(size=7, color=BLACK, line=dict(width=0)))
        fig.add_trace(trace, row=1, col=col)
    for name, colour, w in paths:
        fig.add_trace(go.Scatter(x=w[:, 0], y=w[:, 1], mode="lines", name=name, legendgroup=name, showlegend=False,
                                 line=dict(color=colour, width=1.2)), row=1, col=col)
    if paths:
        w0 = paths[0][2][0]
        fig.add_trace(go.Scatter(x=[w0[0]], y=[w0[1]], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(symbol="circle-open", size=7, color=BLACK)), row=1, col=col)
    (x0, x1), (y0, y1) = toy.domain
    fig.update_xaxes(range=[x0, x1], title_text=label("w1"), showgrid=False, row=1, col=col)
    fig.update_yaxes(range=[y0, y1], title_text=label("w2"), showgrid=False, scaleanchor=f"x{col if col > 1 else ''}",
                     scaleratio=1, constrain="domain", row=1, col=col)


def _line(fig, x, y, name, colour, col, showlegend, dash="solid", row=1, log=True) -> int | None:
    """A run's curve, as a min-max band where it chatters (viz.curves.add_curve); returns
    the band's window (None: drawn as it is)."""
    return add_curve(fig, go.Scatter(x=x, y=_positive(y) if log else y, mode="lines", name=name, legendgroup=name,
                                     showlegend=showlegend, line=dict(color=colour, width=1.2, dash=dash)), row, col)


def _finish(fig: go.Figure, config: dict) -> go.Figure:
    """The configuration's layout: viz.theme.apply_theme (which lays the figure out for
    its width)."""
    lay = config["layout"]
    return apply_theme(fig, width=lay["width"], height=lay["height"], font=lay["font"], font_size=lay["font_size"])


def _run_colour(run: dict) -> str:
    """The optimizer's colour pair: the dark one for the base run, the light one for the
    cautious run; a learning-rate schedule swaps them, so that runs with and without a
    schedule (figures' adam-warmup) differ."""
    scheduled = run.get("schedule", "constant") != "constant"
    return optimizer_colour(run["optimizer"], run["cautious"] != scheduled)


def build_trajectories(config: dict, data: FigureData) -> go.Figure:
    """1 x 3: paths on the contours, L(w_t) and H_t (log scale)."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, column_widths=[0.34, 0.33, 0.33])
    series = [(run["label"], _run_colour(run), _rows_of(data.table, run["label"])) for run in config["runs"]]
    _contour_panel(fig, config, data, [(n, c, np.column_stack([r["w1"], r["w2"]])) for n, c, r in series], col=1)
    bands = []
    for name, colour, r in series:
        bands.append(_line(fig, r["t"], r["loss"], name, colour, 2, True))
        bands.append(_line(fig, r["t"], r["hamiltonian"], name, colour, 3, False))
    band_legend(fig, bands)
    for col, key in ((2, "loss"), (3, "hamiltonian")):
        fig.update_xaxes(title_text=label("step"), row=1, col=col)
        fig.update_yaxes(type="log", title_text=label(key), exponentformat="power", row=1, col=col)
    return _finish(fig, config)


def _panels(config: dict) -> list[tuple[float, float]]:
    seen: list[tuple[float, float]] = []
    for run in config["runs"]:
        key = (run["lr"], run["beta"])
        if key not in seen:
            seen.append(key)
    return seen


def build_ablation(config: dict, data: FigureData) -> go.Figure:
    """One loss panel per (eps, beta) of the runs (log scale), three panels a row."""
    panels = _panels(config)
    eps, beta = symbol("lr"), symbol("beta")
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=0.22 if rows > 1 else 0.0,
                        subplot_titles=[f"{eps} = {lr:g}, {beta} = {b:g}" for lr, b in panels])
    shown, bands = set(), []
    for run in config["runs"]:
        k = panels.index((run["lr"], run["beta"]))
        name = optimizer_name(run["optimizer"], run["cautious"])
        keep = (data.table["run"] == run["label"])
        bands.append(_line(fig, data.table["t"][keep], data.table["loss"][keep], name,
                           _run_colour(run), k % cols + 1, name not in shown, row=k // cols + 1))
        shown.add(name)
    fig.update_xaxes(title_text=label("step"), row=rows)
    fig.update_yaxes(type="log", exponentformat="power")
    band_legend(fig, bands)
    for row in range(1, rows + 1):
        fig.update_yaxes(title_text=label("loss"), row=row, col=1)
    return _finish(fig, config)


NO_CONVERGENCE = f"diverged or {symbol('rate')} ≥ 1"       # the legend's name of the grey cells


def _rate_title(run: dict, r: dict[str, np.ndarray]) -> str:
    """A panel's title: the run, how its map was computed, and the rate quoted for its
    best cell (the table's quoted_rate and quoted_uncertainty there, dynamics.best_rate)."""
    exact = str(r["rate_method"][0]) == "exact"
    head = f"{run['label']} ({'closed form' if exact else 'estimate'})"
    if not r["best"].any():
        return f"{head}: {'no cell converged' if exact else 'no converging cell settled'}"
    rate, unc = r["quoted_rate"][r["best"]][0], r["quoted_uncertainty"][r["best"]][0]
    if exact:
        return f"{head}: best cell {symbol('rate')} = {format_rate(rate)}"
    return f"{head}: best settled cell {symbol('rate')} = {format_rate(rate, unc)}"


def build_rates(config: dict, data: FigureData) -> go.Figure:
    """1 x runs heatmaps of the rate (shared colour scale 0..1).  Cells that do not
    converge (diverged, or rate >= 1) are left empty and the grey plot background
    (DIVERGED) shows through; the legend names it.  A red dot marks each map's best cell
    (the table's ``best``: of an estimated map the best settled cell), drawn over a thin
    cross at the analytic GDM optimum, which the legend names with its rate.  Each title
    quotes the rate of its dot's cell from the table (quoted_rate), so that title, dot
    and data agree; every rate is printed by dynamics.best_rate.format_rate."""
    runs = config["runs"]
    first = _rows_of(data.table, runs[0]["label"])     # every run's cells: rows = beta, columns = lr
    lr, beta = first["lr"][:config["lr_range"]["n"]], first["beta"][::config["lr_range"]["n"]]
    tables = [_rows_of(data.table, run["label"]) for run in runs]
    fig = make_subplots(rows=1, cols=len(runs), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[_rate_title(run, r) for run, r in zip(runs, tables)])
    params = get_toy(config["toy"]).params(config["toy_params"])
    optimum = heavy_ball_optimum(*_eigenvalues(params)) if "h1" in params else None
    for col, (run, r) in enumerate(zip(runs, tables), start=1):
        converging = ~r["diverged"] & (r["rate"] < 1)
        z = np.where(converging, r["rate"], np.nan).reshape(beta.size, lr.size)
        fig.add_trace(go.Heatmap(x=lr, y=beta, z=z, coloraxis="coloraxis", name=run["label"], hoverongaps=False,
                                 hovertemplate="ε %{x:.4g}<br>β %{y:.4g}<br>ρ %{z:.4f}<extra></extra>"),
                      row=1, col=col)
        if optimum is not None and lr[0] <= optimum["lr"] <= lr[-1] and beta[0] <= optimum["beta"] <= beta[-1]:
            fig.add_trace(go.Scatter(x=[optimum["lr"]], y=[optimum["beta"]], mode="markers",   # under the dot
                                     name=f"GDM optimum {symbol('rate')} = {format_rate(optimum['rate'])}",
                                     legendgroup="optimum", showlegend=col == 1,
                                     marker=dict(symbol="x-thin-open", size=14, color=BLACK, line=dict(width=1.5))),
                          row=1, col=col)
        fig.add_trace(go.Scatter(x=r["lr"][r["best"]], y=r["beta"][r["best"]], mode="markers", name="best cell",
                                 legendgroup="best", showlegend=col == 1,
                                 marker=dict(color=RED, size=7, line=dict(color="white", width=1))),
                      row=1, col=col)
    fig.add_trace(legend_swatch(NO_CONVERGENCE, DIVERGED, line=dict(width=0)), row=1, col=1)   # the background
    fig.update_xaxes(title_text=label("lr"))
    fig.update_yaxes(title_text=label("beta"), row=1, col=1)
    fig.update_layout(coloraxis=dict(colorscale=RATE_SCALE, cmin=0, cmax=1,
                                     colorbar=dict(title=dict(text=symbol("rate")), thickness=8, len=0.9)))
    _finish(fig, config).update_layout(plot_bgcolor=DIVERGED)
    for axes, values, scale in ((fig.update_xaxes, lr, config["lr_range"]["scale"]),
                                (fig.update_yaxes, beta, config["beta_range"]["scale"])):
        edges = cell_edges(values, scale)        # the axes end where the cells do: no band of background
        axes(type=scale, range=list(np.log10(edges[[0, -1]]) if scale == "log" else edges[[0, -1]]), showgrid=False)
    return fig


def build_decay(config: dict, data: FigureData) -> go.Figure:
    """1 x 3: paths on the valley's contours, L(w_t) (log) and |w_t| with the minimum norm
    over the set of minimisers dashed."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, column_widths=[0.34, 0.33, 0.33])
    series = [(run["label"], DECAY_COLOURS[run["decay"]], _rows_of(data.table, run["label"]))
              for run in config["runs"]]
    _contour_panel(fig, config, data, [(n, c, np.column_stack([r["w1"], r["w2"]])) for n, c, r in series], col=1)
    bands = []
    for name, colour, r in series:
        bands.append(_line(fig, r["t"], r["loss"], name, colour, 2, True))
        bands.append(_line(fig, r["t"], r["norm"], name, colour, 3, False, log=False))
    band_legend(fig, bands)
    toy = get_toy(config["toy"])
    min_norm = float(np.min(np.linalg.norm(toy.minima(toy.params(config["toy_params"])), axis=1)))
    fig.add_hline(y=min_norm, line=dict(color=BLACK, width=0.75, dash="dash"), opacity=1, row=1, col=3)
    for col in (2, 3):
        fig.update_xaxes(title_text=label("step"), row=1, col=col)
    fig.update_yaxes(type="log", title_text=label("loss"), exponentformat="power", row=1, col=2)
    fig.update_yaxes(title_text=label("norm"), row=1, col=3)
    return _finish(fig, config)
