"""Static export: figures as vector PDF / SVG or PNG, and the numbers behind them as
CSV / NPZ.  The command line (``python -m dynamics figure``) and the app's download
buttons both call ``export_bytes`` and ``data_bytes``.

Renderer.  Kaleido 1.x drives a headless Chromium.  We run Debian's ``/usr/bin/chromium``
(or the file named by $BROWSER_PATH) and pass its path explicitly: nothing is
downloaded, and a Chromium that choreographer may have downloaded earlier is not
preferred over it.  plotly.js comes from the installed plotly package; MathJax only
from the offline file of viz.theme.mathjax_path() (otherwise MathJax is off, and a
figure with LaTeX text is refused rather than rendered with raw "$...$").

One server per process.  The first export starts one Kaleido browser on a private
event-loop thread (a few seconds); later exports reuse it (tens of milliseconds).
Exports are serialised with a lock: Kaleido's own shared sync server can hand one
caller another caller's image when called from several threads (plotly/Kaleido#444),
so it is not used.  A render that fails or times out shuts the server down; the next
export starts a fresh one.

Physical size.  PDF and SVG are drawn at the figure's physical size whatever ``scale``:
one layout pixel is 1/96 in (Chromium's CSS pixel), so a 336 px wide figure is a page
3.5 in = 252 pt wide and its 10.67 px text is 8 pt.  ``scale`` multiplies only
resolutions: PNG output has ``width * scale`` x ``height * scale`` pixels, and heatmaps
(which plotly.js paints on a canvas) become images with ``scale`` image pixels per
layout pixel in every format (viz.raster).  Axes, text, lines, markers and contour lines
stay vector paths; fonts are embedded by Chromium.

Reproducible bytes.  Chromium stamps a PDF with its creation time; those dates are set
to $SOURCE_DATE_EPOCH (the reproducible-builds convention), else to 1970-01-01, so the
same figure gives the same PDF bytes (``python -m dynamics figure --config``).
"""
from __future__ import annotations

import asyncio
import atexit
import csv
import io
import math
import os
import re
import threading
import time

import numpy as np
import plotly.graph_objects as go

from viz.outfile import check_bytes, format_of, write_bytes
from viz.raster import rasterise_heatmaps
from viz.theme import MATHJAX_ENV, mathjax_path

FORMATS = ("pdf", "svg", "png")
DATA_FORMATS = ("csv", "npz")
DEFAULT_BROWSER = "/usr/bin/chromium"
START_TIMEOUT_S = 60.0
RENDER_TIMEOUT_S = 60.0
# Size limits.  Kaleido's Chromium renders fig2 (672 x 221 layout px) correctly up to
# scale 40 (26880 x 8840 px) and returns a 3-byte "PNG" at scale 48 (32256 x 10608 px);
# the limits keep well below that.
MAX_SCALE = 20.0
MAX_LAYOUT_PX = 4800.0              # width and height in layout pixels (50 in)
MAX_PNG_SIDE = 16384                # pixels per side of a PNG
MAX_PNG_PIXELS = 150_000_000        # pixels of a PNG (the app allows 20 x 10 in at scale 8: 118 M)
_LATEX = re.compile(r'"\$[^"]*\$"')
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}\+00'00'\)")


class ExportError(RuntimeError):
    """The renderer could not be started or could not render a figure."""


def browser_path() -> str:
    """$BROWSER_PATH if set, else Debian's /usr/bin/chromium; it must be an executable file."""
    path = os.environ.get("BROWSER_PATH") or DEFAULT_BROWSER
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ExportError(f"no Chromium at {path!r}: install Debian's chromium (apt-get install chromium) "
                          "or set BROWSER_PATH to a Chromium executable")
    return path


