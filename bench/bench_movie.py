"""Benchmark of the movie for slides (viz.movie, viz.movie_file; issue 13): the
fig2-paper preset, 200 frames at 720p, to MP4 (and GIF), timed in phases, against the
naive design of one Kaleido export of the whole Plotly figure per frame (timed on a few
frames, extrapolated: ``*``).  Figures in BENCHMARKS.md.

    python bench/bench_movie.py                     # 200 frames of fig2-paper at 720p (about a minute)
    python bench/bench_movie.py --frames 20 --naive-frames 2 --size 480p   # smoke run

Phases of ``write_movie`` (measured through its progress callback): "background" runs
from the call to the first frame handed to the encoder (the Kaleido render of the
static figure at 2x, including the browser's start, and the first frame); "frames"
from the first to the last frame (drawing, reducing and encoding); "finish" the
encoder's flush and the file's check (signature, frame count by decoding, size).  "CPU"
is the CPU time of this process and of the ffmpeg processes (not of the browser), which
other programs on the machine do not inflate as they do the wall times.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import imageio_ffmpeg  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
from PIL import Image  # noqa: E402

from dynamics import enable_float64  # noqa: E402
from figures import presets  # noqa: E402
from figures.movie import scene_of  # noqa: E402
from viz import movie  # noqa: E402
from viz.export import export_bytes  # noqa: E402
from viz.movie_file import write_movie  # noqa: E402

PRESET = "fig2-paper"


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {cores} cores, {mem:.0f} GiB; ffmpeg {imageio_ffmpeg.get_ffmpeg_version().split('-')[0]}"


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended (the
    ffmpeg processes; not the export browser, which stays up)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_movie(scene: movie.Scene, path: str, frames: int, size: tuple[int, int]) -> dict[str, float]:
    """write_movie's wall time in phases (see the module's docstring) and its CPU time."""
    marks: dict[int, float] = {}
    t0, c0 = time.perf_counter(), cpu_seconds()
    write_movie(scene, path, frames, movie.DEFAULT_FPS, size,
                progress=lambda k, n: marks.setdefault(k, time.perf_counter()))
    t1 = time.perf_counter()
    return dict(total=t1 - t0, background=marks[1] - t0, frames=marks[frames] - marks[1], finish=t1 - marks[frames],
                cpu=cpu_seconds() - c0, mib=os.path.getsize(path) / 2**20)


def naive_per_frame(scene: movie.Scene, size: tuple[int, int], n: int) -> float:
    """Seconds per frame of the naive design: the background figure plus the frame's
    trails and points as Plotly traces, exported by Kaleido (PNG at 1x, decoded)."""
    geo = movie.geometry(scene, size)
    base = movie.background_figure(scene, geo)
    steps = movie.frame_steps(n + 1, movie.last_step(scene))[1:]
    export_bytes(base, "png")                   # the browser's start is not a frame's cost
    t0 = time.perf_counter()
    for t in steps:
        fig = go.Figure(base)
        for run in scene.runs:
            w, loss = run.w[:t + 1], run.loss[:t + 1]
            fig.add_trace(go.Scatter(x=w[:, 0], y=w[:, 1], mode="lines+markers", marker=dict(maxdisplayed=1),
                                     line=dict(color=run.colour), showlegend=False))
            fig.add_trace(go.Scatter(x=np.arange(t + 1), y=loss, mode="lines", xaxis="x2", yaxis="y2",
                                     line=dict(color=run.colour), showlegend=False))
        Image.open(io.BytesIO(export_bytes(fig, "png"))).load()
    return (time.perf_counter() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--size", default="720p")
    p.add_argument("--naive-frames", type=int, default=5, help="frames timed for the naive design")
    args = p.parse_args()
    enable_float64()
    size = movie.parse_size(args.size)
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    scene = scene_of(presets.default_config(PRESET))
    compute = time.perf_counter() - t0
    print(f"{PRESET}: {len(scene.runs)} runs x {movie.last_step(scene)} steps computed in {compute:.2f} s "
          "(JAX compile included)")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'format':7s}{'frames':>7s}{'size':>11s}{'background':>12s}{'frames':>9s}{'finish':>8s}{'movie':>8s}"
          f"{'+compute':>10s}{'CPU':>8s}{'MiB':>7s}")
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("mp4", "gif"):
            r = timed_movie(scene, os.path.join(folder, f"m.{fmt}"), args.frames, size)
            print(f"{fmt:7s}{args.frames:7d}{'x'.join(map(str, size)):>11s}{r['background']:11.2f}s"
                  f"{r['frames']:8.2f}s{r['finish']:7.2f}s{r['total']:7.2f}s{r['total'] + compute:9.2f}s{r['cpu']:7.2f}s"
                  f"{r['mib']:7.2f}")
    naive = naive_per_frame(scene, size, args.naive_frames)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"naive (one Kaleido export per frame): {naive:.2f} s a frame, {args.frames} frames {naive * args.frames:.0f} s*")


if __name__ == "__main__":
    main()
