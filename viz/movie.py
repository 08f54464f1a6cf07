"""Movies of trajectories for slides: frame k shows the contour of L with every run's
path drawn through the true iterates w_0 .. w_t (every step up to t = t_k), the current
point of each run, and beside it the loss curve up to t, in the publication theme
(viz.theme.apply_theme) with a legend.  viz.movie_file encodes the frames as GIF or MP4.

Design (fast enough for hundreds of frames on two cores).  The static background (the
contour lines, the minima, the start, every full path and loss curve drawn faint, the
axes, the legend) is rendered once by Plotly (viz.export, Kaleido) at ``SUPERSAMPLE``
times the movie's size, with zero margins and explicit axis domains and ranges, so the
map from data to pixels is known exactly (``Geometry.pixels``).  Each frame's trails,
current points and step counter are drawn on it with Pillow and the frame is reduced
by ``SUPERSAMPLE`` (anti-aliasing).  Trails only grow: each frame adds the segments
since the previous frame's step to a canvas per panel (cut to the panel: the canvas is
the panel's rectangle), so a frame costs the same at step 10 as at step 1000.

Pixel coordinates follow SVG: the pixel in column i covers [i, i + 1), so a point at
coordinate x lies in column floor(x).  Plotly places an axis of domain (d0, d1) on a
figure of width W with zero margins at [d0 W, d1 W]; the domains here are whole pixels.
"""
from __future__ import annotations

import functools
import io
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from toys.base import Toy
from toys.grid import toy_grid
from viz.contour import contour_base
from viz.export import export_bytes
from viz.layout import LETTER
from viz.theme import BLACK, PX_PER_PT, apply_theme, label

SUPERSAMPLE = 2
SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
DEFAULT_SIZE, DEFAULT_FRAMES, DEFAULT_FPS = "720p", 120, 24
MIN_SIZE, MAX_SIZE = (320, 180), (3840, 2160)
FAINT = 0.25                 # opacity of the full paths and curves in the background
FONT_PT_720 = 14.0           # text size at 720 px high (scaled with the height)
LINE_PX_720, DOT_PX_720 = 2.5, 7.0     # trail width and current-point radius at 720 px high
CONTOUR_N = 160
DIVERGED_CAP = 1e3           # a log loss axis ends at this times the largest L(w_0)
SERIF_FILE = "DejaVuSerif.ttf"         # Pillow's file of the first family of viz.theme.FONTS["serif"]


class MovieRun(NamedTuple):
    """One run of a movie: legend label, colour "#RRGGBB", iterates w (T+1, 2) and the
    loss curve (T+1,) that the right panel draws."""

    label: str
    colour: str
    w: np.ndarray
    loss: np.ndarray


class Scene(NamedTuple):
    """What a movie shows: the toy and its parameters (contour lines), the runs, the
    minimisers (k, 2) or None, the plotting window ((x0, x1), (y0, y1)), the loss panel's
    y title and a title line."""

    toy: Toy
    params: dict
    runs: list[MovieRun]
    minima: np.ndarray | None
    window: tuple[tuple[float, float], tuple[float, float]]
    loss_label: str = label("loss", latex=False)
    title: str = ""


class Box(NamedTuple):
    """A panel's rectangle in movie pixels and its axis ranges (y in log10 when ``log``)."""

    left: int
    top: int
    width: int
    height: int
    x: tuple[float, float]
    y: tuple[float, float]
    log: bool = False


class Geometry(NamedTuple):
    """The movie's size, its contour panel and its loss panel, and the text size in px."""

    size: tuple[int, int]
    contour: Box
    loss: Box
    font_px: float

    @staticmethod
    def pixels(box: Box, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Movie-pixel coordinates (SVG convention) of data points (x, y) in ``box``;
        non-finite where the point is (or, on a log axis, y <= 0)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):      # diverged runs: inf, NaN
            if box.log:
                y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
            px = box.left + (x - box.x[0]) / (box.x[1] - box.x[0]) * box.width
            py = box.top + (box.y[1] - y) / (box.y[1] - box.y[0]) * box.height
        return px, py


