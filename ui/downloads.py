"""Downloads: every chart of the app as PDF / SVG / PNG (optionally in the publication
theme), the numbers behind it as CSV / NPZ, and the app's whole configuration as a
JSON file that loads back.

- ``plotly_chart``: the one way the views draw a chart; its modebar camera saves SVG
  (``modebar_config``).
- ``export_controls``: the expander under a chart.  Figure bytes are rendered only when
  the button is clicked: st.download_button takes a callable for ``data`` and runs it on
  click (Streamlit's deferred download, on a thread beside the script) through
  viz.export (Kaleido with Debian's Chromium).  The file holds the chart without its
  interactive parts (animation frames, play buttons and slider, invisible click targets).
  In PDF / SVG a heatmap is an embedded PNG image (viz.export); the control says so.
- ``app_config`` / ``parse_app_config``: the state of ui.state (every field, the start,
  the toy's parameters) and the open view in a dynamics.configfile file
  ``{"dynamics_figure_config": 1, "versions": ..., "figure": {"app_state": ..., "view": ...}}``.
  Loading reads it with the loader of every configuration file (dynamics.configfile:
  size, nesting and number limits; an upload over SIZE_LIMIT is refused before it is
  read) and validates it with the URL parser (ui.state.parse_query): a value the URL
  would reject makes the whole file an error, never a silent default; unknown keys are
  warnings.
- ``config_panel``: the sidebar expander that downloads and uploads that file.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dynamics.configfile import SIZE_LIMIT, ConfigError, check_like, check_size, decode, dumps, loads, short
from ui import session
from ui.state import FIELDS, PARAM_PREFIX, START_KEYS, defaults, parse_query
from ui.text import LINE_LIMIT, plain
from ui.views import VIEWS, label_of, slug_of
from viz.animation import still
from viz.contour import CLICK_GRID
from viz.export import ExportError, browser_path, data_bytes, export_bytes, stack_rows
from viz.ratemap import CLICK_CELLS
from viz.theme import FONTS, apply_theme, inches_px, light_ink, width_px

MIME = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png", "csv": "text/csv",
        "npz": "application/octet-stream", "json": "application/json", "gif": "image/gif", "mp4": "video/mp4"}
THEMES = {"screen": "as on screen", "single": "paper: single column (3.5 in)",
          "double": "paper: double column (7 in)", "inches": "paper: other width (in)"}
SCREEN_WIDTH = 900              # px: a figure drawn "as on screen" has no width of its own
DEFAULT_HEIGHT_IN = 2.6
PAPER_LINE, PAPER_MARKER = 1.2, 7     # px, as viz.paper
INTERACTIVE_TRACES = (CLICK_GRID, CLICK_CELLS)
UPLOAD_KEY = "_config_upload"
NOTICE_KEY = "_export_notice_shown"
MESSAGE_KEY = "_config_message"
STATE_KEY, VIEW_KEY = "app_state", "view"



# ----------------------------------------------------------------------------- charts

def modebar_config(filename: str) -> dict[str, Any]:
    """Plotly config: no logo; the camera button saves an SVG named ``filename``."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "svg", "filename": filename}}


def plotly_chart(fig: go.Figure, key: str, **kwargs) -> None:
    """st.plotly_chart with the app's modebar config (every chart of the app)."""
    st.plotly_chart(fig, key=key, config=modebar_config(key), **kwargs)


def static_figure(fig: go.Figure, theme: str = "screen", height_in: float = DEFAULT_HEIGHT_IN,
                  font: str = "serif") -> go.Figure:
    """A copy of ``fig`` for a file: no frames, sliders, play buttons or click targets;
    ``theme`` "screen" keeps the screen style at SCREEN_WIDTH px, a paper width
    ("single", "double" or "<x>in", as ``figure --width``) applies viz.theme.apply_theme
    at that width, ``height_in`` inches and ``font``.  A file is drawn on white whatever
    the page's theme: the dark theme's ink is black again (viz.theme.light_ink)."""
    if theme != "screen":
        width_px(theme)                          # ValueError for a width that is not one
    spec = light_ink(still(fig.to_plotly_json()))
    spec["data"] = [t for t in spec["data"] if t.get("name") not in INTERACTIVE_TRACES]
    out = go.Figure(spec)
    if theme == "screen":
        out.update_layout(width=fig.layout.width or SCREEN_WIDTH)
    else:
        apply_theme(out, width=theme, height=inches_px(height_in), font=font)
        _thin(out)
    return out


def _thin(fig: go.Figure) -> None:
    """Print sizes for the screen's lines and markers (at most 1.2 px lines, 7 px
    markers with 1 px outlines: viz.paper's sizes)."""
    for t in fig.data:
        if t.type != "scatter":
            continue
        if t.line.width is not None:
            t.line.width = min(t.line.width, PAPER_LINE)
        if t.marker.size is not None and np.isscalar(t.marker.size):
            t.marker.size = min(t.marker.size, PAPER_MARKER)
        if t.marker.line.width is not None and np.isscalar(t.marker.line.width):
            t.marker.line.width = min(t.marker.line.width, 1.0)


