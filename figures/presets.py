"""Paper figures as presets: a JSON-able configuration -> the numbers (``compute``,
figures.compute) -> a themed Plotly figure (``build``, the builders of viz.paper).
``python -m dynamics figure`` draws them (cli.figure).

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
- ``fig3``: Figure 3 of 2411.16085 (v4's Figure 2): convergence-rate maps
  (dynamics.sweep) of GDM and C-GDM over (eps, beta) with the settings of the paper and
  of the claims report (dynamics.claims_base): 4 w1^2 + w2^2 (kappa = 4) from (1, 1),
  1000 steps a cell.  ``rate_method`` (default ``auto``): GDM's map is its closed form,
  C-GDM's the late-window estimate.  A red dot marks each map's best cell (of the
  estimate, the best settled cell), a cross the analytic GDM optimum (eps, beta) =
  (2/9, 1/9) with rate 1/3 (dynamics.rates); cells that diverged or have rate >= 1 are
  grey.  Each title quotes its dot's rate as dynamics.best_rate computes it for the
  claims report too: the closed form, or the estimate re-measured on a 4x longer run of
  that cell with its uncertainty (the table's quoted_rate, quoted_uncertainty).  The
  heatmaps are embedded as images in PDF/SVG (viz.export).
- ``adam-warmup``: Adam at lr 0.3 from (-1.5, 2.5) on Rosenbrock, with a constant lr and
  with a linear warmup over 50 steps, then the same lr (dynamics.schedules): the
  constant lr's first steps (full size in every coordinate: Adam's first update is
  lr sign(g)) overshoot the valley and L rises from 12.5 to over 100 within 30 steps;
  the warmup's small first steps, taken while Adam's moments settle, never rise above
  the start, and the run ends 30 times lower after 300 steps.
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
``validate`` checks a configuration (a loaded file) against its preset: its keys and kinds, every
value's range (LAYOUT_BOUNDS, the toys' parameter bounds, dynamics.settings), one line naming
the field when one is wrong, and warnings for unknown keys, which it drops; it refuses one
whose arrays cannot fit in memory (dynamics.budget).  ``cost`` sizes it, so that the command
line can hold it to its work limit before computing.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, NamedTuple

import plotly.graph_objects as go

from dynamics import budget
from dynamics.budget import Cost, grid_cost, runs_cost
from dynamics.claims_base import ClaimSettings
from dynamics.configfile import ConfigError, kind_of, short, check_like, run_template, setup_hyper
from dynamics.rates import RATE_METHODS, resolve_rate_method
from dynamics.settings import SETTINGS
from figures.compute import compute_decay, compute_rates, compute_trajectories, rate_grid
from toys import TOYS, get_toy
from toys.catalog import START_BOUND, param_bounds
from viz.export import MAX_LAYOUT_PX, MAX_SCALE
from viz.paper import FigureData, build_ablation, build_decay, build_rates, build_trajectories
from viz.theme import DECAY_NAMES, FONTS, PX_PER_INCH, optimizer_name, width_px


class Preset(NamedTuple):
    """A paper figure: its description, configuration, computation and builder."""

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


def _fig2_repo() -> dict:
    hp = dict(lr=0.01, beta=0.99)
    return dict(**_toy_fields("quad-repo"), steps=1000,
                runs=[_run("gd", **hp), _run("gdm", **hp), _run("gdm", True, **hp)], layout=_layout(2.3))


def _fig2_paper() -> dict:
    runs = [_run("gd", lr=0.1, beta=0.99), _run("gdm", lr=0.01, beta=0.99), _run("gdm", True, lr=0.01, beta=0.99)]
    runs[0]["label"] = "GD (lr=0.1)"
    return dict(**_toy_fields("quad-paper"), steps=1000, runs=runs, layout=_layout(2.3))


MAX_FONT_PT = 72.0                  # largest font size of a layout, in points
ABLATION_PAIRS = ((0.01, 0.5), (0.01, 0.9), (0.01, 0.99), (0.01, 0.999), (0.1, 0.99), (0.001, 0.99))


def _ablation() -> dict:
    runs = [_run("gdm", c, lr=lr, beta=b) for lr, b in ABLATION_PAIRS for c in (False, True)]
    for run in runs:
        run["label"] = f"{run['label']} lr={run['lr']:g} beta={run['beta']:g}"
    return dict(**_toy_fields("quad-paper"), steps=1000, runs=runs, layout=_layout(3.2))


def _fig3() -> dict:
    """The paper's rate-map settings, those of the claims report (dynamics.claims_base):
    4 w1^2 + w2^2 from (1, 1), eps in 0.01..0.5, beta in 0..0.95, 1000 steps a cell."""
    s = ClaimSettings()
    params = get_toy(s.rate_toy).params(s.params if s.rate_toy == s.toy else None)
    lo, hi = s.rate_lr
    return dict(toy=s.rate_toy, toy_params=params, start=list(s.start), steps=s.rate_steps, tol=1e-10,
                rate_method="auto", lr_range=dict(lo=lo, hi=hi, n=128, scale="linear"),
                beta_range=dict(lo=s.rate_beta[0], hi=s.rate_beta[1], n=128, scale="linear"),
                runs=[_run("gdm"), _run("gdm", True)], layout=_layout(2.6))


def _decay(toy: str) -> dict:
    hp = dict(optimizer="gdm", lr=0.01, beta=0.9)
    runs = [run_template(DECAY_NAMES["none"], decay="none", wd=0.0, **hp),
            run_template(DECAY_NAMES["decoupled"], decay="decoupled", wd=0.5, **hp),
            run_template(DECAY_NAMES["cautious"], decay="cautious", wd=0.5, **hp)]
    return dict(**_toy_fields(toy), steps=3000, runs=runs, layout=_layout(2.3))


def _adam_warmup() -> dict:
    """Adam at a large lr from a point high on Rosenbrock's wall, with a constant lr and
    with a linear warmup over 50 steps (warmup-cosine with final factor 1: then constant;
    dynamics.schedules)."""
    hp = dict(optimizer="adam", lr=0.3, beta=0.9)
    runs = [run_template("Adam, constant lr", **hp),
            run_template("Adam, 50 warmup steps", schedule="warmup-cosine", warmup=50, lr_final=1.0, **hp)]
    return dict(toy="rosenbrock", toy_params=get_toy("rosenbrock").params(), start=[-1.5, 2.5], steps=300, runs=runs,
                layout=_layout(2.3))


PRESETS: dict[str, Preset] = {
    "fig2-paper": Preset("arXiv 2411.16085 Fig. 2 (left) as in the paper: 0.5 w1^2 + 0.1 w2^2 from (1, 1), GDM and "
                         "C-GDM at eps 0.01, beta 0.99, GD at eps 0.1: paths, L, H", _fig2_paper(),
                         compute_trajectories, build_trajectories),
    "fig2": Preset("the code repository's variant: x1^2 + 0.1 x2^2 from (-5, 5), GD / GDM / C-GDM at eps 0.01, "
                   "beta 0.99", _fig2_repo(), compute_trajectories, build_trajectories),
    "fig2-ablation": Preset("Fig. 2 (right): GDM vs C-GDM loss on 0.5 w1^2 + 0.1 w2^2 for the paper's six "
                            "(eps, beta) pairs", _ablation(), compute_trajectories, build_ablation),
    "fig3": Preset("Fig. 3: rate maps of GDM (closed form) and C-GDM (estimated) on 4 w1^2 + w2^2 (kappa = 4) "
                   "from (1, 1), 128 x 128 cells, red dot at each map's best (settled) cell, its rate re-measured "
                   "in the title, GDM optimum 1/3 crossed, diverged cells grey", _fig3(), compute_rates, build_rates),
    "wd-line": Preset("arXiv 2510.12402: GDM with no / decoupled / cautious weight decay on the valley "
                      "(w1 + w2 - 2)^2", _decay("valley-line"), compute_decay, build_decay),
    "wd-hyperbola": Preset("the same on the valley (w1 w2 - 1)^2", _decay("valley-hyperbola"),
                           compute_decay, build_decay),
    "adam-warmup": Preset("Adam at lr 0.3 with and without 50 warmup steps from (-1.5, 2.5) on Rosenbrock: the "
                          "constant lr's first steps overshoot (L rises ninefold), the warmup's do not", _adam_warmup(),
                          compute_trajectories, build_trajectories),
}


def default_config(name: str) -> dict[str, Any]:
    """A fresh copy of a preset's configuration (with its ``preset`` key)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (allowed: {', '.join(PRESETS)})")
    return {"preset": name, **copy.deepcopy(PRESETS[name].config)}


