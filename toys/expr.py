"""A typed objective such as ``(1-x)^2 + 100*(y-x^2)^2`` turned into a Toy, safely.

The text is read by a tokenizer and a recursive-descent parser written here; nothing
in it is handed to Python (no eval, exec, compile or ast).  The grammar, loosest
binding first:

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom (("^" | "**") unary)?          right-associative: x^y^z = x^(y^z)
    atom   := number | name | function "(" expr ("," expr)* ")" | "(" expr ")"

so -x^2 = -(x^2) and 2^-1 = 0.5.  Allowed names: the variables ``x``, ``y`` (aliases
``w1``, ``w2``), the constants ``pi`` and ``e``, and the functions sin, cos, tan, exp,
log, sqrt, abs, tanh, sinh, cosh, arctan (alias atan), and min, max of two arguments.
Numbers are ASCII decimals with an optional exponent (1.5, .5, 2e-3); there is no
implicit multiplication (write 2*x).

Limits, each with an ExprError that gives the position (0-based) of the problem: at
most MAX_LENGTH characters, nesting depth MAX_DEPTH (parentheses, signs, powers and
function calls each add a level), literals of magnitude at most MAX_LITERAL, constant
exponents of magnitude at most MAX_EXPONENT (so 9^9^9 is refused rather than
computed), and no constant sub-expression that is not finite (1/0, log(0), sqrt(-1)).

The parsed tree is compiled into a jax.numpy function by walking it once at trace
time; constant sub-expressions are folded in float64; an integer constant exponent
uses ``x ** n`` (lax.integer_pow, as the built-in toys do), any other exponent
jnp.power.  ``expression_toy`` wraps it as a toys.Toy (gradient by jax.grad).
"""
from __future__ import annotations

import functools
import math
import re
from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

from toys.base import Toy

MAX_LENGTH = 500
MAX_DEPTH = 50
MAX_LITERAL = 1e15
MAX_EXPONENT = 100
DEFAULT_DOMAIN = ((-2.0, 2.0), (-2.0, 2.0))

VARIABLES = {"x": 0, "y": 1, "w1": 0, "w2": 1}
CONSTANTS = {"pi": math.pi, "e": math.e}
# name: (jax.numpy function, numpy function for constant folding, arity, LaTeX command)
FUNCTIONS = {
    "sin": (jnp.sin, np.sin, 1, r"\sin"), "cos": (jnp.cos, np.cos, 1, r"\cos"), "tan": (jnp.tan, np.tan, 1, r"\tan"),
    "exp": (jnp.exp, np.exp, 1, r"\exp"), "log": (jnp.log, np.log, 1, r"\log"), "sqrt": (jnp.sqrt, np.sqrt, 1, None),
    "abs": (jnp.abs, np.abs, 1, None), "tanh": (jnp.tanh, np.tanh, 1, r"\tanh"),
    "sinh": (jnp.sinh, np.sinh, 1, r"\sinh"), "cosh": (jnp.cosh, np.cosh, 1, r"\cosh"),
    "arctan": (jnp.arctan, np.arctan, 1, r"\arctan"), "atan": (jnp.arctan, np.arctan, 1, r"\arctan"),
    "min": (jnp.minimum, np.minimum, 2, r"\min"), "max": (jnp.maximum, np.maximum, 2, r"\max"),
}
_BINARY = {"+": (jnp.add, np.add), "-": (jnp.subtract, np.subtract), "*": (jnp.multiply, np.multiply),
           "/": (jnp.divide, np.divide)}
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = " \t\r\n"
_MAX_NUMBER_CHARS = 40


