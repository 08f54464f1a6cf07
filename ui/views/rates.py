"""Rate maps: the convergence rate over an (eps, beta) grid for the focus run's
optimizer, base and cautious, and their difference (docs/theory.md, Section 5; the
paper's Figure 3).  Where the base optimizer has a closed form (gd, gdm, nesterov on a
quadratic) its closed-form map is shown beside its simulated map, with the largest gap
between the two; cells whose estimate has not settled are marked and counted.  A click
on a cell, or the selector under the maps, loads that (eps, beta) into the sidebar and
the Trajectories view."""
from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from dynamics.budget import Cost, grid_cost
from dynamics.rates import MIN_WINDOW, is_homogeneous, optimum, stable_lr_limit
from dynamics.sweep import grid_axis
from ui import compute, downloads, guard, screen
from ui.session import Context, load_cell
from ui.state import CUSTOM_PREFIX, FIELDS, GRID_SIZES, LR_SCALES
from ui.text import plain
from viz.ratemap import (UNSETTLED, Analytic, RateMap, closed_form_map, max_exact_gap, nearest_cell,
                         rate_maps_figure, simulated_map)

CHART_KEY = "rate_maps"
LOWER = "the cells per axis, the steps per cell or (with gradient noise) the seeds averaged per cell"
PRESENT_HEIGHT = 660            # px: the maps in presentation mode (ui.screen)


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
    if spec.hyper.noise_sigma <= 0:
        return 1
    f = FIELDS["r_seeds"]
    c1, c2 = st.columns([1, 4])
    c1.number_input("seeds averaged per cell", min_value=f.lo, max_value=f.hi, key="r_seeds")
    c2.caption(f"Noisy gradients (σ = {spec.hyper.noise_sigma:g}): each cell runs seeds {spec.seed}…"
               f"{spec.seed + st.session_state['r_seeds'] - 1} in one batch (dynamics.noisy_sweep); the maps "
               "show the mean rate over the seeds, a diverged seed counting as rate 1, and grey where every seed "
               "diverged; the exported steps to tol is the median over seeds, of those that reached tol "
               "(-1: none did).")
    return int(st.session_state["r_seeds"])


def _noise_drop_text(specs, maps) -> str:
    """The mean over the cells not diverged of the cautious map's noise_drop."""
    for s, m in zip(specs, maps):
        if s.setup.cautious and "noise_drop" in m and (~m["diverged"]).any():
            drop = float(np.mean(m["noise_drop"][~m["diverged"]]))
            return (f" {s.label}: the mask dropped on average {drop:.3f} of the coordinates per step because of the "
                    "noise (u agreed with the true gradient, not with the noisy one), mean over the cells shown.")
    return ""


def analytic(ctx: Context, optimizer: str, dampening: bool, beta_axis: np.ndarray) -> Analytic:
    """Closed forms of the optimizer on a quadratic toy (its Hessian eigenvalues, the
    registry's closed_form): the optimum where derived and the stability boundary."""
    eig = ctx.toy.eigenvalues(ctx.toy.params(ctx.params))
    lo, hi = min(eig), max(eig)
    return Analytic(optimum(optimizer, lo, hi, dampening), stable_lr_limit(optimizer, beta_axis, hi, dampening))


def _on_click(lr_axis: tuple, beta_axis: tuple, scale: str) -> None:
    points = st.session_state[CHART_KEY]["selection"]["points"]
    if points:
        j, i = nearest_cell(np.asarray(lr_axis), np.asarray(beta_axis), float(points[0]["x"]),
                            float(points[0]["y"]), scale)
        load_cell(lr_axis[j], beta_axis[i])


def _best_text(m: RateMap) -> str:
    """A panel's best cell in words (of a simulation: its best settled cell)."""
    which = "best" if m.settled is None else "best settled cell"
    if m.best is None:
        return f"**{m.title}**: no {'' if m.settled is None else 'settled '}cell converged"
    b = m.best
    return f"**{m.title}** {which}: ε = {b['lr']:.4g}, β = {b['beta']:.4g}, rate **{b['rate']:.4f}**"