class _Server:
    """One Kaleido browser on its own asyncio loop thread; callers hold ``_LOCK``."""

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None
        self._mathjax: str | None = None

    def _start(self, mathjax: str | None) -> None:
        import kaleido  # imported on first use: starting the app needs no browser

        path = browser_path()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="kaleido-export", daemon=True)
        thread.start()

        async def _open():
            k = kaleido.Kaleido(path=path, mathjax=mathjax or False, timeout=RENDER_TIMEOUT_S)
            await k.open()
            return k

        self._loop, self._thread, self._mathjax = loop, thread, mathjax
        try:
            self._kaleido = asyncio.run_coroutine_threadsafe(_open(), loop).result(START_TIMEOUT_S)
        except Exception as err:
            self.stop()
            raise ExportError(f"could not start Chromium at {path!r} for export: {err}") from err
        # Exit handlers run last-registered first: registered again now, after the browser
        # made its temporary profile folder (removed by an exit handler of its own), the
        # browser is closed before that folder is removed (else: "Directory not empty").
        atexit.unregister(_shutdown)
        atexit.register(_shutdown)

    def render(self, fig_dict: dict, opts: dict, mathjax: str | None) -> bytes:
        """Render with a browser whose page loads ``mathjax`` (restarted if it changed)."""
        if self._kaleido is not None and mathjax != self._mathjax:
            self.stop()
        if self._kaleido is None:
            self._start(mathjax)
        future = asyncio.run_coroutine_threadsafe(self._kaleido.calc_fig(fig_dict, opts=opts), self._loop)
        try:
            return future.result(RENDER_TIMEOUT_S + 5)
        except Exception as err:
            future.cancel()
            self.stop()
            raise ExportError(f"export to {opts['format']} failed: {type(err).__name__}: {err}") from err

    def stop(self) -> None:
        """Close the browser and the loop thread (also at interpreter exit)."""
        loop, k = self._loop, self._kaleido
        self._loop = self._thread = self._kaleido = None
        if loop is None:
            return
        if k is not None:
            try:
                asyncio.run_coroutine_threadsafe(k.close(), loop).result(10)
            except Exception:  # noqa: BLE001 - best effort at shutdown; the process is leaving
                pass
        loop.call_soon_threadsafe(loop.stop)


_SERVER = _Server()
_LOCK = threading.Lock()


@atexit.register
def _shutdown() -> None:
    with _LOCK:
        _SERVER.stop()


def _check_size(name: str, value, hi: float) -> None:
    if value is not None and not (np.isfinite(value) and 0 < value <= hi):
        raise ValueError(f"{name} must be a number in (0, {hi:g}]; got {value!r}")


def png_pixels(width: float, height: float, scale: float) -> tuple[int, int]:
    """The pixel size of a PNG of a ``width`` x ``height`` layout at ``scale``: Chromium
    truncates (fig2, 672 x 221 px at scale 1.37: 920 x 302 pixels)."""
    return math.floor(width * scale + 1e-6), math.floor(height * scale + 1e-6)


def png_problem(width: float, height: float, scale: float) -> str | None:
    """Why a PNG of this layout size and scale is refused (too many pixels), or None."""
    w, h = png_pixels(width, height, scale)
    if max(w, h) > MAX_PNG_SIDE or w * h > MAX_PNG_PIXELS:
        return (f"a PNG of {w} x {h} pixels ({width:g} x {height:g} layout px at scale {scale:g}) is too large: "
                f"at most {MAX_PNG_SIDE} pixels a side and {MAX_PNG_PIXELS / 1e6:g} million pixels; "
                "lower --scale")
    return None


