"""Movies for slides (viz.movie, viz.movie_file, figures.movie, cli.animate, ui.movie).

The runs drawn here are written by hand (a path around a circle, a loss 0.5 * 0.8^t),
not computed by the optimizers, and every expected pixel is derived in the test from the
panel's rectangle and ranges: x_px = left + (x - x0) / (x1 - x0) * width, y_px = top +
(y1 - y) / (y1 - y0) * height (log10 y on the loss axis).  Plotly's own placement is
checked by rendering markers at known points; files are read back with Pillow and with
ffmpeg (imageio-ffmpeg), not with the code that wrote them.
"""
from __future__ import annotations

import io
import math

import imageio_ffmpeg
import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from cli.main import main
from dynamics.configfile import save
from figures.presets import default_config
from tests.test_app import assert_clean, new_app
from dynamics import rollout
from toys import get_toy
from ui import movie as ui_movie
from ui.session import context
from ui.state import defaults
from viz import movie, movie_file
from viz.export import export_bytes
from viz.movie_file import MovieError, check_file, write_movie

pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")     # ffmpeg subprocesses exec at once
BLUE = (0x00, 0x72, 0xB2)
T = 40
SIZE = (1280, 720)


def circle_scene(colour: str = "#0072B2", w=None) -> movie.Scene:
    """One run around 0.85 of a circle of radius 0.8 in T steps, loss 0.5 * 0.8^t."""
    theta = 2 * np.pi * 0.85 * np.arange(T + 1) / T
    w = 0.8 * np.column_stack([np.cos(theta), np.sin(theta)]) if w is None else w
    toy = get_toy("quad-paper")
    return movie.Scene(toy, toy.params(), [movie.MovieRun("probe", colour, w, 0.5 * 0.8 ** np.arange(T + 1))],
                       None, ((-1.0, 1.0), (-1.0, 1.0)))


def by_hand(box: movie.Box, x: float, y: float) -> tuple[float, float]:
    """The pixel coordinates of a data point in a panel, derived here from its rectangle."""
    yv = math.log10(y) if box.log else y
    return (box.left + (x - box.x[0]) / (box.x[1] - box.x[0]) * box.width,
            box.top + (box.y[1] - yv) / (box.y[1] - box.y[0]) * box.height)


def white_frames(scene: movie.Scene, steps) -> list[np.ndarray]:
    geo = movie.geometry(scene, SIZE)
    s = movie.SUPERSAMPLE
    bg = Image.new("RGB", (SIZE[0] * s, SIZE[1] * s), "white")
    return [np.asarray(f, dtype=float) for f in movie.frames(scene, geo, steps, bg)]


def near(img: np.ndarray, px: float, py: float, rgb, r: int = 1) -> float:
    """The smallest colour distance to ``rgb`` in the (2r+1)^2 pixels around (px, py)."""
    i, j = int(math.floor(py)), int(math.floor(px))
    patch = img[i - r:i + r + 1, j - r:j + r + 1]
    return float(np.min(np.linalg.norm(patch - np.array(rgb, float), axis=-1)))


# ----------------------------------------------------------------------------- geometry and pixels

def test_frame_steps_start_at_zero_end_at_T_and_are_distinct():
    for frames, steps in ((2, 1), (120, 1000), (101, 100), (7, 3000)):
        k = movie.frame_steps(frames, steps)
        assert len(k) == frames and k[0] == 0 and k[-1] == steps
        assert np.all(np.diff(k) > 0)


def test_parse_size():
    assert movie.parse_size("720p") == (1280, 720) and movie.parse_size("640x360") == (640, 360)
    for bad in ("1281x720", "100x100", "720", "axb", "8000x4000"):
        with pytest.raises(ValueError):
            movie.parse_size(bad)


def test_contour_panel_has_equal_scales():
    geo = movie.geometry(circle_scene(), SIZE)
    c = geo.contour
    assert (c.x[1] - c.x[0]) / c.width == pytest.approx((c.y[1] - c.y[0]) / c.height)
    assert c.x[0] <= -1 and c.x[1] >= 1 and c.y[0] <= -1 and c.y[1] >= 1