def parse_size(text: str) -> tuple[int, int]:
    """"480p", "720p", "1080p" or "WxH" as (width, height): even numbers (H.264 with
    yuv420p needs them) within MIN_SIZE..MAX_SIZE; ValueError otherwise."""
    if text in SIZES:
        return SIZES[text]
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected {', '.join(SIZES)} or WIDTHxHEIGHT such as 1280x720; got {text!r}")
    w, h = int(parts[0]), int(parts[1])
    if w % 2 or h % 2 or not (MIN_SIZE[0] <= w <= MAX_SIZE[0] and MIN_SIZE[1] <= h <= MAX_SIZE[1]):
        raise ValueError(f"width and height must be even, {MIN_SIZE[0]}x{MIN_SIZE[1]} to "
                         f"{MAX_SIZE[0]}x{MAX_SIZE[1]}; got {text!r}")
    return w, h


def frame_steps(frames: int, steps: int) -> np.ndarray:
    """The step t_k shown by each of ``frames`` frames: 0 first, ``steps`` last, evenly
    spaced and rounded (distinct while frames <= steps + 1)."""
    return np.rint(np.linspace(0, steps, frames)).astype(int)


def _span(values: np.ndarray, log: bool, start: np.ndarray) -> tuple[float, float]:
    """The loss axis range (log10 units on a log axis) holding every finite value, with
    5% to spare on each side; a log axis stops at DIVERGED_CAP times the largest loss at
    step 0 (``start``), so that a diverging run does not flatten the others."""
    v = values[np.isfinite(values) & ((values > 0) if log else True)]
    top = start[np.isfinite(start) & (start > 0)]
    if log and top.size:
        v = np.minimum(v, DIVERGED_CAP * top.max())
    if not v.size:
        return (-1.0, 1.0) if log else (0.0, 1.0)
    lo, hi = (np.log10(v.min()), np.log10(v.max())) if log else (v.min(), v.max())
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return float(lo - pad), float(hi + pad)


def loss_is_log(runs: list[MovieRun]) -> bool:
    """A log loss axis when some loss is > 0 and none is < 0 (zeros become gaps)."""
    v = np.concatenate([r.loss[np.isfinite(r.loss)] for r in runs])
    return bool(v.size and (v > 0).any() and not (v < 0).any())


def geometry(scene: Scene, size: tuple[int, int]) -> Geometry:
    """The panels' rectangles (whole pixels) and ranges: a contour panel with equal
    scales on both axes (the window widened about its centre to the panel's shape) and
    a loss panel to its right over steps 0..T."""
    W, H = size
    top, bottom, left, gap, right = round(0.15 * H), round(0.13 * H), round(0.08 * W), round(0.1 * W), round(0.03 * W)
    ph = H - top - bottom
    (x0, x1), (y0, y1) = scene.window
    pw = min(round(ph * (x1 - x0) / (y1 - y0)), round(0.45 * W))
    cx, cy, half_x, half_y = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if half_x / half_y < pw / ph:
        half_x = half_y * pw / ph
    else:
        half_y = half_x * ph / pw
    contour = Box(left, top, pw, ph, (cx - half_x, cx + half_x), (cy - half_y, cy + half_y))
    steps = last_step(scene)
    log = loss_is_log(scene.runs)
    loss_left = left + pw + gap
    loss = Box(loss_left, top, W - right - loss_left, ph, (0.0, float(max(steps, 1))),
               _span(np.concatenate([r.loss for r in scene.runs]), log, np.array([r.loss[0] for r in scene.runs])),
               log)
    return Geometry((W, H), contour, loss, FONT_PT_720 * H / 720 * PX_PER_PT)


def _axis_place(fig: go.Figure, geo: Geometry, box: Box, n: str) -> None:
    """Axes ``n`` ("" or "2") on exactly ``box``: domains in whole pixels, fixed ranges."""
    W, H = geo.size
    fig.layout[f"xaxis{n}"].update(domain=(box.left / W, (box.left + box.width) / W), range=list(box.x),
                                   autorange=False)
    fig.layout[f"yaxis{n}"].update(domain=(1 - (box.top + box.height) / H, 1 - box.top / H), range=list(box.y),
                                   autorange=False)


