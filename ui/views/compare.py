"""Compare: the pinned settings (ui.pin) beside the current ones.  Each side is labelled
with its settings in words, the settings that differ highlighted, and draws its contour
with every run's path and its L, H and fraction-masked curves; on the same toy both
sides share the contour's window and the curves' axis ranges.  A table puts each run's
final gap, steps to tol and rate on both sides next to each other.  The pinned side is a
Context built from the pin's values (ui.session.context), so its runs go through the
same cached computations (ui.compute) as the current ones."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import compute, downloads
from ui.pin import PIN_KEY, parse_pin
from ui.session import Context, context, on_clear_pin, on_pin, on_swap_pin
from ui.sidebar import VARIANT_TEXT
from ui.state import CUSTOM, NAMES, PARAM_PREFIX, defaults, resolve_custom, toy_key, toy_of
from ui.text import LINE_LIMIT, plain
from ui.views.trajectories import affordable, curve_series, runs, summary_table
from viz.contour import contour_figure, path_window
from viz.curves import step_curves

SIDES = ("pinned", "current")
ALWAYS = ("toy", "start", "opt", "variants", "lr", "beta", "steps")    # named on both sides, changed or not
SYMBOLS = {"lr": "ε", "beta": "β", "beta2": "β₂", "steps": "T", "adam_eps": "Adam's e", "wd": "decay λ",
           "noise_sigma": "noise σ", "tau": "τ", "mu": "μ", "rise_rel": "rise threshold", "seed": "seed",
           "dtype": "precision", "mask": "mask", "comp": "compensation", "decay": "decay"}
HEIGHT = 470
NO_PIN = ("Nothing is pinned yet. **Pin settings** (here or in the sidebar) keeps the current settings; "
          "then change any of them (ε, β, the optimizers, even the toy) and this tab draws the pinned runs on the "
          "left and the current ones on the right, on the same axes when the toy is the same. The pin is part of "
          "the URL, so a copied link shows both sides.")


def words(values: Mapping[str, Any]) -> dict[str, str]:
    """The run settings of ``values`` in words, by state key (the toy, its parameters, the
    start, the optimizers and every setting a run depends on)."""
    toy = toy_of(toy_key(values))
    out = {"toy": f"L = {plain(values['expr'])}" if values["toy"] == CUSTOM else f"{values['toy']}: {toy.title}"}
    out.update({PARAM_PREFIX + k: f"{k} = {values[PARAM_PREFIX + k]:.6g}" for k in toy.defaults})
    out["start"] = f"w₀ = ({values['sx']:.6g}, {values['sy']:.6g})"
    out["opt"] = ", ".join(NAMES[o] for o in values["opt"]) or "no optimizer"
    out["variants"] = VARIANT_TEXT[values["variants"]]
    out["dampening"] = "dampened momentum" if values["dampening"] else "undampened momentum"
    for key, symbol in SYMBOLS.items():
        value = values[key]
        if value is None:
            out[key] = f"{symbol}: each optimizer's own"
        else:
            out[key] = f"{symbol} = {value:.6g}" if isinstance(value, (int, float)) else f"{symbol} {value}"
    return out


def described(pinned: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """([pinned, current] settings to show, in words by key; the keys that differ):
    those in ALWAYS and those that differ between the sides or from their defaults, in
    one order.  The parameters of two different toys are not compared (the toy differs)."""
    sides = [words(pinned), words(current)]
    base = [words({**defaults(v["toy"]), "expr": v["expr"]}) for v in (pinned, current)]
    keys = list(dict.fromkeys([*sides[0], *sides[1]]))
    changed = [k for k in keys if k in sides[0] and k in sides[1] and sides[0][k] != sides[1][k]]
    shown = [k for k in keys if k in ALWAYS or k in changed
             or any(side.get(k) != b.get(k) for side, b in zip(sides, base))]
    return [{k: side[k] for k in shown if k in side} for side in sides], changed


def _markdown(items: dict[str, str], changed: list[str]) -> str:
    """One side's settings on one line, those that differ from the other side highlighted."""
    return " · ".join(f":orange-background[**{t}**]" if k in changed else t for k, t in items.items())


def share_ranges(figs: list[go.Figure]) -> None:
    """Give ``figs`` (step_curves figures) the same x range and, on every y axis they
    share that has no fixed range, the same y range: the extent of their data (log10 of
    its positive values on a log axis), padded by 4%."""
    extents: dict[str, list[np.ndarray]] = {}
    for fig in figs:
        for tr in fig.data:
            if tr.y is not None:
                extents.setdefault(tr.yaxis or "y", []).append(np.asarray(tr.y, dtype=np.float64).ravel())
    x_max = max(float(np.nanmax(np.asarray(tr.x, dtype=np.float64))) for fig in figs for tr in fig.data
                if tr.x is not None and len(tr.x))
    for fig in figs:
        fig.update_xaxes(range=[0, x_max])
        for name, arrays in extents.items():
            axis = fig.layout["yaxis" + name[1:]]
            if axis is None or axis.range is not None:
                continue
            y = np.concatenate(arrays)
            y = np.log10(y[np.isfinite(y) & (y > 0)]) if axis.type == "log" else y[np.isfinite(y)]
            if len(y):
                pad = 0.04 * max(float(y.max() - y.min()), 1e-12)
                axis.range = [float(y.min()) - pad, float(y.max()) + pad]


