"""Publication layout designed for the figure's width (called by viz.theme.apply_theme
once the fonts and the size are set): every figure of the paper presets and every
figure the app downloads gets the same machinery, whatever its panels.

Plotly places panels by fractions of the figure and tick labels by its own rules, so a
layout drawn for a 7 in page and scaled to 3.5 in puts texts on top of each other.
Here the room every text needs is estimated in pixels from the font size and each
character's advance (viz.ticks.text_width) and the panels are placed around it:

- the legend: in a cell of the grid that has no panel when it fits there, else in
  horizontal rows at the top, as many as its entries need at this width;
- a single row of three or more panels too narrow for the width becomes two a row;
- panel titles: wrapped to their panel's width, in a band above the panel (never on
  its frame); panel letters (a), (b), ... at each panel's top-left corner when there
  are several panels;
- each column of panels: room on its left for its y tick labels, its y title and its
  letter; on its right for its colour bar (vertical, beside the panel it belongs to);
  between columns at least the x tick labels that meet at the shared edge;
- each row: room above for its titles, below for its x tick labels and x title; when
  what is left for the panels would make one shorter than ``MIN_PANEL`` font sizes, the
  figure grows taller rather than squash it;
- ticks: horizontal labels; on linear axes at most as many ticks as fit the panel
  (``nticks``); on log axes ticks every decade, labels every 1st, 2nd, 3rd, 5th or 10th
  decade as the panel's length and the axis' range in decades allow.
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go

from viz.ticks import LINE, coordinates, label_width, set_ticks, text_lines, text_width, wrap

LETTER = "panel letter"  # the name of the letter annotations (so a second call does not add more)


class Panel(NamedTuple):
    x: str          # layout key of its x axis ("xaxis2")
    y: str
    col: int
    row: int        # 0: the top row


def _axis_key(ref: str | None, letter: str) -> str:
    """"x2" -> "xaxis2"; None -> "xaxis"."""
    n = (ref or letter)[1:]
    return f"{letter}axis{n}"


def panels(fig: go.Figure) -> tuple[list[Panel], list[tuple[float, float]], list[tuple[float, float]]]:
    """The panels (one per x axis and its anchor), the distinct x domains (columns, left
    to right) and y domains (rows, top to bottom)."""
    keys = sorted((k for k in fig.layout if re.fullmatch(r"xaxis\d*", k)), key=lambda k: int(k[5:] or 1))
    pairs = [(k, _axis_key(fig.layout[k].anchor if fig.layout[k].anchor not in (None, "free") else None, "y"))
             for k in keys] or [("xaxis", "yaxis")]
    dom = lambda key: tuple(fig.layout[key].domain or (0.0, 1.0))
    cols = sorted({dom(x) for x, _ in pairs})
    rows = sorted({dom(y) for _, y in pairs}, reverse=True)
    return [Panel(x, y, cols.index(dom(x)), rows.index(dom(y))) for x, y in pairs], cols, rows


def legend_entries(fig: go.Figure) -> list[str]:
    """The names the legend shows (Plotly's defaults: lines and markers show, heatmaps
    and contours do not; no legend for a single entry unless asked for)."""
    if fig.layout.showlegend is False:
        return []
    names = [t.name for t in fig.data if t.name and t.visible is not False
             and (t.showlegend if t.showlegend is not None else t.type in ("scatter", "scattergl", "bar"))]
    return names if len(names) > 1 or fig.layout.showlegend else []


def legend_rows(names: list[str], width: float, size: float) -> int:
    """Rows of a horizontal legend ``width`` pixels wide.  Each entry takes a 40 px
    symbol, its text and a 5 px gap (plotly.js's legend constants); Plotly puts them
    in one row if they fit, else in columns as wide as the widest entry.  Text widths
    are over-estimated (viz.ticks.text_width), so Plotly never needs more rows."""
    if not names:
        return 0
    entries = [45 + text_width(name, size) for name in names]
    if sum(entries) <= width:
        return 1
    per_row = max(1, int(width // max(entries)))
    return -(-len(names) // per_row)


class Bar(NamedTuple):
    """A colour bar: the object holding it (a trace or a layout coloraxis), the panel
    it stands beside (the rightmost panel it colours) and its value range."""

    owner: object
    panel: Panel
    lo: float
    hi: float


def _scale_key(t) -> tuple:
    return (t.type, t.zmin, t.zmax, str(t.colorscale))


def colour_bars(fig: go.Figure, ps: list[Panel]) -> list[Bar]:
    """The figure's colour bars: layout coloraxes shown, and heatmaps / contours showing
    their own scale; each beside the rightmost panel drawn on the same scale."""
    at = {(p.x[0] + p.x[5:], p.y[0] + p.y[5:]): p for p in ps}
    where = lambda t: at.get((t.xaxis or "x", t.yaxis or "y"), ps[0])
    scaled = [t for t in fig.data if t.type in ("heatmap", "contour")]
    bars = []
    for name in {t.coloraxis for t in scaled if t.coloraxis}:
        axis = fig.layout[name]
        if axis.showscale is not False:
            users = [where(t) for t in scaled if t.coloraxis == name]
            bars.append(Bar(axis, max(users, key=lambda p: (p.col, -p.row)), axis.cmin or 0.0, axis.cmax or 1.0))
    for t in scaled:
        if t.coloraxis or t.showscale is False:
            continue
        users = [where(u) for u in scaled if not u.coloraxis and _scale_key(u) == _scale_key(t)]
        z = coordinates(t.z)
        z = z[np.isfinite(z)] if np.isfinite(z).any() else np.zeros(1)
        bars.append(Bar(t, max(users, key=lambda p: (p.col, -p.row)), t.zmin if t.zmin is not None else z.min(),
                        t.zmax if t.zmax is not None else z.max()))
    return bars


def _bar_width(bar: Bar, size: float) -> float:
    """Room for a vertical colour bar: a gap, the bar, its ticks and labels, its title
    (along its right side) and a gap."""
    cb = bar.owner.colorbar
    labels = [f"{v:g}" for v in (cb.tickvals or (bar.lo, bar.hi, (bar.lo + bar.hi) / 2))]
    ticks = max(text_width(s, size) for s in labels) + 6
    title = LINE * size if cb.title.text else 0.0
    return 0.4 * size + 0.8 * size + ticks + title + 0.4 * size


def titles(fig: go.Figure, ps: list[Panel]) -> list[tuple]:
    """Panel titles (make_subplots' annotations: centred over a panel, bottom on its top
    edge): (annotation, its panel, its text as given)."""
    out = []
    for a in fig.layout.annotations:
        if a.name == LETTER or a.xref != "paper" or a.yref != "paper" or a.yanchor != "bottom":
            continue
        for p in ps:
            x0, x1 = fig.layout[p.x].domain or (0, 1)
            if abs(a.x - (x0 + x1) / 2) < 1e-6 and abs(a.y - (fig.layout[p.y].domain or (0, 1))[1]) < 1e-6:
                out.append((a, p, a.text))
                break
    return out


class Box(NamedTuple):
    """Pixels each column needs left and right of its panels."""

    left: list[float]          # y tick labels, y title, the panel letter
    right: list[float]         # a colour bar
    over: list[float]          # half the widest x tick label: it overhangs the panel's edges


def _horizontal_needs(fig: go.Figure, ps: list[Panel], n_cols: int, bars: list[Bar], size: float) -> Box:
    """The room each column's labels, letters and colour bars need (estimated)."""
    line, pad = LINE * size, 0.4 * size
    letter = text_width("(m)", size) + pad if len(ps) > 1 else 0.0
    box = Box([0.0] * n_cols, [0.0] * n_cols, [0.0] * n_cols)
    for p in ps:
        ya = fig.layout[p.y]
        labels = label_width(fig, p.y, size)
        need = (labels + 3 + pad if labels else 0.0) + (text_lines(ya.title.text) * line + pad if ya.title.text else 0.0)
        box.left[p.col] = max(box.left[p.col], need, letter)
        box.over[p.col] = max(box.over[p.col], label_width(fig, p.x, size) / 2)
    for bar in bars:
        box.right[bar.panel.col] = max(box.right[bar.panel.col], _bar_width(bar, size))
    return box


def _vertical_needs(fig: go.Figure, ps: list[Panel], n_rows: int, heads: list, size: float) -> tuple[list, list]:
    """Pixels each row needs above its panels (title lines, letters) and below (x tick
    labels, x title)."""
    line, pad = LINE * size, 0.4 * size
    top, bottom = [0.0] * n_rows, [0.0] * n_rows
    lines = [1 if len(ps) > 1 else 0] * n_rows
    for a, p, _ in heads:
        lines[p.row] = max(lines[p.row], text_lines(a.text))
    for p in ps:
        xa = fig.layout[p.x]
        labels = line + 3 + pad if xa.showticklabels is not False else 0.0
        bottom[p.row] = max(bottom[p.row], labels + (line + pad if xa.title.text else 0.0) + pad)
        top[p.row] = lines[p.row] * line + (TITLE_LIFT * size + pad if lines[p.row] else 0.0)
    return top, bottom


TITLE_LIFT = 0.6         # titles and letters sit this many font sizes above the frame (clear of tick labels)


def _spans(sizes: list[float], gaps: list[float], total: float) -> list[tuple[float, float]]:
    """Consecutive [a, b] intervals of lengths ``sizes`` separated by ``gaps`` (pixels),
    in fractions of ``total``."""
    out, at = [], 0.0
    for k, s in enumerate(sizes):
        out.append((at / total, (at + s) / total))
        at += s + (gaps[k] if k < len(gaps) else 0.0)
    return [(max(0.0, a), min(1.0, b)) for a, b in out]


LEGEND_ROW = 1.7         # a horizontal legend's row height, in font sizes
MIN_WIDTH = 6.0          # the least width of a panel in a single row, in font sizes (else two a row)
MIN_PANEL = 5.0          # the least height of a main panel, in font sizes (room for three stacked tick labels)
LABEL_ROW = 1.3          # a thin row (a strip) needs this many font sizes per tick label it lists


def _share(weights: list[float], total: float) -> list[float]:
    return [w / sum(weights) * total for w in weights]


def _row_needs(fig: go.Figure, ps: list[Panel], weights: list[float], size: float) -> list[float]:
    """The least height of each row in pixels: MIN_PANEL font sizes for a main row; a thin
    row (under half the tallest row's share, e.g. a strip of ticks) needs room for the
    tick labels its y axes list (tickvals), at least two."""
    needs = []
    for r, w in enumerate(weights):
        if w >= max(weights) / 2:
            needs.append(MIN_PANEL * size)
            continue
        listed = [len(fig.layout[p.y].tickvals or ()) for p in ps if p.row == r]
        needs.append(LABEL_ROW * size * max([2, *listed]))
    return needs


class Geometry(NamedTuple):
    """Margins (pixels), panel domains (fractions of the plot area), panel sizes
    (pixels) and the legend's placement."""

    margin: dict
    xdom: list
    ydom: list
    widths: list
    heights: list
    legend: dict


TOP_LEGEND = dict(orientation="h", x=0.5, xanchor="center", xref="container", y=1, yanchor="top", yref="container")


def _free_cell(ps: list[Panel], n_cols: int, n_rows: int) -> tuple[int, int] | None:
    """The last (row, column) of the grid without a panel, if any."""
    used = {(p.row, p.col) for p in ps}
    return next(((r, c) for r in reversed(range(n_rows)) for c in reversed(range(n_cols)) if (r, c) not in used), None)


def _geometry(fig: go.Figure, ps: list[Panel], cols, rows, bars: list[Bar], heads: list, size: float,
              corner: bool = True) -> Geometry:
    """Columns placed around the room their labels and colour bars need, the titles
    wrapped to their columns, then rows placed around the legend, titles and x labels.
    The legend goes into a cell of the grid without a panel when it fits there
    (``corner``), else in rows above the panels."""
    pad = 0.4 * size
    box = _horizontal_needs(fig, ps, len(cols), bars, size)
    left, right = box.left[0], box.right[-1] + max(pad, box.over[-1])
    gaps = [box.right[c] + max(box.left[c + 1], box.over[c] + box.over[c + 1] + pad) for c in range(len(cols) - 1)]
    area_w = fig.layout.width - left - right
    widths = _share([b - a for a, b in cols], area_w - sum(gaps))
    xdom = _spans(widths, gaps, area_w)
    for a, p, text in heads:
        a.text = wrap(text, widths[p.col], size)
    top, bottom = _vertical_needs(fig, ps, len(rows), heads, size)
    names, cell = legend_entries(fig), _free_cell(ps, len(cols), len(rows)) if corner else None
    room = widths[cell[1]] + box.left[cell[1]] if cell else 0.0
    inside = bool(names) and cell is not None and max(45 + text_width(n, size) for n in names) <= room
    n_legend = 0 if inside else legend_rows(names, area_w, size)
    t = pad + (n_legend * LEGEND_ROW * size + pad if n_legend else 0.0) + top[0]
    row_gaps = [bottom[r] + top[r + 1] for r in range(len(rows) - 1)]
    weights = [b - a for a, b in rows]
    least = t + bottom[-1] + sum(row_gaps) + max(need * sum(weights) / w
                                                 for need, w in zip(_row_needs(fig, ps, weights, size), weights))
    if fig.layout.height < least:        # grow rather than squash the panels
        fig.layout.height = math.ceil(least)
    area_h = fig.layout.height - t - bottom[-1]
    heights = _share(weights, area_h - sum(row_gaps))
    ydom = [(max(0.0, 1 - b), min(1.0, 1 - a)) for a, b in _spans(heights, row_gaps, area_h)]
    if inside and len(names) * LEGEND_ROW * size > heights[cell[0]] + top[cell[0]]:
        return _geometry(fig, ps, cols, rows, bars, heads, size, corner=False)
    legend = dict(orientation="v", x=xdom[cell[1]][0] - box.left[cell[1]] / area_w, xanchor="left", xref="paper",
                  y=ydom[cell[0]][1] + top[cell[0]] / area_h, yanchor="top", yref="paper") if inside else TOP_LEGEND
    return Geometry(dict(l=left, r=right, t=t, b=bottom[-1], pad=0), xdom, ydom, widths, heights, legend)


def _wrap_y_titles(fig: go.Figure, ps: list[Panel], heights: list[float], size: float) -> bool:
    """Wrap each y title longer than its panel (centred on the panel, it then stays
    clear of the letter above the panel's corner); whether any changed."""
    changed = False
    for p in ps:
        title = fig.layout[p.y].title
        if title.text:
            text = wrap(title.text, heights[p.row], size)
            changed |= text != title.text
            title.text = text
    return changed


def fit(fig: go.Figure, size: float) -> go.Figure:
    """Lay ``fig`` (its width, height and font already set; ``size``: the font in px)
    out for its width, in place: panel domains, margins, legend, titles, letters,
    colour bars and ticks.  Returns ``fig``."""
    ps, cols, rows = panels(fig)
    bars, heads = colour_bars(fig, ps), titles(fig, ps)
    g = _geometry(fig, ps, cols, rows, bars, heads, size)
    if len(rows) == 1 and len(cols) > 2 and min(g.widths) < MIN_WIDTH * size:
        _two_per_row(fig, ps, heads)
        ps, cols, rows = panels(fig)
        bars, heads = colour_bars(fig, ps), [(a, p, text) for (a, _, text), (_, p, _) in zip(heads, titles(fig, ps))]
        g = _geometry(fig, ps, cols, rows, bars, heads, size)
    if _wrap_y_titles(fig, ps, g.heights, size):
        g = _geometry(fig, ps, cols, rows, bars, heads, size)
    for p in ps:
        fig.layout[p.x].domain, fig.layout[p.y].domain = g.xdom[p.col], g.ydom[p.row]
    for a, p, _ in heads:
        a.update(x=sum(g.xdom[p.col]) / 2, y=g.ydom[p.row][1], yshift=TITLE_LIFT * size)
    _letters(fig, ps, g.xdom, g.ydom, size)
    area = (fig.layout.width - g.margin["l"] - g.margin["r"], fig.layout.height - g.margin["t"] - g.margin["b"])
    for bar in bars:
        _place_bar(bar, g.xdom, g.ydom, *area, size)
    set_ticks(fig, [(p.x, p.y, g.widths[p.col], g.heights[p.row]) for p in ps], size)
    fig.update_layout(margin=g.margin, legend=dict(**g.legend, itemwidth=30, tracegroupgap=0, traceorder="normal"))
    return fig


def _two_per_row(fig: go.Figure, ps: list[Panel], heads: list) -> None:
    """A row of panels too narrow for the width rearranged two a row (reading order
    kept); a panel moved to the left column shows the first panel's y labels and title."""
    first = fig.layout[min(ps, key=lambda p: p.col).y]
    n_rows = -(-len(ps) // 2)
    for k, p in enumerate(sorted(ps, key=lambda p: p.col)):
        col, row = k % 2, k // 2
        fig.layout[p.x].domain = (col / 2, (col + 1) / 2)
        fig.layout[p.y].domain = (1 - (row + 1) / n_rows, 1 - row / n_rows)
        if col == 0 and fig.layout[p.y].matches:      # a shared y axis: labelled on the left
            fig.layout[p.y].update(showticklabels=first.showticklabels, title_text=first.title.text)
    for a, p, _ in heads:
        a.update(x=sum(fig.layout[p.x].domain) / 2, y=fig.layout[p.y].domain[1])


def _letters(fig: go.Figure, ps: list[Panel], xdom, ydom, size: float) -> None:
    """(a), (b), ... left of each panel's top-left corner, on its title's line; none
    for a single panel."""
    fig.layout.annotations = [a for a in fig.layout.annotations if a.name != LETTER]
    if len(ps) < 2:
        return
    for k, p in enumerate(sorted(ps, key=lambda p: (p.row, p.col))):
        fig.add_annotation(text=f"({chr(ord('a') + k)})", name=LETTER, x=xdom[p.col][0], y=ydom[p.row][1],
                           xref="paper", yref="paper", xanchor="right", yanchor="bottom", yshift=TITLE_LIFT * size,
                           showarrow=False, font=dict(size=size))


def _place_bar(bar: Bar, xdom, ydom, area_w: float, area_h: float, size: float) -> None:
    """A vertical colour bar in the room reserved right of its panel, as tall as the
    panel's row, its title along its right side."""
    y0, y1 = ydom[bar.panel.row]
    length = y1 - y0
    bar.owner.colorbar.update(
        orientation="v", x=xdom[bar.panel.col][1] + 0.4 * size / area_w, xref="paper", xanchor="left",
        y=y0, yref="paper", yanchor="bottom", len=length, lenmode="fraction", thickness=0.8 * size,
        thicknessmode="pixels", xpad=0, ypad=0, ticks="outside", ticklen=3, tickangle=0, outlinewidth=0,
        nticks=int(np.clip(length * area_h / (2.2 * size), 2, 6)), title=dict(side="right"),
        tickfont=dict(size=size))
