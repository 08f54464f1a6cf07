"""The optimizers added in issue 7 (dynamics.optimizers): signum, rmsprop, adagrad, nadam,
amsgrad, laprop and adamw.  Each trajectory against optax's own optimizer (float64, 300
steps, two toys), laprop against a NumPy reading of its paper's Algorithm 1, cautious
variants against an independent mask applied to optax's updates, and each K(state)
against the moments rebuilt in NumPy."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynamics import Setup, make_hyper, rollout
from dynamics.config import OPTIMIZERS
from toys import get_toy

STEPS = 300
TOYS = {"rosenbrock": (-1.2, 1.0), "himmelblau": (0.5, -1.0)}
LR, B1, B2, EPS, WD = 3e-3, 0.9, 0.99, 1e-8, 0.1


def _numpy_grad(name, w):
    """Closed-form gradients, independent of jax.grad."""
    x, y = w
    if name == "rosenbrock":                      # (1 - x)^2 + 100 (y - x^2)^2
        return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    a, b = x * x + y - 11, x + y * y - 7          # himmelblau
    return np.array([4 * x * a + 2 * b, 2 * a + 4 * y * b])


def optax_trajectory(opt: optax.GradientTransformation, toy_name: str, steps: int = STEPS, caution: bool = False):
    """w_0..w_T of optax's optimizer (w += update), as one jitted scan.  ``caution``
    applies Algorithm 1 of arXiv 2411.16085 to optax's update directly: keep the
    coordinates where the update (= -lr u) and the gradient have opposite signs and
    rescale by 1/max(mean kept, 1e-3)."""
    toy = get_toy(toy_name)
    p = {k: jnp.asarray(v) for k, v in toy.defaults.items()}
    grad = jax.grad(lambda w: toy.value(w, p))

    def step(carry, _):
        w, state = carry
        g = grad(w)
        upd, state = opt.update(g, state, w)
        if caution:
            keep = (upd * g < 0).astype(w.dtype)
            upd = upd * keep / jnp.maximum(jnp.mean(keep), 1e-3)
        w = w + upd
        return (w, state), w

    w0 = jnp.asarray(TOYS[toy_name], jnp.float64)
    _, ws = jax.jit(lambda w: jax.lax.scan(step, (w, opt.init(w)), None, length=steps))(w0)
    return np.concatenate([np.asarray(w0)[None], np.asarray(ws)])


REFERENCES = {
    "signum": (dict(beta=B1), lambda: optax.signum(LR, beta=B1)),
    "rmsprop": (dict(beta2=B2, adam_eps=EPS), lambda: optax.rmsprop(LR, decay=B2, eps=EPS)),
    "adagrad": (dict(adam_eps=EPS), lambda: optax.adagrad(LR, initial_accumulator_value=0.0, eps=EPS)),
    "nadam": (dict(beta=B1, beta2=B2, adam_eps=EPS), lambda: optax.nadam(LR, B1, B2, EPS)),
    "amsgrad": (dict(beta=B1, beta2=B2, adam_eps=EPS), lambda: optax.amsgrad(LR, B1, B2, EPS)),
    "adamw": (dict(beta=B1, beta2=B2, adam_eps=EPS, wd=WD), lambda: optax.adamw(LR, B1, B2, EPS, weight_decay=WD)),
}


@pytest.mark.parametrize("toy_name", TOYS)
@pytest.mark.parametrize("name", REFERENCES)
def test_trajectory_equals_optax(name, toy_name):
    kw, ref = REFERENCES[name]
    ours = rollout(Setup(name), get_toy(toy_name), make_hyper(lr=LR, **kw), STEPS, start=TOYS[toy_name])
    theirs = optax_trajectory(ref(), toy_name)
    assert np.all(np.isfinite(theirs))
    assert np.abs(theirs[-1] - theirs[0]).max() > 0.05          # the run actually moves
    np.testing.assert_allclose(ours.w, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["signum", "nadam", "amsgrad"])
def test_cautious_variant_equals_a_mask_on_optax_updates(name):
    kw, ref = REFERENCES[name]
    ours = rollout(Setup(name, cautious=True), get_toy("rosenbrock"), make_hyper(lr=LR, **kw), STEPS,
                   start=TOYS["rosenbrock"])
    theirs = optax_trajectory(ref(), "rosenbrock", caution=True)
    base = optax_trajectory(ref(), "rosenbrock")
    assert ours.masked_fraction.max() > 0                       # the mask acts on this run
    assert np.abs(theirs - base).max() > 1e-4                   # and changes it
    np.testing.assert_allclose(ours.w, theirs, rtol=0, atol=1e-10)


def laprop_numpy(toy_name, lr, b1, b2, eps, steps=STEPS, caution=False):
    """LaProp (arXiv 2002.04839, Algorithm 1), read directly: v = b2 v + (1-b2) g^2,
    m = b1 m + (1-b1) g / (sqrt(v/(1-b2^t)) + eps), w -= lr m/(1-b1^t); optionally with
    the cautious mask of arXiv 2411.16085 (elementwise, mean compensation).  Returns
    the iterates and K = lr/(2(1-b1)) sum (sqrt(v^)+eps) m^^2 at each step."""
    w = np.asarray(TOYS[toy_name], float)
    m, v = np.zeros(2), np.zeros(2)
    ws, ks = [w.copy()], [0.0]
    for t in range(1, steps + 1):
        g = _numpy_grad(toy_name, w)
        v = b2 * v + (1 - b2) * g * g
        vhat = v / (1 - b2**t)
        m = b1 * m + (1 - b1) * g / (np.sqrt(vhat) + eps)
        mhat = m / (1 - b1**t)
        u = mhat
        if caution:
            keep = (u * g > 0).astype(float)
            u = u * keep / max(keep.mean(), 1e-3)
        w = w - lr * u
        ws.append(w.copy())
        ks.append(lr / (2 * (1 - b1)) * np.sum((np.sqrt(vhat) + eps) * mhat**2))
    return np.array(ws), np.array(ks)


@pytest.mark.parametrize("toy_name, lr", [("rosenbrock", LR), ("himmelblau", 0.02)])
@pytest.mark.parametrize("caution", [False, True])
def test_laprop_equals_numpy_algorithm(toy_name, lr, caution):
    ours = rollout(Setup("laprop", cautious=caution), get_toy(toy_name),
                   make_hyper(lr=lr, beta=B1, beta2=B2, adam_eps=EPS), STEPS, start=TOYS[toy_name])
    ws, ks = laprop_numpy(toy_name, lr, B1, B2, EPS, caution=caution)
    assert np.abs(ws[-1] - ws[0]).max() > 0.05
    if caution:
        assert ours.masked_fraction.max() > 0
    np.testing.assert_allclose(ours.w, ws, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.hamiltonian - ours.loss, ks, rtol=1e-9, atol=1e-12)


def test_laprop_differs_from_adam():
    """Normalising before the momentum is a different optimizer (a check on the test above)."""
    hp = make_hyper(lr=LR, beta=B1, beta2=B2, adam_eps=EPS)
    a = rollout(Setup("laprop"), get_toy("rosenbrock"), hp, STEPS).w
    b = rollout(Setup("adam"), get_toy("rosenbrock"), hp, STEPS).w
    assert np.abs(a - b).max() > 1e-3


def _numpy_moments(toy_name, traj, b1, b2):
    """The EMA m and v of the gradients that drove each step, rebuilt from the iterates."""
    m, v, ms, vs = np.zeros(2), np.zeros(2), [np.zeros(2)], [np.zeros(2)]
    for w in traj.w[:-1]:
        g = _numpy_grad(toy_name, w)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        ms.append(m.copy())
        vs.append(v.copy())
    return np.array(ms), np.array(vs)


def test_kinetic_energies_from_rebuilt_moments():
    toy, hp = get_toy("rosenbrock"), make_hyper(lr=LR, beta=B1, beta2=B2, adam_eps=EPS)
    t = np.arange(STEPS + 1)[:, None]
    # signum: K = lr beta/(1-beta) |m|_1 (lion's K with b1 = b2 = beta)
    tr = rollout(Setup("signum"), toy, hp, STEPS)
    m, _ = _numpy_moments("rosenbrock", tr, B1, B2)
    np.testing.assert_allclose(tr.hamiltonian - tr.loss, LR * B1 / (1 - B1) * np.abs(m).sum(1), rtol=1e-9, atol=1e-14)
    # rmsprop and adagrad have no momentum: H = L exactly
    for name in ("rmsprop", "adagrad"):
        tr = rollout(Setup(name), toy, hp, STEPS)
        np.testing.assert_array_equal(tr.hamiltonian, tr.loss)
    # amsgrad: adam's K with the running maximum of v^ in place of v^
    tr = rollout(Setup("amsgrad"), toy, hp, STEPS)
    m, v = _numpy_moments("rosenbrock", tr, B1, B2)
    c1 = np.where(t > 0, 1 - B1 ** t, 1.0)
    c2 = np.where(t > 0, 1 - B2 ** t, 1.0)
    vmax = np.maximum.accumulate(v / c2, axis=0)
    k = LR / (2 * (1 - B1)) * np.sum((m / c1) ** 2 / (np.sqrt(vmax) + EPS), axis=1)
    assert np.any(vmax > v / c2 * (1 + 1e-6))                  # the maximum is not the current v^ here
    np.testing.assert_allclose(tr.hamiltonian - tr.loss, k, rtol=1e-9, atol=1e-14)


def test_adamw_is_adam_with_decoupled_decay():
    assert Setup("adamw").decay == "decoupled"
    assert Setup("adamw", decay="cautious").decay == "cautious"
    hp = make_hyper(lr=LR, wd=WD)
    for decay in ("decoupled", "cautious"):
        a = rollout(Setup("adamw", decay=decay), get_toy("valley-line"), hp, STEPS)
        b = rollout(Setup("adam", decay=decay), get_toy("valley-line"), hp, STEPS)
        np.testing.assert_array_equal(a.w, b.w)


def test_every_new_optimizer_runs_cautious_with_cautious_decay_without_nan():
    for name in OPTIMIZERS[OPTIMIZERS.index("signum"):]:
        tr = rollout(Setup(name, cautious=True, decay="cautious"), get_toy("beale"), make_hyper(lr=1e-3, wd=0.1), 50)
        assert np.all(np.isfinite(tr.w)) and np.all(np.isfinite(tr.hamiltonian)), name
        assert tr.decay_mask.shape == tr.w.shape
