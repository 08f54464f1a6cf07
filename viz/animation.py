"""The play / step animation of iterates on a contour figure (viz.contour.contour_figure).

Each run gets a bright trail, the path w_0 .. w_t drawn up to the frame's step t, and a
marker on its current point w_t; a readout under the plot lists each run's loss L(w_t)
and Hamiltonian H_t at that step (the trajectory's own arrays).  The figure's buttons
step one frame back (-1), play, pause and step one frame on (+1); its slider scrubs.

Frames (``frame_steps``): one per step up to ``speed`` = 25 steps per second; faster,
or past MAX_FRAMES, a frame every ``stride`` steps.  A frame that skips steps still
draws every iterate up to its step: the trail is never a subsample.  To keep the figure
small, a trail is two traces: the ``past`` w_0 .. w_s, s the step of the first frame of
the frame's chunk (set once per chunk, in a base frame that the chunk's frames name as
their ``baseframe``), and the ``recent`` w_s .. w_t, set in each frame; with chunks of
about sqrt(frames) frames the figure holds O(T sqrt(frames)) numbers, not O(T^2).

-1 / +1 are plotly.js ``animate`` calls on the frame list (backwards for -1) from the
current frame, whose next frame is HOLD_MS away: the animation shows one frame and
waits.  Until the first frame has been shown (play, slider or a step) plotly.js has no
current frame: then +1 stays at the last step, as the figure is drawn, and -1 goes to
step 0.  Loop: the play list holds the run over and over, for LOOP_MS.

Frames are drawn without a full redraw (fast): plotly.js replots the traces a frame
names, which must all be scatter traces.  Every frame names every trace (``_frames``),
and every trace on the axes is a scatter trace (the contour lines too: viz.contour).
"""
from __future__ import annotations

import base64
import math
from typing import Mapping, NamedTuple

import numpy as np
import plotly.graph_objects as go

from viz.contour import PathStyle, finite_path, path_style
from viz.theme import font_px, ink, line_width

SPEEDS = (5, 10, 25, 50, 100, 250, 500)   # steps per second offered
FRAME_MS = 40                  # the shortest time between two frames (25 frames per second)
MAX_FRAMES = 1001              # frames at most: a longer run's frames skip steps
LOOP_MS = 600_000              # loop: the play list repeats the run for ten minutes
HOLD_MS = 2 ** 31 - 1          # -1 / +1: the wait after the frame stepped to
READOUT = "L and H at step t"  # name of the readout's value trace
BUTTONS = ("◀ −1", "▶", "❚❚", "+1 ▶")  # step back, play, pause, step on: short, to fit 250 px
AXIS_PX = 50                   # under the contour: its tick labels and axis title (presentation: 1.4 x)
STILL_MARGIN = 50              # the bottom margin of the figure without its animation (viz.theme.style)
CONTROLS_PX = 110              # under the readout: the buttons' row and the slider's row


class Readout(NamedTuple):
    """A run's values at every step, listed under the plot at the frame's step."""

    loss: np.ndarray
    hamiltonian: np.ndarray


def frame_stride(steps: int, speed: float) -> int:
    """Steps per frame for a run of ``steps`` steps played at ``speed`` steps per second:
    the fewest that keep frames FRAME_MS apart and at most MAX_FRAMES of them."""
    return max(1, math.ceil(speed * FRAME_MS / 1000 - 1e-9), math.ceil(steps / (MAX_FRAMES - 1)))


def frame_steps(steps: int, speed: float) -> tuple[np.ndarray, float]:
    """(the steps the frames show, the milliseconds between frames): every
    frame_stride-th step and the last one, frames stride / speed seconds apart."""
    stride = frame_stride(steps, speed)
    return np.unique(np.r_[np.arange(0, steps + 1, stride), steps]), 1000.0 * stride / speed


def chunk_of(ts: np.ndarray) -> int:
    """Frames per chunk of trails: about sqrt(frames), which makes the figure smallest."""
    return max(1, math.ceil(math.sqrt(len(ts))))


def _number(x: float) -> str:
    return f"{x:.4g}" if np.isfinite(x) else "—"


def _values(readouts: Mapping[str, Readout], t: int) -> list[str]:
    """The readout's cells but the runs' labels at step t: the step and the column
    heads, then L and H of each run."""
    cells = [f"t = {t}", "L(wₜ)", "Hₜ"]
    for r in readouts.values():
        k = min(t, len(r.loss) - 1)
        cells += [_number(float(r.loss[k])), _number(float(r.hamiltonian[k]))]
    return cells


def _array(a: np.ndarray) -> dict:
    """``a`` as a plotly.js typed array (float64, base64), the form plotly.py sends arrays in."""
    return {"dtype": "f8", "bdata": base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode()}


def _xy(w: np.ndarray) -> dict:
    return {"type": "scatter", "x": _array(w[:, 0]), "y": _array(w[:, 1])}


