"""Exact power-of-two renormalisation of a homogeneous run's state (dynamics.rates,
``homogeneous`` setups), so that a sweep's carry neither underflows nor overflows.

The carried state is Y = (z, moments) with z = (w - w*)/2^k and moments/2^k: the real
state is 2^k Y.  Every RENORM_EVERY steps Y is scaled by 2^-j with j chosen so that
|Y|^2 falls in [1/2, 2) (k += j); multiplying by a power of two changes only exponents,
so no rounding enters.  Quantities in real units are compared in carried units
instead: a limit c on |w - w*|^2 becomes c 2^(-2k) (``Scale``), and the real loss gap
is L(w) - L* = 2^(2k) (L(w* + z) - L*) on a quadratic (homogeneous of degree 2).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynamics.caution import CautiousState

ZERO_STATE_EXPONENT = -1022     # an all-zero state shrinks by 2^-1022 a step: rate ~ 0, not a NaN
RENORM_EVERY = 8                # renormalise every 8th step: rho^8 stays in range for 1e-4 <= rho <= 1e4


def map_moments(fn, state):
    """The optimizer state with ``fn`` applied to every floating-point moment; the
    cautious wrapper's record of its last mask and integer counters are kept."""
    def leaf(x):
        if isinstance(x, CautiousState):
            return x._replace(inner_state=map_moments(fn, x.inner_state))
        return fn(x) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(leaf, state, is_leaf=lambda x: isinstance(x, CautiousState))


def moments_norm2(state) -> jax.Array:
    """Sum of squares of the state's moments (the leaves map_moments maps)."""
    def leaf(x):
        if isinstance(x, CautiousState):
            return moments_norm2(x.inner_state)
        return jnp.sum(x * x) if jnp.issubdtype(x.dtype, jnp.floating) else 0.0
    return sum(jax.tree.leaves(jax.tree.map(leaf, state, is_leaf=lambda x: isinstance(x, CautiousState))), 0.0)


def _bits(dtype):
    """(integer type of the same width, mantissa bits, exponent bias) of a float dtype."""
    f = jnp.finfo(dtype)
    return (jnp.int64 if f.bits == 64 else jnp.int32), f.nmant, f.maxexp - 1


def pow2(k, dtype) -> jax.Array:
    """2^k in ``dtype``, exact, built from its bits (k clipped to the normal exponents):
    cheaper than jnp.ldexp, which also handles subnormal results."""
    itype, nmant, bias = _bits(dtype)
    f = jnp.finfo(dtype)
    k = jnp.clip(k, f.minexp, f.maxexp - 1)
    return jax.lax.bitcast_convert_type((k + bias).astype(itype) << nmant, dtype)


def times_pow2(x, k) -> jax.Array:
    """x 2^k for any integer k: two exact factors, so that the product overflows to inf
    or underflows to 0 as the exact value would, never a wrong finite number."""
    f = jnp.finfo(x.dtype)
    first = jnp.clip(k, f.minexp, f.maxexp - 1)
    return x * pow2(first, x.dtype) * pow2(k - first, x.dtype)


def renormalise(z, state):
    """(z, state, k, n2): z and the moments scaled by the power of two 2^-k that brings
    their squared norm n2 into [1/2, 2) (exact: only exponents change), so the real
    state is 2^k times the carried one.  No square root, division or logarithm; an
    all-zero state stays zero with k = ZERO_STATE_EXPONENT."""
    n2 = jnp.sum(z * z) + moments_norm2(state)
    itype, nmant, bias = _bits(n2.dtype)
    exponent = ((jax.lax.bitcast_convert_type(n2, itype) >> nmant) & (2 * bias + 1)) - (bias - 1)  # frexp's
    k = jnp.where(n2 > 0, exponent // 2, ZERO_STATE_EXPONENT).astype(jnp.int32)
    down = pow2(-k, n2.dtype)
    return z * down, map_moments(lambda m: m * down, state), k, n2 * down * down


class Scale(NamedTuple):
    """A renormalised run's exponent k (its real state is 2^k times the carried one) and
    what depends on k, updated only when k changes: the divergence limit and tol^2 in
    carried units, and 2^(2k) as two exact factors (their product over- or underflows
    as the exact value would)."""

    k: jax.Array
    lim2: jax.Array
    tol2: jax.Array
    up_a: jax.Array
    up_b: jax.Array


def scale_of(k, lim2, tol2) -> Scale:
    """The Scale of exponent k for the real-unit limits lim2 and tol2 (on |w - w*|^2)."""
    f = jnp.finfo(lim2.dtype)
    two_k = 2 * k
    a = jnp.clip(two_k, f.minexp, f.maxexp - 1)
    return Scale(k, times_pow2(lim2, -two_k), times_pow2(tol2, -two_k), pow2(a, lim2.dtype),
                 pow2(two_k - a, lim2.dtype))
