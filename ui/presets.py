"""Presets: named settings that set *everything* at once (every other field goes back
to its default, the toy's parameters and start to the toy's own unless given).

References: arXiv 2411.16085 (Cautious Optimizers), Figure 2 (a momentum run on a 2-D
quadratic, GDM oscillates while C-GDM descends monotonically) and Figure 3 (rate maps
on w1^2 + 4 w2^2); Goh, "Why Momentum Really Works", Distill 2017 (the optimal heavy
ball eps* = (2/(sqrt l1 + sqrt l2))^2, beta* = ((sqrt k - 1)/(sqrt k + 1))^2).
"""
from __future__ import annotations

from typing import Any

from dynamics.optimizers.gdm import optimum as heavy_ball_optimum
from ui.state import defaults

_DISTILL_H = (0.5, 50.0)                       # Hessian eigenvalues, kappa = 100
_DISTILL = heavy_ball_optimum(*_DISTILL_H)
_K4 = heavy_ball_optimum(2.0, 8.0)             # eps* = 2/9, beta* = 1/9, rate 1/3

PRESETS: dict[str, dict[str, Any]] = {
    "Paper Fig. 2: 0.5 w1² + 0.1 w2² (quad-paper)": dict(
        toy="quad-paper", opt=("gdm",), variants="both", lr=0.01, beta=0.99, steps=1000, view="trajectories"),
    "Paper Fig. 2: x1² + 0.1 x2² (quad-repo, code repository)": dict(
        toy="quad-repo", opt=("gdm",), variants="both", lr=0.01, beta=0.99, steps=1000, view="trajectories"),
    "Paper Fig. 3: rate maps, κ = 4 (quad-k4)": dict(
        toy="quad-k4", opt=("gdm",), variants="both", lr=_K4["lr"], beta=_K4["beta"], steps=100,
        r_lr_lo=0.01, r_lr_hi=0.5, r_lr_scale="linear", r_beta_lo=0.0, r_beta_hi=0.95, r_n=128, r_steps=1000,
        view="rates"),
    "Distill: optimal heavy ball on a quadratic (κ = 100)": dict(
        toy="quadratic", p_h1=_DISTILL_H[0], p_h2=_DISTILL_H[1], opt=("gdm",), variants="both",
        lr=_DISTILL["lr"], beta=_DISTILL["beta"], steps=200, r_lr_lo=0.002, r_lr_hi=0.08, r_lr_scale="linear",
        r_beta_lo=0.0, r_beta_hi=0.95, view="trajectories"),
    "Rosenbrock valley": dict(
        toy="rosenbrock", opt=("gdm",), variants="both", lr=5e-4, beta=0.95, steps=2000, view="trajectories"),
    "Adam vs cautious Adam (Rosenbrock)": dict(
        toy="rosenbrock", opt=("adam",), variants="both", lr=0.05, beta=0.9, steps=1000,
        view="trajectories"),
    "Lion vs cautious Lion (Himmelblau)": dict(
        toy="himmelblau", opt=("lion",), variants="both", lr=0.02, beta=0.9, steps=1000,
        view="trajectories"),
}


# The Lesson tab (ui/views/lesson.py): one quadratic with kappa = 100 throughout, L = 0.25 w1^2 + 25 w2^2.
# Steps 1-3 use gradient descent's best step size 2/(l1 + l2) (GD zig-zags there); step 2's beta,
# (1 - sqrt(eps l1))^2, damps the flat direction critically (more oscillates, less crawls).  Steps 4-5
# take a step 40 times smaller, where the iterates follow the flow (docs/theory.md, Section 4.4), so the
# Hamiltonian falls at every step.  Step 7 runs the Weight decay tab's study (its own settings).
LESSON_H = (0.5, 50.0)
LESSON_LR = 2.0 / sum(LESSON_H)
LESSON_BETA = (1.0 - (LESSON_LR * LESSON_H[0]) ** 0.5) ** 2
_LESSON_TOY = dict(toy="quadratic", p_h1=LESSON_H[0], p_h2=LESSON_H[1], variants="base", steps=600)
_LESSON_MAP = dict(r_lr_lo=0.002, r_lr_hi=0.08, r_lr_scale="linear", r_beta_lo=0.0, r_beta_hi=0.99, r_n=64,
                   r_steps=1000)
LESSON: list[tuple[str, dict[str, Any]]] = [
    ("Gradient descent in a narrow valley", dict(_LESSON_TOY, opt=("gd",), lr=LESSON_LR)),
    ("Momentum", dict(_LESSON_TOY, opt=("gd", "gdm"), lr=LESSON_LR, beta=LESSON_BETA)),
    ("Too much momentum", dict(_LESSON_TOY, opt=("gdm",), lr=LESSON_LR, beta=0.95)),
    ("The energy H", dict(_LESSON_TOY, opt=("gdm",), lr=0.001, beta=0.95, steps=1000)),
    ("The cautious mask", dict(_LESSON_TOY, opt=("gdm",), variants="both", lr=0.001, beta=0.95, steps=1000)),
    ("The rate map: best (ε, β) and the edge of stability", dict(_LESSON_TOY, opt=("gdm",), variants="both",
                                                                 lr=LESSON_LR, beta=LESSON_BETA, **_LESSON_MAP)),
    ("Cautious weight decay and the minimum-norm solution", dict(toy="valley-line", opt=("gdm",),
                                                                 d_toy="valley-line", d_cmask=False)),
]

def lesson_values(step: int, present: bool = False) -> dict[str, Any]:
    """Every state value of lesson step ``step`` (1-based; the rest at their defaults, as a
    preset), keeping the presentation mode ``present``."""
    overrides = LESSON[step - 1][1]
    return {**defaults(overrides["toy"]), **overrides, "lesson": step, "present": present}


def preset_values(name: str) -> tuple[dict[str, Any], str]:
    """(every state value, view slug) of preset ``name``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (allowed: {', '.join(PRESETS)})")
    overrides = dict(PRESETS[name])
    view = overrides.pop("view")
    values = defaults(overrides["toy"])
    unknown = set(overrides) - set(values)
    if unknown:
        raise ValueError(f"preset {name!r} sets unknown fields {sorted(unknown)}")
    values.update(overrides)
    return values, view
