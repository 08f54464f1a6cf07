r"""AdaGrad (optax.adagrad, started from v_0 = 0 where optax's default initial accumulator
is 0.1): v = v + g^2, u = g / sqrt(v + e).  No momentum: as for RMSprop, K = 0 and H = L
(docs/theory.md, Section 4.2).
"""
from __future__ import annotations

import optax

from dynamics.optimizers.rmsprop import HAMILTONIAN, NOTE
from dynamics.optimizers.spec import Equations, OptimizerSpec, no_moments, zero_kinetic


def _equations(setup) -> Equations:
    return Equations(
        update=(r"v_{t+1} = v_t + g_t^2,\quad w_{t+1} = w_t - \varepsilon\, \frac{g_t}{\sqrt{v_{t+1} + e}},"
                r"\quad v_0 = 0"),
        hamiltonian=HAMILTONIAN, note=NOTE,
        source="optax.adagrad, started from v₀ = 0 (optax's default initial accumulator is 0.1)")


SPEC = OptimizerSpec(
    name="adagrad", display="AdaGrad", order=7, colours=("sky", "orange"), summary="u = g/√(v + e), v ← v + g²",
    transform=lambda hp, setup: optax.scale_by_rss(initial_accumulator_value=0.0, eps=hp.adam_eps),
    moments=no_moments, kinetic=zero_kinetic, equations=_equations, uses=("adam_eps",), momentum=False,
)
