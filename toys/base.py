"""The `Toy` record: a 2-D objective with its formula, domain, start and minima.

Every toy's value is written in jax.numpy as ``value(w, p)`` where ``w`` has shape
(..., 2) and ``p`` is a dict of scalar parameters.  Parameters travel as arrays, so
changing one (a slider) never recompiles a jitted roll-out.  Gradients come from
``jax.grad``.  Minimisers are written down to a few digits and polished by Newton's
method in float64 when asked for (``Toy.minima``, under JAX's 64-bit mode whatever the
process's setting), so that the listed points have a zero gradient to machine precision.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

Params = Mapping[str, float]


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a cache key
class Toy:
    """A 2-D objective L(w; p).

    name: registry key.  title: human name.  latex: formula as a function of p.
    value: L(w, p) in jax.numpy, w of shape (..., 2).  defaults: parameter values.
    domain: ((xmin, xmax), (ymin, ymax)) for plots.  start: default w_0.
    approx_minima: p -> list of approximate minimisers, polished by ``minima``;
    ``None`` means the toy has no minimiser (rates are undefined).
    min_values: p -> the listed value L(w*) for each minimiser, or None to skip.
    valley: True when the minimisers form a curve (the listed points are its
    minimum-norm points); set_residual(w, p) is then zero exactly on that set.
    eigenvalues: p -> the Hessian eigenvalues when L is a quadratic (None otherwise):
    closed-form rates exist there, and linear and cautious steps are positively
    homogeneous about the minimiser (dynamics.rates).
    """

    name: str
    title: str
    latex: Callable[[Params], str]
    value: Callable[[jax.Array, Params], jax.Array]
    defaults: Mapping[str, float]
    domain: tuple[tuple[float, float], tuple[float, float]]
    start: tuple[float, float]
    approx_minima: Callable[[Params], list[tuple[float, float]]] | None
    min_values: Callable[[Params], list[float]] | None = None
    param_help: Mapping[str, str] = dataclasses.field(default_factory=dict)
    valley: bool = False
    set_residual: Callable[[jax.Array, Params], jax.Array] | None = None
    note: str = ""
    eigenvalues: Callable[[Params], tuple[float, ...]] | None = None

    def params(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """Defaults updated by ``overrides``; unknown keys raise ValueError."""
        p = dict(self.defaults)
        for key, val in (overrides or {}).items():
            if key not in p:
                allowed = ", ".join(sorted(p)) or "none"
                raise ValueError(f"toy {self.name!r} has no parameter {key!r} (allowed: {allowed})")
            p[key] = float(val)
        return p

    def grad(self, w: jax.Array, p: Params) -> jax.Array:
        """g = grad_w L(w; p) by jax.grad (w of shape (2,))."""
        return jax.grad(self.value)(w, p)

    def has_minima(self) -> bool:
        return self.approx_minima is not None

    def minima(self, p: Params | None = None) -> np.ndarray:
        """Minimisers as an (k, 2) float64 array, Newton-polished; shape (0, 2) if none."""
        p = self.params(p)
        if self.approx_minima is None:
            return np.zeros((0, 2))
        with jax.enable_x64(True):
            pj = {k: jnp.asarray(v, jnp.float64) for k, v in p.items()}
            pts = jnp.asarray(self.approx_minima(p), jnp.float64).reshape(-1, 2)
            return np.asarray(_newton_polish(self.value, pts, pj, self.valley), dtype=np.float64)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _newton_polish(value, x, p, valley: bool, iters: int = 8) -> jax.Array:
    """Refine stationary points x (shape (k, 2)) by ``iters`` Newton steps; valley
    points (singular Hessian) use the pseudo-inverse, which keeps the step on the
    set's normal.  Jit-compiled once per toy (the value function is static)."""
    g = jax.grad(value)
    h = jax.hessian(value)

    def newton(_, xi):
        hx = h(xi, p)
        return xi - (jnp.linalg.pinv(hx) @ g(xi, p) if valley else _solve_2x2(hx, g(xi, p)))

    return jax.vmap(lambda xi: jax.lax.fori_loop(0, iters, newton, xi))(x)


def _solve_2x2(a: jax.Array, b: jax.Array) -> jax.Array:
    """a^-1 b for a 2 x 2 matrix ``a`` by Cramer's rule: a handful of operations to trace,
    where jnp.linalg.solve's pivoted LU takes about a second to trace and lower in every
    new process (the persistent compilation cache keeps compiled programs, not traces)."""
    det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    return jnp.stack([a[1, 1] * b[0] - a[0, 1] * b[1], a[0, 0] * b[1] - a[1, 0] * b[0]]) / det
