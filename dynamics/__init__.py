"""Optimization dynamics: optimizers, cautious masks (arXiv 2411.16085), cautious weight
decay (arXiv 2510.12402), Hamiltonians and roll-outs.

Precision: importing this package changes no JAX setting.  Runs are float64 by default
(``Setup.dtype``), which needs JAX's 64-bit mode: call ``enable_float64()`` once (the
command line, the app and the tests do) or run inside ``with jax.enable_x64(True):``.
A float64 run while the mode is off raises Float64Disabled rather than computing in
float32 (dynamics.precision); ``dtype="float32"`` runs in single precision either way.
"""
from dynamics.caution import cautious, cautious_direction, compensation_alpha, mask_phi
from dynamics.config import Hyper, Setup, make_hyper
from dynamics.decay import weight_decay
from dynamics.ode import ODETrajectory, integrate
from dynamics.precision import Float64Disabled, enable_float64
from dynamics.rollout import Trajectory, loss_rises, make_optimizer, rollout
from dynamics.sweep import SweepResult, grid_axis, sweep

__all__ = ["Float64Disabled", "Hyper", "ODETrajectory", "Setup", "SweepResult", "Trajectory", "cautious",
           "cautious_direction", "compensation_alpha", "enable_float64", "grid_axis", "integrate", "loss_rises",
           "make_hyper", "make_optimizer", "mask_phi", "rollout", "sweep", "weight_decay"]
