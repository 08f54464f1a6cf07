r"""NAdam (Dozat 2016; optax.scale_by_adam(nesterov=True)): Adam's moments, direction
(b1 m^ + (1-b1) g^)/(sqrt(v^) + e) with Nesterov's look-ahead (docs/theory.md, Section 4.2).

K is Adam's.  Along the flow w' = -eps (b1 m + (1-b1) g)/D, m' = a (g - m), the m terms
give dH/dt = -eps sum (m^2 - (1-b1) m g + (1-b1) g^2)/D, a positive definite form since
(1-b1)^2 < 4(1-b1): the same condition as Adam's on the v terms.
"""
from __future__ import annotations

import optax

from dynamics.optimizers import adam
from dynamics.optimizers.spec import Equations, OptimizerSpec, corrected_moments


def _equations(setup) -> Equations:
    return Equations(
        update=(r"m, v \text{ as Adam},\quad w_{t+1} = w_t - \varepsilon\, \frac{\beta_1 \frac{m_{t+1}}"
                r"{1-\beta_1^{t+2}} + (1-\beta_1) \frac{g_t}{1-\beta_1^{t+1}}}{\sqrt{\hat v_{t+1}} + e}"),
        hamiltonian=adam.HAMILTONIAN,
        note="Adam's H; the m terms of dH/dt form a positive definite quadratic since (1−β₁)² < 4(1−β₁).",
        source="Dozat 2016; optax.scale_by_adam(nesterov=True)")


SPEC = OptimizerSpec(
    name="nadam", display="NAdam", order=8, colours=("sky", "orange"), summary="Adam with Nesterov's look-ahead",
    transform=lambda hp, setup: optax.scale_by_adam(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps, nesterov=True),
    moments=lambda state, hp, setup: corrected_moments(state, hp), kinetic=adam.kinetic, equations=_equations,
    uses=("beta", "beta2", "adam_eps"),
)
