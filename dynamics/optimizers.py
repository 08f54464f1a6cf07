"""Base optimizers as optax GradientTransformations that output the direction u_t,
and the kinetic part of each one's Hamiltonian H = L + K(state).

Conventions (docs/theory.md, Sections 1 and 4), with eps the step size:

=========  ==========================================  =====================  ==============================
name       state update                                direction u_t          K(state)
=========  ==========================================  =====================  ==============================
gd         -                                           g                      0
gdm        s = beta s + g            (optax.trace)     s                      (eps/2) |s|^2
gdm, damp  m = beta m + (1-beta) g   (optax.ema)       m                      eps/(2(1-beta)) |m|^2
nesterov   s = beta s + g            (optax.trace)     g + beta s             (eps beta/2) |s|^2
adam       optax.scale_by_adam(b1, b2, e)              m^/(sqrt(v^)+e)        eps/(2(1-b1)) sum m^2/(sqrt(v)+e)
lion       optax.scale_by_lion(b1, b2)                 sign(b1 m+(1-b1) g)    eps b1/(1-b2) |m|_1
signum     m = beta m + (1-beta) g  (optax.signum)     sign(m)                eps beta/(1-beta) |m|_1
rmsprop    v = b2 v + (1-b2) g^2    (optax.rmsprop)    g / sqrt(v + e)        0
adagrad    v = v + g^2, v_0 = 0     (optax.adagrad)    g / sqrt(v + e)        0
nadam      optax.scale_by_adam(nesterov=True)          (b1 m^+(1-b1) g^)/..   as adam
amsgrad    optax.scale_by_amsgrad: vmax = max(vmax, v^) m^/(sqrt(vmax)+e)     as adam, with vmax for v
laprop     v = b2 v + (1-b2) g^2;                      m^ = m/(1-b1^t)        eps/(2(1-b1)) sum (sqrt(v^)+e) m^ m^
           m = b1 m + (1-b1) g/(sqrt(v^)+e)
adamw      adam + decoupled decay  (optax.adamw)       as adam (+ lambda w)   as adam
=========  ==========================================  =====================  ==============================

Each K makes H non-increasing along the optimizer's flow (docs/theory.md, Section 4).  The
nesterov row is derived here: with s' = g - (1-beta) s and w' = -eps (g + beta s),
dH/dt = -eps |g|^2 - eps beta (1-beta) |s|^2 <= 0.  The dampened gdm row: with
m' = (1-beta)(g - m), w' = -eps m, dH/dt = -eps |m|^2.  On discrete Adam iterates
K is read with the bias-corrected moments m^, v^ (the ones that drive the step;
zero before the first step), or with the raw m, v when Setup.bias_correction is False
(``scale_by_raw_adam``, the h = 1 semi-implicit Euler step of adam's flow).
The later rows (beta is b1, beta2 is b2, adam_eps is e, as for adam): signum
(Bernstein et al. 2018, arXiv 1802.04434) is lion with b1 = b2 = beta, so lion's K with
b1 = b2 applies.  rmsprop and adagrad have no momentum: their flow w' = -eps g/D with
D = sqrt(v + e) > 0 gives dL/dt = -eps sum g^2/D <= 0, so K = 0 and H = L; optax.rmsprop
defaults (decay = b2, v_0 = 0, e inside the root) and adagrad from v_0 = 0
(optax.adagrad's default initial_accumulator_value is 0.1).  nadam's flow
w' = -eps (b1 m + (1-b1) g)/D, m' = a(g - m) with adam's K gives, on the m terms,
dH/dt = -eps sum (m^2 - (1-b1) m g + (1-b1) g^2)/D, a positive definite form since
(1-b1)^2 < 4(1-b1): the same condition as adam's on the v terms.  amsgrad's vmax never
decreases, so its v terms of dK/dt are <= 0 unconditionally.  laprop (Ziyin, Wang,
Ueda 2020, arXiv 2002.04839, Algorithm 1; hand-written, optax 0.2.8 has none) has
m' = a(g/D - m), w' = -eps m with D = sqrt(v) + e; K = eps/(2a) sum D m^2 gives
dH/dt = -eps sum D m^2 + (eps b/(4a)) sum m^2 (g^2 - v)/sqrt(v), non-positive where
g_i^2 - v_i <= (4a/b) sqrt(v_i) D_i (not everywhere: its H can rise when g^2 jumps
above v).  adamw is adam with the decoupled decay mode (Setup).
optax.lion's default weight_decay is 1e-3; ours is 0 and decay is a separate,
explicit mode (dynamics.decay).  The flows, their derivations of dH/dt (the lion one
included) and the ODE solvers are in dynamics.flows and dynamics.solvers.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dynamics.config import Hyper, Setup


def _sum(tree, fn) -> jax.Array:
    return sum(jnp.sum(fn(x)) for x in jax.tree.leaves(tree))


@jax.custom_jvp
def _sqrt(v):
    """sqrt(v) whose derivative is taken as 0 at v = 0 (instead of inf), so that
    dK/dt of adam's K stays finite on coordinates where m = v = 0."""
    return jnp.sqrt(v)