def pdf_date() -> bytes:
    """The date written into PDFs: $SOURCE_DATE_EPOCH (seconds, UTC) if set, else 0."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not text.isdigit():
        raise ExportError(f"SOURCE_DATE_EPOCH must be a whole number of seconds; got {text!r}")
    return time.strftime("D:%Y%m%d%H%M%S+00'00'", time.gmtime(int(text))).encode()


def _fixed_dates(pdf: bytes) -> bytes:
    """The PDF with its creation and modification dates set to ``pdf_date`` (same length:
    the cross-reference offsets stay valid)."""
    date = pdf_date()
    return _PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (" + date + b")", pdf)


def export_bytes(fig: go.Figure, fmt: str, scale: float = 1.0, width: float | None = None,
                 height: float | None = None) -> bytes:
    """The figure as ``fmt`` (pdf, svg or png) bytes.  width / height: layout pixels
    (default: the figure's layout size, else plotly's 700 x 500; 96 px = 1 in in PDF and
    SVG); scale multiplies the resolution of PNG and of heatmap images only."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    for name, value, hi in (("scale", scale, MAX_SCALE), ("width", width, MAX_LAYOUT_PX),
                            ("height", height, MAX_LAYOUT_PX)):
        _check_size(name, value, hi)
    mathjax = mathjax_path()
    if mathjax is None and _LATEX.search(fig.to_json()):
        raise ExportError(f"the figure has LaTeX text ($...$) but no offline MathJax: set {MATHJAX_ENV} "
                          "to MathJax 3's tex-svg.js, or use the Unicode labels of viz.theme")
    fig = go.Figure(fig)
    fig.update_layout(width=width or fig.layout.width or 700, height=height or fig.layout.height or 500)
    problem = png_problem(fig.layout.width, fig.layout.height, scale) if fmt == "png" else None
    if problem:
        raise ValueError(problem)
    fig = rasterise_heatmaps(fig, scale)
    opts = dict(format=fmt, scale=float(scale) if fmt == "png" else 1.0, width=fig.layout.width,
                height=fig.layout.height)
    with _LOCK:
        data = _SERVER.render(fig.to_plotly_json(), opts, mathjax)
    data = _fixed_dates(data) if fmt == "pdf" else data
    size = png_pixels(fig.layout.width, fig.layout.height, scale) if fmt == "png" else None
    try:
        check_bytes(data, fmt, size)
    except ValueError as err:
        raise ExportError(f"the renderer returned a broken {fmt.upper()}: {err}") from None
    return data


def write_figure(fig: go.Figure, path: str, scale: float = 1.0, width: float | None = None,
                 height: float | None = None) -> str:
    """Export ``fig`` to ``path`` in the format of its extension, checked
    (viz.outfile.write_bytes); returns the format."""
    fmt = format_of(path, FORMATS)
    write_bytes(path, export_bytes(fig, fmt, scale=scale, width=width, height=height), fmt)
    return fmt


# ----------------------------------------------------------------------------- data

def stack_rows(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One table from per-run columns: the runs one after another, scalars (the run's
    label, ...) repeated on every row of their run."""
    sizes = [max(np.size(v) for v in r.values()) for r in rows]
    return {k: np.concatenate([np.broadcast_to(r[k], (n,)) for r, n in zip(rows, sizes)]) for k in rows[0]}


def _columns(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    cols = {k: np.asarray(v) for k, v in table.items()}
    lengths = {k: v.shape for k, v in cols.items()}
    if len({s for s in lengths.values()}) > 1 or any(len(s) != 1 for s in lengths.values()):
        raise ValueError(f"a table needs 1-D columns of one length; got shapes {lengths}")
    return cols


def data_bytes(table: dict[str, np.ndarray], fmt: str, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """A tidy table (column name -> 1-D array, one row per plotted point) as CSV or NPZ.
    CSV writes floats with ``repr`` (they read back exactly); NPZ stores every column
    plus ``arrays`` (e.g. a contour grid), strings as Unicode arrays (no pickle)."""
    if fmt not in DATA_FORMATS:
        raise ValueError(f"data format must be one of {', '.join(DATA_FORMATS)}; got {fmt!r}")
    cols = _columns(table)
    if fmt == "npz":
        clash = set(cols) & set(arrays or {})
        if clash:
            raise ValueError(f"array names clash with table columns: {sorted(clash)}")
        buf = io.BytesIO()
        np.savez_compressed(buf, **cols, **(arrays or {}))
        return buf.getvalue()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(cols)
    rows = zip(*(v.tolist() for v in cols.values()))
    writer.writerows([repr(x) if isinstance(x, float) else x for x in row] for row in rows)
    return text.getvalue().encode()


def write_data(table: dict[str, np.ndarray], path: str, arrays: dict[str, np.ndarray] | None = None) -> str:
    """Write ``data_bytes`` to ``path`` in the format of its extension, checked
    (viz.outfile.write_bytes); returns the format."""
    fmt = format_of(path, DATA_FORMATS)
    write_bytes(path, data_bytes(table, fmt, arrays), fmt)
    return fmt
