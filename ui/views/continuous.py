"""Continuous time: the focus run's flow (dynamics.flows, time unit = one step) solved
by the chosen ODE solver (dynamics.ode.integrate) beside the discrete iterates of the
same settings, L(t) and H(t) of both, and what the solver did (steps, rejections,
warnings)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dynamics.flows import is_smooth
from dynamics.optimizers import spec_of
from dynamics.solvers import SOLVERS
from dynamics.budget import flow_cost, runs_cost
from dynamics.ode import ADAPTIVE_DEFAULTS
from ui import compute, downloads, guard, screen
from ui.session import Context
from ui.state import FIELDS
from viz.contour import PathStyle, contour_figure, path_window
from viz.curves import Series, step_curves
from viz.theme import ink, optimizer_colour

PRESENT_HEIGHT = 660            # px: both figures in presentation mode (ui.screen)
SOLVER_TEXT = {"euler": "Euler (order 1)", "semi-implicit": "semi-implicit Euler (the optimizer at 1 substep)",
               "rk4": "Runge-Kutta 4", "adaptive": "adaptive (diffrax Tsit5, PID)"}


def _has_sign(spec) -> bool:
    """Whether the run's flow has the smooth-sign option (its optimizer reads sign_tau)."""
    return "sign_tau" in spec_of(spec.setup.optimizer).uses


def _controls(spec) -> None:
    c = st.columns(5)
    c[0].selectbox("solver", SOLVERS, key="o_solver", format_func=SOLVER_TEXT.get)
    f = FIELDS["o_substeps"]
    c[1].number_input("substeps per step (h = 1/N)", min_value=f.lo, max_value=f.hi, key="o_substeps",
                      help="fixed-step solvers; the adaptive solver's first step")
    if st.session_state["o_solver"] == "adaptive":
        for col, key, label in ((c[2], "o_rtol", "rtol"), (c[3], "o_atol", "atol")):
            f = FIELDS[key]
            col.number_input(label, min_value=f.lo, max_value=f.hi, key=key, format="%.1e")
    flow = spec_of(spec.setup.optimizer).flow
    if flow is not None and flow.initial is not None:
        c[4].radio("initial moments", ("auto", "zeros"), key="o_init", horizontal=True,
                   help="auto: the moments of the optimizer's first step (Adam: m₀ = g(w₀), v₀ = g(w₀)²; see "
                        "Learn); zeros: as the discrete optimizer")
    if _has_sign(spec):
        c[4].radio("sign in the flow", ("hard", "smooth"), key="o_sign", horizontal=True,
                   help="smooth: tanh(c/τ_sign), a smooth right-hand side for the adaptive solver")
        if st.session_state["o_sign"] == "smooth":
            f = FIELDS["o_sign_tau"]
            c[3].number_input("τ_sign", min_value=f.lo, max_value=f.hi, key="o_sign_tau", format="%.1e")


def _status(status: dict, smooth: bool) -> None:
    c = st.columns(4)
    c[0].metric("solver", status["solver"] + (f" ({status['method']})" if status["method"] else ""))
    if status["solver"] == "adaptive":
        c[1].metric("steps taken", status["steps"])
        c[2].metric("rejected steps", status["rejected"])
        c[3].metric("reached", "the end" if not status["stopped_early"] else f"t = {status['stopped_at']:g}")
    else:
        c[1].metric("substeps per unit", status["substeps"])
        c[2].metric("right-hand side", "smooth" if smooth else "non-smooth")
    if status["stopped_early"]:
        st.error(f"The solver stopped early: {status['message']}")
    for w in status["warnings"]:
        st.warning(w)


def export_data(series: dict, l_star, grid) -> tuple[dict, dict]:
    """(table, NPZ arrays): per series (steps, flow) and time t: w, L, H, fraction masked
    (raw values); the contour ``grid`` (xs, ys, L) and L* (NaN without a minimiser)."""
    table = downloads.run_table({label: dict(t=t, w1=a["w"][:, 0], w2=a["w"][:, 1], loss=a["loss"],
                                             hamiltonian=a["hamiltonian"], masked_fraction=a["masked_fraction"])
                                 for label, (t, a) in series.items()})
    xs, ys, z = grid
    return table, dict(contour_x=xs, contour_y=ys, contour_loss=z,
                       l_star=np.float64(np.nan if l_star is None else l_star))


