"""Floating-point precision of a run.  JAX computes in float32 unless its 64-bit mode
(the ``jax_enable_x64`` option) is on, and silently truncates float64 inputs to float32
when it is off.  Importing this package leaves that option alone: the program using it
turns the mode on (``enable_float64()``: the command line, the app and the tests do; or
``with jax.enable_x64(True):`` around the calls), and every float64 run checks it first
(``run_dtype``: make_hyper, the roll-outs, flows, sweeps and basins through
dynamics.rollout.cast_inputs, the anatomy), raising Float64Disabled, with the call that
fixes it, instead of computing in float32.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


class Float64Disabled(RuntimeError):
    """A float64 run was asked for while JAX's 64-bit mode is off."""


def enable_float64() -> None:
    """Turn on JAX's 64-bit mode for this process (float32 runs are unaffected)."""
    jax.config.update("jax_enable_x64", True)


def float64_enabled() -> bool:
    """Whether JAX's 64-bit mode is on (in this thread)."""
    return bool(jax.config.jax_enable_x64)


def run_dtype(dtype: str) -> jnp.dtype:
    """The JAX dtype of a run in ``dtype``; Float64Disabled for float64 while JAX's
    64-bit mode is off."""
    if dtype == "float64" and not float64_enabled():
        raise Float64Disabled("float64 needs JAX's 64-bit mode: call dynamics.enable_float64() first "
                              "(or use dtype='float32')")
    return jnp.dtype(dtype)
