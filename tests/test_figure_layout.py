"""Publication layouts (viz.theme.apply_theme, viz.paper, ui.downloads.static_figure)
checked on the rendered files, not on the figure's JSON: every preset and every figure
the app can download, at single and double column width, is exported to SVG and opened
in headless Chromium, which measures each visible text element (its box with every
transform applied).  No two texts may overlap and no text may leave the drawing; no
text may cross a panel's frame (a title struck through by the frame line).  The PDFs
are checked with poppler: page width (252 / 504 pt), every font embedded, one family.
"""
from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import plotly.graph_objects as go
import pytest

from figures import presets
from tests.test_app import new_app, show
from ui.downloads import static_figure
from ui.views import VIEWS
from viz.export import export_bytes
from viz.theme import COLUMNS_IN, FONTS
from viz.ticks import linear_nticks, log_label_step, nice_labels, wrap

playwright = pytest.importorskip("playwright.sync_api")

WIDTHS = ("single", "double")
TOLERANCE_PX = 0.5                  # boxes may touch; overlapping by more in both directions fails
APP_QUERY = {"r_n": "16", "r_steps": "200"}     # small rate maps: the layout does not depend on the cell count
DOWNLOADS = {"trajectories": ("traj_contour", "traj_curves"), "rates": ("rate_maps",),
             "continuous": ("ode_contour", "ode_curves"), "inspector": ("inspector",), "decay": ("decay_curves",),
             "basins": ("basin_maps",)}     # every chart with ui.downloads.export_controls, by view

# Each visible <text>: its string and its box relative to the <svg>; each panel's frame
# (the box around plotly's axis lines: with mirrored axes, the whole frame).
MEASURE = """() => {
  const svg = document.querySelector('svg');
  const o = svg.getBoundingClientRect();
  const box = r => [r.left - o.left, r.top - o.top, r.right - o.left, r.bottom - o.top];
  const texts = [...svg.querySelectorAll('text')]
    .filter(t => t.textContent.trim() && t.checkVisibility({opacityProperty: true, visibilityProperty: true}))
    .map(t => ({text: t.textContent, box: box(t.getBoundingClientRect())}))
    .filter(t => t.box[2] > t.box[0] && t.box[3] > t.box[1]);
  const frames = [...svg.querySelectorAll('path.xlines-above, path.ylines-above')]
    .map(p => box(p.getBoundingClientRect()));
  return {width: svg.width.baseVal.value, height: svg.height.baseVal.value, texts, frames};
}"""


def measure(page, svg: bytes) -> dict:
    """Text boxes and panel frames of an SVG as Chromium lays it out."""
    page.set_content("<html><body style='margin:0'>" + svg.decode() + "</body></html>")
    return page.evaluate(MEASURE)


def _overlap(a, b) -> bool:
    return (min(a[2], b[2]) - max(a[0], b[0]) > TOLERANCE_PX) and (min(a[3], b[3]) - max(a[1], b[1]) > TOLERANCE_PX)


def _crosses(box, frame) -> bool:
    """Whether a text box straddles one of the frame's four edges (and so is struck by it)."""
    x0, y0, x1, y1 = box
    fx0, fy0, fx1, fy1 = frame
    within_x, within_y = x1 > fx0 + TOLERANCE_PX and x0 < fx1 - TOLERANCE_PX, \
        y1 > fy0 + TOLERANCE_PX and y0 < fy1 - TOLERANCE_PX
    vertical = any(x0 + TOLERANCE_PX < fx < x1 - TOLERANCE_PX for fx in (fx0, fx1)) and within_y
    horizontal = any(y0 + TOLERANCE_PX < fy < y1 - TOLERANCE_PX for fy in (fy0, fy1)) and within_x
    return vertical or horizontal


def layout_problems(m: dict) -> list[str]:
    """Overlapping texts, texts outside the drawing and texts across a frame, by string."""
    texts, problems = m["texts"], []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if _overlap(a["box"], b["box"]):
                problems.append(f"{a['text']!r} overlaps {b['text']!r}")
        x0, y0, x1, y1 = a["box"]
        if x0 < -TOLERANCE_PX or y0 < -TOLERANCE_PX or x1 > m["width"] + TOLERANCE_PX or y1 > m["height"] + TOLERANCE_PX:
            problems.append(f"{a['text']!r} leaves the {m['width']:g} x {m['height']:g} drawing: {a['box']}")
        if any(_crosses(a["box"], f) for f in m["frames"]):
            problems.append(f"{a['text']!r} crosses a panel frame")
    return problems


