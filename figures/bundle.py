"""A paper figure as the files a paper needs, shared by ``python -m dynamics figure
--out-dir`` and the app's "Paper figures" download: the figure (PDF by default, at its
physical size), its numbers (CSV, one row per plotted point), its configuration (JSON
that ``--config`` loads back) and a LaTeX snippet that includes the PDF at natural size
with a caption stating the settings.

The same configuration gives the same bytes: the data and the JSON are deterministic,
and the PDF's dates are fixed (viz.export), so ``figure --config NAME.json`` rebuilds
every file bit for bit on the same package versions.  The JSON records the height the
figure was drawn at, which the layout raises above the configuration's where the panels
need it (``built``).
"""
from __future__ import annotations

import copy
from typing import Any

import plotly.graph_objects as go

from dynamics.configfile import dumps
from dynamics.optimizers import spec_of
from figures import presets
from toys import get_toy
from viz.export import data_bytes, export_bytes
from viz.paper import FigureData, build_ablation, build_decay, build_rates, build_trajectories
from viz.theme import PX_PER_INCH, width_px

_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
# What each kind of figure draws: the caption's first sentence.
WHAT = {
    build_trajectories: r"Paths on the contours of $L$ (left), the loss $L(w_t)$ and the Hamiltonian $H_t$ (log scale)",
    build_ablation: r"The loss $L(w_t)$ of GDM and C-GDM for each step size $\varepsilon$ and momentum $\beta$",
    build_rates: r"Convergence rate $\rho$ over step size $\varepsilon$ and momentum $\beta$; red dots: the best "
                 r"cell of each map; cross: the analytic GDM optimum",
    build_decay: r"Paths on the valley of minimisers, the loss $L(w_t)$ and the norm $\|w_t\|$ (dashed: the minimum "
                 r"norm over the valley) without, with decoupled and with cautious weight decay",
}
_GREEK = {"ε": r"$\varepsilon$", "β": r"$\beta$", "λ": r"$\lambda$", "κ": r"$\kappa$", "ρ": r"$\rho$"}


def tex_escape(text: str) -> str:
    """Plain text made safe in LaTeX (special characters escaped, Greek as maths)."""
    return "".join(_LATEX_SPECIALS.get(ch) or _GREEK.get(ch) or ch for ch in str(text))


def _run_text(run: dict[str, Any], rates: bool) -> str:
    """A run's label and the step size and momentum it uses (not on rate maps: the grid)."""
    parts = [] if rates else [rf"$\varepsilon = {run['lr']:g}$"]
    if not rates and "beta" in spec_of(run["optimizer"]).uses:
        parts.append(rf"$\beta = {run['beta']:g}$")
    if run.get("decay", "none") != "none":
        parts.append(rf"{tex_escape(run['decay'])} decay $\lambda = {run['wd']:g}$")
    return tex_escape(run["label"]) + (f" ({', '.join(parts)})" if parts else "")


def caption(config: dict[str, Any]) -> str:
    """The figure's settings in one LaTeX caption: objective, start, steps, runs, grid."""
    toy = get_toy(config["toy"])
    formula = toy.latex(toy.params(config["toy_params"]))
    start = ", ".join(f"{v:g}" for v in config["start"])
    rates = "lr_range" in config
    text = (f"{WHAT[presets.PRESETS[config['preset']].build]}. Objective ${formula}$, "
            f"start $w_0 = ({start})$, {config['steps']} steps. ")
    if rates:
        lr, beta = config["lr_range"], config["beta_range"]
        text += (rf"Grid: {lr['n']} step sizes $\varepsilon \in [{lr['lo']:g}, {lr['hi']:g}]$ ({lr['scale']}) by "
                 rf"{beta['n']} momenta $\beta \in [{beta['lo']:g}, {beta['hi']:g}]$; rate method "
                 f"{tex_escape(config['rate_method'])}. ")
    return text + "Runs: " + "; ".join(_run_text(run, rates) for run in config["runs"]) + "."


def latex_snippet(config: dict[str, Any], figure_file: str) -> str:
    """A figure environment (figure* for a double-column figure) including ``figure_file``
    at natural size, with ``caption`` and a label fig:<preset>."""
    lay = config["layout"]
    env = "figure*" if width_px(lay["width"]) > width_px("single") + 1 else "figure"
    size = f"{width_px(lay['width']) / PX_PER_INCH:.2f} in x {lay['height'] / PX_PER_INCH:.2f} in"
    return (f"% {figure_file}: {size}, included at natural size (no width=...).\n"
            f"\\begin{{{env}}}[t]\n  \\centering\n  \\includegraphics{{{figure_file}}}\n"
            f"  \\caption{{{caption(config)}}}\n  \\label{{fig:{config['preset']}}}\n\\end{{{env}}}\n")


def built(config: dict[str, Any], data: FigureData | None = None) -> tuple[go.Figure, dict[str, Any], FigureData]:
    """(figure, configuration as drawn, data), computing the data unless given.  The
    layout never squashes a panel: where the configuration's height is too small it
    makes the figure taller (viz.layout); the configuration as drawn records the height
    used, so it rebuilds the same file."""
    data = presets.compute(config) if data is None else data
    fig = presets.build(config, data)
    drawn = copy.deepcopy(config)
    drawn["layout"]["height"] = fig.layout.height
    return fig, drawn, data


def figure_file_bytes(config: dict[str, Any], fmt: str, data: FigureData | None = None) -> bytes:
    """The configuration's figure as ``fmt`` bytes (computing its data unless given)."""
    return export_bytes(built(config, data)[0], fmt, scale=config["layout"]["scale"])


def bundle_files(config: dict[str, Any], fmt: str = "pdf") -> tuple[dict[str, bytes], dict[str, Any]]:
    """(file name -> bytes, configuration as drawn): NAME.<fmt>, NAME.csv, NAME.json (the
    configuration as drawn) and NAME.tex for a validated configuration (NAME: its preset)."""
    name = config["preset"]
    fig, drawn, data = built(config)
    files = {f"{name}.{fmt}": export_bytes(fig, fmt, scale=config["layout"]["scale"]),
             f"{name}.csv": data_bytes(data.table, "csv"),
             f"{name}.json": dumps(drawn).encode(),
             f"{name}.tex": latex_snippet(drawn, f"{name}.{fmt}").encode()}
    return files, drawn
