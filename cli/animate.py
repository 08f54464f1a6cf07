"""``python -m dynamics animate``: a movie for slides of a paper figure's trajectories
(figures.movie, viz.movie): the contour with each run's path drawn through every iterate
up to step t, the current points, and the loss curve up to t, in the publication theme.

    python -m dynamics animate --preset fig2-paper --out fig2.mp4
    python -m dynamics animate --config fig2.json --out fig2.gif --frames 150 --size 1080p --fps 30

Every option and the output path are checked before anything is computed (bad input:
exit 2 and one line).  A progress bar counts the frames on stderr; the file is checked
(signature, frame count, size) before "wrote" is printed.
"""
from __future__ import annotations

import math
import os
import sys
import time

from cli.figure import resolved_config
from cli.options import UsageError, add_allow_large, check, check_budget, check_setting
from dynamics.configfile import ConfigError
from figures import presets
from figures.movie import MOVIE_PRESETS, movie_problem, scene_of
from viz.export import ExportError
from viz.movie import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE, SIZES, parse_size
from viz.movie_file import FORMATS, MovieError, write_movie
from viz.outfile import OutputError, check_path

MAX_FPS = 60
BAR = 30            # characters of the progress bar


def register(sub) -> None:
    p = sub.add_parser("animate", help="a movie (GIF or MP4) of a paper figure's trajectories, for slides",
                       description="A movie of a preset's (or saved configuration's) trajectories: the contour with "
                                   "each path drawn through every iterate up to step t, the current points, and the "
                                   "loss curve up to t. Frames step evenly from t = 0 to the last step.")
    src = p.add_argument_group("what to draw")
    src.add_argument("--preset", metavar="NAME", help=f"one of: {', '.join(MOVIE_PRESETS)}")
    src.add_argument("--config", metavar="FILE.json", help="a configuration written by "
                                                           "`python -m dynamics figure --config-out`")
    src.add_argument("--steps", type=int, metavar="T", help="override the configuration's number of steps")
    out = p.add_argument_group("movie")
    out.add_argument("--out", metavar="FILE", required=True, help=".gif (Pillow) or .mp4 (H.264, yuv420p)")
    out.add_argument("--frames", type=int, help=f"number of frames, 2 to steps + 1 (default {DEFAULT_FRAMES}, or "
                                                 "steps + 1 when fewer)")
    out.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"frames a second, up to {MAX_FPS} (default "
                                                                    f"{DEFAULT_FPS}; GIF stores 1/100 s per frame)")
    w, h = SIZES[DEFAULT_SIZE]
    out.add_argument("--size", default=DEFAULT_SIZE, help=f"{', '.join(SIZES)} or WIDTHxHEIGHT, even numbers "
                                                          f"(default {DEFAULT_SIZE} = {w}x{h})")
    add_allow_large(p)
    p.set_defaults(handler=handle)


def check_out(path: str) -> str:
    """The movie format of ``path`` (gif or mp4); UsageError unless it can take the file
    (viz.outfile.check_path)."""
    try:
        return check_path(path, FORMATS)
    except OutputError as err:
        raise UsageError(f"argument --out: {err}") from None


def resolve(args) -> tuple[dict, tuple[int, int], int]:
    """(the validated configuration, the movie's size, its number of frames); UsageError
    on any bad option."""
    check_out(args.out)
    check(not (args.preset and args.config), "--config", "give --preset or --config, not both")
    check(bool(args.preset or args.config), "--preset", f"give --preset NAME ({', '.join(MOVIE_PRESETS)}) "
                                                         "or --config FILE.json")
    check(args.preset is None or args.preset in MOVIE_PRESETS, "--preset",
          f"{args.preset!r} is not a preset with trajectories (allowed: {', '.join(MOVIE_PRESETS)})")
    check(math.isfinite(args.fps) and 0 < args.fps <= MAX_FPS, "--fps", f"must be > 0 and <= {MAX_FPS}; "
                                                                        f"got {args.fps:g}")
    try:
        size = parse_size(args.size)
    except ValueError as err:
        raise UsageError(f"argument --size: {err}") from None
    config = resolved_config(args, args.preset, {})
    if args.steps is not None:
        check_setting("steps", args.steps)
        config["steps"] = args.steps
        try:
            presets.validate(config)
        except ConfigError as err:
            raise UsageError(f"argument --steps: {err}") from None
        check_budget(args, presets.cost(config))
    problem = movie_problem(config)
    check(problem is None, "--config", problem)
    top = config["steps"] + 1
    frames = min(DEFAULT_FRAMES, top) if args.frames is None else args.frames
    check(2 <= frames <= top, "--frames", f"must be 2 to {top} (steps + 1: one frame per iterate at most); "
                                          f"got {frames}")
    return config, size, frames


def progress_bar(done: int, total: int) -> None:
    """``frames [#####.....] done/total`` on stderr, redrawn in place; a new line at the end."""
    filled = BAR * done // total
    if filled == BAR * (done - 1) // total and done not in (1, total):
        return                          # nothing new to draw
    sys.stderr.write(f"\r  frames [{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def handle(args) -> int:
    config, size, frames = resolve(args)
    t0 = time.perf_counter()
    scene = scene_of(config)
    t1 = time.perf_counter()
    print(f"{config['preset']}: {len(scene.runs)} runs of {config['steps']} steps computed in {t1 - t0:.2f} s")
    try:
        write_movie(scene, args.out, frames, args.fps, size, progress=progress_bar)
    except (MovieError, ExportError) as err:
        sys.stderr.write(f"python -m dynamics animate: error: {err}\n")
        return 1
    mb = os.path.getsize(args.out) / 2**20
    print(f"  wrote {args.out}: {frames} frames, {size[0]}x{size[1]}, {args.fps:g} fps "
          f"({frames / args.fps:.1f} s), {mb:.1f} MiB, in {time.perf_counter() - t1:.2f} s")
    return 0
