"""Heatmaps painted as images for export (viz.raster) and the physical size of vector
files (viz.export): compared with plotly.js's own heatmap rendering (the same figure
rendered by Kaleido without rasterisation), with the PDF's page box and embedded images
read by poppler, and with the colours a two-colour scale must give."""
import io
import re
import subprocess

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from viz import export
from viz.export import export_bytes
from viz.raster import rasterise_heatmaps

CELLS = np.array([[0.0, 0.25, 0.5, 0.75], [1.0, np.nan, 0.6, 0.1], [0.3, 0.9, 0.45, 0.05]])
BACKGROUND = (255, 0, 255)              # magenta plot background: shows through NaN cells only


def heat_figure(log_x: bool = False, width: int = 400, height: int = 300) -> go.Figure:
    x = [1.0, 10.0, 100.0, 1000.0] if log_x else [0.0, 1.0, 2.0, 3.0]
    fig = go.Figure(go.Heatmap(x=x, y=[0.0, 1.0, 2.0], z=CELLS, colorscale=[[0, "rgb(0,0,255)"], [1, "#FF8000"]],
                               zmin=0, zmax=1, showscale=False))
    fig.update_layout(width=width, height=height, margin=dict(l=0, r=0, t=0, b=0), plot_bgcolor="rgb(255,0,255)",
                      xaxis=dict(visible=False, type="log" if log_x else "linear"), yaxis=dict(visible=False))
    return fig


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), int)


def plotly_png(fig: go.Figure) -> np.ndarray:
    """plotly.js's own rendering of ``fig`` (no rasterisation), scale 1."""
    opts = dict(format="png", scale=1.0, width=fig.layout.width, height=fig.layout.height)
    with export._LOCK:
        return pixels(export._SERVER.render(fig.to_plotly_json(), opts, None))


def cell_centres(shape, width, height):
    """Pixel (row, col) of each cell centre of a full-figure panel (row 0 at the top)."""
    rows, cols = shape
    return [((rows - 1 - i + 0.5) * height / rows, (j + 0.5) * width / cols) for i in range(rows) for j in range(cols)]


@pytest.mark.parametrize("log_x", [False, True])
def test_rasterised_heatmap_matches_plotlys_own_rendering(log_x):
    fig = heat_figure(log_x)
    ours, theirs = pixels(export_bytes(fig, "png")), plotly_png(fig)
    assert ours.shape == theirs.shape == (300, 400, 3)
    for r, c in cell_centres(CELLS.shape, 400, 300):
        assert np.abs(ours[int(r), int(c)] - theirs[int(r), int(c)]).max() <= 3, (r, c)
    # cell boundaries: the two renderings agree away from the edges (+-2 px)
    differ = np.abs(ours - theirs).max(axis=2) > 3
    for r, c in cell_centres(CELLS.shape, 400, 300):
        assert not differ[int(r) - 40:int(r) + 40, int(c) - 45:int(c) + 45].any()


def test_two_colour_scale_gives_the_expected_colours_and_nan_shows_the_background():
    ours = pixels(export_bytes(heat_figure(), "png", scale=2))
    assert ours.shape == (600, 800, 3)
    blue, orange = np.array([0, 0, 255]), np.array([255, 128, 0])
    for (r, c), z in zip(cell_centres(CELLS.shape, 800, 600), CELLS.ravel()):
        want = np.array(BACKGROUND) if np.isnan(z) else blue + z * (orange - blue)
        assert np.abs(ours[int(r), int(c)] - want).max() <= 2, (r, c, z)


def test_layers_of_one_panel_are_all_drawn_later_on_top():
    fig = heat_figure()
    top = np.full(CELLS.shape, np.nan)
    top[0, 0] = 1.0                                     # one cell of a second, mostly empty layer
    fig.add_trace(go.Heatmap(x=[0.0, 1.0, 2.0, 3.0], y=[0.0, 1.0, 2.0], z=top, showscale=False,
                             colorscale=[[0, "rgb(0,255,0)"], [1, "rgb(0,255,0)"]]))
    ours = pixels(export_bytes(fig, "png"))
    centres = cell_centres(CELLS.shape, 400, 300)
    r, c = centres[0]                                   # cell (0, 0): the green layer
    assert tuple(ours[int(r), int(c)]) == (0, 255, 0)
    r, c = centres[2]                                   # cell (0, 2): the first layer, z = 0.5
    assert np.abs(ours[int(r), int(c)] - [128, 64, 128]).max() <= 2


def test_colour_bar_survives_and_no_heatmap_trace_remains():
    fig = heat_figure()
    fig.update_traces(showscale=True)
    out = rasterise_heatmaps(fig, 2.0)
    assert [t.type for t in out.data] == ["scatter"] and len(out.layout.images) == 1
    assert out.data[0].marker.showscale and (out.data[0].marker.cmin, out.data[0].marker.cmax) == (0, 1)
    svg = export_bytes(fig, "svg").decode()
    assert re.search(r'class="[^"]* colorbar"', svg) and svg.count("<image") == 1


def pdf_info(tmp_path, data: bytes) -> tuple[str, str]:
    path = tmp_path / "f.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return info, images


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_pdf_page_is_the_physical_size_whatever_the_scale_and_the_image_has_scale_resolution(tmp_path, scale):
    info, images = pdf_info(tmp_path, export_bytes(heat_figure(width=336, height=240), "pdf", scale=scale))
    assert re.search(r"Page size:\s+252(\.\d+)? x 180(\.\d+)? pts", info), info       # 3.5 in x 2.5 in
    rows = [line.split() for line in images.splitlines()[2:] if line.split()[2] == "image"]
    assert len(rows) == 1
    width, height = int(rows[0][3]), int(rows[0][4])
    assert width >= 336 * scale and width % 4 == 0         # whole image pixels per cell
    assert height >= 240 * scale and height % 3 == 0


def test_svg_width_is_the_layout_width_at_96_px_per_inch():
    svg = export_bytes(heat_figure(width=672, height=200), "svg", scale=4).decode()
    assert re.search(r'<svg[^>]*width="672"[^>]*height="200"', svg)


def test_pdf_bytes_are_reproducible_and_dated_by_source_date_epoch(monkeypatch):
    fig = heat_figure()
    first = export_bytes(fig, "pdf")
    assert export_bytes(fig, "pdf") == first
    assert b"/CreationDate (D:19700101000000+00'00')" in first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(86400 * 366))
    assert b"/ModDate (D:19710102000000+00'00')" in export_bytes(fig, "pdf")
