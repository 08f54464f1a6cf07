"""Learn: the focus run's update rule and flow, its Hamiltonian, the cautious mask and
compensation in use, and a plain explanation of what the other views show, with
references to the papers' sections."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui import compute, downloads
from dynamics.optimizers import spec_of
from dynamics.rollout import loss_rises
from dynamics.sam import NO_FLOW
from ui.equations import (CLIP, COMPENSATION, DECAY, H_CAUTIOUS, H_SCHEDULE, MASK, SAM_NOTE, SAM_UPDATE, SCHEDULE,
                          SCHEDULED_STEP, cautious_update)
from ui.session import Context
from ui.state import CUSTOM_PREFIX, NAMES
from ui.text import plain
from viz.mask import mask_response_figure

REFERENCES = """
- Liang, Chen, Liu, Liu, *Cautious Optimizers: Improving Training with One Line of Code*,
  [arXiv 2411.16085](https://arxiv.org/abs/2411.16085): Section 2 (Algorithm 1; Theorem 2.3, monotone L and faster
  decrease of H; Theorem 2.5, the inner-product mask; Theorem 2.7, the threshold mask; Example 2.1, Adam's
  Hamiltonian), Figures 2-3 (the toy runs and rate maps reproduced by the presets).
- *Cautious Weight Decay*, [arXiv 2510.12402](https://arxiv.org/abs/2510.12402): Section 3 (decay only where
  u·w ≥ 0; sliding mode along the minimiser set).
