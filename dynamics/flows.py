r"""Continuous-time flows of the optimizers, their Hamiltonians and energy rates
(docs/theory.md, Section 4; arXiv 2411.16085, Section 2).

Time unit = one optimizer step: the semi-implicit Euler step with h = 1 of each flow
is the discrete optimizer of dynamics.optimizers (see ``semi_implicit_step``).  The
state is y = (w, m, v), plain arrays of w's shape; m and v are zero and constant
where an optimizer has no such moment.  g = grad L(w), eps = lr, a = 1 - b1, b = 1 - b2.

==============  ================================  ==============================  =======================================
name            state flow                        w' = -eps u, u =                H = L + K;  dH/dt
==============  ================================  ==============================  =======================================
gd              -                                 g                               L;  -eps |g|^2
gdm             s' = g - (1-beta) s               s                               L + (eps/2)|s|^2;  -eps (1-beta)|s|^2
gdm, dampened   m' = (1-beta)(g - m)              m                               L + eps/(2(1-beta))|m|^2;  -eps |m|^2
nesterov        s' = g - (1-beta) s               g + beta s                      L + (eps beta/2)|s|^2;
                                                                                  -eps |g|^2 - eps beta (1-beta)|s|^2
adam            m' = a(g - m);  v' = b(g^2 - v)   m / (sqrt(v) + e)               L + (eps/(2a)) sum m^2/(sqrt(v)+e);
                                                                                  <= 0 when a >= b/4
lion            m' = b(g - m)                     sign(c), c = m + (1-b1)(g - m)  L + (eps b1/b)|m|_1;  <= -eps |c|_1
==============  ================================  ==============================  =======================================

(m in the table is the ``m`` slot of the state, which holds s for gdm/nesterov.)

Derivations (dH/dt = g.w' + grad K . (m', v')):

* gdm: -eps g.s + eps s.(g - (1-beta)s) = -eps (1-beta)|s|^2.  Dampened:
  -eps g.m + eps m.(g - m) = -eps |m|^2.
* nesterov: -eps g.(g + beta s) + eps beta s.(g - (1-beta) s)
  = -eps |g|^2 - eps beta (1-beta)|s|^2 <= 0.  (Its semi-implicit Euler step with
  h = 1 is s_{t+1} = beta s_t + g_t, w_{t+1} = w_t - eps (g_t + beta s_{t+1}): optax's
  nesterov trace.)
* adam, with r = sqrt(v) + e:  d/dt (m^2/r) = 2 m m'/r - m^2 v'/(2 sqrt(v) r^2), so
  dH/dt = -eps sum m^2/r - (eps b/(4a)) sum m^2 (g^2 - v)/(sqrt(v) r^2)
        <= -eps (1 - b/(4a)) sum m^2/r <= 0 when a >= b/4, using
  m^2 v/(sqrt(v) r^2) = m^2 sqrt(v)/r^2 <= m^2/r (the paper's Example 2.1).  The
  flow starts from m0 = g(w0), v0 = g(w0)^2 (``init="auto"``, docs/theory.md, Section 4.3: the
  moments bias-corrected Adam uses at its first step); ``init="zeros"`` starts from
  m0 = v0 = 0 like the discrete optimizer.
* lion.  With rho = 1 - b1 in (0, 1], c = m + rho (g - m), so g = m + (c - m)/rho.
  Write sign(0) = 0 and K = eps (1-rho)/b |m|_1 = eps b1/(1-b2) |m|_1.  Then
  d|m|_1/dt = sign(m).m' = b sign(m).(g - m) = (b/rho) (sign(m).c - |m|_1) and
  g.w' = -eps g.sign(c) = -eps [(1 - 1/rho) m.sign(c) + |c|_1/rho], so
      dH/dt = -eps |c|_1/rho + eps ((1-rho)/rho) [m.sign(c) + c.sign(m) - |m|_1].
  Using m.sign(c) <= |m|_1 and c.sign(m) <= |c|_1, the bracket is at most |c|_1 and
      dH/dt <= -eps |c|_1/rho + eps ((1-rho)/rho)|c|_1 = -eps |c|_1.
  (Equality when sign(m) = sign(c) on every coordinate.)  With the smooth sign
  tanh(c/sign_tau) (Setup.lion_sign = "smooth") -eps |c|_1/rho becomes
  -eps c.tanh(c/sign_tau)/rho, so H can rise by O(eps d sign_tau/rho) per unit time
  near c = 0: the price of a smooth right-hand side.

Caution (arXiv 2411.16085, Theorem 2.3): the cautious flow is w' = -eps alpha phi(u*g) u
with the state flows unchanged (dynamics.caution.cautious_direction).  Then
dL/dt = -eps alpha sum phi_i u_i g_i <= 0 for the elementwise and inner masks, and
dH/dt(cautious) - dH/dt(base) = -eps sum (alpha phi(x_i) x_i - x_i) <= 0 whenever
alpha phi(x) x >= max(x, 0), i.e. alpha >= 1 (compensations ``none`` and ``mean``).
``count`` in 2-D has alpha = 2/3 when nothing is masked, and the cautious H then
decreases *slower* than the base H.  The threshold mask allows g.u < 0 and bounds
only the discrete step (Theorem 2.7), not dL/dt.

Weight decay (arXiv 2510.12402) adds wd w (decoupled) or wd 1[u w >= 0] w (cautious)
to u, after the mask.  H = L + K is reported unchanged; with decay it is not the
flow's Lyapunov function (decoupled decay descends L + (wd/2)|w|^2 instead).

Semi-implicit (symplectic) Euler: the state is updated first with the gradient at the
current w, then w with the new state: m_{n+1} = m_n + h m'(w_n, m_n),
w_{n+1} = w_n - h eps u(g(w_n), m_{n+1}).  Lion's direction reads the momentum
*before* its update (c_t = b1 m_t + (1-b1) g_t, optax.scale_by_lion), so for lion the
w-update uses m_n and the step coincides with explicit Euler; with h = 1 every flow
then reproduces its discrete optimizer (adam: without bias correction).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from dynamics.caution import cautious_direction
from dynamics.config import Hyper, Setup
from dynamics.decay import cautious_decay_mask
from dynamics.optimizers import kinetic_of_moments

INITS = ("auto", "zeros")

# Does the w-equation of the semi-implicit step read the state after its update?
READS_UPDATED_STATE = {"gd": True, "gdm": True, "nesterov": True, "adam": True, "lion": False}


class FlowState(NamedTuple):
    """The ODE state y = (w, m, v); m holds s (gdm, nesterov) or the first moment
    (dampened gdm, adam, lion), v adam's second moment (zero otherwise)."""

    w: jax.Array
    m: jax.Array
    v: jax.Array


