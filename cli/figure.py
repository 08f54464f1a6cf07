"""``python -m dynamics figure``: a paper figure (figures.presets) as PDF, SVG or PNG,
its numbers as CSV or NPZ, and its full configuration as JSON that ``--config`` loads
back to reproduce it exactly (dynamics.configfile).

    python -m dynamics figure --preset fig2 --out fig2.pdf --data-out fig2.csv --config-out fig2.json
    python -m dynamics figure --config fig2.json --out fig2.png --scale 4

``--width``, ``--height``, ``--font`` and ``--scale`` override the configuration's
layout, and the written configuration records the values used.
"""
from __future__ import annotations

import math
import os
import sys
import time

from cli.options import UsageError, check
from dynamics.configfile import ConfigError, load, save
from figures import presets
from viz.export import DATA_FORMATS, FORMATS, ExportError, format_of, write_data, write_figure
from viz.theme import COLUMNS_IN, FONTS


def register(sub) -> None:
    p = sub.add_parser("figure", help="export a paper figure (PDF, SVG, PNG), its data and its configuration",
                       description="Export a paper figure from a preset (--list-presets) or a saved configuration. "
                                   "Vector PDF/SVG keep lines, contours and text as paths; heatmaps (fig3) are "
                                   "embedded as images at --scale times their size.")
    src = p.add_argument_group("what to draw")
    src.add_argument("--preset", metavar="NAME", help=f"one of: {', '.join(presets.PRESETS)}")
    src.add_argument("--config", metavar="FILE.json", help="a configuration written by --config-out")
    src.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="FILE", help="the figure: .pdf, .svg or .png")
    out.add_argument("--data-out", metavar="FILE", help="the numbers behind it: .csv (one tidy table) or .npz "
                                                        "(the table's columns and the contour grid)")
    out.add_argument("--config-out", metavar="FILE.json", help="the full configuration, with package versions")
    lay = p.add_argument_group("layout (overrides the configuration's)")
    lay.add_argument("--width", help=f"single ({COLUMNS_IN['single']} in), double ({COLUMNS_IN['double']} in) "
                                     "or pixels (96 px = 1 in in the PDF)")
    lay.add_argument("--height", type=float, help="height in pixels")
    lay.add_argument("--font", choices=tuple(FONTS), help="serif or sans")
    lay.add_argument("--scale", type=float, help="PNG resolution factor (PNG pixels = scale x layout pixels; "
                                                 "also the resolution of heatmaps embedded in PDF/SVG)")
    p.set_defaults(handler=handle)


def _width(text: str):
    if text in COLUMNS_IN:
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    check(math.isfinite(value) and value > 0, "--width",
          f"expected single, double or a number of pixels > 0; got {text!r}")
    return value


def _paths(args) -> None:
    for option, path, allowed in (("--out", args.out, FORMATS), ("--data-out", args.data_out, DATA_FORMATS),
                                  ("--config-out", args.config_out, ("json",))):
        if path is None:
            continue
        try:
            format_of(path, allowed)
        except ValueError as err:
            raise UsageError(f"argument {option}: {err}") from None
        folder = os.path.dirname(os.path.abspath(path))
        check(os.path.isdir(folder), option, f"folder {folder} does not exist")


def resolve_figure(args) -> dict:
    """The configuration to draw: a preset's or a loaded file's, with the layout options
    applied and validated (UsageError on bad input)."""
    check(not (args.preset and args.config), "--config", "give --preset or --config, not both")
    check(bool(args.preset or args.config), "--preset", f"give --preset NAME ({', '.join(presets.PRESETS)}) "
                                                         "or --config FILE.json")
    check(bool(args.out or args.data_out or args.config_out), "--out",
          "nothing to write: give --out, --data-out or --config-out")
    _paths(args)
    for key in ("height", "scale"):
        value = getattr(args, key)
        check(value is None or (math.isfinite(value) and value > 0), f"--{key}", f"must be a number > 0; got {value}")
    overrides = {"width": None if args.width is None else _width(args.width), "height": args.height,
                 "font": args.font, "scale": args.scale}
    try:
        if args.preset:
            config = presets.default_config(args.preset)
        else:
            config, warnings = load(args.config)
            for warning in warnings:
                sys.stderr.write(f"warning: {warning}\n")
    except ConfigError as err:
        raise UsageError(f"argument {'--preset' if args.preset else '--config'}: {err}") from None
    layout = config.get("layout") if isinstance(config, dict) else None
    if isinstance(layout, dict):
        layout.update({key: value for key, value in overrides.items() if value is not None})
    try:
        presets.validate(config)
    except ConfigError as err:
        raise UsageError(f"argument {'--config' if args.config else '--preset'}: {err}") from None
    return config


def handle(args) -> int:
    if args.list_presets:
        for name, preset in presets.PRESETS.items():
            print(f"{name:14s} {preset.description}")
        return 0
    config = resolve_figure(args)
    t0 = time.perf_counter()
    data = presets.compute(config)
    fig = presets.build(config, data)
    t1 = time.perf_counter()
    lay = config["layout"]
    print(f"{config['preset']}: computed and built in {t1 - t0:.2f} s "
          f"({fig.layout.width} x {fig.layout.height} px, font {lay['font']} {lay['font_size']:g} pt)")
    if args.out:
        try:
            fmt = write_figure(fig, args.out, scale=lay["scale"])
        except ExportError as err:
            sys.stderr.write(f"python -m dynamics figure: error: {err}\n")
            return 1
        raster = any(t.type == "heatmap" for t in fig.data) and fmt != "png"
        print(f"  wrote {args.out} in {time.perf_counter() - t1:.2f} s" +
              (f" (heatmaps embedded as images at scale {lay['scale']:g})" if raster else ""))
    if args.data_out:
        write_data(data.table, args.data_out, data.arrays)
        rows = len(next(iter(data.table.values())))
        print(f"  wrote {args.data_out}: {rows} rows, columns {', '.join(data.table)}")
    if args.config_out:
        save(config, args.config_out)
        print(f"  wrote {args.config_out} (load it back with --config {args.config_out})")
    return 0