@pytest.fixture(scope="module")
def page():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        yield browser.new_page()
        browser.close()


@pytest.fixture(scope="module")
def preset_data():
    """Each preset's configuration and numbers, computed once (fig3's full 128 x 128 sweep)."""
    out = {}
    for name in presets.PRESETS:
        config = presets.default_config(name)
        out[name] = (config, presets.compute(config))
    return out


def preset_figure(preset_data, name: str, width: str) -> go.Figure:
    config, data = preset_data[name]
    config = {**config, "layout": {**config["layout"], "width": width}}
    return presets.build(config, data)


@pytest.fixture(scope="module")
def app_figures():
    """The app's downloadable charts as drawn with its default settings (key -> figure;
    small rate maps, APP_QUERY).  DOWNLOADS must name them all: each view's figure
    download buttons (``_x_<chart>_figure``) are read back."""
    at = new_app(APP_QUERY).run()
    out = {}
    for view in VIEWS:
        show(at, view.slug)
        buttons = {b.key[3:-7] for b in at.get("download_button") if re.fullmatch(r"_x_.+_figure", b.key or "")}
        assert buttons == set(DOWNLOADS.get(view.slug, ())), (view.slug, buttons)
        specs = {el.key: el.proto.spec for el in at.get("plotly_chart")}
        out.update({key: go.Figure(json.loads(specs[key])) for key in buttons})
    return out


# ----------------------------------------------------------------------------- text and ticks

def test_titles_break_after_a_comma_first_then_between_words():
    size = 10.0        # advances: digits, letters 6.4 px; spaces, commas 4.2 px; "=" and capitals 8.4 px
    assert wrap("ε = 0.001, β = 0.99", 80, size) == "ε = 0.001,<br>β = 0.99"     # 10 + 8 characters
    assert wrap("GDM: closed form", 80, size) == "GDM:<br>closed form"
    assert wrap("a long title here", 40, size) == "a long<br>title<br>here"
    assert wrap("fits", 80, size) == "fits"


def test_linear_ticks_are_nice_numbers_that_fit():
    assert nice_labels(-1.25, 1.25, 3) == ["−1", "0", "1"]
    assert nice_labels(0, 1000, 2) == ["0", "500", "1000"]
    assert nice_labels(0, 0.95, 5) == ["0.0", "0.2", "0.4", "0.6", "0.8"]
    # "1000" is 25.6 px at 10 px (EM 0.64), 31.6 px with its gap.  Plotly's step for nticks
    # n is 1000 / n rounded up to 1, 2, 5 x 10^k: n = 4 -> 500 (0, 500, 1000: 94.8 px),
    # n = 5..8 -> 200 (six labels: 190 px)
    assert linear_nticks(0, 1000, 96, 10.0, across=True) == 4
    assert linear_nticks(0, 1000, 189, 10.0, across=True) == 4
    assert linear_nticks(0, 1000, 190, 10.0, across=True) == 8
    # stacked labels take 18 px each: three (step 500) in 54 px, six (step 200) in 108 px
    assert linear_nticks(0, 1000, 60, 10.0, across=False) == 4
    assert linear_nticks(0, 1000, 108, 10.0, across=False) == 8


def test_log_labels_every_few_decades_never_more_than_fit():
    assert log_label_step(-18, 0, 19) == 1           # every decade: 19 labels
    assert log_label_step(-18, 0, 4) == 5            # 1, 1e-5, 1e-10, 1e-15
    assert log_label_step(-18, 0, 3) == 10           # 1, 1e-10
    assert log_label_step(-57, 0, 3) == 20           # 1, 1e-20, 1e-40
    assert log_label_step(-5, 0, 3) == 2             # 1, 1e-2, 1e-4
    assert log_label_step(-1, 9, 2) == 5             # 1, 1e5: two labels, not 1e0 alone (step 10)


# ----------------------------------------------------------------------------- rendered figures

