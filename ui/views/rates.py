"""Rate maps: the empirical convergence rate over an (eps, beta) grid for the focus
run's optimizer, base and cautious, and their difference (DESIGN.md Section 7, the
paper's Figure 3).  A click on a cell, or the selector under the maps, loads that
(eps, beta) into the sidebar and the Trajectories view."""
from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from dynamics.rates import (ANALYTIC_OPTIMIZERS, best_cell, gd_optimum, heavy_ball_optimum, stable_lr_limit)
from dynamics.sweep import grid_axis
from ui import compute, downloads
from ui.session import Context, load_cell
from ui.state import CUSTOM_PREFIX, FIELDS, GRID_SIZES, LR_SCALES
from viz.ratemap import Analytic, RateMap, nearest_cell, rate_maps_figure

CHART_KEY = "rate_maps"


def _controls() -> None:
    c = st.columns(7)
    for col, key, label, fmt in ((c[0], "r_lr_lo", "ε from", "%.3g"), (c[1], "r_lr_hi", "ε to", "%.3g"),
                                 (c[3], "r_beta_lo", "β from", "%.4f"), (c[4], "r_beta_hi", "β to", "%.4f")):
        f = FIELDS[key]
        col.number_input(label, min_value=f.lo, max_value=f.hi, key=key, format=fmt)
    c[2].selectbox("ε axis", LR_SCALES, key="r_lr_scale")
    c[5].selectbox("cells per axis", GRID_SIZES, key="r_n")
    f = FIELDS["r_steps"]
    c[6].number_input("steps per cell", min_value=f.lo, max_value=f.hi, key="r_steps", step=100)


def _noise_controls(spec) -> int:
    """With gradient noise (sidebar σ > 0): the number K of seeds each cell averages over."""
    if spec.noise_sigma <= 0:
        return 1
    f = FIELDS["r_seeds"]
    c1, c2 = st.columns([1, 4])
    c1.number_input("seeds averaged per cell", min_value=f.lo, max_value=f.hi, key="r_seeds")
    c2.caption(f"Noisy gradients (σ = {spec.noise_sigma:g}): each cell runs seeds {spec.seed}…"
               f"{spec.seed + st.session_state['r_seeds'] - 1} in one batch (dynamics.sweep.noisy_sweep); the maps "
               "show the mean rate over the seeds, a diverged seed counting as rate 1, and grey where every seed "
               "diverged.")
    return int(st.session_state["r_seeds"])


def _noise_drop_text(specs, maps) -> str:
    """The mean over the cells not diverged of the cautious map's noise_drop."""
    for s, m in zip(specs, maps):
        if s.cautious and "noise_drop" in m and (~m["diverged"]).any():
            drop = float(np.mean(m["noise_drop"][~m["diverged"]]))
            return (f" {s.label}: the mask dropped on average {drop:.3f} of the coordinates per step because of the "
                    "noise (u agreed with the true gradient, not with the noisy one), mean over the cells shown.")
    return ""


def analytic(ctx: Context, optimizer: str, dampening: bool, beta_axis: np.ndarray) -> Analytic | None:
    """Closed forms for gd/gdm/nesterov on a quadratic toy (Hessian eigenvalues h1, h2)."""
    if "h1" not in ctx.params or optimizer not in ANALYTIC_OPTIMIZERS:
        return None
    h = (ctx.params["h1"], ctx.params["h2"])
    optimum = None
    if optimizer == "gdm":
        optimum = heavy_ball_optimum(*h)
        if dampening:   # s = beta s + (1-beta) g is the heavy ball with eps (1-beta)
            optimum = {**optimum, "lr": optimum["lr"] / (1 - optimum["beta"])}
    elif optimizer == "gd":
        optimum = gd_optimum(*h)
    return Analytic(optimum, stable_lr_limit(optimizer, beta_axis, max(h), dampening))


def _on_click(lr_axis: tuple, beta_axis: tuple, scale: str) -> None:
    points = st.session_state[CHART_KEY]["selection"]["points"]
    if points:
        j, i = nearest_cell(np.asarray(lr_axis), np.asarray(beta_axis), float(points[0]["x"]),
                            float(points[0]["y"]), scale)
        load_cell(lr_axis[j], beta_axis[i])


def _best_text(name: str, best: dict) -> str:
    if best["row"] < 0:
        return f"**{name}**: no cell converged"
    return f"**{name}** best: ε = {best['lr']:.4g}, β = {best['beta']:.4g}, rate **{best['rate']:.4f}**"


def export_table(lr_axis: np.ndarray, beta_axis: np.ndarray, specs, maps) -> dict[str, np.ndarray]:
    """One row per run and (beta, lr) cell: rate, diverged, steps to tol (the plotted numbers)."""
    lr_map, beta_map = np.meshgrid(lr_axis, beta_axis)
    return downloads.run_table({s.label: dict(lr=lr_map.ravel(), beta=beta_map.ravel(), rate=m["rate"].ravel(),
                                              diverged=m["diverged"].ravel(), steps_to_tol=m["steps_to_tol"].ravel())
                                for s, m in zip(specs, maps)})