LAYOUT_BOUNDS = {"height": (24.0, MAX_LAYOUT_PX), "font_size": (4.0, MAX_FONT_PT),    # px, pt, factor
                 "scale": (0.1, MAX_SCALE)}                   # (viz.export's export limits)
WIDTH_BOUNDS = (24.0, MAX_LAYOUT_PX)     # px (50 in)
TOL_BOUNDS = (0.0, 1.0)                 # a rate map's tol: open interval


def validate(config: dict[str, Any]) -> list[str]:
    """Warnings (unknown keys, which are removed from ``config``); ConfigError with one
    line naming the field (figure.runs[0].lr, ...) unless ``config`` fits its preset: the
    preset's keys and kinds (dynamics.configfile.check_like), a known toy with its
    parameters within the app's bounds (toys.catalog.param_bounds), a start within
    START_BOUND, valid runs (dynamics.settings), the layout within LAYOUT_BOUNDS and
    WIDTH_BOUNDS, and a valid grid."""
    if not isinstance(config, dict):
        raise ConfigError(f"figure: expected an object, got {kind_of(config)}")
    preset = config.get("preset")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(f"figure.preset: unknown preset {short(preset)} (allowed: {', '.join(PRESETS)})")
    template = default_config(preset)
    warnings = check_like({**config, "toy_params": {}}, {**template, "toy_params": {}})
    for key in set(config) - set(template):            # check_like dropped them from its copy
        del config[key]
    if config["toy"] not in TOYS:
        raise ConfigError(f"figure.toy: unknown toy {short(config['toy'])} (allowed: {', '.join(TOYS)})")
    warnings += _check_toy(config)
    if (problem := SETTINGS["steps"].problem(config["steps"])) is not None:
        raise ConfigError(f"figure.steps {problem}")
    _check_layout(config["layout"])
    labels = [run["label"] for run in config["runs"]]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"figure.runs: labels must be unique, got {short(labels)}")
    for i, run in enumerate(config["runs"]):
        setup_hyper(run, f"figure.runs[{i}]")
    if "lr_range" in config:
        _check_grid(config)
    if (too_large := budget.problem(cost(config), None, "")) is not None:
        raise ConfigError(f"figure: {too_large}")
    return warnings


