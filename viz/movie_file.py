"""Movie files: the frames of viz.movie encoded as GIF (Pillow: one 256-colour palette
taken from the last frame, which holds every colour of the movie, no dithering) or MP4
(H.264, yuv420p, through the ffmpeg binary that the imageio-ffmpeg wheel ships), then
checked before they are handed over: the file's signature (GIF87a / GIF89a; an MP4's
'ftyp' box), its frame count and its size.  A file is written beside its target under a
temporary name and renamed only once it checks out (viz.outfile.commit, the rule of
every file the project writes), so a failed run never leaves a
broken movie at the target.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from typing import Callable, Iterable

import imageio_ffmpeg
from PIL import Image

from viz import movie
from viz.movie import Geometry, Scene
from viz.outfile import OutputError, commit

FORMATS = ("gif", "mp4")
CRF = 20                        # H.264 quality (lower: better, larger); 18-23 looks clean on line art
X264_PRESET = "veryfast"


@contextlib.contextmanager
def _subprocess_quiet():
    """JAX warns at every fork that forking a multithreaded process may deadlock; the
    ffmpeg subprocesses exec at once, so the warning does not apply to them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        yield


class MovieError(RuntimeError):
    """A movie file could not be encoded, or the file written does not check out."""


def _gif(frames: Iterable[Image.Image], last: Image.Image, path: str, fps: float) -> None:
    palette = last.quantize(256, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    indexed[0].save(path, format="GIF", save_all=True, append_images=indexed[1:], duration=round(1000 / fps),
                    loop=0, optimize=False)


def _mp4(frames: Iterable[Image.Image], size: tuple[int, int], path: str, fps: float) -> None:
    with _subprocess_quiet():
        writer = imageio_ffmpeg.write_frames(path, size, fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                             pix_fmt_out="yuv420p", quality=None, macro_block_size=2,
                                             ffmpeg_log_level="error",
                                             output_params=["-crf", str(CRF), "-preset", X264_PRESET,
                                                            "-movflags", "+faststart"])
        writer.send(None)
    try:
        for frame in frames:
            writer.send(frame.tobytes())
    finally:
        writer.close()


def check_file(path: str, fmt: str, frames: int, size: tuple[int, int]) -> None:
    """MovieError unless ``path`` is a ``fmt`` movie of ``frames`` frames of ``size``."""
    with open(path, "rb") as f:
        head = f.read(12)
    if fmt == "gif":
        if head[:6] not in (b"GIF87a", b"GIF89a"):
            raise MovieError(f"{path}: not a GIF file (starts {head[:6]!r})")
        try:
            with Image.open(path) as im:
                got, got_size = im.n_frames, im.size
        except OSError as err:
            raise MovieError(f"{path}: the GIF does not read back: {err}") from None
    else:
        if head[4:8] != b"ftyp":
            raise MovieError(f"{path}: not an MP4 file (no 'ftyp' box at its start)")
        try:
            with _subprocess_quiet():
                reader = imageio_ffmpeg.read_frames(path)
                got_size = tuple(next(reader)["size"])
                reader.close()
                got = imageio_ffmpeg.count_frames_and_secs(path)[0]
        except (OSError, RuntimeError, StopIteration) as err:
            raise MovieError(f"{path}: the MP4 does not read back: {err}") from None
    if got != frames or got_size != tuple(size):
        raise MovieError(f"{path}: has {got} frames of {got_size[0]}x{got_size[1]}, expected {frames} of "
                         f"{size[0]}x{size[1]}")


def write_movie(scene: Scene, path: str, n_frames: int, fps: float, size: tuple[int, int],
                progress: Callable[[int, int], None] | None = None) -> Geometry:
    """Render ``n_frames`` frames of ``scene`` at ``size`` and write them to ``path`` in
    the format of its extension (gif or mp4) at ``fps`` frames a second, checked
    (``check_file``); ``progress(done, total)`` is called after each frame.  Returns the
    movie's geometry.  MovieError when the encoder fails or the file does not check out."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path!r}: the extension must be one of {', '.join('.' + f for f in FORMATS)}")
    geo = movie.geometry(scene, size)
    background = movie.background_image(scene, geo)

    def counted():
        steps = movie.frame_steps(n_frames, movie.last_step(scene))
        for k, frame in enumerate(movie.frames(scene, geo, steps, background), start=1):
            yield frame
            if progress is not None:
                progress(k, n_frames)

    def write(tmp: str) -> None:
        if fmt == "gif":
            last = next(movie.frames(scene, geo, [movie.last_step(scene)], background))
            _gif(counted(), last, tmp, fps)
        else:
            _mp4(counted(), size, tmp, fps)

    try:
        commit(path, write, lambda tmp: check_file(tmp, fmt, n_frames, size))
    except (OutputError, RuntimeError) as err:
        raise MovieError(f"could not write {path}: {err}") from err
    return geo


def movie_bytes(scene: Scene, fmt: str, n_frames: int, fps: float, size: tuple[int, int]) -> bytes:
    """The movie as ``fmt`` (gif or mp4) bytes (``write_movie`` to a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="movie-") as folder:
        path = os.path.join(folder, f"movie.{fmt}")
        write_movie(scene, path, n_frames, fps, size)
        with open(path, "rb") as f:
            return f.read()
