"""2-D objectives (docs/theory.md, Section 6.3): value in jax.numpy, gradient by jax.grad,
LaTeX formula, domain, default start, and known minimisers; toys.grid evaluates a toy on a
grid of points (contour data)."""
from toys.base import Toy
from toys.catalog import TOYS, get_toy, quadratic_toy

__all__ = ["Toy", "TOYS", "get_toy", "quadratic_toy"]