def test_the_checker_sees_overlapping_crossing_and_escaping_text(page):
    """The measurement itself, on a drawing whose faults are known by construction."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    fig.update_layout(width=300, height=200, margin=dict(l=40, r=10, t=30, b=30), template="simple_white")
    fig.update_xaxes(mirror=True)
    fig.update_yaxes(mirror=True)
    fig.add_annotation(text="first", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.add_annotation(text="second", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.add_annotation(text="on the frame", x=0.5, y=1, yanchor="middle", xref="paper", yref="paper",
                       showarrow=False)
    fig.add_annotation(text="far out", x=0.95, y=0.2, xref="paper", yref="paper", showarrow=False, xshift=80)
    problems = "\n".join(layout_problems(measure(page, export_bytes(fig, "svg"))))
    assert "'first' overlaps 'second'" in problems
    assert "'on the frame' crosses a panel frame" in problems
    assert "'far out' leaves the 300 x 200 drawing" in problems
    assert "'first' leaves" not in problems and "'second' crosses" not in problems


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_preset_text_never_overlaps(page, preset_data, name, width):
    problems = layout_problems(measure(page, export_bytes(preset_figure(preset_data, name, width), "svg")))
    assert not problems, f"{name} at {width} width:\n" + "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("key", [k for keys in DOWNLOADS.values() for k in keys])
def test_app_download_text_never_overlaps(page, app_figures, key, width):
    problems = layout_problems(measure(page, export_bytes(static_figure(app_figures[key], width), "svg")))
    assert not problems, f"{key} at {width} width:\n" + "\n".join(problems)


# ----------------------------------------------------------------------------- fonts and PDF

GLYPHS = "₀₁₂εβρκλφ−"        # subscripts, Greek and the minus sign of the figures' labels


@pytest.mark.parametrize("font", list(FONTS))
def test_the_first_font_family_has_every_glyph(font):
    """fontconfig's own coverage table: the family named first has each glyph, so no
    text falls back to a second family."""
    first = FONTS[font].split(",")[0].strip()
    for ch in GLYPHS:
        out = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True, text=True).stdout
        assert first in {f.strip() for line in out.splitlines() for f in line.split(",")}, (first, ch)


def _poppler(tool: str, pdf) -> str:
    return subprocess.run([tool, str(pdf)], capture_output=True, text=True, check=True).stdout


def fonts_of(pdffonts: str) -> list[tuple[str, str]]:
    """(base font name without its subset tag, emb column) per font row of pdffonts."""
    rows = pdffonts.splitlines()[2:]
    out = []
    for row in rows:
        fields = row.split()
        emb = re.search(r"\s(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$", row)
        out.append((fields[0].split("+")[-1], emb.group(1) if emb else "?"))
    return out


def family(font: str) -> str:
    """'DejaVuSerif-Italic' -> 'DejaVuSerif'."""
    return font.split("-")[0].split(",")[0]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_preset_pdf_page_and_fonts(tmp_path, preset_data, name, width):
    pdf = tmp_path / "f.pdf"
    pdf.write_bytes(export_bytes(preset_figure(preset_data, name, width), "pdf"))
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", _poppler("pdfinfo", pdf))
    assert float(size.group(1)) == pytest.approx(COLUMNS_IN[width] * 72, abs=1)
    fonts = fonts_of(_poppler("pdffonts", pdf))
    assert fonts and all(emb == "yes" for _, emb in fonts), fonts
    assert len({family(f) for f, _ in fonts}) == 1, fonts


@pytest.mark.parametrize("width", WIDTHS)
def test_a_strip_of_rises_for_four_runs_keeps_its_labels_apart(page, width):
    """The rise strip is a thin row: the layout gives it room for every run's label."""
    from viz.curves import Series, step_curves
    t = np.arange(301)
    loss = np.exp(-t / 30) * (1.5 + np.cos(t))
    runs = [Series(name, "#0072B2", "solid", t, loss, loss, rises=np.arange(1, 300, 7))
            for name in ("GDM", "C-GDM", "Adam", "C-Adam")]
    fig = static_figure(step_curves(runs, 0.0), width)
    problems = layout_problems(measure(page, export_bytes(fig, "svg")))
    assert not problems, "\n".join(problems)
