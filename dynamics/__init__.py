"""Optimization dynamics: optimizers, cautious masks (arXiv 2411.16085), cautious weight
decay (arXiv 2510.12402), Hamiltonians and roll-outs.  float64 is enabled on import;
pass ``dtype="float32"`` in a Setup for single precision."""
import jax

jax.config.update("jax_enable_x64", True)

from dynamics.caution import cautious, cautious_direction, compensation_alpha, mask_phi  # noqa: E402
from dynamics.config import Hyper, Setup, make_hyper  # noqa: E402
from dynamics.decay import weight_decay  # noqa: E402
from dynamics.ode import ODETrajectory, integrate  # noqa: E402
from dynamics.rollout import Trajectory, loss_rises, make_optimizer, rollout  # noqa: E402
from dynamics.sweep import SweepResult, grid_axis, sweep  # noqa: E402

__all__ = ["Hyper", "ODETrajectory", "Setup", "SweepResult", "Trajectory", "cautious", "cautious_direction",
           "compensation_alpha", "grid_axis", "integrate", "loss_rises", "make_hyper", "make_optimizer", "mask_phi",
           "rollout", "sweep", "weight_decay"]
