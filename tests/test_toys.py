"""The toy objectives (docs/theory.md, Section 6.3): jax gradients against central finite
differences, listed minimisers against their stationarity, values and Hessians,
closed forms of the quadratic, the valleys of minimisers, and parameter checks."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toys import TOYS, get_toy

FD_STEP = 1e-6


def arrays(p):
    return {k: jnp.asarray(v, jnp.float64) for k, v in p.items()}


def random_points(toy, n, seed):
    (x0, x1), (y0, y1) = toy.domain
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], axis=1)


@pytest.mark.parametrize("name", list(TOYS))
def test_gradient_matches_central_differences(name):
    toy = TOYS[name]
    p = arrays(toy.params())
    w = random_points(toy, 20, seed=len(name))
    value = jax.jit(jax.vmap(lambda x: toy.value(x, p)))
    grad = np.asarray(jax.jit(jax.vmap(lambda x: toy.grad(x, p)))(jnp.asarray(w)))
    fd = np.empty_like(w)
    for i in range(2):
        e = np.zeros(2)
        e[i] = FD_STEP
        fd[:, i] = (np.asarray(value(jnp.asarray(w + e))) - np.asarray(value(jnp.asarray(w - e)))) / (2 * FD_STEP)
    # central differences: truncation ~ h^2 |L'''|, rounding ~ 1e-16 |L| / h
    scale = 1.0 + np.abs(np.asarray(value(jnp.asarray(w))))[:, None]
    err = np.abs(grad - fd) / (1e-6 * np.abs(fd) + 1e-8 * scale)
    assert err.max() <= 1.0, err.max()


@pytest.mark.parametrize("name", [n for n, t in TOYS.items() if t.has_minima()])
def test_listed_minima_are_stationary_with_the_listed_values(name):
    toy = TOYS[name]
    p = arrays(toy.params())
    minima = toy.minima()
    assert minima.ndim == 2 and minima.shape[1] == 2 and len(minima) >= 1
    assert len(minima) == len(toy.approx_minima(toy.params()))
    pts = jnp.asarray(minima)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(lambda x: toy.grad(x, p)))(pts)), 0.0, atol=1e-9)
    for eig in np.linalg.eigvalsh(np.asarray(jax.jit(jax.vmap(lambda x: jax.hessian(toy.value)(x, p)))(pts))):
        # a minimum: Hessian positive definite (semi-definite along a valley of minimisers)
        assert eig.min() > (-1e-9 if toy.valley else 1e-6), eig
    values = np.asarray(toy.value(pts, p))
    if toy.min_values is not None:
        np.testing.assert_allclose(values, toy.min_values(toy.params()), rtol=1e-12, atol=1e-12)
    # the polish moved each written-down point only a little: it is the minimum meant
    np.testing.assert_allclose(minima, np.asarray(toy.approx_minima(toy.params())), atol=1e-3)


def test_known_minimisers():
    np.testing.assert_allclose(get_toy("rosenbrock").minima({"a": 2.0}), [[2.0, 4.0]], atol=1e-12)
    np.testing.assert_allclose(get_toy("booth").minima(), [[1.0, 3.0]], atol=1e-12)
    np.testing.assert_allclose(get_toy("beale").minima(), [[3.0, 0.5]], atol=1e-12)
    himmelblau = get_toy("himmelblau").minima()
    assert len({tuple(np.round(m, 6)) for m in himmelblau}) == 4
    camel = get_toy("camel")
    global_value = float(camel.value(jnp.asarray(camel.minima()[0]), {}))
    np.testing.assert_allclose(global_value, -1.0316284534898774, rtol=1e-13)
    gp = get_toy("goldstein-price")
    np.testing.assert_allclose(gp.minima()[0], [0.0, -1.0], atol=1e-12)


def test_saddle_declares_no_minimum():
    saddle = get_toy("saddle")
    assert saddle.approx_minima is None and not saddle.has_minima()
    assert saddle.minima().shape == (0, 2)
    # its only stationary point is not a minimum: the Hessian there is indefinite
    eig = np.linalg.eigvalsh(np.asarray(jax.hessian(saddle.value)(jnp.zeros(2), {})))
    np.testing.assert_allclose(eig, [-2.0, 2.0])
    assert [n for n, t in TOYS.items() if not t.has_minima()] == ["saddle"]


def test_quadratic_closed_form_with_angle_and_centre():
    toy = get_toy("quadratic")
    over = {"h1": 0.5, "h2": 3.0, "angle": 0.7, "cx": 1.0, "cy": -2.0}
    p = toy.params(over)
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s], [s, c]])
    hess = rot @ np.diag([0.5, 3.0]) @ rot.T
    w = random_points(toy, 10, seed=1)
    d = w - np.array([1.0, -2.0])
    expected = 0.5 * np.einsum("ni,ij,nj->n", d, hess, d)
    got = np.asarray(jax.vmap(lambda x: toy.value(x, arrays(p)))(jnp.asarray(w)))
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jax.hessian(toy.value)(jnp.zeros(2), arrays(p))), hess, atol=1e-13)
    np.testing.assert_allclose(toy.minima(over), [[1.0, -2.0]], atol=1e-12)


@pytest.mark.parametrize("name, h1, h2", [("quadratic", 2.0, 8.0), ("quad-paper", 1.0, 0.2),
                                          ("quad-repo", 2.0, 0.2), ("quad-k4", 2.0, 8.0)])
def test_quadratic_presets(name, h1, h2):
    toy = get_toy(name)
    hess = np.asarray(jax.hessian(toy.value)(jnp.zeros(2), arrays(toy.params())))
    np.testing.assert_allclose(hess, np.diag([h1, h2]), atol=1e-14)
    if name == "quad-repo":                 # the image in the paper's code repository
        assert tuple(toy.start) == (-5.0, 5.0)
    if name == "quad-paper":                # the paper's Figure 2: from (1, 1)
        assert tuple(toy.start) == (1.0, 1.0)


def test_valley_toys_minimiser_sets():
    line, hyper = get_toy("valley-line"), get_toy("valley-hyperbola")
    assert line.valley and hyper.valley
    rng = np.random.default_rng(3)
    for toy, s, on_set, min_norm in (
            (line, 3.0, lambda t: np.stack([t, 3.0 - t], 1), [[1.5, 1.5]]),
            (hyper, 2.0, lambda t: np.stack([t, 2.0 / t], 1), [[2**0.5, 2**0.5], [-(2**0.5), -(2**0.5)]])):
        p = arrays(toy.params({"s": s}))
        t = rng.uniform(0.2, 3.0, 50) * rng.choice([-1.0, 1.0], 50)
        pts = jnp.asarray(on_set(t))
        np.testing.assert_allclose(np.asarray(toy.value(pts, p)), 0.0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(toy.set_residual(pts, p)), 0.0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(lambda x: toy.grad(x, p)))(pts)), 0.0, atol=1e-11)
        minima = toy.minima({"s": s})
        np.testing.assert_allclose(minima, min_norm, atol=1e-10)
        # the listed points have the smallest norm on the set
        assert np.linalg.norm(np.asarray(pts), axis=1).min() >= np.linalg.norm(minima, axis=1).max() - 1e-12
        off = jnp.asarray(np.asarray(pts) + 0.1)
        assert np.all(np.abs(np.asarray(toy.set_residual(off, p))) > 1e-3)


def test_parameters_and_names_are_checked():
    with pytest.raises(ValueError, match="allowed: a, b"):
        get_toy("rosenbrock").params({"c": 1.0})
    with pytest.raises(ValueError, match="kappa"):  # kappa is a command-line shorthand, not a toy parameter
        get_toy("quadratic").params({"kappa": 4.0})
    with pytest.raises(ValueError, match="allowed: none"):
        get_toy("himmelblau").params({"a": 1.0})
    with pytest.raises(ValueError, match="quad-repo"):
        get_toy("no-such-toy")
    assert get_toy("rosenbrock").params({"a": 2}) == {"a": 2.0, "b": 100.0}


@pytest.mark.parametrize("name", list(TOYS))
def test_every_toy_is_complete(name):
    toy = TOYS[name]
    (x0, x1), (y0, y1) = toy.domain
    assert x0 < x1 and y0 < y1 and x0 <= toy.start[0] <= x1 and y0 <= toy.start[1] <= y1
    assert toy.latex(toy.params()).strip() and toy.title
    assert np.isfinite(float(toy.value(jnp.asarray(toy.start), arrays(toy.params()))))


@pytest.mark.parametrize("params, text", [
    (dict(h1=2.0, h2=0.2), r"L(w) = w_1^2 + 0.1\,w_2^2"),                 # quad-repo: coefficient 1 left out
    (dict(h1=1.0, h2=-3.0), r"L(w) = 0.5\,w_1^2 - 1.5\,w_2^2"),           # a negative coefficient is subtracted
    (dict(h1=3e-5, h2=2.0, cx=1.0), r"L(w) = 1.5 \times 10^{-5}\,(w_1 - 1)^2 + w_2^2"),   # never "1.5e-05"
])
def test_quadratic_formula_is_written_as_a_reader_would(params, text):
    toy = get_toy("quadratic")
    assert toy.latex(toy.params({**dict(angle=0.0, cx=0.0, cy=0.0), **params})) == text


def test_titles_carry_no_raw_notation():
    """Toy titles appear as plain text (the sidebar, the Learn view): no TeX-style ^ or _."""
    assert not [t.title for t in TOYS.values() if "^" in t.title or "_" in t.title]
