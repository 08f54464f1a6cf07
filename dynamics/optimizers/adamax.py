r"""AdaMax (Kingma & Ba 2015, Section 7.1; optax.scale_by_adamax): Adam with the infinity
norm, m = b1 m + (1-b1) g, nu = max(b2 nu, |g| + e) from m_0 = nu_0 = 0,
u = m^/nu with m^ = m/(1-b1^t) (nu needs no bias correction); beta is b1, beta2 is b2,
adam_eps is e (docs/theory.md, Section 4.2).

Flow (time unit = one step, a = 1 - b1, b = 1 - b2):
    m' = a (g - m),   nu' = max(-b nu, |g| + e - nu),   w' = -eps m/nu.
The right-hand side is continuous (Lipschitz, not smooth), and its semi-implicit Euler
step with h = 1 is the optimizer with the raw m: nu + max(-b nu, |g| + e - nu)
= max(b2 nu, |g| + e).  K = eps/(2a) sum m^2/nu.  Then
dH/dt = -eps sum g m/nu + (eps/a) sum m m'/nu - (eps/(2a)) sum m^2 nu'/nu^2
      = -eps sum m^2/nu - (eps/(2a)) sum m^2 nu'/nu^2 <= -eps (1 - b/(2a)) sum m^2/nu,
since nu' >= -b nu: H never rises along the flow when 1 - b1 >= (1 - b2)/2 (the defaults
b1 = 0.9, b2 = 0.999 satisfy it).  On discrete iterates K is read with m^ and nu.
The flow starts from m0 = g(w0), nu0 = |g(w0)| + e (``init="auto"``: the moments of the
first step); coordinates with nu = 0 (``init="zeros"`` before the first update) have
m = 0 and contribute u = 0 and K = 0.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from dynamics.optimizers.spec import Equations, Flow, OptimizerSpec, bias_corrections, get, pair_sum


def _ratio(m, nu):
    """m / nu, and 0 where nu = 0 (there m = 0 too)."""
    positive = nu > 0
    return jnp.where(positive, m / jnp.where(positive, nu, 1), 0)


def moments(state, hp, setup):
    """(m^, nu): the bias-corrected first moment and the infinity moment as it is."""
    c1, _ = bias_corrections(get(state, "count"), hp)
    return jax.tree.map(lambda m: m / c1, get(state, "mu")), get(state, "nu")


def kinetic(setup, m, v, hp) -> jax.Array:
    """eps/(2(1-b1)) sum m^2/nu."""
    return hp.lr / (2 * (1 - hp.beta)) * pair_sum(m, v, lambda mi, vi: _ratio(mi * mi, vi))


def _state_rate(setup, g, m, v, hp):
    return (1 - hp.beta) * (g - m), jnp.maximum(-(1 - hp.beta2) * v, jnp.abs(g) + hp.adam_eps - v)


def _equations(setup) -> Equations:
    return Equations(
        update=(r"m_{t+1} = \beta_1 m_t + (1-\beta_1) g_t,\quad \nu_{t+1} = \max(\beta_2 \nu_t,\, |g_t| + e),"
                r"\quad w_{t+1} = w_t - \varepsilon\, \frac{m_{t+1}}{(1-\beta_1^{t+1})\, \nu_{t+1}}"),
        flow=(r"\dot w = -\varepsilon\, \frac{m}{\nu},\quad \dot m = a\,(g - m),\quad "
              r"\dot \nu = \max(-b\,\nu,\; |g| + e - \nu)"),
        hamiltonian=(r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\nu_i}, \qquad \dot H \le "
                     r"-\varepsilon\left(1 - \tfrac{b}{2a}\right) \sum_i \frac{m_i^2}{\nu_i} \le 0 \ "
                     r"\text{when } a \ge b/2"),
        note="ν′ ≥ −bν along the flow bounds the rise of K through ν.",
        source="Kingma & Ba 2015, Section 7.1; optax.scale_by_adamax")


SPEC = OptimizerSpec(
    name="adamax", display="AdaMax", order=12, colours=("sky", "orange"), summary="Adam with the infinity norm",
    transform=lambda hp, setup: optax.scale_by_adamax(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps),
    moments=moments, kinetic=kinetic, equations=_equations, uses=("beta", "beta2", "adam_eps"),
    flow=Flow(state_rate=_state_rate, direction=lambda setup, g, m, v, hp: _ratio(m, v),
              initial=lambda g, hp: (g, jnp.abs(g) + hp.adam_eps), smooth=lambda setup: False),
)