- Foret, Kleiner, Mobahi, Neyshabur, *Sharpness-Aware Minimization for Efficiently Improving Generalization*,
  [arXiv 2010.01412](https://arxiv.org/abs/2010.01412): SAM's step (the sidebar's SAM switch).
- G. Goh, *Why Momentum Really Works*, [Distill 2017](https://distill.pub/2017/momentum/): the optimal heavy ball
  on a quadratic, ε* = (2/(√λ₁+√λ₂))², β* = ((√κ−1)/(√κ+1))².
"""


def _explain(ctx: Context, spec) -> str:
    name = NAMES[spec.setup.optimizer]
    text = [f"**{name}** moves w by −ε u each step. ", spec_of(spec.setup.optimizer).explain]
    text.append("The **cautious** variant looks at x = u ⊙ g: where a coordinate of the update points uphill "
                "(x ≤ 0) the mask φ drops it, and α rescales what is left. Along the flow this makes L decrease "
                "monotonically and H decrease at least as fast as for the base optimizer, provided α ≥ 1 "
                "(arXiv 2411.16085, Theorem 2.3). ")
    if spec.setup.compensation == "count":
        text.append("With the **count** compensation in 2-D, α = 2/3 when nothing is masked: the condition α ≥ 1 "
                    "fails, so the cautious step is *shorter* than the base one and H can fall more slowly. ")
    if spec.setup.decay == "cautious":
        text.append("**Cautious weight decay** shrinks only the coordinates where the update already moves w "
                    "towards 0 (u·w ≥ 0): on a valley of minimisers the iterate reaches the valley and then "
                    "slides along it towards small norm (arXiv 2510.12402, Section 3). ")
    elif spec.setup.decay == "decoupled":
        text.append("**Decoupled weight decay** pulls towards the minimiser of the regularised L + (λ/2)|w|², "
                    "not of L. ")
    if spec.setup.sam:
        text.append(f"**SAM** (ρ = {spec.hyper.rho:g}) first steps up the gradient by ρ, to w + ρ g/|g|, and gives "
                    f"the gradient found there to {name}: a minimum whose surroundings within ρ are steep pushes the "
                    "run out, a flat one does not (the Basins tab compares without and with SAM; try the two-wells "
                    "toy). With caution, the mask still compares u with the gradient at w itself. ")
    if spec.hyper.noise_sigma > 0:
        text.append(f"**Noisy gradients** (σ = {spec.hyper.noise_sigma:g}, seed {spec.seed}): every step uses "
                    "g + σz with "
                    "z ~ N(0, I), and the cautious mask reads the noisy gradient, so it also drops coordinates where "
                    "the momentum agrees with the true gradient but not with the noise (counted below). ")
    return "".join(text)


def _observed(ctx: Context) -> str:
    """What the runs did: the steps where L rose (dynamics.rollout.loss_rises, the
    sidebar's threshold) and what the cautious mask dropped."""
    _, l_star = compute.minima(ctx.toy.name, ctx.params_key)
    rel = ctx.values["rise_rel"]
    lines = []
    for spec in ctx.runs:
        traj = compute.trajectory(spec)
        rises = len(loss_rises(traj["loss"], rel, l_star)[0])
        masked = f", mean fraction masked {np.nanmean(traj['masked_fraction'][1:]):.2f}" if spec.setup.cautious else ""
        if spec.setup.cautious and spec.hyper.noise_sigma > 0:
            masked += (f"; dropped by the noise (u agreed with the true gradient, not with the noisy one) "
                       f"{np.nanmean(traj['noise_drop'][1:]):.3f} of the coordinates per step, kept by the noise "
                       f"{np.nanmean(traj['noise_keep'][1:]):.3f}")
        lines.append(f"- {spec.label}: L rose by more than {rel:g} L(w₀) at {rises} of {spec.steps} steps{masked}")
    return "In the current settings:\n" + "\n".join(lines)


def _sam_rule(spec) -> None:
    """SAM's step (arXiv 2010.01412, dynamics.sam) when the run uses it."""
    if spec.setup.sam:
        st.markdown(f"**SAM** (arXiv 2010.01412; ρ = {spec.hyper.rho:g}, in use)")
        st.latex(SAM_UPDATE)
        st.caption(SAM_NOTE)


def _schedule_clip(spec) -> None:
    """The learning-rate schedule (with what it does to H) and the gradient clipping, when on."""
    setup, hp = spec.setup, spec.hyper
    if setup.schedule != "constant":
        factor, source = SCHEDULE[setup.schedule]
        numbers = {"warmup-cosine": f"W = {hp.warmup:g}, F = {hp.lr_final:g}",
                   "step": f"K = {hp.decay_every:g}, γ = {hp.decay_factor:g}",
                   "one-cycle": f"W = {hp.warmup:g}"}[setup.schedule]
        st.markdown(f"**Learning-rate schedule**: {setup.schedule} ({source}; peak lr = {hp.lr:g}, {numbers}, "
                    f"T = {spec.steps})")
        st.latex(SCHEDULED_STEP)
        st.latex(factor)
        st.caption("K reads ε at the step about to be taken, and the flow's ε(t) makes H move with it: H may rise "
                   "while ε grows (the warmup), and falls faster while ε shrinks (docs/theory.md, Section 4.8).")
        st.latex(H_SCHEDULE)
    if setup.clip:
        st.markdown(f"**Gradient clipping**, c = {hp.clip_norm:g}: first, before the optimizer and the cautious "
                    "mask (both read the clipped g)")
        st.latex(CLIP)


def render(ctx: Context) -> None:
    """The toy, the rules in use as LaTeX, the mask's figure (in presentation mode at the
    top of the right column), and what the runs did."""
    spec = ctx.focus
    eq = spec_of(spec.setup.optimizer).equations(spec.setup)
    toy_name = ctx.toy.title if ctx.toy.name.startswith(CUSTOM_PREFIX) else ctx.toy.name
    st.subheader(f"{spec.label}{'-SAM' if spec.setup.sam else ''} on {plain(toy_name)}")
    st.latex(ctx.toy.latex(ctx.params))
    left, right = st.columns(2)
    chart = right.container() if ctx.presentation else None     # presentation: the figure first, beside the rules
    with left:
        st.markdown(r"**Update rule** ($g_t = \nabla L(w_t)$)")
        st.latex(eq.update)
        if eq.source:
            st.caption(eq.source)
        use = "in use" if spec.setup.cautious else "selected, not in use: this run is not cautious"
        st.markdown(f"**Cautious step** (arXiv 2411.16085, Section 2; {use})")
        st.latex(cautious_update())
        mask, where = MASK[spec.setup.mask]
        st.markdown(f"**Mask**: {spec.setup.mask} ({where})")
        st.latex(mask)
        comp, where = COMPENSATION[spec.setup.compensation]
        st.markdown(f"**Compensation**: {spec.setup.compensation}" + (f" ({where})" if where else ""))
        st.latex(comp)
        _sam_rule(spec)
        chart = chart or st.container()
        if DECAY[spec.setup.decay] is not None:
            st.markdown(f"**Weight decay**: {spec.setup.decay}, λ = {spec.hyper.wd:g} (arXiv 2510.12402)")
            st.latex(DECAY[spec.setup.decay])
        _schedule_clip(spec)
    with right:
        st.markdown("**Flow** (one unit of time = one step; the Continuous time tab solves it)")
        if eq.flow and not spec.setup.sam:
            st.latex(eq.flow)
        elif spec.setup.sam:
            st.caption(NO_FLOW)
        else:
            st.caption(f"No flow: {NAMES[spec.setup.optimizer]} has none here, so the Continuous time tab solves none "
                       "either.")
        st.markdown("**Hamiltonian** (a Lyapunov function of the base flow)")
        st.latex(eq.hamiltonian)
        if eq.note:
            st.caption(eq.note)
        if spec.setup.cautious:
            st.caption("The cautious flow keeps the same H, and decreases it at least as fast (Theorem 2.3):")
            st.latex(H_CAUTIOUS)
    with chart:
        st.markdown(r"**One coordinate's share of the decrease of L** ($x_1 = u_1 g_1$; Theorem 2.3 needs the "
                    "cautious curves on or above the grey one)")
        downloads.plotly_chart(mask_response_figure(spec.setup.mask, spec.setup.compensation, spec.hyper.lr,
                                                    spec.hyper.mu, spec.hyper.tau, ctx.presentation, dark=ctx.dark),
                               "learn_mask")
    st.markdown("#### What you are seeing")
    st.markdown(_explain(ctx, spec))
    st.markdown(_observed(ctx))
    st.markdown("#### References")
    st.markdown(REFERENCES)
