"""The sidebar: presets, the objective, the optimizers and every shared setting.  Each
widget is bound to the state field of the same key (ui.state), so its value comes from
session state (the URL on a session's first run) and goes back to the URL.  Bounds,
choices and help of the run settings come from their fields (ui.state, built from
dynamics.settings)."""
from __future__ import annotations

import streamlit as st

from dynamics.config import HYPER_DEFAULTS
from dynamics.settings import OPTIMIZER_DEFAULTS
from toys import TOYS
from toys.expr import ExprError, parse_expression
from ui.pin import PIN_KEY
from ui.presets import PRESETS
from ui.session import on_clear_pin, on_pin, on_preset, on_toy_change
from ui.state import CUSTOM, FIELDS, NAMES, START_BOUND, VARIANTS, param_bounds, param_key, toy_of
from ui.text import LINE_LIMIT, plain

MASK_TEXT = {"elementwise": "elementwise φᵢ = 1[uᵢgᵢ > 0] (Alg. 1)",
             "elementwise-ge": "elementwise φᵢ = 1[uᵢgᵢ ≥ 0] (non-strict)",
             "inner": "inner φ = 1[u·g ≥ 0] (Thm 2.5)",
             "threshold": "threshold φ = 1[g·u ≥ −(με/2)|u|²] (Thm 2.7)",
             "smooth": "smooth φᵢ = sigmoid(uᵢgᵢ/τ)"}
COMP_TEXT = {"none": "none: α = 1", "mean": "mean: α = 1/mean φ (Alg. 1, 2)", "count": "count: α = d/(nnz φ + 1) (Alg. 3)"}
DECAY_TEXT = {"none": "none", "decoupled": "decoupled: u += λw", "cautious": "cautious: u += λ·1[u·w ≥ 0]·w"}
VARIANT_TEXT = {"both": "base + cautious", "base": "base only", "cautious": "cautious only"}
SCHEDULE_TEXT = {"constant": "constant: ε_t = lr", "warmup-cosine": "warmup, then cosine decay",
                 "step": "step decay: × γ every K steps", "one-cycle": "one-cycle (cosine up, then down)"}


def _number(label: str, key: str, fmt: str = "%.6g", step: float | None = None, help: str | None = None,
            placeholder: str | None = None) -> None:
    """A number input bound to field ``key``: its bounds, and its help (dynamics.settings) unless ``help``."""
    f = FIELDS[key]
    st.sidebar.number_input(label, min_value=f.lo, max_value=f.hi, key=key, format=fmt, step=step,
                            help=help or f.help or None, placeholder=placeholder)


def _choice(label: str, key: str, texts: dict[str, str]) -> None:
    """A select box bound to field ``key``: its choices shown as ``texts``, its help from dynamics.settings."""
    f = FIELDS[key]
    st.sidebar.selectbox(label, f.choices, key=key, format_func=texts.get, help=f.help)


def _beta2() -> None:
    """beta2: empty means each optimizer's own b2 (dynamics.settings), a number overrides it for every run."""
    own = ", ".join(f"{NAMES[k]} {v:g}" for k, v in OPTIMIZER_DEFAULTS["beta2"].items())
    _number("β₂ (b₂ of Adam/Lion); empty: the optimizer's own", "beta2", fmt="%.4f", step=0.001,
            placeholder=f"own: {own}", help=f"{FIELDS['beta2'].help}. Empty: each optimizer's own b₂ ({own}, "
                                              f"else {HYPER_DEFAULTS['beta2']:g}); a number sets it for all")


def _custom_objective(sb) -> None:
    """The text input of the typed objective (toys.expr); a bad expression: an error with
    the parser's message, and the app runs on the default toy (ui.state.resolve_custom)."""
    sb.text_input("L(x, y) =", key="expr", help="e.g. (1-x)^2 + 100*(y-x^2)^2. Numbers, x, y (or w1, w2), pi, e, "
                  "+ - * / ^ ( ), and sin cos tan exp log sqrt abs tanh sinh cosh arctan min max. Plotted on "
                  "[-2, 2]²; no minimiser is listed, so rate maps and basins are undefined.")
    try:
        parse_expression(st.session_state["expr"])
    except ExprError as err:
        sb.error(f"This objective cannot be used: {plain(err, LINE_LIMIT)}. Showing the default toy "
                 f"{FIELDS['toy'].default} instead.")