class ExprError(ValueError):
    """A rejected expression: ``message`` and the 0-based ``position`` of the problem."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


class _Token(NamedTuple):
    kind: str       # "num", "name", "op", "bad", "end"
    text: str
    pos: int


class Node(NamedTuple):
    """A parsed sub-expression.  kind: num (value), var (name), const (name), neg
    (args[0]), bin (op, args = (left, right)), pow (args = (base, exponent)), call
    (name, args)."""

    kind: str
    pos: int
    name: str = ""
    value: float = 0.0
    args: tuple = ()


def _tokenize(text: str) -> list[_Token]:
    """Tokens of ``text``; an unexpected character becomes a final ``bad`` token."""
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        if text.startswith("**", i):
            tokens.append(_Token("op", "^", i))
            i += 2
            continue
        if ch in "+-*/^(),":
            tokens.append(_Token("op", ch, i))
            i += 1
            continue
        match = _NUMBER.match(text, i) or _NAME.match(text, i)
        if match is None:
            tokens.append(_Token("bad", ch, i))
            return tokens
        kind = "num" if match.re is _NUMBER else "name"
        tokens.append(_Token(kind, match.group(), i))
        i = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _describe(tok: _Token) -> str:
    return "the end of the expression" if tok.kind == "end" else repr(tok.text)


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind == "bad":
            raise ExprError(f"unexpected character {tok.text!r}: allowed are digits, letters, spaces and "
                            "+ - * / ^ ** ( ) ,", tok.pos)
        return tok

    def take(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, op: str, context: str) -> _Token:
        tok = self.take()
        if tok.text != op or tok.kind != "op":
            raise ExprError(f"expected {op!r} {context}, found {_describe(tok)}", tok.pos)
        return tok

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind in ("num", "name") or tok.text == "(":
                raise ExprError(f"missing operator before {tok.text!r} (write 2*x, not 2x)", tok.pos)
            raise ExprError(f"unexpected {_describe(tok)}", tok.pos)
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = self.take()
            node = Node("bin", op.pos, op.text, args=(node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek().text in ("*", "/") and self.peek().kind == "op":
            op = self.take()
            node = Node("bin", op.pos, op.text, args=(node, self.unary()))
        return node

    def unary(self) -> Node:
        tok = self.peek()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"the expression nests deeper than {MAX_DEPTH} levels", tok.pos)
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.take()
            operand = self.unary()
            node = operand if tok.text == "+" else Node("neg", tok.pos, args=(operand,))
        else:
            node = self.power()
        self.depth -= 1
        return node

    def power(self) -> Node:
        base = self.atom()
        tok = self.peek()
        if tok.kind == "op" and tok.text == "^":
            self.take()
            exponent = self.unary()
            value = _constant(exponent)
            if value is not None and abs(value) > MAX_EXPONENT:
                raise ExprError(f"constant exponent {value:g} is too large (allowed: |exponent| <= {MAX_EXPONENT})",
                                exponent.pos)
            return Node("pow", tok.pos, args=(base, exponent))
        return base

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return self.number(tok)
        if tok.kind == "name":
            return self.name(tok)
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            self.expect(")", f"to close the '(' at position {tok.pos}")
            return node
        raise ExprError(f"expected a number, a variable, a function or '(', found {_describe(tok)}", tok.pos)

    def number(self, tok: _Token) -> Node:
        if len(tok.text) > _MAX_NUMBER_CHARS:
            raise ExprError(f"number literal longer than {_MAX_NUMBER_CHARS} characters", tok.pos)
        value = float(tok.text)
        if not abs(value) <= MAX_LITERAL:
            raise ExprError(f"number {tok.text} is too large (allowed: up to {MAX_LITERAL:g})", tok.pos)
        return Node("num", tok.pos, tok.text, value)

    def name(self, tok: _Token) -> Node:
        name = tok.text
        follows_paren = self.peek().kind == "op" and self.peek().text == "("
        if name in FUNCTIONS:
            if not follows_paren:
                raise ExprError(f"function {name} needs its argument in parentheses: {name}(...)", tok.pos)
            return self.call(tok)
        if name in VARIABLES or name in CONSTANTS:
            if follows_paren:
                raise ExprError(f"{name} is not a function (write {name}*(...) to multiply)", tok.pos)
            return Node("var" if name in VARIABLES else "const", tok.pos, name)
        allowed = ", ".join([*VARIABLES, *CONSTANTS, *FUNCTIONS])
        raise ExprError(f"unknown name {name!r} (allowed: {allowed})", tok.pos)

    def call(self, tok: _Token) -> Node:
        open_paren = self.expect("(", f"after {tok.text}")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"the expression nests deeper than {MAX_DEPTH} levels", tok.pos)
        args = [self.expr()]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            args.append(self.expr())
        self.expect(")", f"to close {tok.text}( at position {open_paren.pos}")
        self.depth -= 1
        arity = FUNCTIONS[tok.text][2]
        if len(args) != arity:
            raise ExprError(f"{tok.text} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}", tok.pos)
        return Node("call", tok.pos, tok.text, args=tuple(args))


def _constant(node: Node) -> float | None:
    """The float64 value of a constant sub-expression (None if it uses a variable);
    ExprError if a constant sub-expression is not finite."""
    if node.kind == "num":
        return node.value
    if node.kind == "const":
        return CONSTANTS[node.name]
    if node.kind == "var":
        return None
    values = [_constant(a) for a in node.args]
    if any(v is None for v in values):
        return None
    with np.errstate(all="ignore"):
        if node.kind == "neg":
            out = -values[0]
        elif node.kind == "bin":
            out = _BINARY[node.name][1](np.float64(values[0]), np.float64(values[1]))
        elif node.kind == "pow":
            out = np.power(np.float64(values[0]), np.float64(values[1]))
        else:
            out = FUNCTIONS[node.name][1](*(np.float64(v) for v in values))
    if not np.isfinite(out):
        raise ExprError("this constant sub-expression is not a finite number (overflow, division by zero or "
                        "outside the function's domain)", node.pos)
    return float(out)


def _compile(node: Node) -> Callable:
    """A function (x, y) -> jax array (or a float for a constant) evaluating ``node``."""
    value = _constant(node)
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
        op, (f, g) = _BINARY[node.name][0], parts
        return lambda x, y: op(f(x, y), g(x, y))
    if node.kind == "pow":
        f, g = parts
        exponent = _constant(node.args[1])
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
    if not isinstance(text, str):
        raise ExprError(f"the expression must be a string, got {type(text).__name__}", 0)
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is longer than {MAX_LENGTH} characters ({len(text)})", MAX_LENGTH)
    if not text.strip(_SPACE):
        raise ExprError("the expression is empty", 0)
    tree = _Parser(text).parse()
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
