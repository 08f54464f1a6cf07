"""The typed-objective parser (toys.expr; issue 7): hostile inputs are rejected with a
message and a position, fuzzed inputs raise nothing but ExprError and never reach
Python's evaluator, the grammar's precedence and limits hold, and every built-in toy
typed as text gives the built-in values and gradients."""
import builtins
import json
import math
import re
from pathlib import Path
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from dynamics import Setup, make_hyper, rollout
from toys import TOYS, get_toy
from toys.expr import MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, ExprError, expression_toy, parse_expression

SOURCE = Path(__file__).resolve().parents[1] / "toys" / "expr.py"

# every built-in toy, typed (default parameters)
TEXT_FORMS = {
    "quadratic": "0.5*(2*x^2 + 8*y^2)",
    "quad-paper": "0.5*(1*x^2 + 0.2*y^2)",
    "quad-repo": "0.5*(2*x^2 + 0.2*y^2)",
    "quad-k4": "0.5*(2*x^2 + 8*y^2)",
    "rosenbrock": "(1 - x)^2 + 100*(y - x^2)^2",
    "beale": "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
    "himmelblau": "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    "rastrigin": "20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)",
    "booth": "(x + 2*y - 7)^2 + (2*x + y - 5)^2",
    "camel": "(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2",
    "saddle": "x**2 - y**2",
    "goldstein-price": ("(1 + (x + y + 1)^2*(19 - 14*x + 3*x^2 - 14*y + 6*x*y + 3*y^2))"
                        "*(30 + (2*x - 3*y)^2*(18 - 32*x + 12*x^2 + 48*y - 36*x*y + 27*y^2))"),
    "valley-line": "(w1 + w2 - 2)^2",
    "valley-hyperbola": "(w1*w2 - 1)^2",
    "two-wells": "-exp(-((x + 1)^2 + y^2)/0.08) - exp(-((x - 1)^2 + y^2)/1.28) + 0.1*(x^2 + y^2)",
}