def has_raster(fig: go.Figure) -> bool:
    """Whether a vector export embeds an image: plotly.js paints heatmaps (and
    heatmap-coloured contours) on a canvas."""
    return any(t.type == "heatmap" or (t.type == "contour" and t.contours.coloring == "heatmap") for t in fig.data)


def figure_bytes(fig: go.Figure, fmt: str, scale: float = 1.0, theme: str = "screen",
                 height_in: float = DEFAULT_HEIGHT_IN, font: str = "serif") -> bytes:
    """``fig`` as a PDF / SVG / PNG file (viz.export.export_bytes of ``static_figure``)."""
    return export_bytes(static_figure(fig, theme, height_in, font), fmt, scale=scale)


def run_table(series: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One tidy table from per-run columns (label -> column -> 1-D array of one length
    per run): a ``run`` column, then the columns, runs one after another."""
    return stack_rows([{"run": np.array(label), **{k: np.asarray(v) for k, v in cols.items()}}
                   for label, cols in series.items()])


# ----------------------------------------------------------------------------- configuration

def app_config(values: Mapping[str, Any], view: str) -> str:
    """The JSON file of the app's state ``values`` (ui.session.values) and ``view`` (a slug)."""
    state = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return dumps({STATE_KEY: state, VIEW_KEY: view})


def parse_app_config(text: str, source: str = "config") -> tuple[dict[str, Any], str, list[str]]:
    """(values, view slug, warnings: versions, unknown keys, settings the file lacks,
    which take their defaults) from an ``app_config`` file; ConfigError with one line
    naming the first problem otherwise."""
    figure, warnings = loads(text, source)
    if not {STATE_KEY, VIEW_KEY} <= set(figure):
        raise ConfigError(f"{source}: not a configuration of this app (expected 'figure' to hold "
                          f"{STATE_KEY!r} and {VIEW_KEY!r}, got {short(sorted(figure))}); a file of "
                          "`python -m dynamics figure` loads with that command")
    unknown = sorted(set(figure) - {STATE_KEY, VIEW_KEY})
    warnings += [f"{source}: figure: unknown keys {short(unknown)} ignored"] if unknown else []
    state, view = figure[STATE_KEY], figure[VIEW_KEY]
    if not isinstance(view, str) or label_of(view) is None:
        raise ConfigError(f"{source}: view {short(view)} is not one of {', '.join(v.slug for v in VIEWS)}")
    toys = FIELDS["toy"].choices
    if not isinstance(state, dict) or not isinstance(state.get("toy"), str) or state["toy"] not in toys:
        got = state.get("toy") if isinstance(state, dict) else state
        raise ConfigError(f"{source}: {STATE_KEY}.toy {short(got)} is not one of {', '.join(toys)}")
    template = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults(state["toy"]).items()}
    missing = sorted(set(template) - set(state))           # settings newer than the file: their defaults
    if missing:
        warnings.append(f"{source}: {STATE_KEY}: settings {short(missing)} are not in the file (written before they "
                        "existed?): they take their defaults")
        state.update({k: template[k] for k in missing})
    warnings += check_like(state, template, f"{source}: {STATE_KEY}")
    query = {k: FIELDS[k].format(state[k]) for k in FIELDS}
    query["start"] = ",".join(repr(float(state[k])) for k in START_KEYS)
    query.update({k: repr(float(v)) for k, v in state.items() if k.startswith(PARAM_PREFIX)})
    values, problems = parse_query(query)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(map(_file_problem, problems)))
    return values, view, warnings


def _file_problem(problem: str) -> str:
    """A parse_query warning about a value as a problem of the file, which is refused as
    a whole: "app_state.lr = '-1.0': expected a number in [1e-06, 100]"."""
    found = re.fullmatch(r"URL parameter (\w+)=(.*) ignored \((.*)\); using .*", problem)
    return f"{STATE_KEY}.{found[1]} = {found[2]}: {found[3]}" if found else problem.replace("URL parameter", "setting")


def _on_upload() -> None:
    """Callback of the uploader: load the file into the state, or keep its error (a
    file larger than SIZE_LIMIT is refused before it is read)."""
    ss = st.session_state
    upload = ss.get(UPLOAD_KEY)
    if upload is None:
        ss.pop(MESSAGE_KEY, None)
        return
    try:
        check_size(upload.size, upload.name)          # before anything is read
        values, view, warnings = parse_app_config(decode(upload.getvalue(), upload.name), upload.name)
    except ConfigError as err:
        ss[MESSAGE_KEY] = ("error", f"The configuration was not loaded: {plain(err, LINE_LIMIT)}")
        return
    session.load(values)
    ss[session.TAB_KEY] = label_of(view)
    ss[MESSAGE_KEY] = ("success", f"Loaded {plain(upload.name)}."
                       + "".join(f"\n\n- {plain(w, LINE_LIMIT)}" for w in warnings))


def _config_download(values: Mapping[str, Any], key: str, label: str) -> None:
    view = slug_of(st.session_state.get(session.TAB_KEY))
    st.download_button(label, data=functools.partial(app_config, dict(values), view),
                       file_name=f"cautious-dynamics-{view}.json", mime=MIME["json"], on_click="ignore", key=key,
                       help="every setting of the app and the open view; load it back in the sidebar "
                            "(Save / load configuration) to reproduce this view")