def _background_traces(fig: go.Figure, scene: Scene, geo: Geometry) -> None:
    box, scale = geo.contour, geo.size[1] / 720
    grid = toy_grid(scene.toy, scene.params, CONTOUR_N, (box.x, box.y))
    for trace in contour_base(grid, scene.minima, (box.x, box.y)).data:
        trace.update(showlegend=False)
        if trace.type == "scatter":
            trace.update(marker=dict(size=16 * scale, color=BLACK, line=dict(color="white", width=1)))
        fig.add_trace(trace, row=1, col=1)
    for run in scene.runs:
        line = dict(color=run.colour, width=LINE_PX_720 * scale * 0.6)
        t = np.arange(len(run.loss))
        loss = np.where(run.loss > 0, run.loss, np.nan) if geo.loss.log else run.loss
        fig.add_trace(go.Scatter(x=run.w[:, 0], y=run.w[:, 1], mode="lines", line=line, opacity=FAINT,
                                 showlegend=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=t, y=loss, mode="lines", line=line, opacity=FAINT, showlegend=False,
                                 hoverinfo="skip"), row=1, col=2)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines+markers", name=run.label,
                                 line=dict(color=run.colour, width=LINE_PX_720 * scale),
                                 marker=dict(color=run.colour, size=2 * DOT_PX_720 * scale)), row=1, col=1)
    starts = {tuple(run.w[0]) for run in scene.runs}
    fig.add_trace(go.Scatter(x=[s[0] for s in starts], y=[s[1] for s in starts], mode="markers", showlegend=False,
                             marker=dict(symbol="circle-open", size=14 * scale, color=BLACK, line=dict(width=2))),
                  row=1, col=1)


def background_figure(scene: Scene, geo: Geometry) -> go.Figure:
    """The static part of every frame as a Plotly figure of exactly ``geo.size`` pixels,
    its panels on ``geo.contour`` and ``geo.loss``."""
    W, H = geo.size
    fig = make_subplots(rows=1, cols=2)
    _background_traces(fig, scene, geo)
    fig.update_xaxes(title_text=label("w1", latex=False), row=1, col=1)
    fig.update_yaxes(title_text=label("w2", latex=False), row=1, col=1)
    fig.update_xaxes(title_text=label("step", latex=False), row=1, col=2)
    fig.update_yaxes(title_text=scene.loss_label, type="log" if geo.loss.log else "linear",
                     exponentformat="power", row=1, col=2)
    _axis_place(fig, geo, geo.contour, "")
    _axis_place(fig, geo, geo.loss, "2")
    apply_theme(fig, width=W, height=H, font="serif", font_size=geo.font_px / PX_PER_PT)
    _axis_place(fig, geo, geo.contour, "")           # apply_theme's layout moved them; put them back
    _axis_place(fig, geo, geo.loss, "2")
    fig.update_xaxes(showgrid=False, row=1, col=1)
    fig.update_yaxes(showgrid=False, row=1, col=1)
    fig.layout.annotations = [a for a in fig.layout.annotations if a.name != LETTER]
    line = geo.font_px / H                          # a line of text, as a fraction of the height
    if scene.title:
        fig.add_annotation(text=scene.title, xref="paper", yref="paper", x=geo.contour.left / W, xanchor="left",
                           y=1 - 0.4 * line, yanchor="top", showarrow=False)
    fig.update_layout(width=W, height=H, margin=dict(l=0, r=0, t=0, b=0, autoexpand=False), showlegend=True,
                      legend=dict(orientation="h", x=geo.contour.left / W, xanchor="left",
                                  y=1 - (1.8 if scene.title else 0.4) * line, yanchor="top", bgcolor="rgba(0,0,0,0)",
                                  entrywidth=0, itemwidth=40))
    return fig


@functools.lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.FreeTypeFont:
    """The movie's serif font at ``px`` pixels (Pillow's own font where DejaVu is missing)."""
    try:
        return ImageFont.truetype(SERIF_FILE, px)
    except OSError:
        return ImageFont.load_default(px)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def _pillow(v):
    """Movie-pixel coordinates (SVG convention) as supersampled Pillow coordinates: Pillow
    puts pixel i's centre at the integer i and truncates fractions, so round to the
    nearest centre (at most 1/(2 SUPERSAMPLE) of a movie pixel off)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.rint(np.asarray(v, float) * SUPERSAMPLE - 0.5)


def _segments(px: np.ndarray, py: np.ndarray, offset: tuple[int, int]) -> list[list[tuple[float, float]]]:
    """Supersampled Pillow coordinates of the finite runs of points, relative to the
    canvas at ``offset`` (``_pillow``); far points are clamped (Pillow needs moderate
    numbers)."""
    ok = np.isfinite(px) & np.isfinite(py)
    x = np.clip(_pillow(px) - offset[0], -1e5, 1e5)
    y = np.clip(_pillow(py) - offset[1], -1e5, 1e5)
    out, current = [], []
    for i in range(len(x)):
        if ok[i]:
            current.append((float(x[i]), float(y[i])))
        elif current:
            out.append(current)
            current = []
    return [seg for seg in out + [current] if len(seg) > 1]


def background_image(scene: Scene, geo: Geometry) -> Image.Image:
    """``background_figure`` rendered (viz.export) at SUPERSAMPLE times the movie's size."""
    png = export_bytes(background_figure(scene, geo), "png", scale=SUPERSAMPLE)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    expected = (geo.size[0] * SUPERSAMPLE, geo.size[1] * SUPERSAMPLE)
    if image.size != expected:
        raise RuntimeError(f"the background rendered at {image.size}, not {expected}")
    return image