def test_a_diverging_run_neither_flattens_the_loss_axis_nor_breaks_the_frames():
    """w_t = 2^t (0.5, 0.3) overflows to inf and then NaN; the loss axis stops at 1e3
    times the largest L(w_0) (plus 5% of the span), and every frame is drawn."""
    t = np.arange(T + 1101)
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.column_stack([0.5 * 2.0 ** t, 0.3 * 2.0 ** t])
        w[-10:] = np.nan
        loss = 0.5 * w[:, 0] ** 2 + 0.1 * w[:, 1] ** 2
    scene = circle_scene()
    scene = scene._replace(runs=scene.runs + [movie.MovieRun("diverges", "#D55E00", w, loss)])
    geo = movie.geometry(scene, SIZE)
    lo, hi = math.log10(0.5 * 0.8 ** T), math.log10(1e3 * max(0.5, loss[0]))
    assert geo.loss.y == pytest.approx((lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)))
    frames = white_frames(scene, movie.frame_steps(5, len(t) - 1))
    assert len(frames) == 5 and all(f.shape == (SIZE[1], SIZE[0], 3) for f in frames)


def test_plotly_puts_markers_where_the_mapping_says():
    """Magenta squares rendered by Plotly (at the movie's supersampling) at a point of each
    panel: their centroids are within a quarter of a pixel of the hand-derived position."""
    scene = circle_scene()
    geo = movie.geometry(scene, SIZE)
    fig = movie.background_figure(scene, geo)
    probes = [(geo.contour, 0.3, -0.4, "x", "y"), (geo.loss, 10.0, 1e-2, "x2", "y2")]
    for _, x, y, xa, ya in probes:
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", xaxis=xa, yaxis=ya, showlegend=False,
                                 marker=dict(symbol="square", size=9, color="#FF00FF", line=dict(width=0))))
    s = movie.SUPERSAMPLE
    img = np.asarray(Image.open(io.BytesIO(export_bytes(fig, "png", scale=s))).convert("RGB"), int)
    assert img.shape[:2] == (SIZE[1] * s, SIZE[0] * s)
    magenta = (img[..., 0] > 200) & (img[..., 1] < 90) & (img[..., 2] > 200)
    for box, x, y, _, _ in probes:
        ex, ey = by_hand(box, x, y)
        ys, xs = np.nonzero(magenta[box.top * s:(box.top + box.height) * s, box.left * s:(box.left + box.width) * s])
        assert len(xs) > 20
        cx, cy = (xs.mean() + 0.5) / s + box.left, (ys.mean() + 0.5) / s + box.top
        assert abs(cx - ex) < 0.25 and abs(cy - ey) < 0.25, (box, cx, cy, ex, ey)
        px, py = movie.Geometry.pixels(box, x, y)
        assert px == pytest.approx(ex) and py == pytest.approx(ey)


def test_current_point_is_drawn_at_the_mapped_position():
    """A run that stays at one point and has a loss only at its last step: each panel's
    ink around the expected position is the current point alone, centred there."""
    scene = circle_scene(w=np.tile([0.3, -0.4], (T + 1, 1)))
    loss = np.full(T + 1, np.nan)
    loss[T] = 1e-2
    scene = scene._replace(runs=[scene.runs[0]._replace(loss=loss)])
    img = white_frames(scene, [T])[0]
    geo = movie.geometry(scene, SIZE)
    for box, x, y in ((geo.contour, 0.3, -0.4), (geo.loss, T, 1e-2)):
        ex, ey = by_hand(box, x, y)
        i0, j0 = int(ey) - 15, int(ex) - 15
        ink = 255 * 3 - img[i0:i0 + 31, j0:j0 + 31].sum(axis=-1)      # how far from white
        assert ink.sum() > 0 and ink[0].sum() == ink[-1].sum() == ink[:, 0].sum() == ink[:, -1].sum() == 0
        ys, xs = np.mgrid[0:31, 0:31]
        cx, cy = (xs * ink).sum() / ink.sum() + j0 + 0.5, (ys * ink).sum() / ink.sum() + i0 + 0.5
        assert abs(cx - ex) < 0.3 and abs(cy - ey) < 0.3, (cx, cy, ex, ey)     # Pillow: 1/4 px grid


