"""Paper figures as presets: a JSON-able configuration -> the numbers (``compute``) ->
a themed Plotly figure (``build``).  ``python -m dynamics figure`` and the app share them.

Presets (arXiv 2411.16085 "Cautious Optimizers"; arXiv 2510.12402 "Cautious Weight Decay"):

- ``fig2-paper``: Figure 2 (left) of 2411.16085 as the paper states it: f = 0.5 w1^2 +
  0.1 w2^2 from (1, 1), GDM and C-GDM (undampened heavy ball s = beta s + g, w -= eps s;
  cautious: w -= eps alpha phi s with phi from sign(s) sign(g), Algorithm 1 with mean
  compensation) at eps = 0.01, beta = 0.99, and GD at the 10x larger eps = 0.1:
  trajectories on the contours, the loss L(w_t) and the Hamiltonian H_t = L + (eps/2)|s_t|^2.
- ``fig2``: the variant drawn in the paper's code repository: x1^2 + 0.1 x2^2 from
  (-5, 5), GD, GDM and C-GDM all at eps = 0.01, beta = 0.99.
- ``fig2-ablation``: Figure 2 (right): GDM and C-GDM loss curves on the fig2-paper
  quadratic for the paper's six (eps, beta) pairs (0.01, 0.5), (0.01, 0.9), (0.01, 0.99),
  (0.01, 0.999), (0.1, 0.99), (0.001, 0.99).
- ``fig3``: Figure 3 of 2411.16085: convergence-rate maps (dynamics.sweep) of GDM and
  C-GDM on w1^2 + 4 w2^2 (kappa = 4) over (eps, beta), with a red dot at each map's best
  cell and a cross at the analytic GDM optimum (eps, beta) = (2/9, 1/9), rate 1/3
  (dynamics.rates).  ``rate_method`` (default ``auto``): GDM's map is its closed form, and
  C-GDM's the late-window estimate; the titles quote the minima of the maps drawn, over
  the settled cells of an estimated map (the data has every cell's settled flag).  The heatmaps are embedded as images in
  PDF/SVG (viz.export).
- ``wd-line`` / ``wd-hyperbola``: 2510.12402 on a valley of minimisers: GDM with no
  decay, decoupled decay (u += lambda w) and cautious decay (u += lambda 1[u w >= 0] w):
  paths, L(w_t) and |w_t|.  Cautious decay reaches the valley and slides along it towards
  the minimum-norm point; decoupled decay stops at the minimiser of a regularised proxy,
  off the valley.

A configuration holds everything the figure depends on: toy, its parameters, start,
steps, the runs (every Setup and Hyper field of each optimizer, dynamics.configfile),
preset-specific grids, and ``layout`` (width: "single", "double" or pixels; height in
pixels; font "serif" or "sans"; font_size in points; scale of raster output).  For the
rate maps, a run's lr and beta are replaced by the grid.

The numbers behind a figure are one tidy table (``FigureData.table``: column -> 1-D
array, one row per plotted point) plus ``FigureData.arrays`` (the contour grid) for NPZ.
Losses <= 0 are left out of the log-scale panels (the table keeps them).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dynamics.configfile import ConfigError, check_like, run_template, setup_hyper
from dynamics.settings import SETTINGS
from dynamics.decay_study import set_distance
from dynamics.optimizers.gdm import optimum as heavy_ball_optimum
from dynamics.rates import RATE_METHODS, best_cell, resolve_rate_method
from dynamics.rollout import rollout
from dynamics.sweep import grid_axis, sweep
from toys import TOYS, get_toy
from viz.contour import contour_base, toy_grid
from viz.export import stack_rows
from viz.theme import (BLACK, DECAY_COLOURS, DECAY_NAMES, FONTS, HIGHLIGHT, PX_PER_INCH, apply_theme, label,
                       optimizer_colour, optimizer_name, symbol, width_px)

CONTOUR_N = 120


class FigureData(NamedTuple):
    """table: column -> 1-D array (one row per plotted point); arrays: extra NPZ arrays."""

    table: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]


class Preset(NamedTuple):
    description: str
    config: dict[str, Any]
    compute: Callable[[dict], FigureData]
    build: Callable[[dict, FigureData], go.Figure]


def _layout(height_in: float, width="double") -> dict[str, Any]:
    return dict(width=width, height=round(height_in * PX_PER_INCH), font="serif", font_size=8.0, scale=4.0)


def _run(optimizer: str, cautious: bool = False, **hyper) -> dict[str, Any]:
    return run_template(optimizer_name(optimizer, cautious), optimizer=optimizer, cautious=cautious, **hyper)


def _toy_fields(name: str) -> dict[str, Any]:
    toy = get_toy(name)
    return dict(toy=name, toy_params=toy.params(), start=list(toy.start))


# ----------------------------------------------------------------------------- compute

def _rollouts(config: dict) -> list[tuple[dict, Any]]:
    toy = get_toy(config["toy"])
    out = []
    for run in config["runs"]:
        setup, hp = setup_hyper(run)
        out.append((run, rollout(setup, toy, hp, config["steps"], start=config["start"],
                                 toy_params=config["toy_params"])))
    return out


def _contour_arrays(config: dict) -> dict[str, np.ndarray]:
    xs, ys, z = toy_grid(get_toy(config["toy"]), config["toy_params"], CONTOUR_N)
    return dict(contour_x=xs, contour_y=ys, contour_loss=z)


def compute_trajectories(config: dict) -> FigureData:
    """Per run and step t = 0..T: w1, w2, loss, hamiltonian (and lr, beta of the run)."""
    rows = []
    for run, traj in _rollouts(config):
        t = np.arange(len(traj.loss))
        rows.append(dict(run=np.array(run["label"]), lr=np.float64(run["lr"]), beta=np.float64(run["beta"]), t=t,
                         w1=traj.w[:, 0], w2=traj.w[:, 1], loss=traj.loss, hamiltonian=traj.hamiltonian))
    return FigureData(stack_rows(rows), _contour_arrays(config))


def compute_decay(config: dict) -> FigureData:
    """Per run and step: w1, w2, loss, |w|, and the distance to the set of minimisers
    (dynamics.decay_study.set_distance: exact for the valleys)."""
    toy = get_toy(config["toy"])
    rows = []
    for run, traj in _rollouts(config):
        rows.append(dict(run=np.array(run["label"]), t=np.arange(len(traj.loss)), w1=traj.w[:, 0],
                         w2=traj.w[:, 1], loss=traj.loss, norm=np.linalg.norm(traj.w, axis=1),
                         set_distance=set_distance(toy, traj.w, config["toy_params"])))
    return FigureData(stack_rows(rows), _contour_arrays(config))


def rate_grid(config: dict) -> tuple[np.ndarray, np.ndarray]:
    lr_r, beta_r = config["lr_range"], config["beta_range"]
    return (grid_axis(lr_r["lo"], lr_r["hi"], lr_r["n"], lr_r["scale"]),
            grid_axis(beta_r["lo"], beta_r["hi"], beta_r["n"], beta_r["scale"]))


def compute_rates(config: dict) -> FigureData:
    """Per run and (beta, lr) cell: the rate of the map (by config["rate_method"]), the
    method used, the simulation's estimate with its uncertainty and settled flag,
    diverged, steps_to_tol, whether it is the run's best cell (among the converging
    cells, and for an estimated map the settled ones), and the closed form of the run's
    optimizer where one exists (NaN otherwise)."""
    toy = get_toy(config["toy"])
    lr, beta = rate_grid(config)
    rows = []
    for run in config["runs"]:
        setup, hp = setup_hyper(run)
        res = sweep(setup, toy, lr, beta, config["steps"], hp=hp, tol=config["tol"], start=config["start"],
                    toy_params=config["toy_params"], rate_method=config["rate_method"])
        best = np.zeros(res.rate.shape, bool)
        unsure = res.diverged if res.rate_method == "exact" else res.diverged | ~res.settled
        b = best_cell(lr, beta, res.rate, unsure)       # an estimate counts once it has settled
        if b is not None:
            best[b["row"], b["col"]] = True
        exact = res.rate_exact if res.rate_exact is not None else np.full(res.rate.shape, np.nan)
        lr_map, beta_map = np.meshgrid(lr, beta)
        rows.append(dict(run=np.array(run["label"]), rate_method=np.array(res.rate_method), lr=lr_map.ravel(),
                         beta=beta_map.ravel(), rate=res.rate.ravel(), rate_estimate=res.rate_estimate.ravel(),
                         rate_uncertainty=res.rate_uncertainty.ravel(), settled=res.settled.ravel(),
                         diverged=res.diverged.ravel(), steps_to_tol=res.steps_to_tol.ravel(), best=best.ravel(),
                         rate_exact=exact.ravel()))
    return FigureData(stack_rows(rows), {})


def _eigenvalues(params: dict) -> list[float]:
    return [params["h1"], params["h2"]]


# ----------------------------------------------------------------------------- build

def _positive(y: np.ndarray) -> np.ndarray:
    """Log axes: values <= 0 (exact convergence) become gaps."""
    y = np.asarray(y, float)
    return np.where(y > 0, y, np.nan)


def _rows_of(table: dict, name: str) -> dict[str, np.ndarray]:
    keep = table["run"] == name
    return {k: v[keep] for k, v in table.items()}


def _contour_panel(fig: go.Figure, config: dict, paths: list[tuple[str, str, np.ndarray]], col: int) -> None:
    """Contour lines of L (viz.contour) with one coloured path per run, a circle at the start."""
    toy = get_toy(config["toy"])
    params = toy.params(config["toy_params"])
    background = contour_base(toy_grid(toy, params, CONTOUR_N), toy.minima(params), toy.domain)
    for trace in background.data:
        trace.update(showlegend=False)
        if trace.type == "scatter":                 # the minima
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


def _line(fig, x, y, name, colour, col, showlegend, dash="solid", row=1) -> None:
    fig.add_trace(go.Scatter(x=x, y=_positive(y), mode="lines", name=name, legendgroup=name, showlegend=showlegend,
                             line=dict(color=colour, width=1.2, dash=dash)), row=row, col=col)


def _finish(fig: go.Figure, config: dict, legend_rows: int = 1) -> go.Figure:
    lay = config["layout"]
    apply_theme(fig, width=lay["width"], height=lay["height"], font=lay["font"], font_size=lay["font_size"])
    size = fig.layout.font.size
    fig.update_layout(legend=dict(orientation="h", x=0.5, xanchor="center", y=1, yanchor="top", yref="container",
                                  xref="container"),
                      margin=dict(t=size * (1.8 * legend_rows + (1.6 if fig.layout.annotations else 0.4))))
    return fig


def _run_colour(run: dict) -> str:
    return optimizer_colour(run["optimizer"], run["cautious"])


def build_trajectories(config: dict, data: FigureData) -> go.Figure:
    """1 x 3: paths on the contours, L(w_t) and H_t (log scale)."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, column_widths=[0.34, 0.33, 0.33])
    series = [(run["label"], _run_colour(run), _rows_of(data.table, run["label"])) for run in config["runs"]]
    _contour_panel(fig, config, [(n, c, np.column_stack([r["w1"], r["w2"]])) for n, c, r in series], col=1)
    for name, colour, r in series:
        _line(fig, r["t"], r["loss"], name, colour, 2, True)
        _line(fig, r["t"], r["hamiltonian"], name, colour, 3, False)
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
    shown = set()
    for run in config["runs"]:
        k = panels.index((run["lr"], run["beta"]))
        name = optimizer_name(run["optimizer"], run["cautious"])
        keep = (data.table["run"] == run["label"])
        _line(fig, data.table["t"][keep], data.table["loss"][keep], name, _run_colour(run), k % cols + 1,
              name not in shown, row=k // cols + 1)
        shown.add(name)
    fig.update_xaxes(title_text=label("step"), row=rows)
    fig.update_yaxes(type="log", exponentformat="power")
    for row in range(1, rows + 1):
        fig.update_yaxes(title_text=label("loss"), row=row, col=1)
    return _finish(fig, config)


def build_rates(config: dict, data: FigureData) -> go.Figure:
    """1 x runs heatmaps of the rate (shared colour scale 0..1, diverged cells blank), a
    red dot at each best cell (an estimated map's best settled cell) drawn over a thin
    cross at the analytic GDM optimum (they nearly coincide on GDM's closed-form map);
    each title names the
    rate drawn (closed form or estimate) and quotes the minimum of that map."""
    lr, beta = rate_grid(config)
    runs = config["runs"]
    titles = []
    for run in runs:
        r = _rows_of(data.table, run["label"])
        best = r["rate"][r["best"]]
        exact = str(r["rate_method"][0]) == "exact"
        how = "closed form" if exact else "estimate"
        titles.append(f"{run['label']} ({how}): min {symbol('rate')} = {best[0]:.3f}" + ("" if exact else " (settled)")
                      if best.size else f"{run['label']} ({how}): no cell converged")
    fig = make_subplots(rows=1, cols=len(runs), shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=titles)
    params = get_toy(config["toy"]).params(config["toy_params"])
    optimum = heavy_ball_optimum(*_eigenvalues(params)) if "h1" in params else None
    for col, run in enumerate(runs, start=1):
        r = _rows_of(data.table, run["label"])
        z = np.where(r["diverged"], np.nan, r["rate"]).reshape(beta.size, lr.size)
        fig.add_trace(go.Heatmap(x=lr, y=beta, z=z, coloraxis="coloraxis", name=run["label"],
                                 hovertemplate="ε %{x:.4g}<br>β %{y:.4g}<br>ρ %{z:.4f}<extra></extra>"),
                      row=1, col=col)
        if optimum is not None and lr[0] <= optimum["lr"] <= lr[-1] and beta[0] <= optimum["beta"] <= beta[-1]:
            fig.add_trace(go.Scatter(x=[optimum["lr"]], y=[optimum["beta"]], mode="markers",   # under the dot
                                     name=f"GDM optimum ({symbol('rate')} = {optimum['rate']:.3g})",
                                     legendgroup="optimum", showlegend=col == 1,
                                     marker=dict(symbol="x-thin-open", size=14, color=BLACK, line=dict(width=1.5))),
                          row=1, col=col)
        fig.add_trace(go.Scatter(x=r["lr"][r["best"]], y=r["beta"][r["best"]], mode="markers", name="best cell",
                                 legendgroup="best", showlegend=col == 1,
                                 marker=dict(color=HIGHLIGHT, size=7, line=dict(color="white", width=1))),
                      row=1, col=col)
        fig.update_xaxes(title_text=label("lr"), type="log" if config["lr_range"]["scale"] == "log" else "linear",
                         showgrid=False, row=1, col=col)
    fig.update_yaxes(showgrid=False, type="log" if config["beta_range"]["scale"] == "log" else "linear")
    fig.update_yaxes(title_text=label("beta"), row=1, col=1)
    fig.update_layout(coloraxis=dict(colorscale="Viridis", cmin=0, cmax=1,
                                     colorbar=dict(title=dict(text=symbol("rate")), thickness=8, len=0.9)))
    return _finish(fig, config)


def build_decay(config: dict, data: FigureData) -> go.Figure:
    """1 x 3: paths on the valley's contours, L(w_t) (log) and |w_t| with the minimum norm
    over the set of minimisers dashed."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, column_widths=[0.34, 0.33, 0.33])
    series = [(run["label"], DECAY_COLOURS[run["decay"]], _rows_of(data.table, run["label"]))
              for run in config["runs"]]
    _contour_panel(fig, config, [(n, c, np.column_stack([r["w1"], r["w2"]])) for n, c, r in series], col=1)
    for name, colour, r in series:
        _line(fig, r["t"], r["loss"], name, colour, 2, True)
        fig.add_trace(go.Scatter(x=r["t"], y=r["norm"], mode="lines", name=name, legendgroup=name, showlegend=False,
                                 line=dict(color=colour, width=1.2)), row=1, col=3)
    toy = get_toy(config["toy"])
    min_norm = float(np.min(np.linalg.norm(toy.minima(toy.params(config["toy_params"])), axis=1)))
    fig.add_hline(y=min_norm, line=dict(color=BLACK, width=0.75, dash="dash"), opacity=1, row=1, col=3)
    for col in (2, 3):
        fig.update_xaxes(title_text=label("step"), row=1, col=col)
    fig.update_yaxes(type="log", title_text=label("loss"), exponentformat="power", row=1, col=2)
    fig.update_yaxes(title_text=label("norm"), row=1, col=3)
    return _finish(fig, config)


# ----------------------------------------------------------------------------- presets

def _fig2_repo() -> dict:
    hp = dict(lr=0.01, beta=0.99)
    return dict(**_toy_fields("quad-repo"), steps=1000,
                runs=[_run("gd", **hp), _run("gdm", **hp), _run("gdm", True, **hp)], layout=_layout(2.3))


def _fig2_paper() -> dict:
    runs = [_run("gd", lr=0.1, beta=0.99), _run("gdm", lr=0.01, beta=0.99), _run("gdm", True, lr=0.01, beta=0.99)]
    runs[0]["label"] = "GD (lr=0.1)"
    return dict(**_toy_fields("quad-paper"), steps=1000, runs=runs, layout=_layout(2.3))


ABLATION_PAIRS = ((0.01, 0.5), (0.01, 0.9), (0.01, 0.99), (0.01, 0.999), (0.1, 0.99), (0.001, 0.99))


def _ablation() -> dict:
    runs = [_run("gdm", c, lr=lr, beta=b) for lr, b in ABLATION_PAIRS for c in (False, True)]
    for run in runs:
        run["label"] = f"{run['label']} lr={run['lr']:g} beta={run['beta']:g}"
    return dict(**_toy_fields("quad-paper"), steps=1000, runs=runs, layout=_layout(3.2))


def _fig3() -> dict:
    return dict(**_toy_fields("quad-k4"), steps=1000, tol=1e-10, rate_method="auto",
                lr_range=dict(lo=0.01, hi=0.5, n=128, scale="linear"),
                beta_range=dict(lo=0.0, hi=0.95, n=128, scale="linear"),
                runs=[_run("gdm"), _run("gdm", True)], layout=_layout(2.6))


def _decay(toy: str) -> dict:
    hp = dict(optimizer="gdm", lr=0.01, beta=0.9)
    runs = [run_template(DECAY_NAMES["none"], decay="none", wd=0.0, **hp),
            run_template(DECAY_NAMES["decoupled"], decay="decoupled", wd=0.5, **hp),
            run_template(DECAY_NAMES["cautious"], decay="cautious", wd=0.5, **hp)]
    return dict(**_toy_fields(toy), steps=3000, runs=runs, layout=_layout(2.3))


PRESETS: dict[str, Preset] = {
    "fig2-paper": Preset("arXiv 2411.16085 Fig. 2 (left) as in the paper: 0.5 w1^2 + 0.1 w2^2 from (1, 1), GDM and "
                         "C-GDM at eps 0.01, beta 0.99, GD at eps 0.1: paths, L, H", _fig2_paper(),
                         compute_trajectories, build_trajectories),
    "fig2": Preset("the code repository's variant: x1^2 + 0.1 x2^2 from (-5, 5), GD / GDM / C-GDM at eps 0.01, "
                   "beta 0.99", _fig2_repo(), compute_trajectories, build_trajectories),
    "fig2-ablation": Preset("Fig. 2 (right): GDM vs C-GDM loss on 0.5 w1^2 + 0.1 w2^2 for the paper's six "
                            "(eps, beta) pairs", _ablation(), compute_trajectories, build_ablation),
    "fig3": Preset("Fig. 3: rate maps of GDM (closed form) and C-GDM (estimated) on w1^2 + 4 w2^2 (kappa = 4), "
                   "128 x 128 cells, red dot at each map's best cell", _fig3(), compute_rates, build_rates),
    "wd-line": Preset("arXiv 2510.12402: GDM with no / decoupled / cautious weight decay on the valley "
                      "(w1 + w2 - 2)^2", _decay("valley-line"), compute_decay, build_decay),
    "wd-hyperbola": Preset("the same on the valley (w1 w2 - 1)^2", _decay("valley-hyperbola"),
                           compute_decay, build_decay),
}


def default_config(name: str) -> dict[str, Any]:
    """A fresh copy of a preset's configuration (with its ``preset`` key)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (allowed: {', '.join(PRESETS)})")
    return {"preset": name, **copy.deepcopy(PRESETS[name].config)}


def validate(config: dict[str, Any]) -> None:
    """ConfigError unless ``config`` fits its preset: the preset's keys and kinds
    (dynamics.configfile.check_like), a known toy with known parameters, valid runs,
    an integer number of steps, a valid layout and grid."""
    if not isinstance(config, dict) or config.get("preset") not in PRESETS:
        got = config.get("preset") if isinstance(config, dict) else config
        raise ConfigError(f"figure.preset: unknown preset {got!r} (allowed: {', '.join(PRESETS)})")
    template = default_config(config["preset"])
    if not isinstance(config.get("toy_params"), dict):
        raise ConfigError("figure.toy_params: expected an object of numbers")
    check_like({**config, "toy_params": {}}, {**template, "toy_params": {}})
    if config["toy"] not in TOYS:
        raise ConfigError(f"figure.toy: unknown toy {config['toy']!r} (allowed: {', '.join(TOYS)})")
    try:
        get_toy(config["toy"]).params(config["toy_params"])
        width_px(config["layout"]["width"])
    except ValueError as err:
        raise ConfigError(f"figure: {err}") from None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in config["toy_params"].values()):
        raise ConfigError("figure.toy_params: values must be numbers")
    if len(config["start"]) != 2:
        raise ConfigError(f"figure.start: expected two numbers, got {config['start']!r}")
    if (problem := SETTINGS["steps"].problem(config["steps"])) is not None:
        raise ConfigError(f"figure.steps: {problem}")
    lay = config["layout"]
    if lay["font"] not in FONTS or not (lay["height"] > 0 and lay["font_size"] > 0 and lay["scale"] > 0):
        raise ConfigError(f"figure.layout: font in {', '.join(FONTS)}; height, font_size, scale > 0; got {lay}")
    labels = [run["label"] for run in config["runs"]]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"figure.runs: labels must be unique, got {labels}")
    for run in config["runs"]:
        setup_hyper(run)
    if "lr_range" in config:
        if not config["tol"] > 0:
            raise ConfigError(f"figure.tol: must be > 0, got {config['tol']!r}")
        if config["rate_method"] not in RATE_METHODS:
            raise ConfigError(f"figure.rate_method: one of {', '.join(RATE_METHODS)}, got {config['rate_method']!r}")
        for run in config["runs"]:
            try:
                resolve_rate_method(config["rate_method"], setup_hyper(run)[0], get_toy(config["toy"]))
            except ValueError as err:
                raise ConfigError(f"figure.rate_method: {run['label']}: {err}") from None
        for key in ("lr_range", "beta_range"):
            if not isinstance(config[key]["n"], int):
                raise ConfigError(f"figure.{key}.n: must be an integer, got {config[key]['n']!r}")
        lr_r, beta_r = config["lr_range"], config["beta_range"]
        if not (lr_r["lo"] > 0 and 0 <= beta_r["lo"] and beta_r["hi"] < 1):
            raise ConfigError(f"figure: need lr_range.lo > 0 and beta_range within [0, 1); got {lr_r}, {beta_r}")
        try:
            rate_grid(config)
        except ValueError as err:
            raise ConfigError(f"figure.lr_range / beta_range: {err}") from None


def compute(config: dict[str, Any]) -> FigureData:
    return PRESETS[config["preset"]].compute(config)


def build(config: dict[str, Any], data: FigureData) -> go.Figure:
    return PRESETS[config["preset"]].build(config, data)


def render(config: dict[str, Any]) -> tuple[go.Figure, FigureData]:
    """validate, compute, build."""
    validate(config)
    data = compute(config)
    return build(config, data), data
