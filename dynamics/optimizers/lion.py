r"""Lion (optax.scale_by_lion): c = b1 m + (1-b1) g, u = sign(c), m = b2 m + (1-b2) g;
beta is b1, beta2 is b2 (docs/theory.md, Section 4.5).  optax.lion's default weight decay
is 1e-3; here decay is a separate, explicit mode (dynamics.decay).

K = eps b1/(1-b2) |m|_1.  Flow m' = b (g - m) with b = 1 - b2, w' = -eps sign(c).  With
rho = 1 - b1 in (0, 1], c = m + rho (g - m), so g = m + (c - m)/rho; write sign(0) = 0.
Then d|m|_1/dt = (b/rho)(sign(m).c - |m|_1) and g.w' = -eps [(1 - 1/rho) m.sign(c) +
|c|_1/rho], so dH/dt = -eps |c|_1/rho + eps ((1-rho)/rho) [m.sign(c) + c.sign(m) - |m|_1]
<= -eps |c|_1, using m.sign(c) <= |m|_1 and c.sign(m) <= |c|_1 (equality when
sign(m) = sign(c) everywhere).  With the smooth sign tanh(c/sign_tau) (Setup.lion_sign
= "smooth", a flow option) the first term becomes -eps c.tanh(c/sign_tau)/rho and H can
rise by O(eps d sign_tau/rho) per unit time near c = 0.  The direction reads the
momentum before its update, so the semi-implicit step's w-update uses m_n.
"""
from __future__ import annotations

import jax.numpy as jnp
import optax

from dynamics.optimizers.spec import Equations, Flow, OptimizerSpec, get, tree_sum


def lion_c(g, m, hp):
    """Lion's interpolation c = m + (1-b1)(g - m) = b1 m + (1-b1) g."""
    return hp.beta * m + (1 - hp.beta) * g


def _transform(hp, setup) -> optax.GradientTransformation:
    if setup.lion_sign != "hard":
        raise ValueError("the smooth sign tanh(c/sign_tau) is a flow option (dynamics.flows); "
                         "the discrete lion uses sign(c)")
    return optax.scale_by_lion(b1=hp.beta, b2=hp.beta2)


def _direction(setup, g, m, v, hp):
    c = lion_c(g, m, hp)
    return jnp.sign(c) if setup.lion_sign == "hard" else jnp.tanh(c / hp.sign_tau)


def _equations(setup) -> Equations:
    return Equations(
        update=(r"c_t = \beta_1 m_t + (1-\beta_1) g_t,\quad w_{t+1} = w_t - \varepsilon\,\operatorname{sign}(c_t),"
                r"\quad m_{t+1} = \beta_2 m_t + (1-\beta_2) g_t"),
        flow=(r"\dot w = -\varepsilon\, \operatorname{sign}(c),\quad c = m + (1-\beta_1)(g - m),\quad "
              r"\dot m = (1-\beta_2)(g - m)"),
        hamiltonian=r"H = L(w) + \tfrac{\varepsilon \beta_1}{1-\beta_2} \|m\|_1, \qquad \dot H \le -\varepsilon \|c\|_1",
        note="Derived from m·sign(c) ≤ |m|₁ and c·sign(m) ≤ |c|₁ (docs/theory.md, Section 4.5).")


SPEC = OptimizerSpec(
    name="lion", display="Lion", order=4, colours=("purple", "orange"), symbol="diamond",
    summary="optax.scale_by_lion: u = sign(β₁m + (1−β₁)g)",
    transform=_transform, moments=lambda state, hp, setup: (get(state, "mu"), None),
    kinetic=lambda setup, m, v, hp: hp.lr * hp.beta / (1 - hp.beta2) * tree_sum(m, jnp.abs),
    equations=_equations, uses=("beta", "beta2", "sign_tau"), defaults={"beta2": 0.99},
    flow=Flow(state_rate=lambda setup, g, m, v, hp: ((1 - hp.beta2) * (g - m), jnp.zeros_like(m)),
              direction=_direction, reads_updated_state=False,
              bound_norm=lambda g, m, hp: jnp.sum(jnp.abs(lion_c(g, m, hp))),
              smooth=lambda setup: setup.lion_sign != "hard"),
    explain=("Lion steps by ε in every coordinate (the sign of c), so near a minimum it keeps hopping by "
             "about ε and L rises at many steps. "),
)
