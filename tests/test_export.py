"""Static export (viz.export): real PDF / SVG / PNG from Kaleido + Debian's Chromium,
checked with poppler (pdftoppm, pdfinfo), an XML parser and the PNG header; concurrent
exports from several threads; the CSV / NPZ data export."""
import csv
import io
import re
import struct
import subprocess
import threading
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from viz.export import FORMATS, ExportError, browser_path, data_bytes, export_bytes, format_of

SVG = "{http://www.w3.org/2000/svg}"
ZIGZAG = ([0, 1, 2, 3, 4, 5], [0, 4, 1, 5, 2, 6])     # no three points collinear: plotly keeps every vertex


def line_figure(title: str, width: int = 400, height: int = 300) -> go.Figure:
    fig = go.Figure(go.Scatter(x=ZIGZAG[0], y=ZIGZAG[1], mode="lines", line=dict(color="#0072B2")))
    fig.update_layout(title=title, width=width, height=height, template="simple_white")
    return fig


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def read_pgm(path) -> np.ndarray:
    raw = path.read_bytes()
    magic, width, height, maxval, pixels = raw.split(maxsplit=4)
    assert magic == b"P5" and int(maxval) == 255
    return np.frombuffer(pixels[: int(width) * int(height)], np.uint8).reshape(int(height), int(width))


def test_pdf_starts_with_header_and_renders_non_blank(tmp_path):
    data = export_bytes(line_figure("pdf check"), "pdf", width=336, height=240)
    assert data.startswith(b"%PDF")
    pdf = tmp_path / "f.pdf"
    pdf.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\b", info)
    # 96 layout px = 1 in = 72 pt
    assert re.search(r"Page size:\s+252(\.0+)? x 180(\.0+)? pts", info), info
    subprocess.run(["pdftoppm", "-r", "72", "-gray", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    page = read_pgm(tmp_path / "page.pgm")
    assert page.shape == (180, 252)
    assert (page < 128).mean() > 0.005          # ink: the line, the axes, the text
    assert (page > 250).mean() > 0.5            # on a white page


def test_svg_parses_and_holds_the_line_as_a_vector_path():
    root = ET.fromstring(export_bytes(line_figure("svg check"), "svg"))
    lines = [p for p in root.iter(f"{SVG}path") if "js-line" in p.get("class", "")]
    assert len(lines) == 1
    d = lines[0].get("d")
    assert d.startswith("M") and d.count("L") == len(ZIGZAG[0]) - 1
    assert any(t.text == "svg check" for t in root.iter(f"{SVG}text"))
    assert not list(root.iter(f"{SVG}image"))    # nothing rasterised


def test_heatmap_is_embedded_as_one_image():
    fig = go.Figure(go.Heatmap(z=np.arange(12.0).reshape(3, 4)), layout=dict(width=300, height=200))
    root = ET.fromstring(export_bytes(fig, "svg", scale=3))
    images = list(root.iter(f"{SVG}image"))
    assert len(images) == 1
    href = images[0].get("href") or images[0].get("{http://www.w3.org/1999/xlink}href")
    assert href.startswith("data:image/png;base64,")
    assert b"/Subtype /Image" in export_bytes(fig, "pdf")


@pytest.mark.parametrize("scale, width, height", [(1, 400, 300), (2.5, 300, 200)])
def test_png_has_the_requested_size(scale, width, height):
    data = export_bytes(line_figure("png"), "png", scale=scale, width=width, height=height)
    assert png_size(data) == (round(width * scale), round(height * scale))


def test_layout_size_is_the_default():
    assert png_size(export_bytes(line_figure("png", width=321, height=123), "png")) == (321, 123)


def test_concurrent_exports_each_get_their_own_figure():
    n = 4
    figures = [line_figure(f"figure-{chr(65 + i)}-unique", width=300 + 20 * i, height=200 + 10 * i)
               for i in range(n)]
    results: dict[int, tuple[bytes, bytes]] = {}
    errors = []
    barrier = threading.Barrier(n)

    def work(i):
        try:
            barrier.wait()
            results[i] = (export_bytes(figures[i], "svg"), export_bytes(figures[i], "png", scale=2))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for i in range(n):
        svg, png = results[i]
        text = svg.decode()
        assert f"figure-{chr(65 + i)}-unique" in text
        assert all(f"figure-{chr(65 + j)}-unique" not in text for j in range(n) if j != i)
        assert png_size(png) == (2 * (300 + 20 * i), 2 * (200 + 10 * i))


def test_bad_requests_are_refused(monkeypatch):
    fig = line_figure("bad")
    with pytest.raises(ValueError, match="format"):
        export_bytes(fig, "eps")
    with pytest.raises(ValueError, match="scale"):
        export_bytes(fig, "png", scale=0)
    with pytest.raises(ExportError, match="MathJax"):
        export_bytes(line_figure("$\\beta$"), "svg")
    with pytest.raises(ValueError, match=".pdf"):
        format_of("figure.jpeg", FORMATS)
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    with pytest.raises(ExportError, match="/nonexistent/chromium"):
        browser_path()


def test_data_csv_and_npz_round_trip_exactly():
    table = {"run": np.array(["GDM", "GDM", "C-GDM"]), "t": np.array([0, 1, 0]),
             "loss": np.array([0.1 + 0.2, 1e-300, np.nan]), "diverged": np.array([False, True, False])}
    rows = list(csv.reader(io.StringIO(data_bytes(table, "csv").decode())))
    assert rows[0] == ["run", "t", "loss", "diverged"]
    assert [r[0] for r in rows[1:]] == ["GDM", "GDM", "C-GDM"]
    loss = np.array([float(r[2]) for r in rows[1:]])
    assert loss[0] == 0.1 + 0.2 and loss[1] == 1e-300 and np.isnan(loss[2])
    grid = np.arange(6.0).reshape(2, 3)
    with np.load(io.BytesIO(data_bytes(table, "npz", {"contour_z": grid})), allow_pickle=False) as npz:
        for key, col in table.items():
            np.testing.assert_array_equal(npz[key], col)
        np.testing.assert_array_equal(npz["contour_z"], grid)
    with pytest.raises(ValueError, match="one length"):
        data_bytes({"a": np.zeros(2), "b": np.zeros(3)}, "csv")
    with pytest.raises(ValueError, match="clash"):
        data_bytes(table, "npz", {"loss": grid})
