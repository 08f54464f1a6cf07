"""The cautious mask of arXiv 2411.16085 as a wrapper around any optax transformation.

With u the inner optimizer's direction and g the gradient, x = u * g elementwise, the
cautious direction is  alpha * phi * u  (so w_{t+1} = w_t - eps alpha phi u_t;
docs/theory.md, Section 2):

mask kinds (phi):
  ``elementwise``     phi_i = 1[x_i > 0]                        (Algorithm 1)
  ``elementwise-ge``  phi_i = 1[x_i >= 0]                       (the non-strict variant)
  ``inner``           phi   = 1[u.g >= 0] on every coordinate   (Theorem 2.5)
  ``threshold``       phi   = 1[g.u >= -(mu eps/2)|u|^2]        (Theorem 2.7, mu = smoothness)
  ``smooth``          phi_i = sigmoid(x_i / tau)                (tau -> 0 gives the hard mask)
compensation (alpha):
  ``none``   alpha = 1
  ``mean``   alpha = 1 / max(mean(phi), 1e-3)   Algorithm 1 writes 1/(mean(phi) + eps), timm
             clamps with max(mean, 1e-3); Algorithm 2 (C-AdamW) scales by d/||phi||_0,
             which is the same 1/mean(phi)
  ``count``  alpha = d / (sum(phi) + 1)         Algorithm 3 (C-Lion) only

In 2-D ``count`` gives alpha = 2/3 when nothing is masked: the theory's condition
x alpha phi(x) >= max(x, 0) needs alpha >= 1, so it fails there (the paper's Section 2).

On a pytree of parameters each leaf (each parameter tensor) is its own vector, as in
the paper's and timm's implementations: inner products, means and counts are taken
per leaf.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dynamics.config import COMPENSATIONS, MASKS


def _agree(u: jax.Array, g: jax.Array) -> jax.Array:
    """sign(u_i) sign(g_i) elementwise: +1 where u_i and g_i share a sign, -1 where they
    disagree, 0 where either is 0.  Unlike the product u_i g_i it never underflows to 0
    (near a minimiser u_i g_i ~ 1e-320 would read as "disagree" under the strict mask
    and drop a live coordinate for good)."""
    return jnp.sign(u) * jnp.sign(g)


def _scaled(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(x / s, s) with s = max |x_i| (s = 1 when x = 0): x rescaled to a largest
    magnitude of 1, so that inner products of rescaled vectors cannot underflow."""
    s = jnp.max(jnp.abs(x))
    s = jnp.where(s > 0, s, jnp.ones_like(s))
    return x / s, s


def _threshold_keep(u: jax.Array, g: jax.Array, lr, mu) -> jax.Array:
    """g.u >= -(mu lr/2)|u|^2 without underflow: with u = a u', g = b g' (a, b the largest
    magnitudes), divide by a b > 0:  g'.u' >= -(mu lr/2) (a/b) |u'|^2."""
    un, a = _scaled(u)
    gn, b = _scaled(g)
    return jnp.sum(gn * un) >= -(mu * lr / 2) * (a / b) * jnp.sum(un * un)


def mask_phi(u: jax.Array, g: jax.Array, kind: str, lr=None, mu=1.0, tau=1e-3) -> jax.Array:
    """phi(u, g) of the table above for one array (same shape as u).  The hard masks are
    computed from sign(u) and sign(g), and the inner products of ``inner`` and
    ``threshold`` from u and g rescaled to a largest magnitude of 1, so none of them
    underflows (docs/theory.md, Section 2); only ``smooth`` reads the product u*g."""
    if kind == "elementwise":
        return (_agree(u, g) > 0).astype(u.dtype)
    if kind == "elementwise-ge":
        return (_agree(u, g) >= 0).astype(u.dtype)
    if kind == "inner":
        keep = jnp.sum(_scaled(u)[0] * _scaled(g)[0]) >= 0
        return jnp.broadcast_to(keep, u.shape).astype(u.dtype)
    if kind == "threshold":
        if lr is None:
            raise ValueError("the threshold mask needs the step size lr")
        return jnp.broadcast_to(_threshold_keep(u, g, lr, mu), u.shape).astype(u.dtype)
    if kind == "smooth":
        return jax.nn.sigmoid(u * g / tau).astype(u.dtype)
    raise ValueError(f"mask must be one of {', '.join(MASKS)}; got {kind!r}")


def compensation_alpha(phi: jax.Array, kind: str) -> jax.Array:
    """alpha(phi) of the table above."""
    if kind == "none":
        return jnp.ones((), phi.dtype)
    if kind == "mean":
        return 1 / jnp.maximum(jnp.mean(phi), 1e-3)
    if kind == "count":
        return phi.size / (jnp.sum(phi) + 1)
    raise ValueError(f"compensation must be one of {', '.join(COMPENSATIONS)}; got {kind!r}")


def cautious_direction(u, g, mask="elementwise", compensation="mean", lr=None, mu=1.0, tau=1e-3):
    """(alpha * phi * u, phi) for one array: the cautious direction and its mask."""
    phi = mask_phi(u, g, mask, lr=lr, mu=mu, tau=tau)
    return compensation_alpha(phi, compensation) * phi * u, phi


class CautiousState(NamedTuple):
    """inner_state: the wrapped optimizer's state.  mask: phi used at the last step
    (ones before the first), a pytree like the parameters."""

    inner_state: optax.OptState
    mask: optax.Updates


def cautious(inner: optax.GradientTransformation, mask: str = "elementwise",
             compensation: str = "mean", *, lr=None, mu=1.0, tau=1e-3) -> optax.GradientTransformation:
    """Wrap ``inner`` (a direction transform such as optax.trace or optax.scale_by_adam)
    so that its update u becomes alpha * phi(u, g) * u, with g the incoming gradient.

    Use it as any optax transformation, e.g. for training a model:
    ``optax.chain(cautious(optax.scale_by_adam(), "elementwise", "mean"), optax.scale(-1e-3))``.
    ``lr`` (the step size eps) is needed only by the ``threshold`` mask.
    """
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {', '.join(MASKS)}; got {mask!r}")
    if compensation not in COMPENSATIONS:
        raise ValueError(f"compensation must be one of {', '.join(COMPENSATIONS)}; got {compensation!r}")
    if mask == "threshold" and lr is None:
        raise ValueError("the threshold mask needs the step size: cautious(..., lr=eps)")

    def init_fn(params):
        return CautiousState(inner.init(params), jax.tree.map(jnp.ones_like, params))

    def update_fn(grads, state, params=None):
        u, inner_state = inner.update(grads, state.inner_state, params)
        pairs = jax.tree.map(
            lambda ui, gi: cautious_direction(ui, gi, mask, compensation, lr=lr, mu=mu, tau=tau), u, grads)
        outer = jax.tree.structure(u)
        directions, phis = jax.tree.transpose(outer, jax.tree.structure((0, 0)), pairs)
        return directions, CautiousState(inner_state, phis)

    return optax.GradientTransformation(init_fn, update_fn)


def masked_fraction(mask_tree) -> jax.Array:
    """1 - mean(phi) over all coordinates: the fraction the mask dropped."""
    leaves = jax.tree.leaves(mask_tree)
    total = sum(jnp.sum(x) for x in leaves)
    size = sum(x.size for x in leaves)
    return 1 - total / size
