r"""RMSprop (optax.rmsprop's defaults: decay b2, e inside the root, v_0 = 0, no momentum):
v = b2 v + (1-b2) g^2, u = g / sqrt(v + e).  Its flow w' = -eps g/D with D = sqrt(v + e)
> 0 gives dL/dt = -eps sum g^2/D <= 0, so K = 0 and H = L (docs/theory.md, Section 4.2).
"""
from __future__ import annotations

import optax

from dynamics.optimizers.spec import Equations, OptimizerSpec, no_moments, zero_kinetic

HAMILTONIAN = r"H = L(w), \qquad \dot H = -\varepsilon \sum_i \frac{g_i^2}{\sqrt{v_i + e}} \le 0"
NOTE = "No momentum: K = 0 along the flow ẇ = −ε g/√(v + e)."


def _equations(setup) -> Equations:
    return Equations(
        update=(r"v_{t+1} = \beta_2 v_t + (1-\beta_2)\, g_t^2,\quad w_{t+1} = w_t - \varepsilon\, "
                r"\frac{g_t}{\sqrt{v_{t+1} + e}},\quad v_0 = 0"),
        hamiltonian=HAMILTONIAN, note=NOTE,
        source="optax.rmsprop defaults: decay β₂, e inside the root, no momentum")


SPEC = OptimizerSpec(
    name="rmsprop", display="RMSprop", order=6, colours=("sky", "orange"),
    summary="u = g/√(v + e), v ← β₂v + (1−β₂)g²",
    transform=lambda hp, setup: optax.scale_by_rms(decay=hp.beta2, eps=hp.adam_eps),
    moments=no_moments, kinetic=zero_kinetic, equations=_equations, uses=("beta2", "adam_eps"),
    defaults={"beta2": 0.9}, momentum=False,
)
