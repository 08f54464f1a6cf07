r"""Adam (optax.scale_by_adam): m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2 from
m_0 = v_0 = 0, u = m^/(sqrt(v^) + e) with m^ = m/(1-b1^t), v^ = v/(1-b2^t); beta is b1,
beta2 is b2, adam_eps is e (docs/theory.md, Sections 4.3-4.4; arXiv 2411.16085, Example 2.1).

K = eps/(2a) sum m^2/(sqrt(v) + e), a = 1 - b1, b = 1 - b2, read on discrete iterates with
the bias-corrected moments (the ones that drive the step; zero before the first step),
or with the raw m, v when Setup.bias_correction is False (``scale_by_raw_adam``, the
h = 1 semi-implicit Euler step of the flow).

Flow m' = a (g - m), v' = b (g^2 - v), w' = -eps m/(sqrt(v) + e).  With r = sqrt(v) + e,
d/dt (m^2/r) = 2 m m'/r - m^2 v'/(2 sqrt(v) r^2), so
dH/dt = -eps sum m^2/r - (eps b/(4a)) sum m^2 (g^2 - v)/(sqrt(v) r^2)
      <= -eps (1 - b/(4a)) sum m^2/r <= 0 when a >= b/4
(using m^2 v/(sqrt(v) r^2) <= m^2/r).  The flow starts from m0 = g(w0), v0 = g(w0)^2
(``init="auto"``: the moments bias-corrected Adam steps with at its first step).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from dynamics.optimizers.spec import Equations, Flow, OptimizerSpec, corrected_moments, get, pair_sum, root

UPDATE = (r"m_{t+1} = \beta_1 m_t + (1-\beta_1) g_t,\quad v_{t+1} = \beta_2 v_t + (1-\beta_2) g_t^2,\quad "
          r"w_{t+1} = w_t - \varepsilon\, \frac{\hat m_{t+1}}{\sqrt{\hat v_{t+1}} + e},\ "
          r"\hat m = \frac{m}{1-\beta_1^{t+1}},\ \hat v = \frac{v}{1-\beta_2^{t+1}}")
HAMILTONIAN = r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\sqrt{v_i} + e}"


def scale_by_raw_adam(b1, b2, eps) -> optax.GradientTransformation:
    """Adam without bias correction: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2 from
    m_0 = v_0 = 0, direction u = m / (sqrt(v) + e).  The state is optax's
    ScaleByAdamState, so everything that reads scale_by_adam's state reads this one."""

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(grads, state, params=None):
        mu = optax.tree_utils.tree_update_moment(grads, state.mu, b1, 1)
        nu = optax.tree_utils.tree_update_moment_per_elem_norm(grads, state.nu, b2, 2)
        u = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu, nu)
        return u, optax.ScaleByAdamState(count=optax.safe_increment(state.count), mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def transform(hp, setup) -> optax.GradientTransformation:
    """optax.scale_by_adam, or scale_by_raw_adam without bias correction."""
    if setup.bias_correction:
        return optax.scale_by_adam(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps)
    return scale_by_raw_adam(hp.beta, hp.beta2, hp.adam_eps)


def moments(state, hp, setup):
    """(m^, v^) bias-corrected, or the raw (m, v) without bias correction."""
    if not setup.bias_correction:
        return get(state, "mu"), get(state, "nu")
    return corrected_moments(state, hp)


def kinetic(setup, m, v, hp) -> jax.Array:
    """eps/(2(1-b1)) sum m^2/(sqrt(v) + e): also the K of nadam, amsgrad and adamw."""
    return hp.lr / (2 * (1 - hp.beta)) * pair_sum(m, v, lambda mi, vi: mi**2 / (root(vi) + hp.adam_eps))


def _equations(setup) -> Equations:
    return Equations(
        update=UPDATE,
        flow=(r"\dot w = -\varepsilon\, \frac{m}{\sqrt v + e},\quad \dot m = a\,(g - m),\quad \dot v = b\,(g^2 - v),"
              r"\quad a = 1-\beta_1,\ b = 1-\beta_2"),
        hamiltonian=(HAMILTONIAN + r", \qquad \dot H \le -\varepsilon\left(1 - \tfrac{b}{4a}\right) \sum_i "
                     r"\frac{m_i^2}{\sqrt{v_i}+e} \le 0 \ \text{when } a \ge b/4"),
        note=("arXiv 2411.16085, Example 2.1. The flow starts from m₀ = g(w₀), v₀ = g(w₀)² (the moments "
              "bias-corrected Adam steps with); the discrete H uses the bias-corrected moments."))


SPEC = OptimizerSpec(
    name="adam", display="Adam", order=3, colours=("green", "vermillion"), symbol="square",
    summary="optax.scale_by_adam: u = m̂/(√v̂ + e)",
    transform=transform, moments=moments, kinetic=kinetic, equations=_equations,
    uses=("beta", "beta2", "adam_eps"), defaults={"beta2": 0.999},
    flow=Flow(state_rate=lambda setup, g, m, v, hp: ((1 - hp.beta) * (g - m), (1 - hp.beta2) * (g * g - v)),
              direction=lambda setup, g, m, v, hp: m / (jnp.sqrt(v) + hp.adam_eps),
              initial=lambda g, hp: (g, g * g)),
    explain=("Adam divides the momentum by √v coordinate-wise, so both coordinates move at similar speeds "
             "whatever the curvature; its momentum still overshoots and L can rise. "),
)