def _frames(ws: list[np.ndarray], readouts: Mapping[str, Readout], ts: np.ndarray, first: int,
            total: int) -> list[dict]:
    """Base frames (the past trails of each chunk) and one frame per step of ``ts`` (the
    recent trails, the current points and the readout); the runs' traces start at
    index ``first``: past and recent trail per run, the current points, the readout's
    labels and its values; ``total`` traces in all.  The base frames name every other
    trace too, with no change: plotly.js recomputes every trace at each frame but draws
    only the frame's traces, and a trace not drawn is left half-built (a click that
    selects a point then fails on it), so each frame draws them all."""
    n, size = len(ws), chunk_of(ts)
    past, steps = [first + 2 * j for j in range(n)], [first + 2 * j + 1 for j in range(n)] + [first + 2 * n]
    rest = [i for i in range(total) if i not in past + steps + [first + 2 * n + 2]]
    at = lambda w, t: min(int(t), len(w) - 1)
    frames = [{"name": f"chunk {c // size}", "traces": past + rest,
               "data": [_xy(w[:at(w, ts[c]) + 1]) for w in ws] + [{} for _ in rest]}
              for c in range(0, len(ts), size)]
    for i, t in enumerate(ts):
        s = ts[i - i % size]
        data = [_xy(w[at(w, s):at(w, t) + 1]) for w in ws] + [_xy(np.array([w[at(w, t)] for w in ws]))]
        data.append({"type": "scatter", "text": _values(readouts, int(t))})
        frames.append({"name": str(t), "baseframe": f"chunk {i // size}", "traces": steps + [first + 2 * n + 2],
                       "data": data})
    return frames


def set_frames(fig: go.Figure, frames: list[dict]) -> None:
    """Give ``fig`` these frames (plain dicts) as they are.  Plotly.py would validate every
    trace of every frame (seconds for a thousand frames, at each run of the app); these
    hold only the arrays and text of traces that were validated when added to ``fig``."""
    objs = []
    for props in frames:
        frame = go.Frame(_validate=False)
        frame._orphan_props.update(props)
        objs.append(frame)
    fig._frame_objs = tuple(objs)


