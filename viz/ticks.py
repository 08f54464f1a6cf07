"""Text sizes and tick choice for the publication layout (viz.layout): how wide a text
is at a font size (estimated from DejaVu Serif's advances, rounded up: ``EM``,
``ADVANCES``), where to break a title, an axis' range from its traces, and how many
ticks fit a panel: on a linear axis the largest ``nticks`` whose labels fit side by side
(x) or stacked (y); on a log axis ticks every decade and labels every 1st, 2nd, 3rd,
5th, 10th, ... decade.
"""
from __future__ import annotations

import base64
import math
import re

import numpy as np
import plotly.graph_objects as go

EM = 0.64                # advance of a digit, lowercase or Greek letter, in font sizes (DejaVu Serif: <= 0.644)
# Advances of the narrower and wider characters, rounded up from DejaVu Serif's (space
# 0.32, i l 0.32, t 0.40; capitals up to 0.80, = + − 0.84; m 0.95, W 1.03).
ADVANCES = {**dict.fromkeys(" ,.:;'!|()[]{}ijlft", 0.42),
            **dict.fromkeys("ABCDEFGHIJKLNOPQRSTUVXYZ−=+<>~φψω*#%&@", 0.84), **dict.fromkeys("mwMW", 1.04)}
LINE = 1.3               # line height, in font sizes
LABEL_STEPS = (1, 2, 3, 5, 10, 20, 50)      # decades between labelled ticks on a log axis
_TAG = re.compile(r"<[^>]+>")


def text_width(text: str | None, size: float) -> float:
    """Estimated width in pixels of ``text`` at ``size`` px (Plotly's <br> breaks lines;
    tags are drawn as nothing): each character's advance (``ADVANCES``, else ``EM``)."""
    if not text:
        return 0.0
    lines = re.split(r"<br\s*/?>", str(text), flags=re.I)
    return max(size * sum(ADVANCES.get(ch, EM) for ch in _TAG.sub("", line)) for line in lines)


def text_lines(text: str | None) -> int:
    return 0 if not text else 1 + len(re.findall(r"<br\s*/?>", str(text), flags=re.I))


SEPARATORS = (", ", ": ", " ")      # where a line may break, the coarsest first (the mark stays on the line)


def wrap(text: str, width: float, size: float, separators: tuple[str, ...] = SEPARATORS) -> str:
    """``text`` with <br> so that no line is wider than ``width`` pixels: broken after a
    comma, else after a colon, else between words (a word wider than that keeps its
    own line)."""
    if not separators:
        return text
    sep, out = separators[0], []
    for line in re.split(r"<br\s*/?>", text, flags=re.I):
        current = ""
        for piece in line.split(sep):
            trial = f"{current}{sep}{piece}" if current else piece
            if current and text_width(trial, size) > width:
                out.append(current + sep.rstrip())
                current = piece
            else:
                current = trial
        out.append(current)
    return "<br>".join(o if text_width(o, size) <= width else wrap(o, width, size, separators[1:]) for o in out)


def log_label_step(lo: float, hi: float, fit: int) -> int:
    """Decades between labels on a log axis over [lo, hi] (log10 units) with room for
    ``fit`` labels: the smallest of LABEL_STEPS whose labels (multiples of the step, so
    1 = 10^0 is one when in range) number at most ``fit`` and at least two (one if
    only one fits)."""
    count = lambda k: math.floor(hi / k) - math.ceil(lo / k) + 1
    return next((k for k in LABEL_STEPS if min(2, fit) <= count(k) <= fit), LABEL_STEPS[-1])


def plotly_array(value) -> np.ndarray:
    """A trace's array as floats with its shape: a list (None for NaN), an array, or
    Plotly's base64 typed array {"dtype", "bdata", "shape"} (a figure read back from its
    JSON); TypeError / ValueError for anything else."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).astype(float)
        return flat.reshape([int(n) for n in value["shape"].split(",")]) if "shape" in value else flat
    return np.array(value, dtype=float)


def coordinates(v) -> np.ndarray:
    """A trace's coordinates as a flat float array (empty when absent or not numbers)."""
    if v is None:
        return np.zeros(0)
    try:
        return plotly_array(v).ravel()
    except (TypeError, ValueError):
        return np.zeros(0)


def _traces_on(fig: go.Figure, key: str):
    """The traces drawn on the axis or on any axis it matches (shared axes show one range)."""
    ref = lambda k: k[0] + k[5:]
    root = fig.layout[key].matches or ref(key)
    group = {ref(k) for k in fig.layout if k[1:5] == "axis" and k[0] == key[0]
             and (ref(k) == root or fig.layout[k].matches == root)}
    return [t for t in fig.data if (getattr(t, key[0] + "axis", None) or key[0]) in group]