# ----------------------------------------------------------------------------- trails

@pytest.mark.parametrize("k", [10, 25])
def test_trail_of_frame_k_covers_exactly_the_iterates_up_to_k(k):
    scene = circle_scene()
    geo = movie.geometry(scene, SIZE)
    run = scene.runs[0]
    frames = white_frames(scene, [0, 3, k - 4, k, T])        # the trail grows frame by frame
    img = frames[3]
    points = {"contour": [by_hand(geo.contour, *w) for w in run.w],
              "loss": [by_hand(geo.loss, t, v) for t, v in enumerate(run.loss)]}
    for panel, p in points.items():
        for j in range(0, k + 1):
            assert near(img, *p[j], BLUE) < 40, (panel, j)
        for j in range(k + 5, T + 1):
            assert near(img, *p[j], (255, 255, 255), r=2) < 1e-9, (panel, j)
        # the segments w_{j-1} -> w_j: drawn up to j = k, none after (their midpoints lie
        # outside the current point's disc)
        mid = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(p[:-1], p[1:])]
        assert all(near(img, *mid[j - 1], BLUE) < 40 for j in range(1, k + 1)), panel
        assert all(near(img, *mid[j - 1], (255, 255, 255)) < 1e-9 for j in range(k + 1, T + 1)), panel
    assert near(frames[-1], *by_hand(geo.contour, *run.w[T]), BLUE) < 40      # the last frame: all of it
    assert near(frames[0], *by_hand(geo.contour, *run.w[5]), (255, 255, 255), r=2) < 1e-9


# ----------------------------------------------------------------------------- files

@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_written_movies_have_their_frames_and_size(tmp_path, fmt):
    path = tmp_path / f"m.{fmt}"
    write_movie(circle_scene(), str(path), 6, 10, (320, 180))
    data = path.read_bytes()
    if fmt == "gif":
        assert data[:6] == b"GIF89a"
        with Image.open(path) as im:
            assert im.n_frames == 6 and im.size == (320, 180)
    else:
        assert data[4:8] == b"ftyp"
        assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 6
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        assert meta["size"] == (320, 180) and meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]        # no temporary file left


