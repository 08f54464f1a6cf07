"""Step inspector: at a chosen step t of the focus run, the gradient g, the optimizer's
direction u, the coordinates the cautious mask drops and the step taken, drawn on the
contour, with the numbers (dynamics.anatomy; arXiv 2411.16085, Algorithm 1)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dynamics.rollout import loss_rises
from ui import compute, downloads
from ui.session import Context
from viz.inspector import step_arrows, step_figure, window
from viz.theme import optimizer_colour

DROP_REASON = {"elementwise": "there uᵢgᵢ ≤ 0", "elementwise-ge": "there uᵢgᵢ < 0",
               "inner": "u·g < 0: the whole direction points uphill",
               "threshold": "g·u < −(με/2)|u|², Theorem 2.7's condition fails",
               "smooth": "there sigmoid(uᵢgᵢ/τ) < 1/2"}
ZOOM_FLOOR = 1e-3      # smallest half-width of the zoomed view, as a fraction of the domain
PRESENT_HEIGHT = 600    # px: the step's figure in presentation mode (ui.screen)


def quantities(a: dict, t: int, lr: float) -> dict[str, np.ndarray]:
    """The vectors of step t: quantity -> its two coordinates."""
    return {"wₜ": a["w"][t], "g = ∇L(wₜ)": a["grad"][t], "u (optimizer direction)": a["direction"][t],
            "x = u ⊙ g": a["direction"][t] * a["grad"][t], "φ (1 = kept)": a["mask"][t],
            "−ε α φ ⊙ u": -lr * a["cautious"][t], "−ε · decay term": -lr * a["decay"][t],
            "step wₜ₊₁ − wₜ": a["step"][t]}


def export_table(a: dict, t: int, lr: float) -> dict[str, np.ndarray]:
    """The numbers of step t as a table: quantity, w1, w2 (floats)."""
    rows = quantities(a, t, lr)
    return {"quantity": np.array(list(rows)), "w1": np.array([float(v[0]) for v in rows.values()]),
            "w2": np.array([float(v[1]) for v in rows.values()])}


def numbers(a: dict, t: int, lr: float) -> pd.DataFrame:
    """One row per quantity, one column per coordinate."""
    rows = quantities(a, t, lr)
    return pd.DataFrame({"quantity": list(rows), **{f"w{'₁₂'[i]}": [f"{float(v[i]) + 0.0:.6g}" for v in rows.values()]
                                                    for i in range(2)}})     # + 0.0: no "-0"


def _jump(steps: np.ndarray, t: int) -> None:
    """Callback: move the step slider to the first of ``steps`` after t (wrapping around)."""
    later = steps[steps > t]
    if len(steps):
        st.session_state["i_step"] = int(later[0] if len(later) else steps[0])


def _step_controls(spec) -> tuple[int, bool]:
    """The step slider (kept within the run) and the zoom toggle: (t, zoom)."""
    ss = st.session_state
    if ss["i_step"] > spec.steps - 1:
        ss["i_step"] = spec.steps - 1
    c1, c2 = st.columns([4, 1])
    if spec.steps > 1:
        t = c1.slider(r"step $t$ (from $w_t$ to $w_{t+1}$)", 0, spec.steps - 1, key="i_step")
    else:
        t = 0
    zoom = c2.toggle("zoom to the step", key="i_zoom")
    return t, zoom


def rise_steps(traj: dict, rise_rel: float, l_star: float | None) -> np.ndarray:
    """The steps t (from w_t to w_{t+1}, the slider's t) where L rose by more than the
    threshold of dynamics.rollout.loss_rises."""
    return loss_rises(traj["loss"], rise_rel, l_star)[0] - 1


def _jump_buttons(spec, a: dict, rises: np.ndarray, t: int, rise_rel: float, wide: bool = True) -> None:
    """Buttons moving the slider to the next step where the mask drops a coordinate and
    to the next of ``rises`` (rise_steps); side by side in a row of the page, or (not
    ``wide``) sharing a narrow column."""
    with np.errstate(invalid="ignore"):
        masked_steps = np.nonzero(np.any(a["mask"] < 0.5, axis=-1))[0] if spec.setup.cautious else np.zeros(0, int)
    b1, b2 = st.columns([1, 1, 3] if wide else 2)[:2]
    b1.button(f"next masked step (of {len(masked_steps)})", on_click=_jump, args=(masked_steps, t),
              disabled=not len(masked_steps), key="_next_mask")
    b2.button(f"next L rise (of {len(rises)})", on_click=_jump, args=(rises, t), disabled=not len(rises),
              key="_next_rise", help=f"steps where L rose by more than {rise_rel:g} × max(|L(w₀)|, |L(w₀) − L*|)")


def _step_panel(ctx: Context, spec, a: dict, traj: dict, t: int, zoom: bool, points, w) -> None:
    """The step's arrows on the contour (the whole domain, or zoomed to the step), with
    its export controls."""
    base, light = (optimizer_colour(spec.setup.optimizer, c, ctx.dark) for c in (False, True))
    arrows = step_arrows(spec.hyper.lr, a["grad"][t], a["direction"][t], a["cautious"][t], a["mask"][t], a["decay"][t],
                         a["step"][t], base, light, spec.setup.cautious, ctx.dark)
    span = max(ctx.toy.domain[0][1] - ctx.toy.domain[0][0], ctx.toy.domain[1][1] - ctx.toy.domain[1][0])
    bounds = window(w, arrows, ZOOM_FLOOR * span) if zoom else ctx.toy.domain
    bounds = tuple(tuple(float(b) for b in axis) for axis in bounds)
    grid = compute.grid(ctx.toy.name, ctx.params_key, 120, bounds)
    fig = step_figure(grid, points, bounds, w, arrows, traj["w"], ctx.styles[spec.label], ctx.presentation,
                      PRESENT_HEIGHT if ctx.presentation else 640, ctx.dark)
    downloads.plotly_chart(fig, "inspector")
    downloads.export_controls(fig, "inspector", export_table(a, t, spec.hyper.lr),
                              dict(path=traj["w"], step=np.int64(t), contour_x=grid[0], contour_y=grid[1],
                                   contour_loss=grid[2]))


def _numbers_panel(spec, a: dict, traj: dict, t: int, rose: bool) -> None:
    """The numbers of step t: L before and after, the compensation, the vectors, what
    the mask dropped and why, and whether L rose (``rose``: above the threshold)."""
    loss0, loss1 = float(traj["loss"][t]), float(traj["loss"][t + 1])
    st.markdown(f"**{spec.label}, step {t} → {t + 1}** (ε = {spec.hyper.lr:.4g}, β = {spec.hyper.beta:.4g})")
    m = st.columns(3)
    m[0].metric("$L(w_t)$", f"{loss0:.4g}")
    m[1].metric("$L(w_{t+1})$", f"{loss1:.4g}", delta=f"{loss1 - loss0:.3g}", delta_color="inverse")
    m[2].metric(r"compensation $\alpha$", f"{float(a['alpha'][t]):.4g}",
                help="the step is −ε α φ⊙u; mean compensation α = 1/max(mean φ, 10⁻³) is 1000 when every "
                     "coordinate is dropped (the step is then 0)")
    st.dataframe(numbers(a, t, spec.hyper.lr), hide_index=True, width="stretch")
    dropped = [i + 1 for i in np.nonzero(a["mask"][t] < 0.5)[0]] if spec.setup.cautious else []
    if not spec.setup.cautious:
        st.caption("No caution: the step is −ε u (plus decay). Choose a cautious run in the sidebar to see "
                   "the mask.")
    elif dropped:
        st.info(f"The mask drops coordinate(s) {', '.join(map(str, dropped))}: {DROP_REASON[spec.setup.mask]}, so "
                "that part of −ε u would raise L to first order.")
    else:
        st.caption("The mask keeps every coordinate at this step (u and g agree in sign).")
    if rose:
        st.warning("L rose at this step (by more than the sidebar's threshold).")


def render(ctx: Context) -> None:
    """The inspector tab: step controls, then the focus run's step t drawn (left) and in
    numbers (right); a warning instead once the run has diverged."""
    spec = ctx.focus
    t, zoom = _step_controls(spec)
    a = compute.anatomy(spec)
    traj = compute.trajectory(spec)
    points, l_star = compute.minima(ctx.toy.name, ctx.params_key)
    rises = rise_steps(traj, ctx.values["rise_rel"], l_star)
    buttons = st.container()
    w = a["w"][t]
    if not np.all(np.isfinite(w)) or not np.all(np.isfinite(a["step"][t])):
        st.warning(f"{spec.label} has diverged by step {t}: the iterate or the step is not finite. Choose an "
                   "earlier step or smaller ε.")
    else:
        left, right = st.columns([1.3, 1] if ctx.presentation else [1.5, 1])
        with left:
            _step_panel(ctx, spec, a, traj, t, zoom, points, w)
        with right:
            if ctx.presentation:         # beside the figure: the figure keeps the height under the slider
                buttons = st.container()
            _numbers_panel(spec, a, traj, t, bool(np.isin(t, rises)))
    with buttons:
        _jump_buttons(spec, a, rises, t, ctx.values["rise_rel"], wide=not ctx.presentation)
