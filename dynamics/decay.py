"""Weight decay modes (arXiv 2510.12402), applied to the direction u before the step:

  ``none``       u
  ``decoupled``  u + lambda w                  (AdamW-style: w -= eps lambda w; optax.add_decayed_weights)
  ``cautious``   u + lambda 1[u * w >= 0] w    (decay only where the update already moves w toward 0)

u is the optimizer's direction as applied (after the cautious mask, if any).
Decoupled decay converges to a minimiser of the regularised proxy L + (lambda/2)|w|^2;
cautious decay converges to a stationary point of L and then slides along the
minimiser set towards small norm (the paper's sliding mode, Section 3).
"""
from __future__ import annotations

import jax
import optax

from dynamics.config import DECAY_MODES


def cautious_decay_mask(u: jax.Array, w: jax.Array) -> jax.Array:
    """1[u * w >= 0] elementwise, in u's dtype."""
    return (u * w >= 0).astype(u.dtype)


def weight_decay(mode: str, wd) -> optax.GradientTransformation:
    """The decay transform of ``mode`` with strength ``wd`` (lambda)."""
    if mode == "none":
        return optax.identity()
    if mode == "decoupled":
        return optax.add_decayed_weights(wd)
    if mode == "cautious":
        def update_fn(updates, state, params=None):
            if params is None:
                raise ValueError("cautious weight decay needs the parameters")
            return jax.tree.map(lambda u, w: u + wd * cautious_decay_mask(u, w) * w, updates, params), state
        return optax.GradientTransformation(optax.init_empty_state, update_fn)
    raise ValueError(f"weight-decay mode must be one of {', '.join(DECAY_MODES)}; got {mode!r}")