def render(run_labels: list[str]) -> None:
    """Draw the sidebar; ``run_labels``: the runs the single-run views can follow."""
    sb = st.sidebar
    ss = st.session_state
    sb.selectbox("Preset (sets everything at once)", list(PRESETS), index=None, key="_preset",
                 placeholder="Load a preset…", on_change=on_preset)
    if ss.get("_preset_loaded"):
        sb.caption(f"Loaded preset: {ss['_preset_loaded']}")
    sb.toggle("Presentation mode (large fonts)", key="present")
    _pin(sb)
    _objective(sb)
    _optimizers(sb, run_labels)
    _hyperparameters(sb)
    _schedule_clip(sb)
    _caution_decay_noise(sb)
    _sam(sb)
    sb.caption("The URL holds every setting: copy it to share or reproduce this view.")


def _pin(sb) -> None:
    """Pin the current settings for the Compare tab (kept in the URL), and clear the pin."""
    pinned = bool(st.session_state.get(PIN_KEY))
    left, right = sb.columns([2, 1]) if pinned else (sb, None)
    left.button("Pin settings", key="_pin", icon=":material/push_pin:", on_click=on_pin, width="stretch",
                help="Keep these settings; the Compare tab draws them beside the ones you set next")
    if pinned:
        right.button("Clear", key="_unpin", on_click=on_clear_pin, width="stretch", help="Clear the pin")
        sb.caption("Settings pinned: the Compare tab shows them beside the current ones.")


def _objective(sb) -> None:
    """The toy (or a typed objective), its parameters and the start point."""
    ss = st.session_state
    sb.subheader("Objective")
    sb.selectbox("Toy L(w)", FIELDS["toy"].choices, key="toy", on_change=on_toy_change,
                 format_func=lambda n: f"{n}: {TOYS[n].title}" if n in TOYS else "custom: type L(x, y)")
    if ss["toy"] == CUSTOM:
        _custom_objective(sb)
    toy = toy_of(ss["toy"])
    for name in toy.defaults:
        lo, hi = param_bounds(toy.name, name)
        sb.number_input(f"parameter {name}", min_value=lo, max_value=hi, key=param_key(name), format="%.6g",
                        step=0.1, help=toy.param_help.get(name))
    c1, c2 = sb.columns(2)
    c1.number_input("start w₀ (w₁)", -START_BOUND, START_BOUND, key="sx", format="%.4g", step=0.1)
    c2.number_input("start w₀ (w₂)", -START_BOUND, START_BOUND, key="sy", format="%.4g", step=0.1)
    sb.caption("…or click on the contour in the Trajectories tab.")


def _optimizers(sb, run_labels: list[str]) -> None:
    """Which optimizers, which variants, and the run the single-run views follow."""
    ss = st.session_state
    sb.subheader("Optimizers")
    sb.multiselect("Optimizers (w ← w − ε u)", FIELDS["opt"].choices, key="opt", format_func=NAMES.get,
                   help=FIELDS["opt"].help)
    sb.radio("Variants", VARIANTS, key="variants", horizontal=True, format_func=VARIANT_TEXT.get,
             help="base in the dark colour of a pair, cautious (arXiv 2411.16085) in the light one, dashed")
    if run_labels:
        if ss.get("focus") not in run_labels:
            ss["focus"] = next((lab for lab in run_labels if lab.startswith("C-")), run_labels[0])
        sb.selectbox("Single-run views follow", run_labels, key="focus",
                     help="the run shown by the Continuous time, Step inspector and Learn tabs")