class _Canvas(NamedTuple):
    """A panel's rectangle cut from the supersampled background, on which trails grow."""

    box: Box
    image: Image.Image
    draw: ImageDraw.ImageDraw
    offset: tuple[int, int]


def _canvases(background: Image.Image, geo: Geometry) -> list[_Canvas]:
    s, out = SUPERSAMPLE, []
    for box in (geo.contour, geo.loss):
        rect = (box.left * s, box.top * s, (box.left + box.width) * s, (box.top + box.height) * s)
        image = background.crop(rect)
        out.append(_Canvas(box, image, ImageDraw.Draw(image), rect[:2]))
    return out


def _run_pixels(run: MovieRun, geo: Geometry) -> list[tuple[np.ndarray, np.ndarray]]:
    """The run's points in movie pixels: its iterates in the contour panel and (t, loss_t)
    in the loss panel."""
    return [geo.pixels(geo.contour, run.w[:, 0], run.w[:, 1]),
            geo.pixels(geo.loss, np.arange(len(run.loss)), run.loss)]


def _dot(draw: ImageDraw.ImageDraw, box: Box, px: float, py: float, colour: str, radius: float) -> None:
    """The current point: a disc of the run's colour ringed in black, where it lies in ``box``."""
    if not (box.left <= px <= box.left + box.width and box.top <= py <= box.top + box.height):
        return
    s = SUPERSAMPLE
    cx, cy, r = float(_pillow(px)), float(_pillow(py)), round(radius * s)
    draw.ellipse((cx - r - s, cy - r - s, cx + r + s, cy + r + s), fill=BLACK)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgb(colour))


def last_step(scene: Scene) -> int:
    """T: the last step of the scene's longest run."""
    return max(len(r.loss) for r in scene.runs) - 1


def frames(scene: Scene, geo: Geometry, steps: Sequence[int], background: Image.Image) -> Iterator[Image.Image]:
    """The movie's frames (RGB, ``geo.size``), one per step t_k of ``steps`` (increasing;
    ``frame_steps``): every run's trail through the iterates 0..t_k and its loss curve
    up to t_k, the current points and the step counter, drawn on ``background``
    (``background_image``, which is not changed)."""
    s, scale = SUPERSAMPLE, geo.size[1] / 720
    width = max(1, round(LINE_PX_720 * scale * s))
    canvases = _canvases(background, geo)
    pixels = [_run_pixels(run, geo) for run in scene.runs]
    font = _font(round(geo.font_px * s))
    prev, total = 0, last_step(scene)
    for t in steps:
        for run, per_panel in zip(scene.runs, pixels):
            for canvas, (px, py) in zip(canvases, per_panel):
                for seg in _segments(px[prev:t + 1], py[prev:t + 1], canvas.offset):
                    canvas.draw.line(seg, fill=_rgb(run.colour), width=width, joint="curve")
        prev = t
        frame = background.copy()
        for canvas in canvases:
            frame.paste(canvas.image, canvas.offset)
        draw = ImageDraw.Draw(frame)
        for run, per_panel in zip(scene.runs, pixels):
            for canvas, (px, py) in zip(canvases, per_panel):
                i = min(t, len(px) - 1)
                _dot(draw, canvas.box, px[i], py[i], run.colour, DOT_PX_720 * scale)
        right = (geo.loss.left + geo.loss.width) * s
        draw.text((right, (geo.loss.top - 0.4 * geo.font_px) * s), f"step t = {t} of {total}", fill=BLACK, font=font,
                  anchor="rd")
        yield frame.reduce(s)
