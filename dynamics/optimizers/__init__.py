"""The optimizer registry: one module per optimizer in this package, each defining a
``SPEC`` (dynamics.optimizers.spec.OptimizerSpec).  Every consumer (roll-outs, flows,
sweeps, rates, the command line, the app, the figures) asks this registry, so adding an
optimizer is adding one module (README, "Adding an optimizer").

Base optimizers are optax GradientTransformations whose output is the direction u_t
(w_{t+1} = w_t - eps u_t); the kinetic energy K(state) makes H = L + K non-increasing
along the optimizer's flow where the module's docstring derives it (docs/theory.md,
Section 4)."""
from __future__ import annotations

import importlib
import pkgutil

import jax
import optax

from dynamics.optimizers.spec import OptimizerSpec


def _discover() -> dict[str, OptimizerSpec]:
    specs = []
    for info in pkgutil.iter_modules(__path__):
        if info.name != "spec":
            specs.append(importlib.import_module(f"{__name__}.{info.name}").SPEC)
    specs.sort(key=lambda s: (s.order, s.name))
    return {s.name: s for s in specs}


REGISTRY: dict[str, OptimizerSpec] = _discover()
OPTIMIZERS: tuple[str, ...] = tuple(REGISTRY)
FLOW_OPTIMIZERS: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.flow is not None)


def spec_of(name: str) -> OptimizerSpec:
    """The spec of optimizer ``name``; ValueError naming the allowed ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r} (allowed: {', '.join(OPTIMIZERS)})") from None


def display_name(optimizer: str, cautious: bool = False) -> str:
    """GD, GDM, Nesterov, Adam, Lion, ...; the cautious variant with the prefix "C-" (C-GDM)."""
    return ("C-" if cautious else "") + spec_of(optimizer).display


def optimizer_summaries(separator: str = "; ") -> str:
    """"name: summary" of every optimizer, for help texts."""
    return separator.join(f"{name}: {spec.summary}" for name, spec in REGISTRY.items())


def base_transform(setup, hp) -> optax.GradientTransformation:
    """The direction transform u_t of ``setup.optimizer`` (no caution, no decay)."""
    return spec_of(setup.optimizer).transform(hp, setup)


def kinetic_of_moments(setup, m, v, hp) -> jax.Array:
    """K(m, v) from the moments themselves: used both on optax states (through
    ``kinetic_energy``) and on the ODE state (dynamics.flows), one formula each."""
    return spec_of(setup.optimizer).kinetic(setup, m, v, hp)


def kinetic_energy(setup, base_state, hp) -> jax.Array:
    """K(state) of the base optimizer's state, so that H = L + K."""
    spec = spec_of(setup.optimizer)
    m, v = spec.moments(base_state, hp, setup)
    return spec.kinetic(setup, m, v, hp)


__all__ = ["FLOW_OPTIMIZERS", "OPTIMIZERS", "REGISTRY", "OptimizerSpec", "base_transform", "display_name",
           "kinetic_energy", "kinetic_of_moments", "optimizer_summaries", "spec_of"]
