"""The Trajectories view's movie download: the current runs as a GIF or MP4 for slides,
the same movie as ``python -m dynamics animate`` (viz.movie: the contour with each path
drawn through every iterate up to step t, the current points, and L - L* up to t).
It is rendered when the button is clicked (Streamlit's deferred download): a few
seconds per hundred frames."""
from __future__ import annotations

import functools
from typing import Mapping

import numpy as np
import streamlit as st

from figures.movie import formula
from ui.downloads import MIME, export_problem
from ui.session import Context
from viz.contour import path_window
from viz.movie import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE, SIZES, MovieRun, Scene, last_step
from viz.movie_file import FORMATS, movie_bytes
from viz.theme import label

MAX_FRAMES = 600
KEY = "_movie"


def scene(ctx: Context, trajs: Mapping[str, Mapping[str, np.ndarray]], minima: np.ndarray | None,
          l_star: float | None) -> Scene:
    """The Scene of the view's runs (``trajs``: label -> roll-out fields) in their app
    colours: the loss panel shows L - L* (L where there is no minimiser), the window is
    the contour's (viz.contour.path_window)."""
    shift = 0.0 if l_star is None else l_star
    runs = [MovieRun(spec.label, ctx.styles[spec.label].colour, np.asarray(trajs[spec.label]["w"]),
                     np.asarray(trajs[spec.label]["loss"]) - shift) for spec in ctx.runs]
    window = path_window(ctx.toy.domain, {r.label: r.w for r in runs})
    loss_label = label("loss", latex=False) + ("" if l_star is None else " − L*")
    return Scene(ctx.toy, ctx.params, runs, minima, window, loss_label, formula(ctx.toy, ctx.params))


def movie_download(ctx: Context, trajs: Mapping[str, Mapping[str, np.ndarray]], minima: np.ndarray | None,
                   l_star: float | None) -> None:
    """The expander with the movie's format, frames, speed and size and its download button."""
    movie = scene(ctx, trajs, minima, l_star)
    top = min(MAX_FRAMES, last_step(movie) + 1)
    with st.expander("Movie for slides: GIF · MP4"):
        c = st.columns([1, 1, 1, 1])
        fmt = c[0].selectbox("format", FORMATS, key=f"{KEY}_fmt", format_func=str.upper)
        frames = c[1].number_input("frames", 2, top, min(DEFAULT_FRAMES, top), key=f"{KEY}_frames",
                                   help="evenly spaced steps from 0 to T; each frame draws the path through every "
                                        "iterate up to its step")
        fps = c[2].number_input("frames a second", 1, 60, DEFAULT_FPS, key=f"{KEY}_fps")
        size = c[3].selectbox("size", list(SIZES), index=list(SIZES).index(DEFAULT_SIZE), key=f"{KEY}_size",
                              format_func=lambda s: f"{s} ({SIZES[s][0]}×{SIZES[s][1]})")
        problem = export_problem()
        st.download_button(f"Movie ({fmt.upper()})", key=f"{KEY}_button", type="primary",
                           data=functools.partial(movie_bytes, movie, fmt, int(frames), float(fps), SIZES[size]),
                           file_name=f"trajectories.{fmt}", mime=MIME[fmt], on_click="ignore",
                           disabled=problem is not None,
                           help=problem or "rendered when you click: a few seconds per hundred frames")
        st.caption("The path is drawn through every iterate up to the frame's step, with the current points and the "
                   "loss curve up to that step, in the paper style. The same movie from the command line: "
                   "python -m dynamics animate.")
