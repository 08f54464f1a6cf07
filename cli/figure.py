"""``python -m dynamics figure``: a paper figure (figures.presets) as PDF, SVG or PNG,
its numbers as CSV or NPZ, and its full configuration as JSON that ``--config`` loads
back to reproduce it exactly (dynamics.configfile).

    python -m dynamics figure --preset fig2 --out fig2.pdf --data-out fig2.csv --config-out fig2.json
    python -m dynamics figure --config fig2.json --out fig2.png --scale 4
    python -m dynamics figure --preset all --out-dir figs/ --width single

``--width``, ``--height``, ``--font`` and ``--scale`` override the configuration's
layout, and the written configuration records the values used.  PDF and SVG are exactly
the layout's physical size (``--width single`` is 3.5 in = 252 pt wide); ``--scale``
sets only the resolution of PNG files and of heatmap images.  ``--out-dir`` writes a
figure bundle (figures.bundle): NAME.pdf, NAME.csv, NAME.json and NAME.tex per preset.

Every file is checked before "wrote" is printed (viz.outfile: it reads back as its
format, a PNG has the expected pixel size; written under a temporary name, then
renamed).  Exit status 2: bad input, including an output path that cannot take its
file (checked before any computation) and a PNG over the size limits; exit status 1:
the renderer or the disk failed, and no file claiming to be the output is left.
"""
from __future__ import annotations

import math
import os
import sys
import time

from cli.options import UsageError, add_allow_large, check, check_budget
from dynamics.configfile import ConfigError, dumps, load
from figures import presets
from figures.bundle import built, bundle_files
from viz.export import (DATA_FORMATS, FORMATS, MAX_LAYOUT_PX, MAX_PNG_PIXELS, MAX_PNG_SIDE, MAX_SCALE, ExportError,
                        png_problem, write_data, write_figure)
from viz.outfile import OutputError, check_path, write_bytes
from viz.theme import COLUMNS_IN, FONTS, PX_PER_INCH, length_px, width_px

ALL = "all"


def register(sub) -> None:
    p = sub.add_parser("figure", help="export a paper figure (PDF, SVG, PNG), its data and its configuration",
                       description="Export a paper figure from a preset (--list-presets) or a saved configuration. "
                                   "Vector PDF/SVG keep lines, contours and text as paths; heatmaps (fig3) are "
                                   "embedded as images at --scale times their size.")
    src = p.add_argument_group("what to draw")
    src.add_argument("--preset", metavar="NAME", help=f"one of: {', '.join(presets.PRESETS)}; or {ALL} "
                                                      "(every preset, with --out-dir)")
    src.add_argument("--config", metavar="FILE.json", help="a configuration written by --config-out")
    src.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="FILE", help="the figure: .pdf, .svg or .png")
    out.add_argument("--data-out", metavar="FILE", help="the numbers behind it: .csv (one tidy table) or .npz "
                                                        "(the table's columns and the contour grid)")
    out.add_argument("--config-out", metavar="FILE.json", help="the full configuration, with package versions")
    out.add_argument("--out-dir", metavar="DIR", help="a bundle for a paper: per figure NAME.pdf, NAME.csv (data), "
                                                      "NAME.json (configuration) and NAME.tex (\\includegraphics "
                                                      "at natural size with a caption stating the settings)")
    lay = p.add_argument_group("layout (overrides the configuration's)")
    lay.add_argument("--width", help=f"single ({COLUMNS_IN['single']} in = 252 pt), double ({COLUMNS_IN['double']} "
                                     "in = 504 pt), inches such as 3.3in, or pixels (96 px = 1 in); at most "
                                     f"{MAX_LAYOUT_PX:g} px ({MAX_LAYOUT_PX / PX_PER_INCH:g} in)")
    lay.add_argument("--height", help="inches such as 2.4in, or pixels (96 px = 1 in); default: the preset's. "
                                      "A height too short for the panels is raised to what they need, and said; at "
                                      f"most {MAX_LAYOUT_PX:g} px ({MAX_LAYOUT_PX / PX_PER_INCH:g} in)")
    lay.add_argument("--font", choices=tuple(FONTS), help="serif or sans")
    lay.add_argument("--scale", type=float, help="resolution only: PNG pixels = scale x layout pixels, and heatmap "
                                                 "images in PDF/SVG have scale pixels per layout pixel; the "
                                                 "physical size of PDF/SVG does not change; 0 < scale <= "
                                                 f"{MAX_SCALE:g}, and a PNG has at most {MAX_PNG_SIDE} pixels a side "
                                                 f"and {MAX_PNG_PIXELS / 1e6:g} million pixels")
    add_allow_large(p)
    p.set_defaults(handler=handle)


