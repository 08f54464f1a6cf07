"""Figure themes: the screen style of the app's interactive figures (``style``,
``line_width``, the heatmap colours, ``ink`` for the light and dark page themes) and
the publication theme (``apply_theme``).

Publication: white background, paper-size fonts, column widths, a colour-blind-safe
palette (Okabe-Ito, ``PALETTE``), symbols that render, and one naming rule for
optimizers (GDM / C-GDM, Adam / C-Adam, Lion / C-Lion; arXiv 2411.16085 writes the
cautious variant with a "C-" prefix).

Sizes.  Plotly lays a figure out in CSS pixels; Chromium's PDF maps 96 px to one inch
(so 72 pt = 96 px), which is what the static export (viz.export) produces.  Widths are
given in inches and converted with ``PX_PER_INCH``; font sizes in points with ``PX_PER_PT``.

Symbols.  Greek letters are Unicode by default (the fonts below all carry Greek).
LaTeX (``$\\varepsilon$``) needs MathJax, which plotly.js fetches from a CDN; it is used
only where a MathJax file is available offline: set ``DYNAMICS_MATHJAX`` to the path of
MathJax 3's ``tex-svg.js`` (``latex_available()``); viz.export then hands the same file
to the renderer.
"""
from __future__ import annotations

import math
import os

import plotly.graph_objects as go

from dynamics.optimizers import display_name as optimizer_name  # noqa: F401 (GDM / C-GDM naming, re-exported)
from dynamics.optimizers import spec_of
from viz.layout import fit

# Okabe-Ito: colour-blind-safe.  On screen, base optimizers take the dark member of a
# pair and cautious variants the light one (viz.contour's default path colours).
PALETTE = ["#0072B2", "#56B4E9", "#D55E00", "#E69F00", "#009E73", "#F0E442", "#CC79A7", "#000000"]
PX_PER_INCH = 96
PX_PER_PT = PX_PER_INCH / 72
COLUMNS_IN = {"single": 3.5, "double": 7.0}     # two-column paper: one column, full text width
# DejaVu first: of the installed families only DejaVu has every glyph the figures use
# (subscripts ₀ ₁ ₂, Greek, the minus sign −), so the whole figure is set in one family
# (with Liberation or Times first, "w₀" fell back to a second font).
FONTS = {
    "serif": "DejaVu Serif, Liberation Serif, Times New Roman, serif",
    "sans": "DejaVu Sans, Liberation Sans, Arial, sans-serif",
}
MATHJAX_ENV = "DYNAMICS_MATHJAX"
SCREEN_FONT, PRESENT_FONT = 13, 18      # px: the app's figure text, on a screen and in presentation mode
# plotly.js draws the "10^k" labels of a log axis (exponentformat "power") at 1.25x the
# tick font and the exponent at 70% of that: 0.875 of the tick font.
EXPONENT_SHARE = 1.25 * 0.7

BLUE, SKY, VERMILLION, ORANGE, GREEN, YELLOW, PURPLE, BLACK = PALETTE
# An optimizer's (base, cautious) colours are named in its registry entry (the pair always
# differs in hue); these are the names' Okabe-Ito values.
COLOUR_VALUES = {"black": BLACK, "blue": BLUE, "sky": SKY, "vermillion": VERMILLION, "orange": ORANGE,
                 "green": GREEN, "yellow": YELLOW, "purple": PURPLE}
DECAY_COLOURS = {"none": BLACK, "decoupled": BLUE, "cautious": VERMILLION}
DARK_INK = "#F2F2F2"     # black marks on the dark page theme: near-white (exports turn it back, ``light_ink``)
RED = "#D62728"         # the papers' red dots: a true red (Okabe-Ito has none; its vermillion reads orange)

# Rate-map heatmaps (viz.ratemap, viz.paper.build_rates): rate 0..1 on Viridis, cautious
# - base on a diverging red-blue scale (blue: caution converges faster), diverged cells
# grey (a colour Viridis never takes), the best cell a red dot.
RATE_SCALE = "Viridis"
DIFF_SCALE = "RdBu_r"
DIVERGED = "#999999"                            # mid grey
OPTIMUM = RED                                  # best cell: the paper's red dot
ANALYTIC = "#FFFFFF"                           # analytic optimum and stability boundary
DECAY_NAMES = {"none": "no decay", "decoupled": "decoupled decay", "cautious": "cautious decay"}