def _figures(ctxs: list[Context], data: list[tuple], same_toy: bool) -> list[tuple[go.Figure, go.Figure]]:
    """(contour, curves) of each side; on the same toy, one window and shared ranges."""
    paths = [{label: t["w"] for label, t in trajs.items()} for _, _, trajs, _ in data]
    window = path_window(ctxs[0].toy.domain, {f"{i} {k}": w for i, p in enumerate(paths) for k, w in p.items()})
    out = []
    for c, (points, l_star, trajs, summaries), p in zip(ctxs, data, paths):
        bounds = window if same_toy else path_window(c.toy.domain, p)
        grid = compute.grid(c.toy.name, c.params_key, 160, bounds)
        contour = contour_figure(c.toy, c.params, p, styles=c.styles, start=(c.values["sx"], c.values["sy"]),
                                 grid=grid, minima=points, presentation=c.presentation, height=HEIGHT,
                                 dark=c.dark)
        contour.update_xaxes(range=list(bounds[0]))
        contour.update_yaxes(range=list(bounds[1]))
        curves = step_curves(curve_series(c, trajs, summaries), l_star, c.presentation, height=HEIGHT,
                             rise_rel=c.values["rise_rel"])
        out.append((contour, curves))
    if same_toy:
        share_ranges([curves for _, curves in out])
    return out


def table(ctxs: list[Context], data: list[tuple]) -> pd.DataFrame:
    """Every run of both sides (ui.views.trajectories.summary_table), pinned then current per run."""
    frames = [summary_table(c, trajs, summaries, l_star).assign(settings=side)
              for side, c, (_, l_star, trajs, summaries) in zip(SIDES, ctxs, data)]
    df = pd.concat(frames, ignore_index=True)
    order = {run: i for i, run in reversed(list(enumerate(df["run"])))}     # each run where it first appears
    df = df.sort_values("run", key=lambda runs: runs.map(order), kind="stable")
    return df[["settings", *[col for col in df.columns if col != "settings"]]]


def pinned_context(text: str, current: Context) -> Context:
    """The Context of the pinned settings (the current display settings); a typed
    objective that no longer parses runs on the default toy, with a warning."""
    values, _ = parse_pin(text)
    values, error = resolve_custom({**values, "present": current.presentation})
    if error:
        st.warning(f"The pinned objective cannot be used ({plain(error, LINE_LIMIT)}); the pinned side shows the "
                   "default toy.")
    return context(values)


def render(ctx: Context) -> None:
    text = st.session_state.get(PIN_KEY)
    if not text:
        st.info(NO_PIN)
        st.button("Pin settings", key="_pin_tab", icon=":material/push_pin:", on_click=on_pin)
        return
    ctxs = [pinned_context(text, ctx), ctx]
    items, changed = described(ctxs[0].values, ctx.values)
    if changed:
        st.markdown("**Changed since the pin:** " + " · ".join(
            f"{items[0].get(k, '—')} → {items[1].get(k, '—')}" for k in changed))
    else:
        st.info("The current settings are the pinned ones: change a setting in the sidebar to compare.")
    left, right, _ = st.columns([1, 1, 4])
    left.button("Swap sides", key="_swap_pin", on_click=on_swap_pin, width="stretch",
                help="Load the pinned settings into the sidebar and pin the current ones")
    right.button("Clear pin", key="_unpin_tab", on_click=on_clear_pin, width="stretch")
    if not affordable(*ctxs):
        return
    data = [runs(c) for c in ctxs]
    same_toy = toy_key(ctxs[0].values) == toy_key(ctx.values)
    for side, column, side_items, (contour, curves) in zip(SIDES, st.columns(2), items,
                                                            _figures(ctxs, data, same_toy)):
        with column:
            st.subheader(side.capitalize())
            st.markdown(_markdown(side_items, changed))
            downloads.plotly_chart(contour, f"compare_{side}_contour")
            downloads.plotly_chart(curves, f"compare_{side}_curves")
    st.caption("Highlighted: the settings that differ. " + ("Both sides share the contour's window and the "
               "curves' axes." if same_toy else "Two toys: each side has its own axes."))
    st.dataframe(table(ctxs, data), hide_index=True, width="stretch")
