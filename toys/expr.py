"""A typed objective such as ``(1-x)^2 + 100*(y-x^2)^2`` turned into a Toy, safely.

The text is read by the tokenizer and recursive-descent parser of toys.expr_parser
(grammar, allowed names and limits in its docstring; nothing is handed to Python) into
a checked syntax tree.  Here that tree is compiled into a jax.numpy function by walking
it once at trace time; constant sub-expressions are folded in float64; an integer
constant exponent uses ``x ** n`` (lax.integer_pow, as the built-in toys do), any other
exponent jnp.power.  ``to_latex`` writes the tree as LaTeX, ``parse_expression`` does
all three, and ``expression_toy`` wraps the result as a toys.Toy (gradient by jax.grad).
The parser's error type and limits are re-exported here.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

from toys.base import Toy
from toys.expr_parser import (BINARY, FUNCTIONS, MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, MAX_LITERAL, VARIABLES,
                              ExprError, Node, constant_value, parse_tree)

__all__ = ["DEFAULT_DOMAIN", "MAX_DEPTH", "MAX_EXPONENT", "MAX_LENGTH", "MAX_LITERAL", "ExprError", "Expression",
           "expression_toy", "parse_expression", "to_latex"]

DEFAULT_DOMAIN = ((-2.0, 2.0), (-2.0, 2.0))


def _compile(node: Node) -> Callable:
    """A function (x, y) -> jax array (or a float for a constant) evaluating ``node``."""
    value = constant_value(node)
    if value is not None:
        return lambda x, y: value
    if node.kind == "var":
        index = VARIABLES[node.name]
        return (lambda x, y: x) if index == 0 else (lambda x, y: y)
    parts = [_compile(a) for a in node.args]
    if node.kind == "neg":
        f = parts[0]
        return lambda x, y: -f(x, y)
    if node.kind == "bin":
        op, (f, g) = BINARY[node.name][0], parts
        return lambda x, y: op(f(x, y), g(x, y))
    if node.kind == "pow":
        f, g = parts
        exponent = constant_value(node.args[1])
        if exponent is not None and float(exponent).is_integer():
            n = int(exponent)
            return lambda x, y: f(x, y) ** n
        return lambda x, y: jnp.power(f(x, y), g(x, y))
    fn = FUNCTIONS[node.name][0]
    return lambda x, y: fn(*(h(x, y) for h in parts))


_PRECEDENCE = {"num": 4, "var": 4, "const": 4, "call": 4, "pow": 3, "neg": 2, "*": 1, "/": 1, "+": 0, "-": 0}


def _prec(node: Node) -> int:
    return _PRECEDENCE[node.name] if node.kind == "bin" else _PRECEDENCE[node.kind]


def _number_latex(text: str) -> str:
    r"""A literal as typed, with 2e-3 written 2 \cdot 10^{-3}."""
    mantissa, _, exponent = text.lower().partition("e")
    return rf"{mantissa} \cdot 10^{{{int(exponent)}}}" if exponent else text


def to_latex(node: Node) -> str:
    """The LaTeX form of a parsed expression (as typed: constants are not folded)."""
    paren = lambda s: rf"\left({s}\right)"
    if node.kind == "num":
        return _number_latex(node.name)
    if node.kind == "var":
        return {"w1": "w_1", "w2": "w_2"}.get(node.name, node.name)
    if node.kind == "const":
        return r"\pi" if node.name == "pi" else "e"
    if node.kind == "neg":
        inner = to_latex(node.args[0])
        return "-" + (paren(inner) if _prec(node.args[0]) <= 1 else inner)
    if node.kind == "pow":
        base, exponent = node.args
        text = to_latex(base)
        return f"{paren(text) if _prec(base) <= 3 else text}^{{{to_latex(exponent)}}}"
    if node.kind == "call":
        args = [to_latex(a) for a in node.args]
        if node.name == "sqrt":
            return rf"\sqrt{{{args[0]}}}"
        if node.name == "abs":
            return rf"\left|{args[0]}\right|"
        return FUNCTIONS[node.name][3] + paren(", ".join(args))
    left, right = node.args
    if node.name == "/":
        return rf"\frac{{{to_latex(left)}}}{{{to_latex(right)}}}"
    level = _PRECEDENCE[node.name]
    a, b = to_latex(left), to_latex(right)
    a = paren(a) if _prec(left) < level else a
    # the right operand of - and of * needs parentheses at its own level too: a - (b + c), a (b / c) is fine
    b = paren(b) if _prec(right) < level or (node.name == "-" and _prec(right) == level) else b
    if node.name == "*":
        return rf"{a} \cdot {b}"
    if node.name == "+" and b.startswith("-"):
        return f"{a} + {paren(b)}"
    return f"{a} {node.name} {b}"


class Expression(NamedTuple):
    """A parsed, checked expression: the text, its tree, its LaTeX form, and
    ``value(w, p)`` in jax.numpy for w of shape (..., 2) (p is ignored)."""

    text: str
    tree: Node
    latex: str
    value: Callable


def parse_expression(text: str) -> Expression:
    """Parse and check ``text`` (module docstring); ExprError on any problem."""
    tree = parse_tree(text)
    fn = _compile(tree)

    def value(w, p=None):
        w = jnp.asarray(w)
        return jnp.broadcast_to(jnp.asarray(fn(w[..., 0], w[..., 1]), w.dtype), w.shape[:-1])

    return Expression(text=text, tree=tree, latex=to_latex(tree), value=value)


def _default_start(domain) -> tuple[float, float]:
    """An eighth of the way in from the domain's top-left corner."""
    (x0, x1), (y0, y1) = domain
    return (x0 + (x1 - x0) / 8, y1 - (y1 - y0) / 8)