# key -> (Unicode label, LaTeX label)
LABELS = {
    "lr": ("step size ε", r"$\text{step size }\varepsilon$"),
    "beta": ("momentum β", r"$\text{momentum }\beta$"),
    "rate": ("rate ρ", r"$\text{rate }\rho$"),
    "step": ("step t", r"$\text{step }t$"),
    "w1": ("w₁", r"$w_1$"),
    "w2": ("w₂", r"$w_2$"),
    "loss": ("loss L", r"$\text{loss }L(w_t)$"),
    "hamiltonian": ("Hamiltonian H", r"$\text{Hamiltonian }H_t$"),
    "norm": ("norm |w|", r"$\text{norm }\|w_t\|$"),
}
SYMBOLS = {"lr": ("ε", r"\varepsilon"), "beta": ("β", r"\beta"), "kappa": ("κ", r"\kappa"),
           "wd": ("λ", r"\lambda"), "rate": ("ρ", r"\rho")}


def optimizer_colour(optimizer: str, cautious: bool = False, dark: bool = False) -> str:
    """The colour of an optimizer's path (its cautious variant: the second of its pair),
    as ``ink`` draws it on the page theme (``dark``)."""
    return ink(dark, COLOUR_VALUES[spec_of(optimizer).colours[int(bool(cautious))]])


def ink(dark: bool = False, colour: str = BLACK) -> str:
    """The colour of a mark drawn on the plot's background (start circle, minima, a
    boundary line, an arrow, a black path): ``colour`` itself, except black, which on the
    dark page theme (``dark``) becomes near-white DARK_INK, so that it stays visible.
    Marks drawn over a heatmap keep their colours: the heatmap is the same in both themes."""
    return DARK_INK if dark and colour.upper() == BLACK else colour