def render(ctx: Context) -> None:
    spec = ctx.focus
    v = ctx.values
    st.markdown(f"Empirical convergence rate ρ (distance to the minimiser shrinks like ρᵗ, DESIGN.md §7) of "
                f"**{spec.label.removeprefix('C-')}** and its cautious twin on **{ctx.toy.name}**, over step size ε "
                "(columns) and momentum β (rows). Other settings come from the sidebar.")
    if ctx.toy.name.startswith(CUSTOM_PREFIX):
        st.info("A custom objective has no listed minimiser, so distances and rates are undefined. Choose a "
                "built-in toy for rate maps.")
        return
    if not ctx.toy.has_minima():
        st.info(f"{ctx.toy.title} has no minimiser, so distances and rates are undefined. Choose another toy.")
        return
    _controls()
    seeds = _noise_controls(spec)
    if not v["r_lr_lo"] < v["r_lr_hi"] or not v["r_beta_lo"] < v["r_beta_hi"]:
        st.warning("Each axis needs 'from' < 'to'.")
        return
    lr_axis = grid_axis(v["r_lr_lo"], v["r_lr_hi"], v["r_n"], v["r_lr_scale"])
    beta_axis = grid_axis(v["r_beta_lo"], v["r_beta_hi"], v["r_n"], "linear")
    specs = (spec._replace(cautious=False), spec._replace(cautious=True))
    bar = st.progress(0.0, text="sweeping…")
    maps = []
    for k, s in enumerate(specs):
        report = lambda done, total, k=k, s=s: bar.progress(
            (k + done / total) / 2, text=f"sweeping {s.label}: {done}/{total} rows of {len(lr_axis)} cells")
        maps.append(compute.rate_map(s, lr_axis, beta_axis, v["r_steps"], progress=report, seeds=seeds))
    bar.empty()
    rate_maps = [RateMap(s.label, m["rate"], m["diverged"], best_cell(lr_axis, beta_axis, m["rate"], m["diverged"]))
                 for s, m in zip(specs, maps)]
    exact = analytic(ctx, spec.optimizer, spec.dampening, beta_axis)
    fig = rate_maps_figure(lr_axis, beta_axis, *rate_maps, lr_scale=v["r_lr_scale"], analytic=exact,
                           current=(v["lr"], v["beta"]), presentation=ctx.presentation)
    axes = (tuple(float(x) for x in lr_axis), tuple(float(x) for x in beta_axis))
    downloads.plotly_chart(fig, CHART_KEY, on_select=functools.partial(_on_click, *axes, v["r_lr_scale"]),
                           selection_mode="points")
    diverged = [f"{m.title} {m.diverged.mean():.0%}" for m in rate_maps]
    st.caption(f"Grey cells diverged ({', '.join(diverged)} of the grid). Red dots: the best converging cell of "
               f"each map. {v['r_steps']} steps per cell. Click a cell to load its (ε, β) into the Trajectories "
               "view." + (" Black dashes: the analytic stability boundary; white cross: the analytic optimum "
                          "(dynamics.rates)." if exact else "") + _noise_drop_text(specs, maps))
    downloads.export_controls(fig, CHART_KEY, export_table(lr_axis, beta_axis, specs, maps),
                              dict(lr_axis=lr_axis, beta_axis=beta_axis))
    cols = st.columns(3)
    for col, m in zip(cols, rate_maps):
        col.markdown(_best_text(m.title, m.best))
        if m.best["row"] >= 0:
            col.button(f"Load {m.title}'s best cell", key=f"_load_best_{m.title}",
                       on_click=load_cell, args=(m.best["lr"], m.best["beta"]))
    if exact is not None and exact.optimum is not None:
        o = exact.optimum
        cols[2].markdown(f"**Analytic optimum** ({spec.optimizer}): ε* = {o['lr']:.4g}, β* = {o['beta']:.4g}, "
                         f"rate **{o['rate']:.4f}**")
    c1, c2, c3 = st.columns([2, 2, 1])
    j, i = nearest_cell(lr_axis, beta_axis, v["lr"], v["beta"], v["r_lr_scale"])
    pick_lr = c1.select_slider("cell ε", options=list(range(len(lr_axis))), value=j,
                               format_func=lambda x: f"{lr_axis[x]:.4g}", key="_pick_lr")
    pick_beta = c2.select_slider("cell β", options=list(range(len(beta_axis))), value=i,
                                 format_func=lambda x: f"{beta_axis[x]:.4f}", key="_pick_beta")
    c3.button("Load this cell", on_click=load_cell, args=(float(lr_axis[pick_lr]), float(beta_axis[pick_beta])),
              key="_load_cell")
    r = [float(m.rate[pick_beta, pick_lr]) for m in rate_maps]
    d = [bool(m.diverged[pick_beta, pick_lr]) for m in rate_maps]
    st.caption("Selected cell: " + "; ".join(f"{m.title} " + ("diverged" if dv else f"rate {x:.4f}")
                                            for m, x, dv in zip(rate_maps, r, d)))