@functools.lru_cache(maxsize=128)
def expression_toy(text: str, domain=DEFAULT_DOMAIN, start=None, minima: tuple | None = None,
                   name: str = "custom") -> Toy:
    """A Toy for the typed objective ``text``: gradient by jax.grad, LaTeX from the
    parse, plot ``domain`` ((xmin, xmax), (ymin, ymax)), ``start`` (default: an eighth
    in from the domain's top-left corner) and ``minima`` (approximate minimisers as a
    tuple of (x, y) pairs, polished by Newton's method like the built-in toys; None:
    no known minimiser, so rates and basins are undefined).  Cached: the same
    arguments give the same Toy object, so jitted roll-outs are reused."""
    expr = parse_expression(text)
    (x0, x1), (y0, y1) = domain
    if not (np.isfinite([x0, x1, y0, y1]).all() and x0 < x1 and y0 < y1):
        raise ValueError(f"domain must be ((xmin, xmax), (ymin, ymax)) with min < max; got {domain!r}")
    start = _default_start(domain) if start is None else tuple(float(v) for v in start)
    if len(start) != 2 or not np.isfinite(start).all():
        raise ValueError(f"start must be two finite numbers; got {start!r}")
    points = None if minima is None else [tuple(float(v) for v in m) for m in minima]
    toy = Toy(name=name, title=f"Custom: {text.strip()}", latex=lambda p: f"L = {expr.latex}", value=expr.value,
              defaults={}, domain=((float(x0), float(x1)), (float(y0), float(y1))), start=start,
              approx_minima=None if points is None else (lambda p: points),
              note="typed by the user; parsed by toys.expr (no Python evaluation)")
    if points is not None:
        polished = toy.minima()
        if not (np.isfinite(polished).all() and np.allclose(polished, points, atol=1e-3, rtol=1e-3)):
            raise ValueError(f"the given minimisers {points} are not near stationary points of {text!r} "
                             f"(Newton's method moved them to {polished.tolist()})")
    return toy
