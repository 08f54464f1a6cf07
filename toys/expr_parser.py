"""The tokenizer and recursive-descent parser of typed objectives (toys.expr): text to
a checked syntax tree of ``Node`` s, with constant folding in float64.

Nothing in the text is handed to Python (no eval, exec, compile or ast).  The grammar,
loosest binding first:

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
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

MAX_LENGTH = 500
MAX_DEPTH = 50
MAX_LITERAL = 1e15
MAX_EXPONENT = 100

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
# operator: (jax.numpy function, numpy function for constant folding)
BINARY = {"+": (jnp.add, np.add), "-": (jnp.subtract, np.subtract), "*": (jnp.multiply, np.multiply),
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
            value = constant_value(exponent)
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


def constant_value(node: Node) -> float | None:
    """The float64 value of a constant sub-expression (None if it uses a variable);
    ExprError if a constant sub-expression is not finite."""
    if node.kind == "num":
        return node.value
    if node.kind == "const":
        return CONSTANTS[node.name]
    if node.kind == "var":
        return None
    values = [constant_value(a) for a in node.args]
    if any(v is None for v in values):
        return None
    with np.errstate(all="ignore"):
        if node.kind == "neg":
            out = -values[0]
        elif node.kind == "bin":
            out = BINARY[node.name][1](np.float64(values[0]), np.float64(values[1]))
        elif node.kind == "pow":
            out = np.power(np.float64(values[0]), np.float64(values[1]))
        else:
            out = FUNCTIONS[node.name][1](*(np.float64(v) for v in values))
    if not np.isfinite(out):
        raise ExprError("this constant sub-expression is not a finite number (overflow, division by zero or "
                        "outside the function's domain)", node.pos)
    return float(out)


def parse_tree(text: str) -> Node:
    """The syntax tree of ``text`` (module docstring); ExprError on any problem."""
    if not isinstance(text, str):
        raise ExprError(f"the expression must be a string, got {type(text).__name__}", 0)
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is longer than {MAX_LENGTH} characters ({len(text)})", MAX_LENGTH)
    if not text.strip(_SPACE):
        raise ExprError("the expression is empty", 0)
    return _Parser(text).parse()