def config_panel() -> None:
    """Sidebar: download the configuration, upload one (errors shown here, not raised)."""
    with st.sidebar.expander("Save / load configuration"):
        _config_download(session.values(), "_config_download", "Download configuration (JSON)")
        st.file_uploader("Load a configuration (JSON)", type=["json"], key=UPLOAD_KEY, on_change=_on_upload,
                         max_upload_size=SIZE_LIMIT // 2**20,
                         help="a file saved by this app: sets every setting and the view it was saved from")
        kind, text = st.session_state.get(MESSAGE_KEY, (None, ""))
        if kind == "error":
            st.error(text)
        elif kind == "success":
            st.success(text)


# ----------------------------------------------------------------------------- export controls

def export_problem() -> str | None:
    """Why figure files cannot be made here (no Chromium), or None."""
    try:
        browser_path()
    except ExportError as err:
        return str(err)
    return None


def export_notice() -> None:
    """Say once per session, at the top of the page, that figure files need Chromium."""
    problem = export_problem()
    if problem is not None and not st.session_state.get(NOTICE_KEY):
        st.session_state[NOTICE_KEY] = True
        st.warning(f"Figure files (PDF, SVG, PNG) are unavailable on this server: {problem}. Data and "
                   "configuration downloads work, and each plot's camera button still saves an SVG.")


def _layout_inputs(k: str, fmt: str, raster: bool) -> tuple[str, float, str, float]:
    """(theme or width, height in inches, font, scale) from the export expander's widgets."""
    c = st.columns([2, 1, 1, 1, 1])
    theme = c[0].selectbox("style", list(THEMES), key=f"{k}_theme", format_func=THEMES.get,
                           help="paper: white background, black axes, 8 pt text, thin lines, at a physical width "
                                "(as python -m dynamics figure --width)")
    paper = theme != "screen"
    inches = c[1].number_input("width (in)", 1.0, 20.0, 5.0, 0.1, key=f"{k}_inches", disabled=theme != "inches")
    height = c[2].number_input("height (in)", 1.0, 10.0, DEFAULT_HEIGHT_IN, 0.1, key=f"{k}_height",
                               disabled=not paper, help="paper styles only; a height too short for the panels is "
                                                        "raised to what they need")
    font = c[3].selectbox("font", list(FONTS), key=f"{k}_font", disabled=not paper)
    scale = c[4].number_input("scale", 1.0, 8.0, 2.0, 0.5, key=f"{k}_scale", disabled=fmt != "png" and not raster,
                              help="resolution only: PNG pixels = size × scale, and the heatmap images in PDF/SVG; "
                                   "never the physical size")
    return (f"{inches:g}in" if theme == "inches" else theme), float(height), font, float(scale)


def export_controls(fig: go.Figure, key: str, table: Mapping[str, np.ndarray],
                    arrays: Mapping[str, np.ndarray] | None = None) -> None:
    """The expander under chart ``key``: the figure as PDF / SVG / PNG (rendered on
    click) in the screen style or at a paper width, its numbers (``table``: column ->
    1-D array; ``arrays``: extra NPZ arrays) as CSV / NPZ, and the configuration as JSON."""
    k = f"_x_{key}"
    with st.expander("Download: figure · data · configuration"):
        fmt = st.selectbox("format", ("pdf", "svg", "png"), key=f"{k}_fmt", format_func=str.upper)
        raster = has_raster(fig)
        theme, height, font, scale = _layout_inputs(k, fmt, raster)
        problem = export_problem()
        b = st.columns(4)
        b[0].download_button(f"Figure ({fmt.upper()})", type="primary", key=f"{k}_figure",
                             data=functools.partial(figure_bytes, fig, fmt, scale, theme, height, font),
                             file_name=f"{key}.{fmt}", mime=MIME[fmt], on_click="ignore", disabled=problem is not None,
                             help=problem or "rendered when you click (a few seconds the first time)")
        for col, data_fmt in zip(b[1:3], ("csv", "npz")):
            col.download_button(f"Data ({data_fmt.upper()})", key=f"{k}_{data_fmt}",
                                data=functools.partial(data_bytes, dict(table), data_fmt,
                                                       dict(arrays or {}) if data_fmt == "npz" else None),
                                file_name=f"{key}.{data_fmt}", mime=MIME[data_fmt], on_click="ignore",
                                help="one row per plotted point" + ("; NPZ adds " + ", ".join(arrays)
                                                                    if arrays and data_fmt == "npz" else ""))
        with b[3]:
            _config_download(session.values(), f"{k}_config", "Config (JSON)")
        if raster:
            st.caption("The heatmaps are embedded in PDF and SVG as one image per panel (scale × its size in "
                       "pixels); axes, text, lines and markers stay vector.")
        st.caption("The file has no animation controls or click targets. Paper styles are exactly the width "
                   "chosen (single column 3.5 in = 252 pt), with 8 pt text.")