def data_range(fig: go.Figure, key: str) -> tuple[float, float] | None:
    """The axis' range in its own units (log axes: decades): its set range, else the
    finite (log: positive) coordinates of the traces drawn on it."""
    ax = fig.layout[key]
    if ax.range is not None and None not in ax.range:
        return float(min(ax.range)), float(max(ax.range))
    vals = [coordinates(getattr(t, key[0], None)) for t in _traces_on(fig, key)]
    v = np.concatenate(vals) if vals else np.zeros(0)
    v = v[np.isfinite(v)]
    if ax.type == "log":
        v = np.log10(v[v > 0])
    return (float(v.min()), float(v.max())) if v.size else None


def nice_labels(lo: float, hi: float, n: int) -> list[str]:
    """The tick labels of a linear axis over [lo, hi] with at most ``n`` ticks at a
    1, 2, 5 x 10^k spacing (how Plotly picks ``nticks`` ticks)."""
    if not hi > lo:
        return [f"{lo:g}"]
    raw = (hi - lo) / n
    decade = 10.0 ** math.floor(math.log10(raw))
    step = next(m * decade for m in (1, 2, 5, 10) if m * decade >= raw * (1 - 1e-9))
    digits = max(0, -int(math.floor(math.log10(step) + 1e-9)))
    ticks = np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step
    return [f"{t:.{digits}f}".replace("-", "−") for t in ticks]


def linear_nticks(lo: float, hi: float, length: float, size: float, across: bool) -> int:
    """The largest tick count (2..8) whose labels fit ``length`` pixels: side by side
    (``across``, an x axis) or stacked (a y axis), with a gap of about a character."""
    for n in range(8, 1, -1):
        labels = nice_labels(lo, hi, n)
        each = max(text_width(t, size) for t in labels) + 0.6 * size if across else 1.8 * size
        if len(labels) * each <= length:
            return n
    return 2


def label_width(fig: go.Figure, key: str, size: float) -> float:
    """Estimated width of the axis' widest tick label."""
    ax = fig.layout[key]
    if ax.showticklabels is False:
        return 0.0
    if ax.ticktext:
        return max(text_width(t, size) for t in ax.ticktext)
    r = data_range(fig, key)
    if r is None:
        return text_width("0.0", size)
    if ax.type == "log":
        chars = 2.5 + 0.8 * len(str(int(math.floor(min(r))))) if ax.exponentformat == "power" else 5
        return EM * size * chars
    return max(text_width(label, size) for label in nice_labels(*r, 5))


def drawn_size(fig: go.Figure, x: str, y: str, width: float, height: float) -> tuple[float, float]:
    """The drawn width and height of the panel of axes ``x``, ``y`` (layout keys) given
    ``width`` x ``height`` pixels: an axis tied to the other at scale 1 (``scaleanchor``)
    shrinks its side to keep the aspect ratio."""
    tied = fig.layout[y].scaleanchor or fig.layout[x].scaleanchor
    xr, yr = data_range(fig, x), data_range(fig, y)
    if not tied or xr is None or yr is None or xr[1] <= xr[0] or yr[1] <= yr[0]:
        return width, height
    per_unit = min(width / (xr[1] - xr[0]), height / (yr[1] - yr[0]))
    return per_unit * (xr[1] - xr[0]), per_unit * (yr[1] - yr[0])


def set_ticks(fig: go.Figure, panels: list[tuple[str, str, float, float]], size: float) -> None:
    """Horizontal tick labels; as many ticks as fit each panel (x axis key, y axis key,
    width, height in pixels); decade ticks on log axes."""
    for x, y, width, height in panels:
        for key, length in zip((x, y), drawn_size(fig, x, y, width, height)):
            ax = fig.layout[key]
            ax.tickangle = 0
            if ax.tickvals is not None or ax.showticklabels is False:
                continue
            spacing = label_width(fig, key, size) + 0.6 * size if key[0] == "x" else 1.8 * size
            fit_n = max(1, int(length / spacing))
            span = data_range(fig, key)
            if ax.type == "log" and span is not None and span[1] - span[0] >= 2:
                if ax.range is None:            # whole decades: labelled ticks can sit at both ends
                    span = ax.range = (math.floor(span[0]), math.ceil(span[1]))
                step = log_label_step(*span, fit_n)
                ax.update(dtick=step, tick0=0, minor=dict(dtick=1, ticks="outside", ticklen=2, tickwidth=0.5,
                                                          showgrid=False) if step > 1 else None)
            elif ax.type != "log" and span is not None:
                ax.nticks = linear_nticks(*span, length, size, key[0] == "x")
