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