def _method_text(spec, toy) -> str:
    """What the simulated rate of ``spec`` is fitted to (docs/theory.md, Section 5.3)."""
    if is_homogeneous(spec.setup, toy):
        return ("log of the norm of the renormalised state (w − w*, moments), over all steps (gd, gdm, nesterov and "
                "their hard-mask cautious variants on a quadratic, without noise or weight decay)")
    return "log dₜ, up to the first step with dₜ below the tolerance"


def _intro(ctx: Context, specs) -> str:
    base, cautious = specs
    methods = {s.label: _method_text(s, ctx.toy) for s in specs}
    fitted = (methods[base.label] if len(set(methods.values())) == 1
              else "; ".join(f"for {label}, {text}" for label, text in methods.items()))
    return (f"Convergence rate ρ of **{base.label}** and its cautious twin **{cautious.label}** on "
            f"**{ctx.toy.name}** (the distance to the minimiser shrinks like ρᵗ; docs/theory.md, Section 5), over "
            "step size ε (columns) and momentum β (rows); other settings come from the sidebar. **Simulation**: "
            "exp of the slope of a least-squares line through yₜ over the late half of each cell's run, yₜ = "
            f"{fitted}. **Closed form** (gd, gdm, nesterov on a quadratic): the spectral radius of the linear step, "
            "shown beside the simulation." + _schedule_text(base.setup))


def _schedule_text(setup) -> str:
    """What a learning-rate schedule or clipping changes in the maps ('' with neither)."""
    text = ""
    if setup.schedule != "constant":
        text += (f" **Schedule {setup.schedule}**: the ε axis is the *peak* lr; every cell steps with "
                 "εₜ = ε·f(t−1), the same f for all cells, over the grid's T steps.")
    if setup.clip:
        text += " **Clipping** on: every cell clips its gradient to the sidebar's norm c."
    if text:
        text += " No closed form is drawn (it holds for a constant ε without clipping)."
    return text


def cost(values, spec) -> Cost:
    """The size of the sidebar's rate maps for ``spec`` and its twin (dynamics.budget)."""
    noisy = spec.hyper.noise_sigma > 0
    return grid_cost("the rate maps", (values["r_n"], values["r_n"]), values["r_steps"],
                     values["r_seeds"] if noisy else 1, runs=2, noisy=noisy, sam=spec.setup.sam)


def _report(bar, k: int, label: str, cells: int):
    """The progress callback of map ``k``: the bar, and a stop when the session has ended."""
    def report(done: int, total: int) -> None:
        guard.stop_if_ended()
        bar.progress((k + done / total) / 2, text=f"sweeping {label}: {done}/{total} rows of {cells} cells")
    return report


def sweep_maps(specs, lr_axis, beta_axis, steps: int, seeds: int) -> list[dict]:
    """The maps of both runs (ui.compute.rate_map), with a progress bar; a closed tab
    stops them between blocks (ui.guard)."""
    bar = st.progress(0.0, text="sweeping…")
    maps = [compute.rate_map(s, lr_axis, beta_axis, steps, progress=_report(bar, k, s.label, len(lr_axis)),
                             seeds=seeds) for k, s in enumerate(specs)]
    bar.empty()
    return maps


def rate_panels(specs, maps, lr_axis, beta_axis) -> tuple[RateMap | None, RateMap, RateMap]:
    """(closed form of the base run or None, base simulation, cautious simulation)."""
    base, cautious = (simulated_map(s.label, lr_axis, beta_axis, m["rate_estimate"], m["diverged"],
                                    m["rate_uncertainty"], m["settled"]) for s, m in zip(specs, maps))
    exact = (closed_form_map(specs[0].label, lr_axis, beta_axis, maps[0]["rate_exact"])
             if "rate_exact" in maps[0] else None)
    return exact, base, cautious