HOSTILE = [
    "__import__('os')", "__import__('os').system('ls')", "x.__class__", "x.__class__.__mro__",
    "().__class__.__bases__[0].__subclasses__()", "[].__class__", "lambda: 0", "(lambda x: x)(1)",
    "exec('import os')", "eval('1')", "open('/etc/passwd')", "compile('1', 'f', 'eval')", "globals()", "os.system",
    "x if y else 1", "x; import os", "x\nimport os", "x # comment", "'abc'", '"x"', "x[0]", "{}", "x = 1", "x == y",
    "x @ y", "x % 2", "x & y", "not x", "x < y", "9**9**9", "2^1000", "x^(10^3)", "10**-200**2",
    "(" * 10000 + "x" + ")" * 10000, "x+" * 500_000 + "x", "-" * 60 + "x", "sin(" * 60 + "x" + ")" * 60,
    "1e999", "1" * 60, "ｘ + 1", "x²", "x ** ２", "\u0078\u0301", "x\u200b+y", "𝑥 + 1", "x\x00", "é",
    "", "   ", "x +", "(x", "x)", "x,y", "sin", "sin()", "min(x)", "max(x, y, 1)", "x(1)", "pi(2)", "2x", "x y",
    "1/0", "log(0)", "sqrt(-1) + x", "exp(1000) * x", "1.2.3", "..5", "1e", "e1e",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_rejected_with_a_message(text):
    with pytest.raises(ExprError) as info:
        parse_expression(text)
    err = info.value
    assert isinstance(err.position, int) and 0 <= err.position <= max(len(text), MAX_LENGTH)
    assert err.message and f"at position {err.position}" in str(err)


def test_messages_name_the_problem():
    cases = {
        "__import__('os')": ("unknown name '__import__'", 0),
        "x.__class__": ("unexpected character '.'", 1),
        "9**9**9": ("constant exponent 3.8742e+08 is too large", 4),
        "2x": ("missing operator before 'x'", 1),
        "sin x": ("function sin needs its argument in parentheses", 0),
        "min(x)": ("min takes 2 arguments, got 1", 0),
        "(x": ("expected ')' to close the '(' at position 0", 2),
        "1/0": ("constant sub-expression is not a finite number", 1),
        "x" * (MAX_LENGTH + 1): (f"longer than {MAX_LENGTH} characters", MAX_LENGTH),
    }
    for text, (fragment, position) in cases.items():
        with pytest.raises(ExprError) as info:
            parse_expression(text)
        assert fragment in info.value.message and info.value.position == position, str(info.value)


def test_limits_are_where_the_docstring_says():
    parse_expression("(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1))
    with pytest.raises(ExprError, match="nests deeper"):
        parse_expression("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH)
    parse_expression("x+" * ((MAX_LENGTH - 1) // 2) + "x")                 # 499 characters
    parse_expression(f"x^{MAX_EXPONENT}")
    parse_expression(f"x^-{MAX_EXPONENT}")
    with pytest.raises(ExprError, match="exponent"):
        parse_expression(f"x^{MAX_EXPONENT + 1}")
    parse_expression("1e15*x")
    with pytest.raises(ExprError, match="too large"):
        parse_expression("1e16*x")


def _value(text, x, y):
    return float(parse_expression(text).value(jnp.array([x, y])))


def test_precedence_and_associativity():
    assert _value("-x^2", 3.0, 0.0) == -9.0
    assert _value("2^-1", 0.0, 0.0) == 0.5
    assert _value("2^3^2", 0.0, 0.0) == 512.0                # right-associative
    assert _value("x^y^2", 2.0, 3.0) == 512.0
    assert _value("8/4/2", 0.0, 0.0) == 1.0                  # left-associative
    assert _value("1-2-3", 0.0, 0.0) == -4.0
    assert _value("2*3+4*5", 0.0, 0.0) == 26.0
    assert _value("(2+3)*4", 0.0, 0.0) == 20.0
    assert _value("--x", 2.0, 0.0) == 2.0 and _value("+-+x", 2.0, 0.0) == -2.0
    assert _value("w1 - w2 + x*y", 2.0, 5.0) == 7.0
    assert _value("min(x, y) + max(x, y)", 2.0, 5.0) == 7.0
    assert _value("e^1 - exp(1) + pi - 4*atan(1) + arctan(1) - atan(1)", 0.0, 0.0) == pytest.approx(0.0, abs=1e-15)
    x, y = 0.3, -0.7
    text = "sin(x) + cos(y) + tan(x) + exp(y) + log(2+x) + sqrt(3+y) + abs(y) + tanh(x) + sinh(y) + cosh(x)"
    got = _value(text, x, y)
    want = (math.sin(x) + math.cos(y) + math.tan(x) + math.exp(y) + math.log(2 + x) + math.sqrt(3 + y) + abs(y)
            + math.tanh(x) + math.sinh(y) + math.cosh(x))
    assert got == pytest.approx(want, rel=1e-15)


def test_values_broadcast_and_keep_the_dtype():
    expr = parse_expression("x*y + 1")
    w = jnp.ones((3, 4, 2), jnp.float32)
    assert expr.value(w).shape == (3, 4) and expr.value(w).dtype == jnp.float32
    assert parse_expression("3").value(jnp.zeros((5, 2))).shape == (5,)


def test_latex():
    assert parse_expression(TEXT_FORMS["rosenbrock"]).latex == (
        r"\left(1 - x\right)^{2} + 100 \cdot \left(y - x^{2}\right)^{2}")
    assert parse_expression("-x^2/(1+y) - (x - y)").latex == r"\frac{-x^{2}}{1 + y} - \left(x - y\right)"
    assert parse_expression("sqrt(abs(w1)) * sin(pi*w2) + 2e-3").latex == (
        r"\sqrt{\left|w_1\right|} \cdot \sin\left(\pi \cdot w_2\right) + 2 \cdot 10^{-3}")


def test_every_builtin_toy_round_trips_through_text():
    assert set(TEXT_FORMS) == set(TOYS), "write the text form of every built-in toy here"
    rng = np.random.default_rng(0)
    for name, text in TEXT_FORMS.items():
        toy = get_toy(name)
        custom = expression_toy(text, domain=toy.domain)
        p = {k: jnp.asarray(v, jnp.float64) for k, v in toy.defaults.items()}
        (x0, x1), (y0, y1) = toy.domain
        pts = jnp.asarray(np.c_[rng.uniform(x0, x1, 25), rng.uniform(y0, y1, 25)])
        np.testing.assert_allclose(custom.value(pts, {}), toy.value(pts, p), rtol=1e-12, atol=1e-12, err_msg=name)
        g_custom = jax.vmap(lambda w: custom.grad(w, {}))(pts)
        g_builtin = jax.vmap(lambda w: toy.grad(w, p))(pts)
        np.testing.assert_allclose(g_custom, g_builtin, rtol=1e-12, atol=1e-12, err_msg=name)


def test_a_typed_toy_runs_like_the_builtin_one():
    custom = expression_toy(TEXT_FORMS["rosenbrock"], domain=((-2.0, 2.0), (-1.0, 3.0)), minima=((1.0, 1.0),))
    assert custom is expression_toy(TEXT_FORMS["rosenbrock"], domain=((-2.0, 2.0), (-1.0, 3.0)), minima=((1.0, 1.0),))
    np.testing.assert_allclose(custom.minima(), [[1.0, 1.0]], atol=1e-12)
    assert expression_toy("x^2 + y^2").has_minima() is False
    hp = make_hyper(lr=1e-3, beta=0.9)
    a = rollout(Setup("gdm", cautious=True), custom, hp, 500, start=(-1.2, 1.0))
    b = rollout(Setup("gdm", cautious=True), get_toy("rosenbrock"), hp, 500, start=(-1.2, 1.0))
    np.testing.assert_allclose(a.w, b.w, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="not near stationary points"):
        expression_toy("x^2 + y^2", minima=((1.0, 1.0),))
    with pytest.raises(ValueError, match="domain"):
        expression_toy("x", domain=((1.0, 0.0), (0.0, 1.0)))


def test_the_command_line_takes_a_typed_objective(capsys):
    code = main(["run", "--objective", TEXT_FORMS["rosenbrock"], "--start", "-1.2,1", "--lr", "0.001",
                 "--steps", "50", "--json"])
    data = json.loads(capsys.readouterr().out)
    ref = rollout(Setup("gdm"), get_toy("rosenbrock"), make_hyper(lr=0.001), 50, start=(-1.2, 1.0))
    assert code == 0 and data["config"]["objective"] == TEXT_FORMS["rosenbrock"]
    np.testing.assert_allclose(data["iterates"], ref.w, rtol=0, atol=1e-12)
    assert main(["run", "--objective", "__import__('os').system('ls')"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown name '__import__'" in err


# ------------------------------------------------------------------ fuzzing

TOKENS = ["x", "y", "w1", "w2", "pi", "e", "1", "2.5", "1e3", ".5", "+", "-", "*", "/", "^", "**", "(", ")", ",",
          "sin(", "log(", "sqrt(", "min(", "max(", "abs(", " ", "__", ".", "'", "[", "]", "lambda", "import",
          "ｘ", "⁰"]


def _no_python_evaluation():
    """Patches under which any call of eval, exec or compile fails the test."""
    boom = mock.Mock(side_effect=AssertionError("the parser called Python's evaluator"))
    return [mock.patch.object(builtins, name, boom) for name in ("eval", "exec", "compile")]


def _check(text):
    patches = _no_python_evaluation()
    for p in patches:
        p.start()
    try:
        try:
            expr = parse_expression(text)
        except ExprError as err:
            assert isinstance(err.position, int)
            return
    finally:
        for p in patches:
            p.stop()
    with np.errstate(all="ignore"):
        value = expr.value(jnp.array([0.3, -0.7]))
    assert value.shape == () and value.dtype == jnp.float64


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_fuzz_arbitrary_text_raises_only_expr_error(text):
    _check(text)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_fuzz_token_soup_raises_only_expr_error(text):
    _check(text)


def test_the_module_never_hands_text_to_python():
    source = SOURCE.read_text()
    calls = re.findall(r"(?<![\w.])(eval|exec|compile|__import__|getattr|globals|locals|vars)\s*\(", source)
    assert calls == []
    assert re.findall(r"^\s*(?:import|from)\s+ast\b", source, flags=re.M) == []