def _length_px(text: str, option: str) -> float:
    """"<x>in" or a number of pixels, as layout pixels (viz.theme.length_px; UsageError
    otherwise)."""
    try:
        value = length_px(text)
    except ValueError as err:
        raise UsageError(f"argument {option}: {err}") from None
    check(value <= MAX_LAYOUT_PX, option, f"at most {MAX_LAYOUT_PX:g} px ({MAX_LAYOUT_PX / PX_PER_INCH:g} in); "
                                          f"got {text!r}")
    return value


def _width(text: str) -> str:
    """The layout's width: single, double or "<x>in" (pixels become inches)."""
    if text in COLUMNS_IN:
        return text
    return f"{_length_px(text, '--width') / PX_PER_INCH:g}in"


def _paths(args) -> None:
    for option, path, allowed in (("--out", args.out, FORMATS), ("--data-out", args.data_out, DATA_FORMATS),
                                  ("--config-out", args.config_out, ("json",))):
        if path is None:
            continue
        try:
            check_path(path, allowed)
        except OutputError as err:
            raise UsageError(f"argument {option}: {err}") from None


def resolve_figures(args) -> list[dict]:
    """The configurations to draw (every preset for --preset all, else one), with the
    layout options applied and validated (UsageError on bad input)."""
    check(not (args.preset and args.config), "--config", "give --preset or --config, not both")
    check(bool(args.preset or args.config), "--preset", f"give --preset NAME ({', '.join(presets.PRESETS)}) "
                                                         "or --config FILE.json")
    check(bool(args.out or args.data_out or args.config_out or args.out_dir), "--out",
          "nothing to write: give --out, --data-out, --config-out or --out-dir")
    check(args.preset != ALL or (args.out_dir and not (args.out or args.data_out or args.config_out)), "--preset",
          f"--preset {ALL} writes a bundle: give --out-dir DIR (and not --out, --data-out, --config-out)")
    _paths(args)
    check(args.scale is None or (math.isfinite(args.scale) and 0 < args.scale <= MAX_SCALE), "--scale",
          f"must be a number in (0, {MAX_SCALE:g}]; got {args.scale}")
    overrides = {"width": None if args.width is None else _width(args.width),
                 "height": None if args.height is None else _length_px(args.height, "--height"),
                 "font": args.font, "scale": args.scale}
    names = presets.PRESETS if args.preset == ALL else [args.preset]
    configs = [resolved_config(args, name, overrides) for name in names]
    for config in configs if args.out and args.out.lower().endswith(".png") else []:
        lay = config["layout"]
        problem = png_problem(width_px(lay["width"]), lay["height"], lay["scale"])
        check(problem is None, "--scale", problem)
    return configs


def resolved_config(args, preset: str | None, overrides: dict) -> dict:
    """One configuration (a preset's, or the loaded file's when ``preset`` is None) with
    the layout overrides applied, validated and held to the work budget (dynamics.budget);
    its warnings (versions, unknown keys) on stderr; UsageError with one line naming the
    option, the file and the field."""
    option, source = ("--preset", "") if preset else ("--config", f"{args.config}: ")
    try:
        config, warnings = (presets.default_config(preset), []) if preset else load(args.config)
        layout = config.get("layout") if isinstance(config, dict) else None
        if isinstance(layout, dict):
            layout.update({key: value for key, value in overrides.items() if value is not None})
        warnings += [source + warning for warning in presets.validate(config)]
    except ConfigError as err:
        message = str(err) if str(err).startswith(source) else source + str(err)
        raise UsageError(f"argument {option}: {message}") from None
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")
    check_budget(args, presets.cost(config))
    return config


