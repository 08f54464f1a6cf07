r"""AdamW (Loshchilov & Hutter 2019; optax.adamw): Adam plus decoupled weight decay,
u = m^/(sqrt(v^) + e) + lambda w.  A Setup with decay "none" is read as "decoupled" (AdamW
without decay is Adam); "cautious" gives AdamW with cautious weight decay (arXiv
2510.12402).  K is Adam's; with decay the run heads for a stationary point of a
regularised proxy, and H (built from L alone) need not decrease.
"""
from __future__ import annotations

from dynamics.optimizers import adam
from dynamics.optimizers.spec import Equations, OptimizerSpec


def _equations(setup) -> Equations:
    return Equations(
        update=(r"m, v, \hat m, \hat v \text{ as Adam},\quad w_{t+1} = w_t - \varepsilon \left(\frac{\hat m_{t+1}}"
                r"{\sqrt{\hat v_{t+1}} + e} + \lambda\, w_t\right)\ \ (\text{cautious decay: } \lambda\, "
                r"\mathbb 1[u \odot w \ge 0] \odot w)"),
        hamiltonian=adam.HAMILTONIAN,
        note=("Adam's H, for λ = 0; with decay the run heads for a stationary point of a regularised proxy, and H "
              "(built from L alone) need not decrease."),
        source="Loshchilov & Hutter 2019; optax.adamw: Adam with decoupled weight decay λ")


SPEC = OptimizerSpec(
    name="adamw", display="AdamW", order=11, colours=("sky", "orange"), summary="Adam + decoupled decay λw",
    transform=adam.transform, moments=adam.moments, kinetic=adam.kinetic, equations=_equations,
    uses=("beta", "beta2", "adam_eps", "wd"), decay="decoupled",
)
