"""The toy objectives (docs/theory.md, Section 6.3).

Quadratic conventions: L(w) = 1/2 (w - c)^T R diag(h1, h2) R^T (w - c), with R the
rotation by ``angle`` (radians) and h1, h2 the Hessian eigenvalues.  The paper's
presets (arXiv 2411.16085, Figures 2-3) are quadratics with other defaults.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from toys.base import Toy


def _fmt(x: float) -> str:
    """A number for LaTeX: 0.1, 2, 1.5 \\times 10^{-5} (never Python's "1.5e-05")."""
    text = f"{x:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else (f"-{power}" if mantissa == "-1" else f"{mantissa} \\times {power}")


def _terms(terms) -> str:
    """A sum of (coefficient, LaTeX term): a coefficient 1 is left out, a negative one
    is subtracted (1 w_1^2 - 0.5 w_2^2 -> w_1^2 - 0.5\\,w_2^2)."""
    out = ""
    for i, (c, term) in enumerate(terms):
        sign = "-" if c < 0 else ("+" if i else "")
        coef = "" if abs(c) == 1 else f"{_fmt(abs(c))}\\,"
        out += f"{' ' if i else ''}{sign}{' ' if i else ''}{coef}{term}"
    return out


def _quadratic_value(w, p):
    c, s = jnp.cos(p["angle"]), jnp.sin(p["angle"])
    dx, dy = w[..., 0] - p["cx"], w[..., 1] - p["cy"]
    z1 = c * dx + s * dy
    z2 = -s * dx + c * dy
    return 0.5 * (p["h1"] * z1**2 + p["h2"] * z2**2)


def _quadratic_latex(p) -> str:
    a, b = p["h1"] / 2, p["h2"] / 2
    x = "w_1" if p["cx"] == 0 else f"(w_1 - {_fmt(p['cx'])})"
    y = "w_2" if p["cy"] == 0 else f"(w_2 - {_fmt(p['cy'])})"
    if p["angle"] == 0:
        return f"L(w) = {_terms([(a, f'{x}^2'), (b, f'{y}^2')])}"
    return (f"L(w) = \\tfrac12 (w-c)^\\top R_{{{_fmt(p['angle'])}}} "
            f"\\mathrm{{diag}}({_fmt(p['h1'])}, {_fmt(p['h2'])}) R^\\top (w-c)")


_QUAD_HELP = {
    "h1": "Hessian eigenvalue along the first rotated axis",
    "h2": "Hessian eigenvalue along the second rotated axis (kappa = h2/h1)",
    "angle": "rotation of the eigenbasis, radians",
    "cx": "centre (minimiser), first coordinate",
    "cy": "centre (minimiser), second coordinate",
}


def quadratic_toy(name: str, title: str, h1: float, h2: float, start, domain, note="") -> Toy:
    """A quadratic with Hessian eigenvalues (h1, h2); ``--toy-param kappa=K`` sets h2 = K h1."""
    return Toy(
        name=name, title=title, latex=_quadratic_latex, value=_quadratic_value,
        defaults={"h1": h1, "h2": h2, "angle": 0.0, "cx": 0.0, "cy": 0.0},
        domain=domain, start=start,
        approx_minima=lambda p: [(p["cx"], p["cy"])], min_values=lambda p: [0.0],
        param_help=_QUAD_HELP, note=note, eigenvalues=lambda p: (p["h1"], p["h2"]),
    )


def _rosenbrock(w, p):
    x, y = w[..., 0], w[..., 1]
    return (p["a"] - x) ** 2 + p["b"] * (y - x**2) ** 2


def _beale(w, p):
    x, y = w[..., 0], w[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(w, p):
    x, y = w[..., 0], w[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _rastrigin(w, p):
    return p["A"] * 2 + jnp.sum(w**2 - p["A"] * jnp.cos(2 * jnp.pi * w), axis=-1)


def _booth(w, p):
    x, y = w[..., 0], w[..., 1]
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _camel(w, p):
    x, y = w[..., 0], w[..., 1]
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def _saddle(w, p):
    return w[..., 0] ** 2 - w[..., 1] ** 2


def _goldstein_price(w, p):
    x, y = w[..., 0], w[..., 1]
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


def _two_wells(w, p):
    sharp = jnp.sum((w - jnp.array([-1.0, 0.0])) ** 2, axis=-1)
    flat = jnp.sum((w - jnp.array([1.0, 0.0])) ** 2, axis=-1)
    return (-jnp.exp(-sharp / (2 * p["s1"] ** 2)) - jnp.exp(-flat / (2 * p["s2"] ** 2))
            + 0.5 * p["c"] * jnp.sum(w * w, axis=-1))


def _two_wells_minima(p):
    """The two minimisers of _two_wells, on the axis w2 = 0 (symmetric in w2): Newton's
    method on dL/dw1 along it from the wells' centres -1 and 1."""
    d1 = jax.grad(lambda x: _two_wells(jnp.stack([x, jnp.zeros_like(x)]), p))
    d2 = jax.grad(d1)
    out = []
    for x in (-1.0, 1.0):
        for _ in range(30):
            x = float(x - d1(jnp.asarray(x)) / d2(jnp.asarray(x)))
        out.append((x, 0.0))
    return out


def _valley_line(w, p):
    return (w[..., 0] + w[..., 1] - p["s"]) ** 2


def _valley_hyperbola(w, p):
    return (w[..., 0] * w[..., 1] - p["s"]) ** 2


TOYS: dict[str, Toy] = {}


def _register(toy: Toy) -> None:
    TOYS[toy.name] = toy


_register(quadratic_toy("quadratic", "Quadratic (w₁² + 4w₂², the paper's Figure 3)", 2.0, 8.0,
                        start=(-2.0, 1.5), domain=((-2.5, 2.5), (-2.0, 2.0))))
_register(quadratic_toy("quad-paper", "Paper Figure 2: 0.5w₁² + 0.1w₂²", 1.0, 0.2,
                        start=(1.0, 1.0), domain=((-1.25, 1.25), (-1.25, 1.25)),
                        note="arXiv 2411.16085, Figure 2 (text)"))
_register(quadratic_toy("quad-repo", "Paper code repository: x₁² + 0.1x₂²", 2.0, 0.2,
                        start=(-5.0, 5.0), domain=((-6.0, 6.0), (-6.0, 6.0)),
                        note="the toy image in the paper's code repository (lr 0.01, beta 0.99)"))
_register(quadratic_toy("quad-k4", "w₁² + 4w₂² (κ = 4)", 2.0, 8.0,
                        start=(-2.0, 1.5), domain=((-2.5, 2.5), (-2.0, 2.0)),
                        note="arXiv 2411.16085, Figure 3 rate maps"))
_register(Toy(
    name="rosenbrock", title="Rosenbrock",
    latex=lambda p: f"L = ({_fmt(p['a'])} - x)^2 + {_fmt(p['b'])}\\,(y - x^2)^2",
    value=_rosenbrock, defaults={"a": 1.0, "b": 100.0},
    domain=((-2.0, 2.0), (-1.0, 3.0)), start=(-1.2, 1.0),
    approx_minima=lambda p: [(p["a"], p["a"] ** 2)], min_values=lambda p: [0.0],
    param_help={"a": "minimiser is (a, a^2)", "b": "valley steepness"},
))
_register(Toy(
    name="beale", title="Beale",
    latex=lambda p: ("L = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"),
    value=_beale, defaults={}, domain=((-4.5, 4.5), (-4.5, 4.5)), start=(1.0, 1.4),
    approx_minima=lambda p: [(3.0, 0.5)], min_values=lambda p: [0.0],
))
_register(Toy(
    name="himmelblau", title="Himmelblau (four minima)",
    latex=lambda p: "L = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    value=_himmelblau, defaults={}, domain=((-5.0, 5.0), (-5.0, 5.0)), start=(0.0, 0.0),
    approx_minima=lambda p: [(3.0, 2.0), (-2.805118, 3.131312),
                             (-3.779310, -3.283186), (3.584428, -1.848127)],
    min_values=lambda p: [0.0, 0.0, 0.0, 0.0],
))
_register(Toy(
    name="rastrigin", title="Rastrigin",
    latex=lambda p: f"L = {_fmt(2 * p['A'])} + \\sum_i (w_i^2 - {_fmt(p['A'])}\\cos 2\\pi w_i)",
    value=_rastrigin, defaults={"A": 10.0}, domain=((-5.12, 5.12), (-5.12, 5.12)),
    start=(3.3, 2.2), approx_minima=lambda p: [(0.0, 0.0)], min_values=lambda p: [0.0],
    param_help={"A": "amplitude of the cosine ripples"},
    note="many local minima; only the global one is listed",
))
_register(Toy(
    name="booth", title="Booth",
    latex=lambda p: "L = (x + 2y - 7)^2 + (2x + y - 5)^2",
    value=_booth, defaults={}, domain=((-10.0, 10.0), (-10.0, 10.0)), start=(-8.0, 8.0),
    approx_minima=lambda p: [(1.0, 3.0)], min_values=lambda p: [0.0],
))
_register(Toy(
    name="camel", title="Six-hump camel (six local minima)",
    latex=lambda p: "L = (4 - 2.1x^2 + x^4/3)\\,x^2 + xy + (-4 + 4y^2)\\,y^2",
    value=_camel, defaults={}, domain=((-2.2, 2.2), (-1.2, 1.2)), start=(-1.0, 1.0),
    approx_minima=lambda p: [(0.0898, -0.7126), (-0.0898, 0.7126), (-1.7036, 0.7961),
                             (1.7036, -0.7961), (-1.6071, -0.5687), (1.6071, 0.5687)],
    min_values=lambda p: [-1.0316284534898774, -1.0316284534898774,
                          -0.21546382438371725, -0.21546382438371725,
                          2.1042503103112584, 2.1042503103112584],
    note="the first two minima are global (L = -1.0316)",
))
_register(Toy(
    name="saddle", title="Saddle x² − y² (no minimum)",
    latex=lambda p: "L = x^2 - y^2", value=_saddle, defaults={},
    domain=((-2.0, 2.0), (-2.0, 2.0)), start=(-1.5, 0.01), approx_minima=None,
    note="unbounded below: no minimiser, so distances and rates are undefined",
))
_register(Toy(
    name="goldstein-price", title="Goldstein-Price",
    latex=lambda p: ("L = [1 + (x+y+1)^2(19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]\\,"
                     "[30 + (2x-3y)^2(18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]"),
    value=_goldstein_price, defaults={}, domain=((-2.0, 2.0), (-2.0, 2.0)), start=(-1.5, 1.5),
    approx_minima=lambda p: [(0.0, -1.0), (-0.6, -0.4), (1.8, 0.2), (1.2, 0.8)],
    min_values=lambda p: [3.0, 30.0, 84.0, 840.0],
    note="the first minimum is global (L = 3)",
))
_register(Toy(
    name="two-wells", title="Sharp and flat wells (SAM's test)",
    latex=lambda p: (f"L = -e^{{-|w - (-1, 0)|^2 / (2 \\cdot {_fmt(p['s1'])}^2)}} "
                     f"- e^{{-|w - (1, 0)|^2 / (2 \\cdot {_fmt(p['s2'])}^2)}} + {_fmt(p['c'] / 2)}\\,|w|^2"),
    value=_two_wells, defaults={"s1": 0.2, "s2": 0.8, "c": 0.2},
    domain=((-2.5, 2.5), (-2.0, 2.0)), start=(-0.3, 1.2),
    approx_minima=_two_wells_minima,
    param_help={"s1": "width of the sharp well at (-1, 0)", "s2": "width of the flat well at (1, 0)",
                "c": "curvature of the wide bowl c/2 |w|^2 (every start then descends somewhere)"},
    note="two Gaussian wells of depth 1: the sharp one (Hessian about 1/s1^2) is listed first, the flat one "
         "(about 1/s2^2) second; their minimum values are close (-0.946 and -0.911 by default)",
))
_register(Toy(
    name="valley-line", title="Valley of minimisers: (w₁ + w₂ − s)²",
    latex=lambda p: f"L = (w_1 + w_2 - {_fmt(p['s'])})^2", value=_valley_line,
    defaults={"s": 2.0}, domain=((-1.0, 3.5), (-1.0, 3.5)), start=(3.0, -0.5),
    approx_minima=lambda p: [(p["s"] / 2, p["s"] / 2)], min_values=lambda p: [0.0],
    param_help={"s": "the line of minimisers w1 + w2 = s"}, valley=True,
    set_residual=lambda w, p: (w[..., 0] + w[..., 1] - p["s"]) / jnp.sqrt(2.0),
    note="every point of the line w1 + w2 = s is a minimiser; the listed one has minimum norm",
))
_register(Toy(
    name="valley-hyperbola", title="Valley of minimisers: (w₁w₂ − s)²",
    latex=lambda p: f"L = (w_1 w_2 - {_fmt(p['s'])})^2", value=_valley_hyperbola,
    defaults={"s": 1.0}, domain=((-0.5, 3.5), (-0.5, 3.5)), start=(3.0, 0.2),
    approx_minima=lambda p: [(p["s"] ** 0.5, p["s"] ** 0.5), (-(p["s"] ** 0.5), -(p["s"] ** 0.5))],
    min_values=lambda p: [0.0, 0.0],
    param_help={"s": "the hyperbola of minimisers w1 w2 = s (s > 0)"}, valley=True,
    set_residual=lambda w, p: (w[..., 0] * w[..., 1] - p["s"]) / jnp.sqrt(jnp.sum(w**2, -1) + 1e-300),
    note="every point of w1 w2 = s is a minimiser; the listed ones have minimum norm",
))


def get_toy(name: str) -> Toy:
    """The toy called ``name``; ValueError naming the allowed names otherwise."""
    try:
        return TOYS[name]
    except KeyError:
        raise ValueError(f"unknown toy {name!r} (allowed: {', '.join(TOYS)})") from None


# The parameters' and the start's bounds wherever they are typed: the app (ui.state,
# ui.sidebar) and figure configuration files (figures.presets).
TOY_PARAM_BOUNDS = {"h1": (1e-3, 1e3), "h2": (1e-3, 1e3), "angle": (-math.pi, math.pi), "cx": (-100.0, 100.0),
                    "cy": (-100.0, 100.0), "a": (-10.0, 10.0), "b": (0.0, 1e4), "A": (0.0, 100.0), "s": (-10.0, 10.0),
                    "s1": (0.05, 2.0), "s2": (0.05, 2.0), "c": (0.0, 10.0)}
TOY_PARAM_BOUNDS_BY_TOY = {("valley-hyperbola", "s"): (1e-2, 10.0)}
START_BOUND = 1e3


def param_bounds(toy_name: str, name: str) -> tuple[float, float]:
    """The closed range [lo, hi] of parameter ``name`` of toy ``toy_name``."""
    return TOY_PARAM_BOUNDS_BY_TOY.get((toy_name, name), TOY_PARAM_BOUNDS.get(name, (-100.0, 100.0)))
