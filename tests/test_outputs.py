"""Exports that never lie and divergence as a value (viz.outfile, viz.export, cli):
every file is checked as its format before "wrote"/"saved" is printed and none is left
behind when it fails; output paths are checked before any computation; size limits are
enforced; a non-finite loss or H flags the run as diverged at its step; non-finite
option values are refused; an all-diverged sweep has no best cell."""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from cli.main import main
from viz import export
from viz.outfile import OutputError, check_bytes, check_path, write_bytes

ROOT = Path(__file__).resolve().parents[1]


def png_of(width: int, height: int) -> bytes:
    """A real PNG of width x height pixels, made by Pillow (not by the exporter)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buf, format="PNG")
    return buf.getvalue()


def cli(capsys, *argv):
    """main(argv) in-process: (exit status, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, option: str | None = None) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    if option:
        assert f"argument {option}:" in err, err


# ----------------------------------------------------------------------------- checks of the bytes

def test_each_format_is_read_back():
    check_bytes(png_of(30, 20), "png", (30, 20))
    check_bytes(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n", "pdf")
    check_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" width="3" height="2"/>', "svg")
    check_bytes(b"a,b\n1,2\n", "csv")
    check_bytes(b'{"a": 1}', "json")
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.arange(3))
    check_bytes(buf.getvalue(), "npz")
    bad = [(b"\x89PN", "png"), (png_of(30, 21), "png"), (b"%PDF-1.4\n1 0 obj", "pdf"), (b"<html/>", "svg"),
           (b"<svg", "svg"), (b"a,b\n1\n", "csv"), (b"", "csv"), (b"{", "json"), (b"PK\x03\x04", "npz"),
           (b"\xff\xfe", "json")]
    for data, fmt in bad:
        with pytest.raises(OutputError):
            check_bytes(data, fmt, (30, 20) if fmt == "png" else None)


def test_a_file_that_does_not_check_out_is_never_left(tmp_path):
    path = tmp_path / "f.png"
    with pytest.raises(OutputError, match="31x20 pixels, expected 30x20"):
        write_bytes(str(path), png_of(31, 20), "png", (30, 20))
    path.write_bytes(b"old")
    with pytest.raises(OutputError):
        write_bytes(str(path), b"\x89PN", "png", (30, 20))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.png"]    # the old file kept, no temp file
    write_bytes(str(path), png_of(30, 20), "png", (30, 20))
    assert Image.open(path).size == (30, 20) and os.listdir(tmp_path) == ["f.png"]


def test_paths_are_refused_with_the_reason(tmp_path):
    (tmp_path / "d.png").mkdir()
    for path, reason in [(tmp_path / "d.png", "is a folder"), (tmp_path / "no" / "f.png", "does not exist"),
                         (tmp_path / "f.jpg", "must be one of .pdf, .svg, .png"), ("/proc/f.png", "cannot write")]:
        with pytest.raises(OutputError, match=reason):
            check_path(str(path), export.FORMATS)
    assert check_path(str(tmp_path / "F.PNG"), export.FORMATS) == "png"


def small_figure() -> go.Figure:
    return go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout=dict(width=120, height=80))


@pytest.mark.parametrize("rendered", [b"\x89PN", png_of(120, 81)], ids=["3 bytes", "one pixel short"])
def test_a_broken_render_is_refused(monkeypatch, rendered):
    """The renderer is replaced by one that returns 3 bytes, or a PNG one pixel short."""
    monkeypatch.setattr(export._SERVER, "render", lambda fig, opts, mathjax: rendered)
    with pytest.raises(export.ExportError, match="broken PNG"):
        export.export_bytes(small_figure(), "png", scale=1)


def test_png_limits():
    assert export.png_problem(672, 221, 20) is None
    assert "16384" in export.png_problem(672, 221, 25)                   # 16800 pixels wide
    assert "million" in export.png_problem(4800, 4800, 3)                 # 14400 x 14400 = 207 M pixels
    with pytest.raises(ValueError, match="scale"):
        export.export_bytes(small_figure(), "png", scale=21)
    with pytest.raises(ValueError, match="too large"):
        export.export_bytes(small_figure(), "png", scale=20, width=4000)  # 80000 pixels wide


# ----------------------------------------------------------------------------- the command line

def never(*args, **kwargs):
    raise AssertionError("computed before the output path was checked")