def _add_traces(fig: go.Figure, runs: list[tuple[str, np.ndarray, PathStyle]], readouts: Mapping[str, Readout],
                ts: np.ndarray, presentation: bool) -> None:
    """Per run the past and recent trail, then every run's current point, as the last
    frame shows them; then the readout: its fixed cells, and the values (as ``_frames``)."""
    width = line_width(presentation) * 1.5
    t, s = int(ts[-1]), int(ts[(len(ts) - 1) // chunk_of(ts) * chunk_of(ts)])
    for label, w, ps in runs:
        line = dict(color=ps.colour, width=width, dash=ps.dash)
        common = dict(showlegend=False, legendgroup=label, hoverinfo="skip")
        fig.add_trace(go.Scatter(x=w[:s + 1, 0], y=w[:s + 1, 1], mode="lines", name=f"{label} trail", line=line,
                                 **common))
        fig.add_trace(go.Scatter(x=w[s:t + 1, 0], y=w[s:t + 1, 1], mode="lines", name=f"{label} trail (recent)",
                                 line=line, **common))
    now = np.array([w[min(t, len(w) - 1)] for _, w, _ in runs])
    fig.add_trace(go.Scatter(x=now[:, 0], y=now[:, 1], mode="markers", name="wₜ", showlegend=False, hoverinfo="skip",
                             marker=dict(color=[ps.colour for _, _, ps in runs], size=14 if presentation else 11,
                                         line=dict(color="#000000", width=1.5))))
    rows = np.arange(1, len(runs) + 1)
    cols = np.array([0.0, 0.3, 0.62])
    cell = dict(mode="text", xaxis="x2", yaxis="y2", textposition="middle right", hoverinfo="skip",
                showlegend=False, cliponaxis=False)
    fig.add_trace(go.Scatter(x=np.zeros(len(runs)), y=rows, name="readout labels", text=[r[0] for r in runs],
                             textfont=dict(color=[ps.colour for _, _, ps in runs]), **cell))
    fig.add_trace(go.Scatter(x=np.r_[cols, np.tile(cols[1:], len(runs))], y=np.r_[0, 0, 0, np.repeat(rows, 2)],
                             name=READOUT, text=_values(readouts, t), **cell))


def _controls(ts: np.ndarray, duration: float, loop: bool, plot_px: float, counter_font: dict) -> dict:
    """Layout of the buttons (-1, play, pause, +1) in a row under the plot and the step
    slider in a row of its own under them (its step labels hidden: transparent; the
    counter "step t = ..." in ``counter_font``); ``plot_px``: the plot area's height."""
    names = [str(t) for t in ts]
    once = max(1, len(names)) * duration
    play = names * (max(1, int(LOOP_MS // once)) if loop else 1)
    still = dict(mode="immediate", transition=dict(duration=0))
    hold = dict(still, fromcurrent=True, frame=dict(duration=HOLD_MS, redraw=False))
    args = [[[names[0]] + names[::-1], hold],
            [play, dict(still, fromcurrent=True, frame=dict(duration=duration, redraw=False))],
            [[None], dict(still, frame=dict(duration=0, redraw=False))],
            [[names[-1]] + names, hold]]
    buttons = [dict(label=label, method="animate", args=a) for label, a in zip(BUTTONS, args)]
    jump = dict(still, frame=dict(duration=0, redraw=False))
    return dict(
        updatemenus=[dict(type="buttons", direction="left", x=0, xanchor="left", y=-8 / plot_px, yanchor="top",
                          showactive=False, pad=dict(t=0, r=6), buttons=buttons)],
        sliders=[dict(active=len(names) - 1, x=0, len=1, y=-44 / plot_px, yanchor="top", pad=dict(t=0, b=0),
                      ticklen=0, minorticklen=0, font=dict(color="rgba(0,0,0,0)", size=1),
                      currentvalue=dict(prefix="step t = ", suffix=f" of {names[-1]}", xanchor="right",
                                        font=counter_font),
                      steps=[dict(label=n, method="animate", args=[[n], jump]) for n in names])])


def axis_px(presentation: bool = False) -> int:
    """Room under the contour for its tick labels and axis title (larger text: more)."""
    return round(AXIS_PX * (1.4 if presentation else 1))


def playback_px(runs: int, presentation: bool = False) -> int:
    """Pixels that add_playback adds to a figure's height for ``runs`` runs: the readout
    (a row per run and a header), the contour's axis room and the controls, less the
    still figure's bottom margin."""
    return (26 if presentation else 20) * (runs + 1) + axis_px(presentation) + CONTROLS_PX - STILL_MARGIN


def add_playback(fig: go.Figure, paths: Mapping[str, np.ndarray], readouts: Mapping[str, Readout],
                 styles: Mapping[str, PathStyle] | None = None, speed: float = 25, loop: bool = False,
                 presentation: bool = False, dark: bool = False) -> None:
    """Animate ``paths`` (label -> (T+1, 2) iterates, drawn on ``fig`` by contour_figure)
    at ``speed`` steps per second, with the readout of ``readouts`` (label -> Readout,
    the same labels) under the plot; ``loop``: play repeats the run; ``dark``: the page's
    theme (the step counter's colour, viz.theme.ink)."""
    runs = [(label, finite_path(w), path_style(styles, label, i)) for i, (label, w) in enumerate(paths.items())]
    ts, duration = frame_steps(max(len(w) for _, w, _ in runs) - 1, speed)
    first = len(fig.data)
    _add_traces(fig, runs, readouts, ts, presentation)
    set_frames(fig, _frames([w for _, w, _ in runs], readouts, ts, first, len(fig.data)))
    readout_px = (26 if presentation else 20) * (len(runs) + 1)
    height = fig.layout.height + playback_px(len(runs), presentation)
    plot_px = height - fig.layout.margin.t - CONTROLS_PX
    fig.update_layout(
        height=height, margin_b=CONTROLS_PX, yaxis_domain=[(readout_px + axis_px(presentation)) / plot_px, 1],
        xaxis2=dict(domain=[0, 1], range=[0, 1], visible=False, fixedrange=True),
        yaxis2=dict(domain=[0, readout_px / plot_px], range=[len(runs) + 0.5, -0.5], visible=False,
                    fixedrange=True))
    # The controls hold a list entry per frame: plotly.py would validate each (seconds);
    # they are built here in the form it would give them (checked in tests).
    fig.layout._validate = False
    try:
        fig.update_layout(**_controls(ts, duration, loop, plot_px, dict(size=font_px(presentation), color=ink(dark))))
    finally:
        fig.layout._validate = True


def still(spec: dict) -> dict:
    """Figure JSON ``spec`` (Figure.to_plotly_json) without its animation, in place: no
    frames, buttons, slider, trails, current points or readout (nor its axes), each
    animated run's faint path opaque again, the controls' and readout's room given back
    to the plot.  A figure without frames is returned as it is."""
    frames = spec.pop("frames", None) or []
    if not frames:
        return spec
    moving = {i for frame in frames for i, d in zip(frame.get("traces", []), frame.get("data", []))
              if set(d) - {"type"}}                   # a trace a frame changes (each frame names them all)
    groups = {spec["data"][i].get("legendgroup") for i in moving} - {None}
    data = []
    for i, t in enumerate(spec["data"]):
        if i in moving or t.get("xaxis") == "x2":
            continue
        if t.get("legendgroup") in groups:
            t["opacity"] = 1.0                   # the full path, faint only beside its trail
        data.append(t)
    spec["data"] = data
    layout = spec.setdefault("layout", {})
    for key in ("sliders", "updatemenus", "xaxis2", "yaxis2"):
        layout.pop(key, None)
    margin = layout.setdefault("margin", {})
    below = layout.get("yaxis", {}).pop("domain", [0, 1])[0] * (layout["height"] - margin["t"] - margin["b"])
    layout["height"] = round(layout["height"] - below - margin["b"] + STILL_MARGIN)   # add_playback's inverse
    margin["b"] = STILL_MARGIN
    return spec