def light_ink(spec):
    """A figure's JSON (``fig.to_plotly_json()``, or any part of it) with the dark theme's
    ink turned back to black: files are drawn on white whatever the page theme."""
    if isinstance(spec, dict):
        return {k: light_ink(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [light_ink(v) for v in spec]
    return BLACK if isinstance(spec, str) and spec.upper() == DARK_INK else spec


def mathjax_path() -> str | None:
    """The offline MathJax file named by $DYNAMICS_MATHJAX, or None.  A set variable that
    names no file is an error, not a silent fall-back to Unicode."""
    path = os.environ.get(MATHJAX_ENV)
    if not path:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{MATHJAX_ENV}={path!r} is not a file (MathJax 3 tex-svg.js expected)")
    return path


def latex_available() -> bool:
    return mathjax_path() is not None


def label(key: str, latex: bool | None = None) -> str:
    """An axis label; LaTeX only when asked for and MathJax is available offline."""
    uni, tex = LABELS[key]
    return tex if (latex_available() if latex is None else latex) else uni


def symbol(key: str, latex: bool = False) -> str:
    """A bare symbol for text such as "ε = 0.01" (Unicode; LaTeX body without $ when latex)."""
    uni, tex = SYMBOLS[key]
    return tex if latex else uni


def inches_px(inches: float) -> float:
    """Layout pixels of a length in inches, to 0.01 px (as configurations record it)."""
    return round(inches * PX_PER_INCH, 2)


def length_px(text: str) -> float:
    """A length written "<x>in" (inches) or as a number of pixels, in layout pixels > 0
    (ValueError otherwise)."""
    inches = text.endswith("in")
    try:
        value = float(text[:-2] if inches else text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected inches such as 2.4in or a number of pixels > 0; got {text!r}")
    return inches_px(value) if inches else value


def width_px(width: str | float) -> float:
    """"single" / "double" (column widths), "<x>in" (inches) or a number of pixels."""
    if isinstance(width, str):
        if width in COLUMNS_IN:
            return COLUMNS_IN[width] * PX_PER_INCH
        if width.endswith("in"):
            try:
                return length_px(width)
            except ValueError:
                pass
        raise ValueError(f"width must be single, double, <inches>in (e.g. 3.3in) or a number of pixels; got {width!r}")
    if not width > 0:
        raise ValueError(f"width must be > 0 pixels; got {width}")
    return float(width)


def legend_swatch(name: str, colour: str, size: float = 9, **marker) -> go.Scatter:
    """A legend entry (a square of ``colour``) for what no trace of its own names: the
    plot background, the layers of heatmaps (which have no legend entries), bands."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                      marker=dict(symbol="square", size=size, color=colour, **marker))


def font_px(presentation: bool = False) -> int:
    """The text size of the app's figures in pixels: 13, or 18 in presentation mode."""
    return PRESENT_FONT if presentation else SCREEN_FONT


def line_width(presentation: bool = False) -> float:
    """Line width on screen: thicker in presentation mode (a projector, the back row)."""
    return 3.5 if presentation else 2.0


def style(fig: go.Figure, presentation: bool = False, height: int = 560) -> go.Figure:
    """The app's screen style, in place: white template, text of font_px(presentation)
    (tick labels, axis titles, legend, hover, colour bars; panel titles 1 px larger), the
    given height in pixels.  Every size is set on the figure, so the page's chart theme
    (Streamlit's, which sets smaller tick fonts) cannot shrink it.  In presentation mode
    the tick font of a log axis with "power" labels is enlarged so that the exponent of
    "10^k", which plotly.js sets at EXPONENT_SHARE of the tick font, is at least
    PRESENT_FONT.  Returns ``fig``."""
    size = font_px(presentation)
    text = dict(size=size)
    fig.update_layout(template="plotly_white", height=height, font=text, legend=dict(font=text),
                      hoverlabel=dict(font=text), margin=dict(l=50, r=20, t=50, b=50))
    for update in (fig.update_xaxes, fig.update_yaxes):
        update(tickfont=text, title_font=text)
        if presentation:
            update(tickfont=dict(size=math.ceil(size / EXPONENT_SHARE)), selector=dict(type="log",
                                                                                    exponentformat="power"))
    fig.update_traces(colorbar=dict(tickfont=text, title_font=text), selector=lambda t: "colorbar" in t)
    fig.update_annotations(font=dict(size=size + 1))
    return fig


def apply_theme(fig: go.Figure, width: str | float = "double", height: float = 240.0, font: str = "serif",
                font_size: float = 8.0) -> go.Figure:
    """Style ``fig`` in place for print: white background, black axes with outside ticks,
    light grid, ``font`` (serif or sans) at ``font_size`` points (titles +1 pt), the given
    width ("single", "double" or pixels) and height (pixels), then lay it out for that
    width (viz.layout.fit: legend, titles, panel letters, colour bars, ticks; the height
    grows if the panels would otherwise be too short to read).  Returns ``fig``."""
    if font not in FONTS:
        raise ValueError(f"font must be one of {', '.join(FONTS)}; got {font!r}")
    if not height > 0 or not font_size > 0:
        raise ValueError(f"height and font_size must be > 0; got {height}, {font_size}")
    size = font_size * PX_PER_PT
    family = FONTS[font]
    fig.update_layout(
        template="simple_white", paper_bgcolor="white", plot_bgcolor="white",
        width=round(width_px(width)), height=round(height),
        font=dict(family=family, size=size, color=BLACK),
        title_font=dict(size=size + PX_PER_PT),
        legend=dict(font=dict(size=size), bgcolor="rgba(255,255,255,0.8)", borderwidth=0),
    )
    axis = dict(showline=True, linecolor=BLACK, linewidth=0.75, mirror=True, ticks="outside", ticklen=3,
                tickwidth=0.75, showgrid=True, gridcolor="#e5e5e5", gridwidth=0.5, zeroline=False,
                title_font=dict(size=size), tickfont=dict(size=size), title_standoff=2)
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    # plotly.js draws the "10^k" labels of a log axis with exponentformat "power" at 1.25x
    # the tick font; shrink those so every tick label prints at font_size.
    power_log = dict(type="log", exponentformat="power")
    fig.update_xaxes(tickfont=dict(size=size / 1.25), selector=power_log)
    fig.update_yaxes(tickfont=dict(size=size / 1.25), selector=power_log)
    fig.update_annotations(font=dict(family=family, size=size))
    return fit(fig, size)