@_sqrt.defjvp
def _sqrt_jvp(primals, tangents):
    (v,), (dv,) = primals, tangents
    root = jnp.sqrt(v)
    return root, jnp.where(v > 0, dv / (2 * jnp.where(v > 0, root, 1.0)), 0.0)


def kinetic_of_moments(setup: Setup, m, v, hp: Hyper) -> jax.Array:
    """K(m, v) of the table above, from the moments themselves (pytrees of arrays):
    m is s (gdm, nesterov), the EMA m (dampened gdm, adam, lion) or ignored (gd); v is
    adam's second moment, ignored otherwise.  Used both on optax states (through
    ``kinetic_energy``) and on the ODE state (dynamics.flows): one formula each."""
    name = setup.optimizer
    if name == "gd":
        return jnp.zeros((), hp.lr.dtype)
    if name == "gdm" and setup.dampening:
        return hp.lr / (2 * (1 - hp.beta)) * _sum(m, jnp.square)
    if name == "gdm":
        return hp.lr / 2 * _sum(m, jnp.square)
    if name == "nesterov":
        return hp.lr * hp.beta / 2 * _sum(m, jnp.square)
    if name == "adam":
        terms = [jnp.sum(mi**2 / (_sqrt(vi) + hp.adam_eps))
                 for mi, vi in zip(jax.tree.leaves(m), jax.tree.leaves(v))]
        return hp.lr / (2 * (1 - hp.beta)) * sum(terms)
    if name == "lion":
        return hp.lr * hp.beta / (1 - hp.beta2) * _sum(m, jnp.abs)
    if name in ("adamw", "nadam", "amsgrad"):
        return kinetic_of_moments(dataclasses.replace(setup, optimizer="adam"), m, v, hp)
    if name == "signum":
        return hp.lr * hp.beta / (1 - hp.beta) * _sum(m, jnp.abs)
    if name in ("rmsprop", "adagrad"):
        return jnp.zeros((), hp.lr.dtype)
    if name == "laprop":
        terms = [jnp.sum((_sqrt(vi) + hp.adam_eps) * mi**2) for mi, vi in zip(jax.tree.leaves(m), jax.tree.leaves(v))]
        return hp.lr / (2 * (1 - hp.beta)) * sum(terms)
    raise ValueError(f"unknown optimizer {name!r}")


class BaseOptimizer(NamedTuple):
    """transform(hp, setup) -> direction GradientTransformation;
    moments(state, hp, setup) -> (m, v), the moments K reads (see kinetic_of_moments)."""

    transform: Callable[[Hyper, Setup], optax.GradientTransformation]
    moments: Callable[[optax.OptState, Hyper, Setup], tuple]


def _gdm_transform(hp: Hyper, setup: Setup) -> optax.GradientTransformation:
    if setup.dampening:
        return optax.ema(decay=hp.beta, debias=False)
    return optax.trace(decay=hp.beta)


def _gdm_moments(state, hp: Hyper, setup: Setup):
    return (state.ema if setup.dampening else state.trace), None


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


def _adam_transform(hp: Hyper, setup: Setup) -> optax.GradientTransformation:
    if setup.bias_correction:
        return optax.scale_by_adam(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps)
    return scale_by_raw_adam(hp.beta, hp.beta2, hp.adam_eps)


def _bias_corrections(count, hp: Hyper):
    """(1 - b1^t, 1 - b2^t) at step count t, (1, 1) before the first step."""
    t = count.astype(hp.lr.dtype)
    started = count > 0
    return jnp.where(started, 1 - hp.beta**t, 1.0), jnp.where(started, 1 - hp.beta2**t, 1.0)


def _adam_moments(state, hp: Hyper, setup: Setup):
    if not setup.bias_correction:
        return state.mu, state.nu
    c1, c2 = _bias_corrections(state.count, hp)
    return jax.tree.map(lambda m: m / c1, state.mu), jax.tree.map(lambda v: v / c2, state.nu)


