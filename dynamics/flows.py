r"""Continuous-time flows of the optimizers, their Hamiltonians and energy rates
(docs/theory.md, Section 4; arXiv 2411.16085, Section 2).

Time unit = one optimizer step: the semi-implicit Euler step with h = 1 of each flow
is the discrete optimizer of dynamics.optimizers (see ``semi_implicit_step``).  The
state is y = (w, m, v), plain arrays of w's shape; m and v are zero and constant
where an optimizer has no such moment.  g = grad L(w), eps = lr, a = 1 - b1, b = 1 - b2.

Each optimizer with a flow defines it in its own module (``SPEC.flow``: the state
rates (m', v'), the direction u, and whether the semi-implicit step reads the updated
state), with its Hamiltonian H = L + K and the derivation of dH/dt; ``FLOW_OPTIMIZERS``
lists them (gd, gdm, nesterov, adam, lion, adamax).  In the state, m holds s for
gdm/nesterov and the first moment otherwise; v holds adam's second moment or adamax's
infinity moment (zero for the others).

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
then reproduces its discrete optimizer (adam and adamax: without bias correction of m).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from dynamics.caution import cautious_direction
from dynamics.config import Hyper, Setup
from dynamics.decay import cautious_decay_mask
from dynamics.optimizers import FLOW_OPTIMIZERS, kinetic_of_moments, spec_of
from dynamics.optimizers.spec import Flow
from dynamics.sam import NO_FLOW

INITS = ("auto", "zeros")


class FlowState(NamedTuple):
    """The ODE state y = (w, m, v); m holds s (gdm, nesterov) or the first moment
    (dampened gdm, adam, lion, adamax), v the second or infinity moment (zero otherwise)."""

    w: jax.Array
    m: jax.Array
    v: jax.Array


def flow_of(setup: Setup) -> Flow:
    """The flow of ``setup.optimizer``; ValueError naming the optimizers that have one,
    and for SAM (dynamics.sam.NO_FLOW says why it has none here)."""
    if setup.sam:
        raise ValueError(NO_FLOW)
    flow = spec_of(setup.optimizer).flow
    if flow is None:
        raise ValueError(f"{setup.optimizer} has no flow; ODE mode has flows for {', '.join(FLOW_OPTIMIZERS)}")
    return flow


def state_rate(setup: Setup, g, m, v, hp: Hyper):
    """(m', v') of the optimizer's flow."""
    return flow_of(setup).state_rate(setup, g, m, v, hp)


def base_direction(setup: Setup, g, m, v, hp: Hyper):
    """u of the base flow (no caution, no decay)."""
    return flow_of(setup).direction(setup, g, m, v, hp)


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


def hyper_at(args, t):
    """(hp at time t, d eps/dt) for args = (hp, toy_params[, factors]): under a schedule
    eps(t) = lr f(t) with f the factors f(0..T) interpolated linearly in t (time unit one
    step: the discrete step from w_n uses eps(n) = lr f(n), dynamics.schedules), and
    d eps/dt the slope of the segment [n, n+1] that t lies in (the right-hand slope at a
    grid point).  Without factors (or t None): (hp, 0)."""
    hp = args[0]
    factors = args[2] if len(args) > 2 else None
    if factors is None or t is None:
        return hp, jnp.zeros_like(hp.lr)
    i = jnp.clip(jnp.floor(t), 0, factors.shape[0] - 2).astype(jnp.int32)
    slope = factors[i + 1] - factors[i]
    return hp._replace(lr=hp.lr * (factors[i] + (t - i) * slope)), hp.lr * slope


def _rates(setup: Setup, value, y: FlowState, args, t=None):
    hp, p = hyper_at(args, t)[0], args[1]
    loss, g = jax.value_and_grad(value)(y.w, p)
    dm, dv = state_rate(setup, g, y.m, y.v, hp)
    u, phi = direction(setup, y.w, g, y.m, y.v, hp)
    return FlowState(-hp.lr * u, dm, dv), loss, g, phi


def vector_field(setup: Setup, value: Callable) -> Callable:
    """f(t, y, args) with args = (hp, toy_params[, factors]): the flow of ``setup`` on
    L = value(w, p), with eps(t) under a schedule (hyper_at)."""

    def f(t, y: FlowState, args) -> FlowState:
        return _rates(setup, value, y, args, t)[0]

    return f


def semi_implicit_step(setup: Setup, value: Callable) -> Callable:
    """step(t, y, h, args): one semi-implicit Euler step (module docstring)."""
    reads_new = flow_of(setup).reads_updated_state

    def step(t, y: FlowState, h, args) -> FlowState:
        hp, p = hyper_at(args, t)[0], args[1]
        g = jax.grad(value)(y.w, p)
        dm, dv = state_rate(setup, g, y.m, y.v, hp)
        m1, v1 = y.m + h * dm, y.v + h * dv
        m, v = (m1, v1) if reads_new else (y.m, y.v)
        u, _ = direction(setup, y.w, g, m, v, hp)
        return FlowState(y.w - h * hp.lr * u, m1, v1)

    return step


def diagnostics(setup: Setup, value: Callable) -> Callable:
    """diag(y, args, t) -> dict of L, H = L + K, dL/dt = g.w', dH/dt = dL/dt + dK/dt
    (dK/dt by forward-mode differentiation of K along (m', v', eps'(t)), the exact chain
    rule; under a schedule K reads eps(t) and gains eps'(t) dK/d eps, docs/theory.md,
    Section 4.8; |m|_1 is differentiated with sign(0) = 0), masked_fraction = 1 - mean(phi),
    and c_norm, the norm of the optimizer's dH/dt bound (lion's |c|_1; zero for the others)."""
    bound_norm = flow_of(setup).bound_norm

    def diag(y: FlowState, args, t=None):
        hp, deps = hyper_at(args, t)
        rates, loss, g, phi = _rates(setup, value, y, args, t)
        if len(args) > 2:      # a schedule: K also moves with eps(t)
            k, dk = jax.jvp(lambda m, v, lr: kinetic_of_moments(setup, m, v, hp._replace(lr=lr)), (y.m, y.v, hp.lr),
                            (rates.m, rates.v, deps))
        else:
            k, dk = jax.jvp(lambda m, v: kinetic_of_moments(setup, m, v, hp), (y.m, y.v), (rates.m, rates.v))
        dl = jnp.sum(g * rates.w)
        c_norm = bound_norm(g, y.m, hp) if bound_norm else jnp.zeros_like(loss)
        return dict(loss=loss, hamiltonian=loss + k, dL_dt=dl, dH_dt=dl + dk,
                    masked_fraction=1 - jnp.mean(phi), c_norm=c_norm)

    return diag


def initial_state(setup: Setup, value: Callable, w0, p, hp: Hyper, init: str = "auto") -> FlowState:
    """y0 from w0: m0 = v0 = 0, except with ``init="auto"`` for a flow that defines its
    first moments (adam: m0 = g(w0), v0 = g(w0)^2; adamax: m0 = g(w0), v0 = |g(w0)| + e)."""
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    initial = flow_of(setup).initial
    if initial is not None and init == "auto":
        return FlowState(w0, *initial(jax.grad(value)(w0, p), hp))
    zero = jnp.zeros_like(w0)
    return FlowState(w0, zero, zero)


def is_smooth(setup: Setup) -> bool:
    """Whether the right-hand side is smooth: no hard mask, no hard sign, no cautious
    decay indicator (otherwise adaptive solvers reject steps near switching surfaces)."""
    if not flow_of(setup).smooth(setup):
        return False
    if setup.cautious and setup.mask != "smooth":
        return False
    return setup.decay != "cautious"