def lion_c(g, m, hp: Hyper):
    """Lion's interpolation c = m + (1-b1)(g - m) = b1 m + (1-b1) g."""
    return hp.beta * m + (1 - hp.beta) * g


def state_rate(setup: Setup, g, m, v, hp: Hyper):
    """(m', v') of the table above."""
    zero = jnp.zeros_like(m)
    name = setup.optimizer
    if name == "gd":
        return zero, zero
    if name == "gdm" and setup.dampening:
        return (1 - hp.beta) * (g - m), zero
    if name in ("gdm", "nesterov"):
        return g - (1 - hp.beta) * m, zero
    if name == "adam":
        return (1 - hp.beta) * (g - m), (1 - hp.beta2) * (g * g - v)
    if name == "lion":
        return (1 - hp.beta2) * (g - m), zero
    raise ValueError(f"unknown optimizer {name!r}")


def base_direction(setup: Setup, g, m, v, hp: Hyper):
    """u of the base flow (no caution, no decay)."""
    name = setup.optimizer
    if name == "gd":
        return g
    if name == "gdm":
        return m
    if name == "nesterov":
        return g + hp.beta * m
    if name == "adam":
        return m / (jnp.sqrt(v) + hp.adam_eps)
    if name == "lion":
        c = lion_c(g, m, hp)
        return jnp.sign(c) if setup.lion_sign == "hard" else jnp.tanh(c / hp.sign_tau)
    raise ValueError(f"unknown optimizer {name!r}")


def decay_term(mode: str, u, w, wd):
    """The weight-decay addition to u: 0, wd w, or wd 1[u w >= 0] w (dynamics.decay)."""
    if mode == "none":
        return jnp.zeros_like(w)
    if mode == "decoupled":
        return wd * w
    return wd * cautious_decay_mask(u, w) * w


