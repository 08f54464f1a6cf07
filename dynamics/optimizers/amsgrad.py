r"""AMSGrad (Reddi et al. 2018; optax.scale_by_amsgrad): Adam's moments with
vmax = max(vmax, v^), u = m^/(sqrt(vmax) + e).  K is Adam's with vmax for v; vmax never
decreases, so the v terms of dK/dt are <= 0 unconditionally (docs/theory.md, Section 4.2).
"""
from __future__ import annotations

import optax

from dynamics.optimizers import adam
from dynamics.optimizers.spec import Equations, OptimizerSpec, corrected_moments


def _equations(setup) -> Equations:
    return Equations(
        update=(r"m, v, \hat m, \hat v \text{ as Adam},\quad \hat v^{\max}_{t+1} = \max(\hat v^{\max}_t,\, "
                r"\hat v_{t+1}),\quad w_{t+1} = w_t - \varepsilon\, \frac{\hat m_{t+1}}{\sqrt{\hat v^{\max}_{t+1}} + e}"),
        hamiltonian=r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\sqrt{v^{\max}_i} + e}",
        note="Adam's H with v_max for v; v_max never decreases.",
        source="Reddi et al. 2018; optax.scale_by_amsgrad")


SPEC = OptimizerSpec(
    name="amsgrad", display="AMSGrad", order=9, colours=("sky", "orange"), summary="Adam with vmax = max(vmax, v̂)",
    transform=lambda hp, setup: optax.scale_by_amsgrad(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps),
    moments=lambda state, hp, setup: corrected_moments(state, hp, "nu_max"), kinetic=adam.kinetic,
    equations=_equations, uses=("beta", "beta2", "adam_eps"),
)
