r"""What an optimizer is, in one record: ``OptimizerSpec`` (docs/theory.md, Sections 1, 4, 5).

Each module of this package defines one ``SPEC``.  Conventions: w_{t+1} = w_t - eps u_t
with eps = lr; the spec's ``transform`` is an optax GradientTransformation whose output
is the direction u_t (no caution, no decay, not yet scaled by -eps); ``moments`` reads
from its state, by field name (optax.tree_utils.tree_get), the moments (m, v) that
``kinetic`` turns into the kinetic energy K of H = L + K; ``flow`` is the optimizer's
continuous-time limit (time unit = one step) or None; ``closed_form`` holds the exact
linear rate on a quadratic where one exists.  Helpers shared by several optimizers
(``tree_sum``, ``root``, ``bias_corrections``, ``spectral_radius``) live here too.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

COLOURS = ("black", "blue", "sky", "vermillion", "orange", "green", "yellow", "purple")


@dataclasses.dataclass(frozen=True)
class Equations:
    """LaTeX for display: the discrete update, the flow (None without one), the
    Hamiltonian with its rate, a note under H, and where the rule comes from."""

    update: str
    hamiltonian: str
    flow: str | None = None
    note: str = ""
    source: str = ""


@dataclasses.dataclass(frozen=True)
class Flow:
    """The optimizer's ODE on the state y = (w, m, v) (dynamics.flows).

    state_rate(setup, g, m, v, hp) -> (m', v');  direction(setup, g, m, v, hp) -> u with
    w' = -eps u.  reads_updated_state: whether the semi-implicit Euler step's w-update
    reads the state after its update (h = 1 then reproduces the discrete optimizer).
    initial(g0, hp) -> (m0, v0) for ``init="auto"`` (None: zeros).  bound_norm(g, m, hp):
    the norm in the optimizer's dH/dt bound, reported by the flow diagnostics (None: 0).
    smooth(setup): whether the right-hand side is smooth (adaptive solvers need it)."""

    state_rate: Callable
    direction: Callable
    reads_updated_state: bool = True
    initial: Callable | None = None
    bound_norm: Callable | None = None
    smooth: Callable = lambda setup: True


@dataclasses.dataclass(frozen=True)
class ClosedForm:
    """Exact rates on a quadratic with Hessian eigenvalues l_i (NumPy, broadcast).

    rate(lr, beta, eigenvalues, dampening) -> the spectral radius of the linear step;
    lr_limit(beta, l_max, dampening) -> the largest stable lr at each beta;
    optimum(l1, l2, dampening) -> {lr, beta, rate}, the best cell (None where not derived)."""

    rate: Callable
    lr_limit: Callable
    optimum: Callable | None = None


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer.  name: the CLI / URL / JSON key; display: "GDM" (cautious: "C-GDM");
    order: its place in lists; colours: (base, cautious) names from COLOURS; symbol: its
    Plotly marker; summary: one line of help; uses: the Hyper fields it reads (lr always);
    defaults: its own default hyperparameters (e.g. beta2); decay: the decay mode a Setup
    with decay "none" gets (adamw: "decoupled"), None to keep "none"; momentum: whether it
    keeps a first moment; homogeneous: its step is positively homogeneous about a
    quadratic's minimiser (so the sweep may renormalise its state, dynamics.rates).
    transform(hp, setup) -> GradientTransformation of u; moments(state, hp, setup) ->
    (m, v) read by name; kinetic(setup, m, v, hp) -> K; equations(setup) -> Equations;
    explain: a plain sentence or two on how it moves, for the Learn tab."""

    name: str
    display: str
    order: int
    colours: tuple[str, str]
    summary: str
    transform: Callable
    moments: Callable
    kinetic: Callable
    equations: Callable
    uses: tuple[str, ...] = ()
    defaults: dict[str, float] = dataclasses.field(default_factory=dict)
    symbol: str = "circle"
    decay: str | None = None
    momentum: bool = True
    homogeneous: bool = False
    flow: Flow | None = None
    closed_form: ClosedForm | None = None
    explain: str = ""

    def __post_init__(self):
        bad = [c for c in self.colours if c not in COLOURS]
        if bad or len(self.colours) != 2:
            raise ValueError(f"{self.name}: colours must be two of {', '.join(COLOURS)}; got {self.colours}")


_MISSING = object()


def get(state, name: str) -> Any:
    """The field ``name`` of an optax state tree (optax.tree_utils.tree_get; KeyError if
    the name is not unique, LookupError if it is missing)."""
    found = optax.tree_utils.tree_get(state, name, default=_MISSING)
    if found is _MISSING:
        raise LookupError(f"optimizer state has no field {name!r}")
    return found



def no_moments(state, hp, setup):
    """(None, None): an optimizer whose K is 0."""
    return None, None


def zero_kinetic(setup, m, v, hp) -> jax.Array:
    """K = 0 (no momentum: H = L)."""
    return jnp.zeros((), hp.lr.dtype)


def tree_sum(tree, fn) -> jax.Array:
    """sum over the leaves of sum(fn(leaf))."""
    return sum(jnp.sum(fn(x)) for x in jax.tree.leaves(tree))


def pair_sum(m, v, fn) -> jax.Array:
    """sum over matching leaves of m and v of sum(fn(m_leaf, v_leaf))."""
    return sum(jnp.sum(fn(mi, vi)) for mi, vi in zip(jax.tree.leaves(m), jax.tree.leaves(v)))


@jax.custom_jvp
def root(v):
    """sqrt(v) whose derivative is taken as 0 at v = 0 (instead of inf), so that dK/dt of
    an adaptive optimizer's K stays finite on coordinates where m = v = 0."""
    return jnp.sqrt(v)


@root.defjvp
def _root_jvp(primals, tangents):
    (v,), (dv,) = primals, tangents
    r = jnp.sqrt(v)
    return r, jnp.where(v > 0, dv / (2 * jnp.where(v > 0, r, 1.0)), 0.0)


def bias_corrections(count, hp):
    """(1 - b1^t, 1 - b2^t) at step count t, (1, 1) before the first step."""
    t = count.astype(hp.lr.dtype)
    started = count > 0
    return jnp.where(started, 1 - hp.beta**t, 1.0), jnp.where(started, 1 - hp.beta2**t, 1.0)


def corrected_moments(state, hp, second: str = "nu"):
    """(m^, v^) of an adam-like state read by name: mu / (1-b1^t) and nu / (1-b2^t), or
    the field ``second`` as it is when it is not ``nu`` (amsgrad's nu_max, built from
    bias-corrected nu already)."""
    c1, c2 = bias_corrections(get(state, "count"), hp)
    nu = get(state, second)
    v = jax.tree.map(lambda x: x / c2, nu) if second == "nu" else nu
    return jax.tree.map(lambda m: m / c1, get(state, "mu")), v


def spectral_radius(trace, det):
    """Largest |root| of x^2 - trace x + det (real coefficients), elementwise (NumPy)."""
    disc = trace * trace - 4 * det
    real = (np.abs(trace) + np.sqrt(np.maximum(disc, 0))) / 2
    return np.where(disc >= 0, real, np.sqrt(np.maximum(det, 0)))


def grid(lr, beta):
    """lr and beta as float arrays broadcast against each other."""
    return np.broadcast_arrays(np.asarray(lr, float), np.asarray(beta, float))
