"""The sidebar's "Paper figures" panel: a preset of figures.presets with the command
line's layout choices (width single / double / inches, height in inches, font, scale,
format), downloaded as the very files ``python -m dynamics figure`` writes for the same
configuration (figures.bundle): the figure alone, or the bundle (figure as PDF, data as
CSV, configuration as JSON, LaTeX snippet) as one ZIP.  The panel shows the equivalent
command.  Files are computed when a button is clicked (the rate maps take seconds).
"""
from __future__ import annotations

import functools
import io
import zipfile
from typing import Any

import streamlit as st

from figures import presets
from figures.bundle import bundle_files, figure_file_bytes
from ui import downloads
from viz.export import FORMATS
from viz.theme import COLUMNS_IN, FONTS, PX_PER_INCH, inches_px

KEY = "_paper"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)          # fixed member dates: the same files give the same ZIP


def paper_config(preset: str, width: str, height_in: float, font: str, scale: float) -> dict[str, Any]:
    """The preset's configuration with the layout the command line's options would give
    (``--width width --height <height_in>in --font font --scale scale``), validated."""
    config = presets.default_config(preset)
    config["layout"].update(width=width, height=inches_px(height_in), font=font, scale=float(scale))
    presets.validate(config)
    return config


def command(preset: str, width: str, height_in: float, font: str, scale: float, fmt: str) -> str:
    """The command line that writes the same figure file as ``paper_config`` of these."""
    return (f"python -m dynamics figure --preset {preset} --width {width} --height {height_in!r}in --font {font} "
            f"--scale {float(scale)!r} --out {preset}.{fmt}")


def bundle_zip(config: dict[str, Any]) -> bytes:
    """The files of ``python -m dynamics figure --out-dir`` for ``config`` in one ZIP."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in bundle_files(config)[0].items():
            z.writestr(zipfile.ZipInfo(name, ZIP_DATE), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _layout_inputs(preset: str) -> tuple[str, float, str, float, str]:
    """(width, height in inches, font, scale, format) from the panel's widgets."""
    c = st.columns(2)
    kind = c[0].selectbox("width", [*COLUMNS_IN, "inches"], key=f"{KEY}_width",
                          format_func=lambda k: f"{k} ({COLUMNS_IN[k]} in)" if k in COLUMNS_IN else "other (in)")
    inches = c[1].number_input("width (in)", 1.0, 20.0, 5.0, 0.1, key=f"{KEY}_inches", disabled=kind != "inches")
    width = kind if kind in COLUMNS_IN else f"{inches:g}in"
    default_height = presets.PRESETS[preset].config["layout"]["height"] / PX_PER_INCH
    height = c[0].number_input("height (in)", 0.5, 20.0, round(default_height, 2), 0.1, key=f"{KEY}_height_{preset}",
                               help="a height too short for the panels is raised to what they need (the JSON "
                                    "and the LaTeX snippet state the height drawn)")
    font = c[1].selectbox("font", list(FONTS), key=f"{KEY}_font")
    fmt = c[0].selectbox("format", FORMATS, key=f"{KEY}_fmt", format_func=str.upper)
    scale = c[1].number_input("scale", 1.0, 8.0, 4.0, 0.5, key=f"{KEY}_scale",
                              help="resolution only: PNG pixels and heatmap images; never the size of a PDF or SVG")
    return width, height, font, scale, fmt


def panel() -> None:
    """The sidebar expander."""
    export_problem = downloads.export_problem()
    with st.sidebar.expander("Paper figures (files for a paper)"):
        preset = st.selectbox("figure", list(presets.PRESETS), key=f"{KEY}_preset",
                              help="\n\n".join(f"**{k}**: {p.description}" for k, p in presets.PRESETS.items()))
        width, height, font, scale, fmt = _layout_inputs(preset)
        config = paper_config(preset, width, height, font, scale)
        st.download_button(f"Figure ({fmt.upper()})", type="primary", key=f"{KEY}_figure",
                           data=functools.partial(figure_file_bytes, config, fmt), file_name=f"{preset}.{fmt}",
                           mime=downloads.MIME[fmt], on_click="ignore", disabled=export_problem is not None,
                           help="computed and rendered when you click (up to ~30 s for the rate maps)")
        st.download_button("Bundle (ZIP: PDF, CSV, JSON, LaTeX)", key=f"{KEY}_bundle",
                           data=functools.partial(bundle_zip, config), file_name=f"{preset}.zip",
                           mime="application/zip", on_click="ignore", disabled=export_problem is not None,
                           help="what `--out-dir` writes: the PDF, its data, its configuration (loads back with "
                                "--config) and a LaTeX snippet that includes the PDF at natural size")
        if export_problem is not None:
            st.caption(f"Figure files are unavailable here: {export_problem}")
        st.caption("The same files as")
        st.code(command(preset, width, height, font, scale, fmt), language="bash", wrap_lines=True)
