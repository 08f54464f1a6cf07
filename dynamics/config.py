"""Run settings, split the JAX way.

``Setup`` holds everything that changes the *program* (which optimizer, which mask,
which decay mode): it is hashable and selects a compiled function.  ``Hyper`` holds
every number (step size, momenta, decay strength, ...) as an array leaf, so a new
value re-runs the same compiled function instead of recompiling it.

Conventions (docs/theory.md, Section 1): w_{t+1} = w_t - eps * u_t where u_t is the
optimizer's direction; ``beta`` is the momentum of gdm/nesterov and b1 of adam/lion,
``beta2`` is b2 of adam/lion.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp

from dynamics.optimizers import OPTIMIZERS, spec_of
from dynamics.precision import run_dtype

MASKS = ("elementwise", "elementwise-ge", "inner", "threshold", "smooth")
COMPENSATIONS = ("none", "mean", "count")
DECAY_MODES = ("none", "decoupled", "cautious")
DTYPES = ("float64", "float32")
LION_SIGNS = ("hard", "smooth")
NOISE_KINDS = ("none", "gaussian")
SCHEDULES = ("constant", "warmup-cosine", "step", "one-cycle")

@dataclasses.dataclass(frozen=True)
class Setup:
    """The structural choices of a run (static under jit).

    optimizer: one of OPTIMIZERS (the registry, dynamics.optimizers).  dampening: gdm's s = beta s + (1-beta) g instead of
    the undampened heavy ball s = beta s + g.  cautious: wrap the optimizer in the
    cautious mask (arXiv 2411.16085) of kind ``mask`` with ``compensation``.
    decay: weight-decay mode (arXiv 2510.12402).  dtype: float64 or float32.
    bias_correction: adam's bias-corrected m^ = m/(1-b1^t), v^ = v/(1-b2^t) (optax
    scale_by_adam, the default); False steps with the raw moments m, v, which is the
    semi-implicit Euler discretisation (h = 1) of adam's flow (docs/theory.md, Section 4.3).
    lion_sign: ``hard`` sign(c) or ``smooth`` tanh(c / sign_tau) in lion's direction;
    the smooth sign is a flow option (a smooth right-hand side for adaptive ODE
    solvers, dynamics.flows), not a discrete optimizer.
    noise: ``gaussian`` steps with the noisy gradient g + sigma z_t, z_t ~ N(0, I)
    (sigma = Hyper.noise_sigma, dynamics.noise); ``none`` is the exact gradient.
    sam: sharpness-aware minimization (arXiv 2010.01412, dynamics.sam): the base optimizer
    is fed grad L(w + rho g/|g|) instead of g = grad L(w) (rho = Hyper.rho), two gradient
    evaluations per step; with ``cautious`` the mask still compares u with g at w.
    schedule: the learning-rate schedule eps_t = lr f(t-1) of step t (dynamics.schedules;
    lr is the peak); ``constant`` is f = 1, today's program.  clip: clip the gradient to
    global norm Hyper.clip_norm before the base optimizer (and so before the cautious mask).
    An optimizer whose spec names a decay mode (adamw: ``decoupled``) gets it when decay
    is ``none`` (adamw without decay is adam); ``cautious`` then gives AdamW with
    cautious weight decay (arXiv 2510.12402).
    """

    optimizer: str = "gdm"
    dampening: bool = False
    cautious: bool = False
    mask: str = "elementwise"
    compensation: str = "mean"
    decay: str = "none"
    dtype: str = "float64"
    bias_correction: bool = True
    lion_sign: str = "hard"
    noise: str = "none"
    sam: bool = False
    schedule: str = "constant"
    clip: bool = False

    def __post_init__(self):
        for field, allowed in (("optimizer", OPTIMIZERS), ("mask", MASKS),
                               ("compensation", COMPENSATIONS), ("decay", DECAY_MODES),
                               ("dtype", DTYPES), ("lion_sign", LION_SIGNS), ("noise", NOISE_KINDS),
                               ("schedule", SCHEDULES)):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
        forced = spec_of(self.optimizer).decay
        if forced is not None and self.decay == "none":
            object.__setattr__(self, "decay", forced)


class Hyper(NamedTuple):
    """Numeric hyperparameters, each a scalar array (vmappable in sweeps).

    lr: step size eps.  beta: momentum (b1 for adam/lion).  beta2: b2 of adam/lion.
    adam_eps: Adam's e in m/(sqrt(v)+e).  wd: weight-decay strength lambda.
    tau: temperature of the smooth mask sigmoid(x/tau).  mu: smoothness constant of
    the threshold mask 1[g.u >= -(mu eps/2)|u|^2].  sign_tau: temperature of lion's
    smooth sign tanh(c/sign_tau) in the flow (Setup.lion_sign = "smooth"); it has a
    default so that Hyper(...) written with the first seven fields still works.
    noise_sigma: standard deviation sigma of the gradient noise (Setup.noise); 0 by
    default, and read only when Setup.noise is not ``none``.
    rho: SAM's radius, the length of the ascent step w + rho g/|g| (read only when
    Setup.sam; a default so that older Hyper(...) calls still work).
    warmup, lr_final, decay_every, decay_factor: the schedule's numbers (Setup.schedule,
    dynamics.schedules), read on the host, where the factors f(t) are computed: the
    compiled programs get f, not these, so a new value compiles nothing.  clip_norm: the
    largest global gradient norm c (Setup.clip): g <- g min(1, c/|g|).
    """

    lr: jnp.ndarray
    beta: jnp.ndarray
    beta2: jnp.ndarray
    adam_eps: jnp.ndarray
    wd: jnp.ndarray
    tau: jnp.ndarray
    mu: jnp.ndarray
    sign_tau: jnp.ndarray = 1e-3
    noise_sigma: jnp.ndarray = 0.0
    rho: jnp.ndarray = 0.05
    warmup: jnp.ndarray = 100.0
    lr_final: jnp.ndarray = 0.0
    decay_every: jnp.ndarray = 100.0
    decay_factor: jnp.ndarray = 0.5
    clip_norm: jnp.ndarray = 1.0


HYPER_DEFAULTS = dict(lr=0.01, beta=0.9, beta2=0.999, adam_eps=1e-8, wd=0.0, tau=1e-3, mu=1.0, sign_tau=1e-3,
                      noise_sigma=0.0, rho=0.05, warmup=100.0, lr_final=0.0, decay_every=100.0, decay_factor=0.5,
                      clip_norm=1.0)


def make_hyper(dtype: str = "float64", **values: float) -> Hyper:
    """A Hyper from keyword values (missing ones take HYPER_DEFAULTS)."""
    unknown = set(values) - set(HYPER_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown hyperparameters {sorted(unknown)}; allowed: {', '.join(HYPER_DEFAULTS)}")
    merged = {**HYPER_DEFAULTS, **values}
    return Hyper(**{k: jnp.asarray(v, dtype=run_dtype(dtype)) for k, v in merged.items()})