def _size(config: dict) -> str:
    lay = config["layout"]
    return f"{width_px(lay['width']) / PX_PER_INCH:.2f} x {lay['height'] / PX_PER_INCH:.2f} in"


def _out_dir(path: str) -> None:
    """Create the bundle folder (its parent must exist) before any computation."""
    folder = os.path.abspath(path)
    check(os.path.isdir(os.path.dirname(folder)), "--out-dir", f"folder {os.path.dirname(folder)} does not exist")
    check(not os.path.exists(folder) or os.path.isdir(folder), "--out-dir", f"{folder} is not a folder")
    os.makedirs(folder, exist_ok=True)
    check(os.access(folder, os.W_OK), "--out-dir", f"cannot write in {folder}")


def _taller(config: dict, drawn: dict) -> None:
    """Say so when the layout made the figure taller than the configuration asked."""
    asked, used = config["layout"]["height"], drawn["layout"]["height"]
    if used > asked + 0.5:
        print(f"  note: {asked / PX_PER_INCH:.2f} in was too short for the panels of {config['preset']} at this "
              f"width; the figure is {used / PX_PER_INCH:.2f} in tall (recorded in its configuration)")


def _bundle(config: dict, folder: str) -> None:
    t0 = time.perf_counter()
    files, drawn = bundle_files(config)
    for name, data in files.items():
        write_bytes(os.path.join(folder, name), data, os.path.splitext(name)[1].lstrip("."))
    print(f"{config['preset']}: wrote {', '.join(files)} to {folder} in {time.perf_counter() - t0:.2f} s "
          f"({_size(drawn)})")
    _taller(config, drawn)


def _single(args, config: dict) -> int:
    t0 = time.perf_counter()
    fig, drawn, data = built(config)
    t1 = time.perf_counter()
    lay = config["layout"]
    print(f"{config['preset']}: computed and built in {t1 - t0:.2f} s "
          f"({_size(drawn)}, font {lay['font']} {lay['font_size']:g} pt)")
    _taller(config, drawn)
    if args.out and args.out.lower().endswith(".png"):      # the layout may have raised the height
        problem = png_problem(fig.layout.width, fig.layout.height, lay["scale"])
        check(problem is None, "--scale", problem)
    if args.out:
        fmt = write_figure(fig, args.out, scale=lay["scale"])
        raster = any(t.type == "heatmap" for t in fig.data) and fmt != "png"
        print(f"  wrote {args.out} in {time.perf_counter() - t1:.2f} s" +
              (f" (heatmaps embedded as images at {lay['scale']:g} pixels per layout pixel)" if raster else ""))
    if args.data_out:
        write_data(data.table, args.data_out, data.arrays)
        rows = len(next(iter(data.table.values())))
        print(f"  wrote {args.data_out}: {rows} rows, columns {', '.join(data.table)}")
    if args.config_out:
        write_bytes(args.config_out, dumps(drawn).encode(), "json")
        print(f"  wrote {args.config_out} (load it back with --config {args.config_out})")
    return 0


def handle(args) -> int:
    if args.list_presets:
        for name, preset in presets.PRESETS.items():
            print(f"{name:14s} {preset.description}")
        return 0
    configs = resolve_figures(args)
    if args.out_dir:
        _out_dir(args.out_dir)
    try:
        for config in configs:
            if args.out_dir:
                _bundle(config, os.path.abspath(args.out_dir))
            if args.out or args.data_out or args.config_out:
                _single(args, config)
    except (ExportError, OutputError) as err:
        sys.stderr.write(f"python -m dynamics figure: error: {err}\n")
        return 1
    return 0