def _hyperparameters(sb) -> None:
    """lr, beta, dampening, beta2, adam's e, steps, precision and the size a loss rise must
    exceed to count."""
    sb.subheader("Hyperparameters")
    _number("step size ε (lr), per step", "lr", step=0.001)
    sb.slider("momentum β (b₁ for Adam/Lion)", FIELDS["beta"].lo, FIELDS["beta"].hi, key="beta", step=0.001,
              format="%.4f", help=FIELDS["beta"].help)
    sb.checkbox("dampened momentum s ← βs + (1−β)g (GDM)", key="dampening", help=FIELDS["dampening"].help)
    _beta2()
    _number("Adam's e in m/(√v + e)", "adam_eps", fmt="%.1e")
    sb.slider("steps T", FIELDS["steps"].lo, FIELDS["steps"].hi, key="steps", step=1, help=FIELDS["steps"].help)
    sb.radio("precision", FIELDS["dtype"].choices, key="dtype", horizontal=True, help=FIELDS["dtype"].help)
    _number("a loss rise counts above this × L(w₀)", "rise_rel", fmt="%.1e", step=1e-12)


def _schedule_clip(sb) -> None:
    """The learning-rate schedule (its numbers only where the schedule reads them) and
    gradient clipping with its max norm (dynamics.schedules)."""
    ss = st.session_state
    sb.subheader("Schedule and clipping")
    _choice("lr schedule: step t uses ε_t = lr·f(t−1), lr the peak", "schedule", SCHEDULE_TEXT)
    if ss["schedule"] in ("warmup-cosine", "one-cycle"):
        _number("warmup steps W", "warmup", fmt="%d", step=1)
    if ss["schedule"] == "warmup-cosine":
        _number("final factor F (ε_T = F·lr)", "lr_final", fmt="%.3g", step=0.05)
    if ss["schedule"] == "step":
        _number("decay every K steps", "decay_every", fmt="%d", step=1)
        _number("decay factor γ", "decay_factor", fmt="%.3g", step=0.05)
    sb.checkbox("clip the gradient to norm c (before the optimizer and the mask)", key="clip",
                help=FIELDS["clip"].help)
    if ss["clip"]:
        _number("max gradient norm c", "clip_norm", step=0.1)


def _caution_decay_noise(sb) -> None:
    """The cautious mask and compensation, weight decay and gradient noise (with their
    parameters only where they apply)."""
    ss = st.session_state
    sb.subheader("Caution (arXiv 2411.16085)")
    _choice("mask φ (x = u ⊙ g)", "mask", MASK_TEXT)
    _choice("compensation α", "comp", COMP_TEXT)
    if ss["mask"] == "smooth":
        _number("smooth-mask temperature τ", "tau", fmt="%.2e")
    if ss["mask"] == "threshold":
        _number("smoothness constant μ (threshold mask)", "mu", step=0.1)

    sb.subheader("Weight decay (arXiv 2510.12402)")
    _choice("decay mode", "decay", DECAY_TEXT)
    if ss["decay"] != "none":
        _number("decay strength λ", "wd", step=0.01)
    sb.subheader("Gradient noise")
    _number("noise σ: steps use g + σ z, z ~ N(0, I)", "noise_sigma", step=0.01,
            help="0: exact gradients. The cautious mask then reads the noisy gradient (arXiv 2411.16085, Alg. 1)")
    if ss["noise_sigma"] > 0:
        _number("seed of the noise", "seed", fmt="%d", step=1,
                help=f"{FIELDS['seed'].help}: the same seed gives the same noise, bit for bit")


def _sam(sb) -> None:
    """Sharpness-aware minimization (dynamics.sam) and its radius rho (shown when on)."""
    sb.subheader("SAM (arXiv 2010.01412)")
    sb.checkbox("SAM: step with ∇L(w + ρ g/|g|), g = ∇L(w)", key="sam", help=FIELDS["sam"].help)
    if st.session_state["sam"]:
        _number("SAM radius ρ", "rho", step=0.01)