def _caption(exact: RateMap | None, sims: tuple[RateMap, RateMap], steps: int, seeds: int) -> str:
    cells = sims[0].rate.size
    diverged = ", ".join(f"{m.label} {m.diverged.mean():.0%}" for m in sims)
    text = f"Grey cells diverged ({diverged} of the grid"
    text += f"; on the closed form, the {exact.diverged.mean():.0%} with ρ ≥ 1)." if exact is not None else ")."
    counts = ", ".join(f"{m.label} {int(m.unsettled.sum())}" for m in sims)
    text += (f" Checkered cells are {UNSETTLED}: the fits over the two halves of the late window differ by more "
             f"than that, or the window holds fewer than {MIN_WINDOW} steps, so the rate there is still drifting "
             f"({counts} of {cells} cells; the difference panel marks a cell where either has not settled). "
             + (f"With {seeds} seeds a cell has settled when every seed's fit has, and its spread is their mean. "
                if seeds > 1 else "") + "Hover a cell for its rate ± spread.")
    if exact is not None:
        gap, n = max_exact_gap(exact, sims[0])
        text += (f" **{exact.label}: max |estimate − exact| = {gap:.1e}** over the {n} cells where both converge."
                 if n else f" {exact.label}: no cell converges in both maps.")
    return text + (f" Red dots: the best converging cell of each panel, from that panel's rates. {steps} steps per "
                   "cell. Click a cell to load its (ε, β) into the Trajectories view.")


def export_table(lr_axis: np.ndarray, beta_axis: np.ndarray, specs, maps) -> dict[str, np.ndarray]:
    """One row per run and (beta, lr) cell: the estimate, its spread and settled flag, the
    closed form (NaN where none), diverged and steps to tol (the plotted numbers)."""
    lr_map, beta_map = np.meshgrid(lr_axis, beta_axis)
    nan = np.full(lr_map.size, np.nan)
    return downloads.run_table({s.label: dict(lr=lr_map.ravel(), beta=beta_map.ravel(),
                                              rate_estimate=m["rate_estimate"].ravel(),
                                              rate_uncertainty=m["rate_uncertainty"].ravel(),
                                              settled=m["settled"].ravel(),
                                              rate_exact=m["rate_exact"].ravel() if "rate_exact" in m else nan,
                                              diverged=m["diverged"].ravel(), steps_to_tol=m["steps_to_tol"].ravel())
                                for s, m in zip(specs, maps)})


def _best_cells(panels, optimum: dict | None, optimizer: str) -> None:
    """Each panel's best cell with a button that loads it; the analytic optimum."""
    cols = st.columns(len(panels) + 1)
    for col, m in zip(cols, panels):
        col.markdown(_best_text(m))
        if m.best is not None:
            col.button("Load best cell", key=f"_load_best_{m.title}", help=f"load {m.title}'s best (ε, β)",
                       on_click=load_cell, args=(m.best["lr"], m.best["beta"]))
    if optimum is not None:
        o = optimum
        cols[-1].markdown(f"**Analytic optimum** ({optimizer}): ε* = {o['lr']:.4g}, β* = {o['beta']:.4g}, "
                          f"rate **{o['rate']:.4f}**")


def _cell_text(m: RateMap, i: int, j: int) -> str:
    if m.diverged[i, j]:
        return f"{m.title} " + ("ρ ≥ 1" if m.settled is None else "diverged")
    text = f"{m.title} rate {m.rate[i, j]:.4f}"
    if m.settled is not None:
        text += f" ± {m.uncertainty[i, j]:.1e} ({'settled' if m.settled[i, j] else 'not settled'})"
    return text


def _cell_picker(panels, lr_axis, beta_axis, v) -> None:
    """Sliders to pick a cell, a button that loads it, and its rates."""
    c1, c2, c3 = st.columns([3, 3, 2])
    j, i = nearest_cell(lr_axis, beta_axis, v["lr"], v["beta"], v["r_lr_scale"])
    pick_lr = c1.select_slider("cell ε", options=list(range(len(lr_axis))), value=j,
                               format_func=lambda x: f"{lr_axis[x]:.4g}", key="_pick_lr")
    pick_beta = c2.select_slider("cell β", options=list(range(len(beta_axis))), value=i,
                                 format_func=lambda x: f"{beta_axis[x]:.4f}", key="_pick_beta")
    c3.button("Load this cell", on_click=load_cell, args=(float(lr_axis[pick_lr]), float(beta_axis[pick_beta])),
              key="_load_cell")
    st.caption("Selected cell: " + "; ".join(_cell_text(m, pick_beta, pick_lr) for m in panels))


