"""A toy's value on a grid of points, the data behind contour plots (viz.contour) and
the paper figures' contour grids (figures.compute)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from toys.base import Toy


def toy_grid(toy: Toy, params: dict, n: int = 160, bounds=None):
    """(xs, ys, Z) with Z = L on an n x n grid over ``bounds`` ((x0, x1), (y0, y1);
    default the toy's domain), as NumPy arrays computed in float64 (under JAX's 64-bit
    mode whatever the process's setting)."""
    (x0, x1), (y0, y1) = toy.domain if bounds is None else bounds
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    with jax.enable_x64(True):
        p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        return xs, ys, np.asarray(toy.value(jnp.asarray(grid), p), dtype=np.float64)