@pytest.mark.parametrize("argv, option, reason", [
    (["--out", "{tmp}/d.png"], "--out", "is a folder"),
    (["--out", "{tmp}/no/f.pdf"], "--out", "does not exist"),
    (["--out", "/proc/f.pdf"], "--out", "cannot write"),
    (["--out", "{tmp}/f.gif"], "--out", ".pdf, .svg, .png"),
    (["--out", "{tmp}/f.png", "--data-out", "{tmp}/f.txt"], "--data-out", ".csv, .npz"),
    (["--out", "{tmp}/f.png", "--config-out", "{tmp}/d.png"], "--config-out", ".json"),
    (["--out", "{tmp}/f.png", "--scale", "100"], "--scale", "(0, 20]"),
    (["--out", "{tmp}/f.png", "--scale", "1000"], "--scale", "(0, 20]"),
    (["--out", "{tmp}/f.png", "--scale", "inf"], "--scale", "(0, 20]"),
    (["--out", "{tmp}/f.png", "--height", "20000"], "--height", "at most 4800 px"),
    (["--out", "{tmp}/f.pdf", "--width", "60in"], "--width", "at most 4800 px"),
    (["--out", "{tmp}/f.png", "--scale", "20", "--width", "40in"], "--scale", "too large"),
])
def test_figure_paths_and_sizes_are_checked_before_computing(capsys, monkeypatch, tmp_path, argv, option, reason):
    monkeypatch.setattr("cli.figure.built", never)
    (tmp_path / "d.png").mkdir()
    code, out, err = cli(capsys, "figure", "--preset", "fig2", *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and out == "" and reason in err
    one_line(err, option)
    assert os.listdir(tmp_path) == ["d.png"]


def test_limits_are_in_the_help(capsys):
    text = " ".join(cli(capsys, "figure", "--help")[1].split())
    assert "0 < scale <= 20" in text and "at most 4800 px (50 in)" in text and "16384 pixels a side" in text


def test_a_broken_export_fails_with_one_line_and_leaves_no_file(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(export._SERVER, "render", lambda fig, opts, mathjax: b"\x89PN")
    code, out, err = cli(capsys, "figure", "--preset", "fig2", "--out", str(tmp_path / "f.png"))
    assert code == 1 and "wrote" not in out and "broken PNG" in err
    one_line(err)
    assert os.listdir(tmp_path) == []


def test_sweep_out_is_checked_before_the_sweep(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("cli.sweep.sweep", never)
    for path, reason in [(tmp_path / "m.txt", "must be one of .npz"), (tmp_path / "no" / "m.npz", "does not exist"),
                         (tmp_path, "must be one of .npz")]:
        code, out, err = cli(capsys, "sweep", "--out", str(path))
        assert code == 2 and reason in err
        one_line(err, "--out")
    assert os.listdir(tmp_path) == []


def test_sweep_out_writes_exactly_the_path(capsys, tmp_path):
    path = tmp_path / "m.npz"
    code, out, _ = cli(capsys, "sweep", "--lr-range", "0.1:0.5:3", "--beta-range", "0:0.5:2", "--steps", "50",
                       "--out", str(path))
    assert code == 0 and f"saved {path}" in out and os.listdir(tmp_path) == ["m.npz"]
    with np.load(path, allow_pickle=False) as npz:
        assert npz["rate"].shape == (2, 3)


def test_cli_errors_have_no_traceback_in_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["figure", "--preset", "fig2", "--scale", "1000", "--out", "f.png"], ["sweep", "--out", "m.txt"]):
        proc = subprocess.run([sys.executable, "-m", "dynamics", *argv], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 2 and proc.stdout == "" and os.listdir(tmp_path) == []
        one_line(proc.stderr)


# ----------------------------------------------------------------------------- divergence as a value

def test_a_loss_that_overflows_flags_divergence_at_its_step(capsys):
    """GD with lr 3 on L = (x^2 + y^2)/2 has w_t = (-2)^t w_0: from w_0 = (1e150, 1e150),
    L_t = 4^t 1e300 overflows at the first t with 4^t > DBL_MAX / 1e300, while every
    iterate (2^t 1e150) stays finite."""
    code, out, _ = cli(capsys, "run", "--toy", "quad-repo", "--toy-param", "h1=1", "--toy-param", "h2=1",
                       "--toy-param", "angle=0", "--toy-param", "cx=0", "--toy-param", "cy=0", "--optimizer", "gd",
                       "--lr", "3", "--start", "1e150,1e150", "--steps", "20", "--json")
    data = json.loads(out)
    expected = math.ceil(math.log(sys.float_info.max / 1e300, 4))
    assert code == 0 and data["diverged"] is True and data["diverged_at"] == expected == 14
    assert all(v is not None for w in data["iterates"] for v in w)


def test_a_start_out_of_range_diverges_at_step_0(capsys):
    code, out, _ = cli(capsys, "run", "--start", "1e300,-1e300", "--steps", "5", "--json")
    data = json.loads(out)
    assert code == 0 and data["loss"][0] is None and data["diverged"] is True and data["diverged_at"] == 0
    code, out, _ = cli(capsys, "run", "--steps", "5", "--json")
    assert json.loads(out)["diverged"] is False and json.loads(out)["diverged_at"] is None


@pytest.mark.parametrize("option", ["--adam-eps", "--tau", "--mu", "--lr", "--beta", "--wd", "--rise-rel",
                                    "--noise-sigma", "--sign-tau"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_values_are_refused(capsys, option, value):
    code, out, err = cli(capsys, "run", option, value, "--steps", "3", "--json")
    assert code == 2 and out == ""
    one_line(err, option)


def test_an_all_diverged_sweep_has_no_best_cell(capsys):
    """GDM on L = (x^2 + y^2)/2 is stable only for lr < 2 (1 + beta) <= 3 at beta <= 0.5:
    every cell of lr in [5, 10] diverges."""
    grid = ["--toy", "quad-repo", "--toy-param", "h1=1", "--toy-param", "h2=1", "--optimizer", "gdm",
            "--lr-range", "5:10:3", "--beta-range", "0:0.5:2", "--steps", "200"]
    code, out, _ = cli(capsys, "sweep", *grid, "--json")
    data = json.loads(out)
    assert code == 0 and np.all(data["diverged"]) and data["best"] is None
    code, out, _ = cli(capsys, "sweep", *grid)
    assert "no cell converged" in out and "best cell" not in out
