"""Discrete roll-outs: one jit-compiled loop over the optimizer steps, compiled once per
bucket of step counts with the count T a traced argument (dynamics.horizon).

Each step (docs/theory.md, Sections 1-3 and 7), in this order:  g_t = grad L(w_t);
g_t <- g_t min(1, c/|g_t|) if clipping (Setup.clip, c = clip_norm);  u_t from the base
optimizer, fed grad L(w_t + rho g_t/|g_t|) instead of g_t with SAM (dynamics.sam; that
gradient clipped too when clipping);  u_t <- alpha phi(u_t, g_t) u_t if cautious (the mask
reads the clipped g_t at w_t, also with SAM);  u_t <- u_t + decay(u_t, w_t);
w_{t+1} = w_t - eps_t u_t, with eps_t = lr f(t-1) under a schedule (Setup.schedule,
dynamics.schedules; lr is the peak) and eps_t = lr without.  Everything that reads eps
at a step reads eps_t: the step itself and the threshold mask's bound
-(mu eps_t/2)|u|^2 (it bounds the step actually taken).  The same optax chain is what
``make_optimizer`` hands to a user training a model.

H = L + K in row t reads K with eps = lr f(t), the step size of the step about to be
taken from w_t (row 0: f(0)); it is the Hamiltonian of the flow with eps(t) at time t
(docs/theory.md, Section 4.8).

Output arrays have T+1 rows, row t describing w_t (row 0 is the start).  ``update[t]``
and ``mask[t]`` describe the step that produced w_t (zeros / ones in row 0).

With Setup.noise = ``gaussian`` the step uses g~_t = g_t + sigma z_t (dynamics.noise,
seeded), and with SAM the gradient at the perturbed point carries the same draw;
``grad`` stays the true gradient.  Three records exist only for the runs
that have them (None otherwise): ``noise_drop`` / ``noise_keep`` (noise on and
cautious): the fraction of coordinates the cautious mask drops / keeps because of the
noise (dynamics.noise.mask_flips, on the base direction u that the mask reads);
``decay_mask`` (cautious decay): 1[u * w >= 0] with u the direction the decay reads
(after the cautious mask), the coordinates decayed.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynamics.caution import cautious, masked_fraction
from dynamics.config import Hyper, Setup
from dynamics.decay import cautious_decay_mask, weight_decay
from dynamics.horizon import step_bucket
from dynamics.noise import check_seed, mask_flips, step_noise
from dynamics.optimizers import base_transform, kinetic_energy
from dynamics.optimizers.spec import get
from dynamics.precision import run_dtype
from dynamics.sam import base_state as sam_base_state
from dynamics.sam import sam, with_noise
from dynamics.schedules import clip_gradient, factor_at, factor_fn, schedule_factors, scheduled
from toys import Toy

RISE_REL = 1e-12     # the default relative threshold of a counted loss rise (rise_threshold)


def masked_transform(setup: Setup, hp: Hyper, grad_fn=None) -> optax.GradientTransformation:
    """The direction that the cautious mask reads: the base optimizer's, around which
    SAM (dynamics.sam) when setup.sam, which needs ``grad_fn`` (w -> grad L(w); the
    gradient at SAM's perturbed point is clipped like g when setup.clip)."""
    base = base_transform(setup, hp)
    if not setup.sam:
        return base
    if grad_fn is None:
        raise ValueError("a SAM setup needs the loss's gradient: pass grad_fn (w -> grad L(w))")
    return sam(base, lambda w: clip_gradient(setup, hp, grad_fn(w)), hp.rho)


def inner_transform(setup: Setup, hp: Hyper, grad_fn=None) -> optax.GradientTransformation:
    """u_t before weight decay: the base optimizer (SAM around it when setup.sam),
    optionally cautious; the mask compares u_t with the gradient at w_t (with SAM too)."""
    inner = masked_transform(setup, hp, grad_fn)
    if setup.cautious:
        inner = cautious(inner, setup.mask, setup.compensation, lr=hp.lr, mu=hp.mu, tau=hp.tau)
    return inner


def direction_transform(setup: Setup, hp: Hyper, grad_fn=None) -> optax.GradientTransformation:
    """u_t: base optimizer, optionally cautious, then weight decay (not yet scaled by -eps).
    The state is a dict with the entries ``direction`` (the base optimizer's state, SAM's
    state around it, or the CautiousState around those) and ``decay``, so it is read by
    name (``inner_state``, ``opt_state``)."""
    return optax.named_chain(("direction", inner_transform(setup, hp, grad_fn)),
                             ("decay", weight_decay(setup.decay, hp.wd)))


def _step_chain(setup: Setup, hp: Hyper, grad_fn=None) -> optax.GradientTransformation:
    """clip (when setup.clip) -> direction -> scale(-lr): one step with step size hp.lr."""
    clip = (optax.clip_by_global_norm(hp.clip_norm),) if setup.clip else ()
    return optax.chain(*clip, direction_transform(setup, hp, grad_fn), optax.scale(-hp.lr))


def make_optimizer(setup: Setup, hp: Hyper, grad_fn=None, factor=None) -> optax.GradientTransformation:
    """The full optax optimizer: w <- w - eps_t * u_t (the module docstring's step).  Works
    on any pytree of parameters.  ``grad_fn`` (w -> grad L(w)) is needed by SAM setups
    only (dynamics.sam).  ``factor``: count -> f (traceable; count = 0 at the first
    update), e.g. an optax schedule with peak 1 (dynamics.schedules.optax_schedule), so
    that eps_t = hp.lr f(t-1) in the step and in the threshold mask; None: eps_t = hp.lr."""
    if factor is None:
        return _step_chain(setup, hp, grad_fn)
    return scheduled(lambda f: _step_chain(setup, hp._replace(lr=hp.lr * f), grad_fn), factor)


def _direction_state(opt_state):
    """The state of inner_transform inside make_optimizer's state."""
    return get(opt_state, "direction")


def _masked_state(setup: Setup, opt_state):
    """The state of masked_transform (inside the cautious wrapper when there is one)."""
    inner = _direction_state(opt_state)
    return get(inner, "inner_state") if setup.cautious else inner


def _base_state(setup: Setup, opt_state):
    """The base optimizer's state (inside the cautious wrapper and SAM when there are)."""
    inner = _masked_state(setup, opt_state)
    return sam_base_state(inner) if setup.sam else inner


def _mask(setup: Setup, opt_state, like):
    return get(opt_state, "mask") if setup.cautious else jnp.ones_like(like)


class Trajectory(NamedTuple):
    """Per-step arrays, T+1 rows: iterate w, loss L, hamiltonian H = L + K(state),
    masked_fraction (1 - mean phi), grad g_t, update w_t - w_{t-1}, mask phi; and, when
    the run has them (module docstring), noise_drop, noise_keep and decay_mask."""

    w: np.ndarray
    loss: np.ndarray
    hamiltonian: np.ndarray
    masked_fraction: np.ndarray
    grad: np.ndarray
    update: np.ndarray
    mask: np.ndarray
    noise_drop: np.ndarray | None = None
    noise_keep: np.ndarray | None = None
    decay_mask: np.ndarray | None = None


def step_records(setup: Setup, hp: Hyper, opt_state, w, g, g_used, grad_fn=None) -> dict:
    """The optional records of one step taken from ``opt_state`` at ``w`` with the
    gradient g_used (true gradient g) and hp.lr the step's eps_t: noise_drop/noise_keep
    and decay_mask (see the module docstring); {} when the setup has none.  The
    directions are recomputed with the same pure transforms as the step, on the clipped
    gradients when clipping (XLA shares the work); ``grad_fn`` as the step's (SAM setups)."""
    flips = setup.noise != "none" and setup.cautious
    if not flips and setup.decay != "cautious":
        return {}
    out = {}
    g, g_used = clip_gradient(setup, hp, g), clip_gradient(setup, hp, g_used)
    if flips:
        u, _ = masked_transform(setup, hp, grad_fn).update(g_used, _masked_state(setup, opt_state), w)
        out["noise_drop"], out["noise_keep"] = mask_flips(u, g, g_used, setup.mask, lr=hp.lr, mu=hp.mu, tau=hp.tau)
    if setup.decay == "cautious":
        u, _ = inner_transform(setup, hp, grad_fn).update(g_used, _direction_state(opt_state), w)
        out["decay_mask"] = cautious_decay_mask(u, w)
    return out


def _at(hp: Hyper, factors, count) -> Hyper:
    """hp with lr = lr f(count) (hp itself without a schedule)."""
    return hp if factors is None else hp._replace(lr=hp.lr * factor_at(factors, count))


def _rollout_fn(setup: Setup, value, bucket: int):
    noisy = setup.noise != "none"

    def run(w0, hp: Hyper, toy_params, steps, seed=None, factors=None):
        loss_fn = lambda w: value(w, toy_params)
        grad = jax.grad(loss_fn)
        factor = factor_fn(factors)
        opt = make_optimizer(setup, hp, grad, factor)
        state0 = opt.init(w0)

        def record(w, state, update, t):     # K reads eps = lr f(t), the next step's
            loss, g = jax.value_and_grad(loss_fn)(w)
            mask = _mask(setup, state, w)
            ham = loss + kinetic_energy(setup, _base_state(setup, state), _at(hp, factors, t))
            rec = dict(w=w, loss=loss, hamiltonian=ham, masked_fraction=masked_fraction(mask),
                       grad=g, update=update, mask=mask)
            return rec, g

        first, g0 = record(w0, state0, jnp.zeros_like(w0), 0)
        first["masked_fraction"] = jnp.zeros((), w0.dtype)
        first.update({k: jnp.zeros_like(v) for k, v in step_records(setup, hp, state0, w0, g0, g0, grad).items()})
        rows = {k: jnp.zeros((bucket + 1,) + v.shape, v.dtype).at[0].set(v) for k, v in first.items()}
        # the noise of every step of the bucket, drawn before the loop (the same z_t for
        # every T): z_t = normal(fold_in(key, t)), t = 1..bucket
        zs = step_noise(seed, bucket, w0) if noisy else None

        def step(t, carry):      # t = 1..steps: the step that produces w_t, written to row t
            (w, state, g), rows = carry
            noise = hp.noise_sigma * zs[t - 1] if noisy else None
            g_used, grad_t = (g + noise, with_noise(grad, noise)) if noisy else (g, grad)
            extra = step_records(setup, _at(hp, factors, t - 1), state, w, g, g_used, grad_t)
            upd, state = (make_optimizer(setup, hp, grad_t, factor) if noisy else opt).update(g_used, state, w)
            w = w + upd
            rec, g = record(w, state, upd, t)
            rec.update(extra)
            return (w, state, g), {k: jax.lax.dynamic_update_index_in_dim(rows[k], rec[k], t, 0) for k in rows}

        _, rows = jax.lax.fori_loop(1, steps + 1, step, ((w0, state0, g0), rows))
        return rows

    return run


@functools.lru_cache(maxsize=64)
def compiled_rollout(setup: Setup, toy: Toy, bucket: int):
    """The jitted roll-out for (setup, toy) and a bucket of step counts
    (dynamics.horizon.step_bucket), built once per process.

    Call it as ``fn(w0, hp, toy_params, steps, seed, factors)`` with an int32 ``steps``
    <= bucket, ``seed`` a uint32 array when setup.noise is on (else None) and
    ``factors`` the schedule's f(0..bucket) (dynamics.schedules.schedule_factors) when
    setup.schedule is not ``constant`` (else None): it runs ``steps`` steps and returns
    records of bucket + 1 rows, of which the first steps + 1 are the run's (the rest are
    zeros).  New numbers, new factors, and a new step count within the bucket, reuse
    the compiled program.
    """
    return jax.jit(_rollout_fn(setup, toy.value, bucket))


def cast_inputs(setup: Setup, toy: Toy, start, hp: Hyper, toy_params=None):
    """(w0, hp, toy params) as arrays of the setup's dtype (Float64Disabled for float64
    while JAX's 64-bit mode is off: dynamics.precision)."""
    dt = run_dtype(setup.dtype)
    w0 = jnp.asarray(start, dtype=dt)
    hp = Hyper(*(jnp.asarray(x, dtype=dt) for x in hp))
    p = {k: jnp.asarray(v, dtype=dt) for k, v in toy.params(toy_params).items()}
    return w0, hp, p


def rollout(setup: Setup, toy: Toy, hp: Hyper, steps: int, start=None, toy_params=None, seed: int = 0) -> Trajectory:
    """Run ``steps`` optimizer steps on ``toy`` from ``start`` (default: the toy's) and
    return NumPy arrays (see Trajectory).  ``seed`` (an integer in [0, 2^32)) draws the
    gradient noise when setup.noise is on; without noise it has no effect.  A noisy
    setup with noise_sigma = 0 runs the noise-free program, so it gives the noise-free
    trajectory bit for bit (the noisy program differs from it by rounding only: XLA
    fuses, hence contracts a*b + c, differently), with zero noise_drop and noise_keep."""
    if steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}")
    w0, hp, p = cast_inputs(setup, toy, toy.start if start is None else start, hp, toy_params)
    seed = check_seed(seed)
    run_setup = noise_free(setup, hp)
    noise = jnp.asarray(seed, jnp.uint32) if run_setup.noise != "none" else None
    steps, bucket = int(steps), step_bucket(steps)
    factors = run_factors(setup, hp, steps, bucket + 1, w0.dtype)
    fn = compiled_rollout(run_setup, toy, bucket)
    out = {k: np.asarray(v)[:steps + 1] for k, v in fn(w0, hp, p, jnp.asarray(steps), noise, factors).items()}
    if run_setup is not setup and setup.cautious:
        out["noise_drop"] = out["noise_keep"] = np.zeros_like(out["loss"])
    return Trajectory(**out)