def _lion_transform(hp: Hyper, setup: Setup) -> optax.GradientTransformation:
    if setup.lion_sign != "hard":
        raise ValueError("the smooth sign tanh(c/sign_tau) is a flow option (dynamics.flows); "
                         "the discrete lion uses sign(c)")
    return optax.scale_by_lion(b1=hp.beta, b2=hp.beta2)


class LaPropState(NamedTuple):
    """count t, first moment mu (an EMA of normalised gradients), second moment nu."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_laprop(b1, b2, eps) -> optax.GradientTransformation:
    """LaProp (Ziyin, Wang, Ueda 2020, arXiv 2002.04839, Algorithm 1): momentum of the
    normalised gradient, bias-corrected,

        v_t = b2 v + (1-b2) g^2,   m_t = b1 m + (1-b1) g / (sqrt(v_t/(1-b2^t)) + e),
        u_t = m_t / (1-b1^t)     (from m_0 = v_0 = 0).

    Adam normalises after the momentum, LaProp before it, which decouples b1 and b2."""

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return LaPropState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(grads, state, params=None):
        count = optax.safe_increment(state.count)
        t = count.astype(jax.tree.leaves(grads)[0].dtype)
        nu = optax.tree_utils.tree_update_moment_per_elem_norm(grads, state.nu, b2, 2)
        normalised = jax.tree.map(lambda g, v: g / (jnp.sqrt(v / (1 - b2**t)) + eps), grads, nu)
        mu = optax.tree_utils.tree_update_moment(normalised, state.mu, b1, 1)
        return jax.tree.map(lambda m: m / (1 - b1**t), mu), LaPropState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _corrected(state, hp: Hyper, second: str = "nu"):
    """(m^, v^) of an adam-like state: bias-corrected mu and nu, or nu_max (already
    built from bias-corrected nu) when ``second`` is ``nu_max``."""
    c1, c2 = _bias_corrections(state.count, hp)
    v = jax.tree.map(lambda x: x / c2, state.nu) if second == "nu" else getattr(state, second)
    return jax.tree.map(lambda m: m / c1, state.mu), v


def _no_moments(state, hp: Hyper, setup: Setup):
    return None, None


BASE_OPTIMIZERS: dict[str, BaseOptimizer] = {
    "gd": BaseOptimizer(lambda hp, setup: optax.identity(), lambda s, hp, setup: (None, None)),
    "gdm": BaseOptimizer(_gdm_transform, _gdm_moments),
    "nesterov": BaseOptimizer(lambda hp, setup: optax.trace(decay=hp.beta, nesterov=True),
                              lambda s, hp, setup: (s.trace, None)),
    "adam": BaseOptimizer(_adam_transform, _adam_moments),
    "lion": BaseOptimizer(_lion_transform, lambda s, hp, setup: (s.mu, None)),
    "signum": BaseOptimizer(lambda hp, setup: optax.chain(optax.ema(hp.beta, debias=False), optax.scale_by_sign()),
                            lambda s, hp, setup: (s[0].ema, None)),
    "rmsprop": BaseOptimizer(lambda hp, setup: optax.scale_by_rms(decay=hp.beta2, eps=hp.adam_eps), _no_moments),
    "adagrad": BaseOptimizer(lambda hp, setup: optax.scale_by_rss(initial_accumulator_value=0.0, eps=hp.adam_eps),
                             _no_moments),
    "nadam": BaseOptimizer(lambda hp, setup: optax.scale_by_adam(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps,
                                                                 nesterov=True),
                           lambda s, hp, setup: _corrected(s, hp)),
    "amsgrad": BaseOptimizer(lambda hp, setup: optax.scale_by_amsgrad(b1=hp.beta, b2=hp.beta2, eps=hp.adam_eps),
                             lambda s, hp, setup: _corrected(s, hp, "nu_max")),
    "laprop": BaseOptimizer(lambda hp, setup: scale_by_laprop(hp.beta, hp.beta2, hp.adam_eps),
                            lambda s, hp, setup: _corrected(s, hp)),
    "adamw": BaseOptimizer(_adam_transform, _adam_moments),
}


def base_transform(setup: Setup, hp: Hyper) -> optax.GradientTransformation:
    """The direction transform u_t of ``setup.optimizer`` (no caution, no decay)."""
    return BASE_OPTIMIZERS[setup.optimizer].transform(hp, setup)


def kinetic_energy(setup: Setup, base_state, hp: Hyper) -> jax.Array:
    """K(state) of the table above, so that H = L + K."""
    m, v = BASE_OPTIMIZERS[setup.optimizer].moments(base_state, hp, setup)
    return kinetic_of_moments(setup, m, v, hp)
