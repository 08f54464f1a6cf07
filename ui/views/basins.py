"""Basins of attraction (dynamics.basins): which listed minimiser the focus run's
optimizer reaches from every start of a grid over the toy's domain, side by side either
base and cautious (arXiv 2411.16085) or without and with SAM (arXiv 2010.01412,
dynamics.sam, at the sidebar's rho), and the starts where the two differ.
The sidebar's optimizer, hyperparameters and mask apply; the start point does not."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dynamics.budget import grid_cost
from ui import compute, downloads, guard, screen
from ui.session import Context
from ui.state import BASIN_PAIRS, BASIN_SIZES, CUSTOM_PREFIX, FIELDS
from ui.text import plain
from viz.basins import COLOUR_NAMES, basins_figure, minimiser_colours

PRESENT_HEIGHT = 560            # px: the maps in presentation mode (ui.screen)
RADIUS_FRACTION = 0.01     # a run reached a minimiser when it ends within 1% of the domain's larger side


PAIR_TEXT = {"cautious": "base vs cautious", "sam": "without vs with SAM"}
SAM_NOTE = ("SAM with a fixed ρ does not settle at a minimiser: on a quadratic of curvature h, GD-SAM ends in a "
            "2-cycle of half-width ε h ρ / (2 − ε h) about it, and a point w whose ascent w + ρ g/|g| lands on a "
            "stationary point of L is a fixed point of GD-SAM where runs stall (docs/theory.md, Section 7.2): SAM's "
            "grey starts are of either kind.")


def _controls() -> None:
    c = st.columns([1, 1, 2])
    c[0].selectbox("starts per axis", BASIN_SIZES, key="b_n")
    f = FIELDS["b_steps"]
    c[1].number_input("steps per start", min_value=f.lo, max_value=f.hi, key="b_steps", step=100)
    c[2].radio("compare", BASIN_PAIRS, key="b_pair", horizontal=True, format_func=PAIR_TEXT.get,
               help="the focus run's optimizer and its cautious twin, or the focus run without and with SAM "
                    "(ρ from the sidebar; the two-wells toy has a sharp and a flat minimum)")


def pair_of(spec, pair: str) -> tuple[tuple, tuple[str, str]]:
    """The two runs the maps compare and their titles: the focus run's base and cautious
    twins, or the focus run without and with SAM."""
    if pair == "sam":
        runs = tuple(spec._replace(setup=spec.setup_with(sam=flag)) for flag in (False, True))
        return runs, (spec.label, f"{spec.label}-SAM (ρ = {spec.hyper.rho:g})")
    runs = (spec.twin(False), spec.twin(True))
    return runs, (runs[0].label, runs[1].label)


def export_table(titles, maps) -> dict:
    """One row per run (named by its map's title) and start: the start, the minimiser
    index reached (-1: none or diverged) and where the run ended (the plotted numbers)."""
    gx, gy = (a.ravel() for a in np.meshgrid(maps[0].x, maps[0].y))
    return downloads.run_table({t: dict(x0=gx, y0=gy, minimiser=m.index.ravel(), diverged=m.diverged.ravel(),
                                              final_x=m.final[..., 0].ravel(), final_y=m.final[..., 1].ravel())
                                for t, m in zip(titles, maps)})


def _reach_text(valley: bool, radius: float, steps: int) -> str:
    """What a colour means: the minimiser (valley toys: the piece of the curve of
    minimisers, dynamics.basins) a run ends within ``radius`` of."""
    if valley:
        return (f"the minimisers form a curve, and a run counts for the piece of the curve it ends within "
                f"{radius:.3g} of, named by that piece's listed minimum-norm point (the run's end point is in the "
                f"table). Grey: not within {radius:.3g} of the curve after {steps} steps, or diverged.")
    return (f"a run counts for a minimiser when it ends within {radius:.3g} of it. Grey: near no listed minimiser "
            f"after {steps} steps, or diverged.")


def render(ctx: Context) -> None:
    """The intro and the grid's settings, then the maps and the table of fractions (in
    presentation mode the maps come first: ui.screen.slots)."""
    spec = ctx.focus
    text, figure = screen.slots(ctx.presentation)
    with text:
        other = "and its cautious twin" if ctx.values["b_pair"] == "cautious" else "without and with SAM"
        name = spec.label.removeprefix("C-") if ctx.values["b_pair"] == "cautious" else spec.label
        st.markdown(f"Where **{name}** {other} end from every start on the grid (colour: the minimiser reached). "
                    "Toy, optimizer and hyperparameters come from the sidebar.")
        if ctx.toy.name.startswith(CUSTOM_PREFIX):
            st.info("A custom objective has no listed minimiser, so it has no basin map. Choose a toy with listed "
                    "minima (himmelblau or camel have several).")
            return
        if not ctx.toy.has_minima():
            st.info(f"{plain(ctx.toy.title)} has no listed minimiser, so it has no basins. Choose another toy "
                    "(himmelblau or camel have several minima).")
            return
        _controls()
        points, _ = compute.minima(ctx.toy.name, ctx.params_key)
        if len(points) < 2:
            ends = "on its line of minimisers" if ctx.toy.valley else "there"
            st.info(f"{ctx.toy.title} has a single listed minimiser: every converging start ends {ends}. Himmelblau "
                    "(four minima) and camel (six) show basins.")
        if spec.hyper.noise_sigma > 0:
            st.caption("Basin maps use exact gradients: the sidebar's gradient noise is not applied here.")
    with figure:
        _maps(ctx, points)


def _maps(ctx: Context, points: np.ndarray) -> None:
    """The basin maps of the two runs compared (pair_of), with the share of starts per minimiser."""
    spec, v = ctx.focus, ctx.values
    (x0, x1), (y0, y1) = ctx.toy.domain
    radius = RADIUS_FRACTION * max(x1 - x0, y1 - y0)
    specs, titles = pair_of(spec, v["b_pair"])
    if not guard.affordable(grid_cost("the basin maps", (v["b_n"], v["b_n"]), v["b_steps"], runs=2,
                                      sam=any(s.setup.sam for s in specs)),
                            "the starts per axis or the steps"):
        return
    maps = [compute.basins(s, int(v["b_n"]), int(v["b_steps"]), radius) for s in specs]
    fig = basins_figure(*maps, titles=titles, presentation=ctx.presentation,
                        height=PRESENT_HEIGHT if ctx.presentation else 470, dark=ctx.dark)
    downloads.plotly_chart(fig, "basin_maps")
    downloads.export_controls(fig, "basin_maps", export_table(titles, maps),
                              dict(x=maps[0].x, y=maps[0].y, minima=maps[0].minima))
    st.caption(f"{v['b_n']}² starts, {v['b_steps']} steps each; " + _reach_text(ctx.toy.valley, radius, v["b_steps"])
               + (f" {SAM_NOTE}" if v["b_pair"] == "sam" else ""))
    colours = minimiser_colours(len(points))
    rows = []
    for i, p in enumerate(points):
        rows.append({"minimiser": f"{i} ({p[0]:.4g}, {p[1]:.4g})", "colour": COLOUR_NAMES[colours[i]],
                     **{t: f"{m.fractions()[i]:.1%}" for t, m in zip(titles, maps)}})
    rows.append({"minimiser": "none / diverged", "colour": "grey",
                 **{t: f"{m.fractions()[-1]:.1%}" for t, m in zip(titles, maps)}})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