def run_factors(setup: Setup, hp: Hyper, steps: int, length: int, dtype):
    """The schedule's factors f(0..length-1) of a run of ``steps`` steps as an array of
    ``dtype`` (the compiled programs' argument), or None for ``constant``."""
    f = schedule_factors(setup, hp, steps, length)
    return None if f is None else jnp.asarray(f, dtype=dtype)


def noise_free(setup: Setup, hp: Hyper) -> Setup:
    """``setup`` without noise when its noise_sigma is 0 (the two are the same run);
    ``setup`` itself otherwise.  ValueError for a negative or non-finite sigma."""
    if setup.noise == "none":
        return setup
    sigma = float(hp.noise_sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"noise_sigma must be a finite number >= 0; got {sigma:g}")
    return dataclasses.replace(setup, noise="none") if sigma == 0 else setup


def min_loss(toy: Toy, params=None) -> float | None:
    """L*, the smallest minimum value listed for ``toy`` with ``params`` (its min_values,
    else L at its listed minimisers); None for a toy without minimisers."""
    if not toy.has_minima():
        return None
    p = toy.params(params)
    values = toy.min_values(p) if toy.min_values is not None else np.asarray(toy.value(toy.minima(p), p))
    return float(np.min(values))


def rise_threshold(loss: np.ndarray, rel: float = RISE_REL, l_star: float | None = None) -> float:
    """The size a rise L(w_t) - L(w_{t-1}) must exceed to count: rel times the scale of
    the sequence, max(|L(w_0)|, |L(w_0) - L*|) (L* = 0 when not known).

    Why this scale: |L(w_0) - L*| is the descent the run has to make, and rises are
    small or large against it; |L(w_0)| enters because L rounds relative to its own size,
    so a toy whose minimum value is far from 0 (six-hump camel's L* = -1.03, Goldstein-Price's
    3) started near its minimiser has a small gap but rounding of about 1e-16 |L*|; the
    maximum of the two is at least |L*| / 2, above that rounding.  Where this scale is 0
    (a start at the minimum with L* = 0, or L(w_0) = 0 with L* unknown) or not finite
    (L overflows at the start), the scale is the largest finite |L_t| of the sequence
    (the size of its values, which sets their rounding); 0 when no value is finite.
    ``rel`` = 0 counts every rise; ValueError for a negative or non-finite ``rel``."""
    if not (math.isfinite(rel) and rel >= 0):
        raise ValueError(f"the relative rise threshold must be a finite number >= 0; got {rel:g}")
    v = np.asarray(loss, dtype=np.float64)
    l0, ref = float(v[0]), 0.0 if l_star is None else float(l_star)
    scale = max(abs(l0), abs(l0 - ref))
    if not (math.isfinite(scale) and scale > 0):
        finite = np.abs(v[np.isfinite(v)])
        scale = float(finite.max()) if finite.size else 0.0
    return rel * scale


def loss_rises(loss: np.ndarray, rel: float = RISE_REL, l_star: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Steps t >= 1 where L rose by more than the threshold, L(w_t) - L(w_{t-1}) >
    rise_threshold(loss, rel, l_star) (rel times max(|L(w_0)|, |L(w_0) - L*|): rises that
    are negligible at the run's scale, rounding noise and the tiny overshoots of a run
    that has converged, do not count), and the rise at each.  Every count of rises
    in the project (the app's table, legend, inspector and Learn tab, ``run --json``, the
    claims) comes from here, so they agree; non-finite differences never count."""
    v = np.asarray(loss, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.diff(v)
        steps = np.nonzero(diff > rise_threshold(v, rel, l_star))[0] + 1
    return steps, diff[steps - 1]