def _check_toy(config: dict[str, Any]) -> list[str]:
    """Warnings; ConfigError unless the toy's parameters are its own, numbers within
    param_bounds, and the start is two numbers within START_BOUND."""
    name, params = config["toy"], config["toy_params"]
    warnings = check_like(params, get_toy(name).params(), "figure.toy_params")
    for key, value in params.items():
        lo, hi = param_bounds(name, key)
        if not lo <= value <= hi:
            raise ConfigError(f"figure.toy_params.{key} must be in [{lo:g}, {hi:g}] for {name}, got {value:g}")
    start = config["start"]
    if len(start) != 2 or not all(abs(v) <= START_BOUND for v in start):
        raise ConfigError(f"figure.start: expected two numbers of size at most {START_BOUND:g}, got {short(start)}")
    return warnings


def _within(value: float, bounds: tuple[float, float], where: str) -> None:
    if not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"{where} must be in [{bounds[0]:g}, {bounds[1]:g}], got {value:g}")


def _check_layout(lay: dict[str, Any]) -> None:
    """ConfigError unless the layout's font is known and its sizes are within bounds."""
    if lay["font"] not in FONTS:
        raise ConfigError(f"figure.layout.font must be one of {', '.join(FONTS)}, got {short(lay['font'])}")
    try:
        width = width_px(lay["width"])
    except ValueError as err:
        raise ConfigError(f"figure.layout.{err}") from None
    _within(width, WIDTH_BOUNDS, "figure.layout.width (pixels)")
    for key, bounds in LAYOUT_BOUNDS.items():
        _within(lay[key], bounds, f"figure.layout.{key}")


def _check_grid(config: dict[str, Any]) -> None:
    """ConfigError unless a rate map's tol, rate method and (lr, beta) grid are valid."""
    if not TOL_BOUNDS[0] < config["tol"] < TOL_BOUNDS[1]:
        raise ConfigError(f"figure.tol must be in ({TOL_BOUNDS[0]:g}, {TOL_BOUNDS[1]:g}), got {config['tol']:g}")
    if config["rate_method"] not in RATE_METHODS:
        raise ConfigError(f"figure.rate_method must be one of {', '.join(RATE_METHODS)}, "
                          f"got {short(config['rate_method'])}")
    for i, run in enumerate(config["runs"]):
        try:
            resolve_rate_method(config["rate_method"], setup_hyper(run)[0], get_toy(config["toy"]))
        except ValueError as err:
            raise ConfigError(f"figure.rate_method: runs[{i}] ({run['label']}): {err}") from None
    for key in ("lr_range", "beta_range"):
        n = config[key]["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigError(f"figure.{key}.n must be an integer >= 2, got {short(n)}")
    lr_r, beta_r = config["lr_range"], config["beta_range"]
    if not (lr_r["lo"] > 0 and 0 <= beta_r["lo"] and beta_r["hi"] < 1):
        raise ConfigError(f"figure: need lr_range.lo > 0 and beta_range within [0, 1); got lr_range.lo "
                          f"{lr_r['lo']:g}, beta_range [{beta_r['lo']:g}, {beta_r['hi']:g}]")
    try:
        rate_grid(config)
    except ValueError as err:
        raise ConfigError(f"figure.lr_range / beta_range: {err}") from None


def cost(config: dict[str, Any]) -> Cost:
    """The size of a validated configuration's computation (dynamics.budget): every run's
    roll-out, or every run's rate map (cells x steps)."""
    runs = len(config["runs"])
    if "lr_range" in config:
        return grid_cost(f"the {config['preset']} rate maps", (config["beta_range"]["n"], config["lr_range"]["n"]),
                         config["steps"], runs=runs)
    return runs_cost(f"the {config['preset']} runs", config["steps"], runs)


def compute(config: dict[str, Any]) -> FigureData:
    """The numbers behind the configuration's figure (its preset's compute)."""
    return PRESETS[config["preset"]].compute(config)


def build(config: dict[str, Any], data: FigureData) -> go.Figure:
    """The configuration's figure drawn from its data (its preset's builder, viz.paper)."""
    return PRESETS[config["preset"]].build(config, data)


def render(config: dict[str, Any]) -> tuple[go.Figure, FigureData]:
    """validate, compute, build."""
    validate(config)
    data = compute(config)
    return build(config, data), data