def maps_figure(ctx: Context, specs, lr_axis, beta_axis, seeds: int):
    """(the maps of both runs, their panels (closed form or None, base, cautious), the
    analytic optimum and edge or None, the figure) of the sidebar's grid."""
    v = ctx.values
    maps = sweep_maps(specs, lr_axis, beta_axis, v["r_steps"], seeds)
    panels = rate_panels(specs, maps, lr_axis, beta_axis)
    spec = specs[0]
    theory = analytic(ctx, spec.setup.optimizer, spec.setup.dampening, beta_axis) if panels[0] is not None else None
    fig = rate_maps_figure(lr_axis, beta_axis, panels[1], panels[2], exact=panels[0], lr_scale=v["r_lr_scale"],
                           analytic=theory, current=(v["lr"], v["beta"]), presentation=ctx.presentation,
                           height=PRESENT_HEIGHT if ctx.presentation else None, dark=ctx.dark)
    return maps, panels, theory, fig


def grid_axes(v) -> tuple[np.ndarray, np.ndarray]:
    """(eps axis, beta axis) of the sidebar's rate-map grid."""
    return (grid_axis(v["r_lr_lo"], v["r_lr_hi"], v["r_n"], v["r_lr_scale"]),
            grid_axis(v["r_beta_lo"], v["r_beta_hi"], v["r_n"], "linear"))


def _maps(ctx: Context, specs, seeds: int) -> None:
    """Sweep, draw the maps with their caption and export controls, the best cells and
    the cell picker."""
    v, spec = ctx.values, ctx.focus
    lr_axis, beta_axis = grid_axes(v)
    maps, (exact, base, cautious), theory, fig = maps_figure(ctx, specs, lr_axis, beta_axis, seeds)
    axes = (tuple(float(x) for x in lr_axis), tuple(float(x) for x in beta_axis))
    downloads.plotly_chart(fig, CHART_KEY, on_select=functools.partial(_on_click, *axes, v["r_lr_scale"]),
                           selection_mode="points")
    st.caption(_caption(exact, (base, cautious), v["r_steps"], seeds)
               + (" Dashes: the analytic stability boundary; white cross: the analytic optimum "
                  "(dynamics.rates)." if theory is not None else "") + _noise_drop_text(specs, maps))
    downloads.export_controls(fig, CHART_KEY, export_table(lr_axis, beta_axis, specs, maps),
                              dict(lr_axis=lr_axis, beta_axis=beta_axis))
    panels = [m for m in (exact, base, cautious) if m is not None]
    _best_cells(panels, theory.optimum if theory is not None else None, spec.setup.optimizer)
    _cell_picker(panels, lr_axis, beta_axis, v)


def render(ctx: Context) -> None:
    """The intro and the grid's settings, then the maps (in presentation mode the maps
    come first: ui.screen.slots)."""
    spec = ctx.focus
    v = ctx.values
    specs = (spec.twin(False), spec.twin(True))
    text, figure = screen.slots(ctx.presentation)
    with text:
        st.markdown(_intro(ctx, specs))
        if ctx.toy.name.startswith(CUSTOM_PREFIX):
            st.info("A custom objective has no listed minimiser, so distances and rates are undefined. Choose a "
                    "built-in toy for rate maps.")
            return
        if not ctx.toy.has_minima():
            st.info(f"{plain(ctx.toy.title)} has no minimiser, so distances and rates are undefined. Choose another toy.")
            return
        _controls()
        seeds = _noise_controls(spec)
        if not v["r_lr_lo"] < v["r_lr_hi"] or not v["r_beta_lo"] < v["r_beta_hi"]:
            st.warning("Each axis needs 'from' < 'to'.")
            return
        if not guard.affordable(cost(v, spec), LOWER):
            return
    with figure:
        _maps(ctx, specs, seeds)