def render(ctx: Context) -> None:
    """The intro, the solver's settings and what it did, and the figures (in presentation
    mode the figures come first: ui.screen.slots)."""
    spec = ctx.focus
    v = ctx.values
    text, figure = screen.slots(ctx.presentation)
    with text:
        st.markdown(f"The flow of **{spec.label}** (Learn tab: its equations) against its discrete steps. One unit "
                    "of time is one optimizer step, so t = 0…T matches steps 0…T.")
        _controls(spec)
        if spec.hyper.noise_sigma > 0:
            st.caption(f"The flow uses the exact gradient; the discrete steps beside it use the sidebar's noisy "
                       f"gradient (σ = {spec.hyper.noise_sigma:g}, seed {spec.seed}).")
    lion_sign = v["o_sign"] if _has_sign(spec) else "hard"
    cost = (flow_cost("the flow", spec.steps, v["o_solver"], v["o_substeps"], ADAPTIVE_DEFAULTS["method"],
                      ADAPTIVE_DEFAULTS["max_steps"])
            + runs_cost("the steps", spec.steps, noisy=spec.hyper.noise_sigma > 0, sam=spec.setup.sam))
    if not guard.affordable(cost, "the steps T or the substeps per unit"):
        return
    try:
        arrays, status = compute.flow(spec, v["o_solver"], v["o_substeps"], v["o_init"], lion_sign,
                                      v["o_sign_tau"], v["o_rtol"], v["o_atol"])
    except ValueError as err:      # an optimizer without a flow in dynamics.flows
        text.info(f"No continuous-time flow for {spec.label}: {err}")
        return
    with text:
        if not np.all(np.isfinite(arrays["w"])) and not status["stopped_early"]:
            st.warning("The flow left the floating-point range (non-finite values): the step size is too large "
                       "for this solver or the flow diverges.")
        _status(status, is_smooth(spec.setup_with(lion_sign=lion_sign)))
    with figure:
        _figures(ctx, arrays)


def _figures(ctx: Context, arrays: dict) -> None:
    """The flow and the steps on the contour, their L and H, and the largest dH/dt."""
    spec, v = ctx.focus, ctx.values
    traj = compute.trajectory(spec)
    points, l_star = compute.minima(ctx.toy.name, ctx.params_key)
    colour = optimizer_colour(spec.setup.optimizer, spec.setup.cautious, ctx.dark)
    flow_colour = ink(ctx.dark)
    flow_label, step_label = f"{spec.label} flow ({v['o_solver']})", f"{spec.label} steps"
    styles = {step_label: PathStyle(colour, "dot"), flow_label: PathStyle(flow_colour, "solid")}
    paths = {step_label: traj["w"], flow_label: arrays["w"]}
    grid = compute.grid(ctx.toy.name, ctx.params_key, 160, path_window(ctx.toy.domain, paths))
    table, arrays_out = export_data({step_label: (np.arange(spec.steps + 1), traj),
                                     flow_label: (arrays["time"], arrays)}, l_star, grid)
    height = PRESENT_HEIGHT if ctx.presentation else 560
    left, right = st.columns([1.05, 1])
    with left:
        fig = contour_figure(ctx.toy, ctx.params, paths, styles=styles, start=spec.start, grid=grid, minima=points,
                             presentation=ctx.presentation, height=height, dark=ctx.dark)
        downloads.plotly_chart(fig, "ode_contour")
        downloads.export_controls(fig, "ode_contour", table, arrays_out)
    with right:
        masked = spec.setup.cautious
        series = [Series(step_label, colour, "dot", np.arange(spec.steps + 1), traj["loss"], traj["hamiltonian"],
                         traj["masked_fraction"] if masked else None, mode="lines+markers"
                         if spec.steps <= 200 else "lines"),
                  Series(flow_label, flow_colour, "solid", arrays["time"], arrays["loss"], arrays["hamiltonian"],
                         arrays["masked_fraction"] if masked else None)]
        curves = step_curves(series, l_star, ctx.presentation, xlabel="t (one unit = one step)", height=height)
        downloads.plotly_chart(curves, "ode_curves")
        downloads.export_controls(curves, "ode_curves", table, arrays_out)
    rise = float(np.nanmax(arrays["dH_dt"])) if np.isfinite(arrays["dH_dt"]).any() else float("nan")
    st.caption(f"Largest dH/dt on the grid t = 0…T: {rise:.3g}. Along the exact flow dH/dt ≤ 0 under the "
               "conditions stated in the Learn tab (no weight decay; Adam with 1−β₁ ≥ (1−β₂)/4; caution with α ≥ 1).")