def direction(setup: Setup, w, g, m, v, hp: Hyper):
    """(u, phi): the applied direction (base, then alpha phi u if cautious, then decay)
    and the mask phi (ones without caution); w' = -eps u."""
    u = base_direction(setup, g, m, v, hp)
    phi = jnp.ones_like(u)
    if setup.cautious:
        u, phi = cautious_direction(u, g, setup.mask, setup.compensation, lr=hp.lr, mu=hp.mu, tau=hp.tau)
    return u + decay_term(setup.decay, u, w, hp.wd), phi


def _rates(setup: Setup, value, y: FlowState, args):
    hp, p = args
    loss, g = jax.value_and_grad(value)(y.w, p)
    dm, dv = state_rate(setup, g, y.m, y.v, hp)
    u, phi = direction(setup, y.w, g, y.m, y.v, hp)
    return FlowState(-hp.lr * u, dm, dv), loss, g, phi


def vector_field(setup: Setup, value: Callable) -> Callable:
    """f(t, y, args) with args = (hp, toy_params): the flow of ``setup`` on L = value(w, p)."""

    def f(t, y: FlowState, args) -> FlowState:
        return _rates(setup, value, y, args)[0]

    return f


def semi_implicit_step(setup: Setup, value: Callable) -> Callable:
    """step(t, y, h, args): one semi-implicit Euler step (module docstring)."""
    reads_new = READS_UPDATED_STATE[setup.optimizer]

    def step(t, y: FlowState, h, args) -> FlowState:
        hp, p = args
        g = jax.grad(value)(y.w, p)
        dm, dv = state_rate(setup, g, y.m, y.v, hp)
        m1, v1 = y.m + h * dm, y.v + h * dv
        m, v = (m1, v1) if reads_new else (y.m, y.v)
        u, _ = direction(setup, y.w, g, m, v, hp)
        return FlowState(y.w - h * hp.lr * u, m1, v1)

    return step


def kinetic(setup: Setup, y: FlowState, hp: Hyper):
    """K(m, v): the same formula as on the discrete optimizer states."""
    return kinetic_of_moments(setup, y.m, y.v, hp)


def diagnostics(setup: Setup, value: Callable) -> Callable:
    """diag(y, args) -> dict of L, H = L + K, dL/dt = g.w', dH/dt = dL/dt + dK/dt
    (dK/dt by forward-mode differentiation of K along (m', v'), the exact chain rule;
    |m|_1 is differentiated with sign(0) = 0), masked_fraction = 1 - mean(phi), and
    lion's |c|_1 (zero for the other optimizers)."""

    def diag(y: FlowState, args):
        hp, _ = args
        rates, loss, g, phi = _rates(setup, value, y, args)
        k, dk = jax.jvp(lambda m, v: kinetic_of_moments(setup, m, v, hp), (y.m, y.v), (rates.m, rates.v))
        dl = jnp.sum(g * rates.w)
        c_norm = jnp.sum(jnp.abs(lion_c(g, y.m, hp))) if setup.optimizer == "lion" else jnp.zeros_like(loss)
        return dict(loss=loss, hamiltonian=loss + k, dL_dt=dl, dH_dt=dl + dk,
                    masked_fraction=1 - jnp.mean(phi), c_norm=c_norm)

    return diag


def initial_state(setup: Setup, value: Callable, w0, p, init: str = "auto") -> FlowState:
    """y0 from w0: m0 = v0 = 0, except adam with ``init="auto"``: m0 = g(w0), v0 = g(w0)^2."""
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    zero = jnp.zeros_like(w0)
    if setup.optimizer == "adam" and init == "auto":
        g = jax.grad(value)(w0, p)
        return FlowState(w0, g, g * g)
    return FlowState(w0, zero, zero)


def is_smooth(setup: Setup) -> bool:
    """Whether the right-hand side is smooth: no hard mask, no hard sign, no cautious
    decay indicator (otherwise adaptive solvers reject steps near switching surfaces)."""
    if setup.optimizer == "lion" and setup.lion_sign == "hard":
        return False
    if setup.cautious and setup.mask != "smooth":
        return False
    return setup.decay != "cautious"