def test_check_file_rejects_what_is_not_the_movie(tmp_path):
    gif = tmp_path / "a.gif"
    frames = [Image.new("RGB", (40, 20), c) for c in ("red", "green", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    check_file(str(gif), "gif", 3, (40, 20))
    for frames_expected, size in ((4, (40, 20)), (3, (42, 20))):
        with pytest.raises(MovieError):
            check_file(str(gif), "gif", frames_expected, size)
    png = tmp_path / "b.gif"
    frames[0].save(png, format="PNG")
    with pytest.raises(MovieError, match="not a GIF"):
        check_file(str(png), "gif", 1, (40, 20))
    fake = tmp_path / "c.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(MovieError):
        check_file(str(fake), "mp4", 1, (40, 20))
    fake.write_bytes(b"\x00" * 64)
    with pytest.raises(MovieError, match="ftyp"):
        check_file(str(fake), "mp4", 1, (40, 20))


def test_a_movie_that_does_not_check_out_is_not_left_behind(tmp_path, monkeypatch):
    def refuse(*args):
        raise MovieError("refused")
    monkeypatch.setattr(movie_file, "check_file", refuse)
    with pytest.raises(MovieError):
        write_movie(circle_scene(), str(tmp_path / "m.gif"), 3, 10, (320, 180))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- command line

@pytest.mark.parametrize("argv, option", [
    (["--preset", "fig2-paper", "--out", "{tmp}/m.avi"], "--out"),
    (["--preset", "fig2-paper", "--out", "{tmp}/no/such/folder/m.gif"], "--out"),
    (["--preset", "fig2-paper", "--out", "/sys/m.gif"], "--out"),
    (["--preset", "fig2-paper", "--out", "{tmp}"], "--out"),
    (["--preset", "fig2-paper", "--out", "{tmp}/m.gif", "--frames", "0"], "--frames"),
    (["--preset", "fig2-paper", "--out", "{tmp}/m.gif", "--steps", "10", "--frames", "12"], "--frames"),
    (["--preset", "nope", "--out", "{tmp}/m.gif"], "--preset"),
    (["--preset", "fig3", "--out", "{tmp}/m.gif"], "--preset"),
    (["--preset", "fig2-paper", "--out", "{tmp}/m.mp4", "--size", "641x360"], "--size"),
    (["--preset", "fig2-paper", "--out", "{tmp}/m.mp4", "--fps", "0"], "--fps"),
    (["--preset", "fig2-paper", "--out", "{tmp}/m.mp4", "--steps", "0"], "--steps"),
    (["--out", "{tmp}/m.mp4"], "--preset"),
])
def test_bad_input_exits_2_with_one_line_before_computing(argv, option, tmp_path, capsys, monkeypatch):
    def computed(*args, **kwargs):
        raise AssertionError("computed before the options were checked")
    monkeypatch.setattr("cli.animate.scene_of", computed)
    monkeypatch.setattr("cli.animate.write_movie", computed)
    assert main(["animate", *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {option}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_defaults_make_120_frames_at_720p_with_a_progress_bar(tmp_path, capsys):
    out = tmp_path / "fig2.mp4"
    assert main(["animate", "--preset", "fig2-paper", "--steps", "300", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "frames [" in captured.err and "120/120" in captured.err
    assert f"wrote {out}: 120 frames, 1280x720" in captured.out
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 120
    reader = imageio_ffmpeg.read_frames(str(out))
    assert next(reader)["size"] == (1280, 720)
    reader.close()


def test_a_saved_configuration_animates_and_one_without_paths_is_refused(tmp_path, capsys):
    """A file of `figure --config-out` with 30 steps: the default frames fall to one per
    iterate (31); --frames sets them."""
    config = default_config("wd-line")
    config["steps"] = 30
    save(config, str(tmp_path / "wd.json"))
    for extra, frames in (([], 31), (["--frames", "5"], 5)):
        out = tmp_path / f"wd{frames}.gif"
        assert main(["animate", "--config", str(tmp_path / "wd.json"), "--out", str(out), "--size", "320x180",
                     *extra]) == 0
        with Image.open(out) as im:
            assert im.n_frames == frames and im.size == (320, 180)
    save(default_config("fig3"), str(tmp_path / "fig3.json"))
    capsys.readouterr()
    assert main(["animate", "--config", str(tmp_path / "fig3.json"), "--out", str(tmp_path / "x.gif")]) == 2
    assert "draws no trajectories" in capsys.readouterr().err


# ----------------------------------------------------------------------------- app

def test_trajectories_view_offers_the_movie():
    at = new_app({"steps": "50"}).run()
    assert_clean(at)
    assert at.selectbox(key="_movie_fmt").options == ["GIF", "MP4"]
    frames = at.number_input(key="_movie_frames")
    assert frames.value == 51 and frames.max == 51          # at most one frame per iterate
    assert at.selectbox(key="_movie_size").value == "720p"


def test_app_movie_scene_is_the_views_runs_and_renders():
    values = {**defaults(), "steps": 50}
    ctx = context(values)
    toy = ctx.toy
    trajs = {}
    for spec in ctx.runs:
        traj = rollout(spec.setup, toy, spec.hyper_arrays(), spec.steps, start=spec.start, toy_params=spec.params)
        trajs[spec.label] = traj._asdict()
    scene = ui_movie.scene(ctx, trajs, toy.minima(ctx.params), 0.0)
    assert [r.label for r in scene.runs] == [s.label for s in ctx.runs]
    assert [r.colour for r in scene.runs] == [ctx.styles[s.label].colour for s in ctx.runs]
    w0 = np.asarray(trajs[ctx.runs[0].label]["w"])[0]
    assert scene.runs[0].loss[0] == pytest.approx(float(toy.value(w0, ctx.params)))
    data = movie_file.movie_bytes(scene, "gif", 4, 10, (320, 180))
    assert data[:6] == b"GIF89a"
