"""The compiled program of one chunk of a sweep (dynamics.sweep): every (lr, beta[, seed])
cell runs the optax optimizer of a single run as a vmapped loop, and only running
reductions are carried (the outputs of dynamics.sweep's docstring).

One step of a cell, with the hyperparameters lr and beta of that cell:

    g_t = grad L(w_t) (+ sigma z_t with noise);  (u_t, state) = opt.update(g_t, state, w_t)
    (SAM: opt evaluates grad L(w_t + rho g_t/|g_t|) (+ the same sigma z_t), dynamics.sam);
    w_{t+1} = w_t + u_t

then the observation at w_{t+1}: the distance d (dynamics.metrics), the divergence
test d^2 <= F^2 max(d_0^2, tol^2), the first step with d < tol, the loss and its
largest rise, and y_t = log d (or log|(z, moments)| + k log 2 on a renormalised,
homogeneous run, dynamics.renormalisation) added to the current block's sums
sum y_t and sum (t - block start) y_t of the rate fit (dynamics.rates.block_starts).

The program is built for a bucket of step counts (dynamics.horizon) and takes T as a
traced argument: its loop runs exactly T steps, and the block sums have a row per
block start up to the bucket (block starts do not depend on T: those up to T are
block_starts(T)), of which the fit reads those up to T.  The fit sums over the rows
of the bucket (zeros past T), which XLA adds in another order than over T's rows
alone: a rate can differ from a program built for T alone in its last bits.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from dynamics.batch import cell_mesh, cell_sharding, compile_cells
from dynamics.config import Hyper, Setup
from dynamics.metrics import STEPS_NOT_REACHED, Distance2, distance2_fn, divergence_limit2
from dynamics.noise import noise_key, noisy_gradient
from dynamics.rates import RATE_DIVERGED, block_fit_rate, block_starts, is_homogeneous, log_floor, window_starts
from dynamics.renormalisation import RENORM_EVERY, Scale, moments_norm2, renormalise, scale_of
from dynamics.rollout import make_optimizer, step_records
from dynamics.sam import with_noise
from dynamics.schedules import factor_at, factor_fn
from toys import Toy


class _Cell(NamedTuple):
    """Per-cell scan carry: x (the iterate w; for a renormalised run z = (w - w*)/2^k),
    optimizer state (renormalised runs: moments/2^k), gradient at the point stepped
    from, its scale (renormalised runs; None otherwise), and the running reductions: last
    accepted real loss, largest loss rise, ``status`` = T' once d_t < tol, steps + 1
    before, -1 once diverged; the fit's sums over the current block (sum_y, sum_ty) and
    the last step added to them (``last``); ``drops`` (noisy cautious sweeps only):
    (sum of noise_drop, steps summed)."""

    x: jax.Array
    state: object
    g: jax.Array
    scale: Scale | None
    loss: jax.Array
    max_rise: jax.Array
    status: jax.Array
    sum_y: jax.Array
    sum_ty: jax.Array
    last: jax.Array
    drops: tuple | None = None


class _Plan(NamedTuple):
    """What the program fixes when it is traced: the setup, the toy's loss and
    distance, whether the gradient is noisy, whether noise drops are mapped (noisy
    cautious) and whether the run is renormalised (homogeneous)."""

    setup: Setup
    value: Callable
    dist2: Distance2
    noisy: bool
    flips: bool
    homogeneous: bool


class _Consts(NamedTuple):
    """The traced values every cell of a call shares: the step count T, ``running`` =
    T + 1 (the status of a cell that has not yet reached tol), hyperparameters, start
    w0, toy parameters, listed minima, min L, tol^2, the first minimiser w*, d_0^2, the
    divergence limit on d^2, log 2 in the run's dtype, w -> (L(w), grad L(w)), and the
    schedule's factors f(0..bucket) (None without a schedule; dynamics.schedules)."""

    steps: jax.Array
    running: jax.Array
    hp: Hyper
    w0: jax.Array
    p: dict
    minima: jax.Array
    loss_min: jax.Array
    tol2: jax.Array
    wstar: jax.Array
    d2_0: jax.Array
    lim2: jax.Array
    ln2: jax.Array
    loss_grad: Callable
    factors: jax.Array | None


def _consts(plan: _Plan, steps, hp, w0, p, minima, loss_min, tol2, factors) -> _Consts:
    dt = w0.dtype
    loss_grad = jax.value_and_grad(lambda w: plan.value(w, p))
    wstar = minima[0]
    d2_0 = plan.dist2(w0, p, minima)
    lim2 = divergence_limit2(d2_0, tol2)
    ln2 = jnp.asarray(math.log(2), dt)
    return _Consts(steps, steps + 1, hp, w0, p, minima, loss_min, tol2, wstar, d2_0, lim2, ln2, loss_grad, factors)


def _grad_fn(plan: _Plan, k: _Consts):
    """w -> grad L(w) (SAM's second gradient, dynamics.sam)."""
    return jax.grad(lambda w: plan.value(w, k.p))


def _optimizer(plan: _Plan, k: _Consts, lr_c, beta_c, grad_fn=None):
    """The cell's optimizer (lr_c its peak lr under a schedule; ``grad_fn`` SAM's gradient,
    by default the loss's)."""
    return make_optimizer(plan.setup, k.hp._replace(lr=lr_c, beta=beta_c),
                          _grad_fn(plan, k) if grad_fn is None else grad_fn, factor_fn(k.factors))


def _observe(plan: _Plan, k: _Consts, x, scale: Scale | None, n2, c_status):
    """(g at x, d^2, its divergence limit, tol^2, real L, y_t, whether y_t enters the
    fit) at the carried point x.  A renormalised run's real state is 2^k times the
    carried one: its limits are scaled instead (Scale; no logarithm of d)."""
    if plan.homogeneous:
        loss_x, g = k.loss_grad(k.wstar + x)
        return (g, jnp.sum(x * x), scale.lim2, scale.tol2,
                k.loss_min + (loss_x - k.loss_min) * scale.up_a * scale.up_b,
                scale.k * k.ln2 + 0.5 * log_floor(n2, jnp), True)
    loss, g = k.loss_grad(x)
    d2 = plan.dist2(x, k.p, k.minima)
    return g, d2, k.lim2, k.tol2, loss, 0.5 * log_floor(d2, jnp), (c_status == k.running) & jnp.isfinite(d2)


def _renormalised(k: _Consts, x, state, scale: Scale):
    """(x, state, scale, |Y|^2) after renormalise, the scale's exponent advanced."""
    x, state, j, n2 = renormalise(x, state)
    return x, state, scale_of(scale.k + j, k.lim2, k.tol2), n2


def _kept(x, state, scale: Scale):
    """(x, state, scale, |Y|^2) unchanged: the steps between renormalisations."""
    return x, state, scale, jnp.sum(x * x) + moments_norm2(state)


def _init_cell(plan: _Plan, k: _Consts, lr_c, beta_c) -> _Cell:
    """A cell's carry at t = 0 (the start, renormalised when homogeneous)."""
    dt = k.w0.dtype
    loss = plan.value(k.w0, k.p)
    status = jnp.where(jnp.isfinite(loss), jnp.where(k.d2_0 < k.tol2, 0, k.running), -1).astype(jnp.int32)
    x, state, scale, n2 = k.w0, _optimizer(plan, k, lr_c, beta_c).init(k.w0), None, None
    if plan.homogeneous:
        x, state, scale, n2 = _renormalised(k, k.w0 - k.wstar, state,
                                            scale_of(jnp.zeros((), jnp.int32), k.lim2, k.tol2))
    g, _, _, _, _, y, _ = _observe(plan, k, x, scale, n2, status)
    drops = (jnp.zeros((), dt), jnp.zeros((), jnp.int32)) if plan.flips else None
    return _Cell(x, state, g, scale, loss, jnp.zeros((), dt), status, y, jnp.zeros((), dt),
                 jnp.zeros((), jnp.int32), drops)


def _step_cell(plan: _Plan, k: _Consts, c: _Cell, lr_c, beta_c, seed_c, t, new_block, tau) -> _Cell:
    """One step of one cell (see the module docstring): the new carry."""
    g_used = noisy_gradient(c.g, k.hp.noise_sigma, noise_key(seed_c), t) if plan.noisy else c.g
    grad_fn = with_noise(_grad_fn(plan, k), g_used - c.g) if plan.noisy else _grad_fn(plan, k)
    upd, state = _optimizer(plan, k, lr_c, beta_c, grad_fn).update(g_used, c.state,
                                                                   k.wstar + c.x if plan.homogeneous else c.x)
    x, scale, n2 = c.x + upd, c.scale, None
    if plan.homogeneous:        # t is shared by every cell: a real branch, not a select
        x, state, scale, n2 = jax.lax.cond(t % RENORM_EVERY == 0, functools.partial(_renormalised, k), _kept,
                                           x, state, scale)
    g, d2, lim, tol_, loss, y, add = _observe(plan, k, x, scale, n2, c.status)
    # Only d^2 decides here (NaN fails d2 <= lim): a test on the loss too would make
    # XLA recompute L in every consumer.  A non-finite loss poisons max_rise instead.
    ok = (c.status >= 0) & (d2 <= lim)
    active = ok & (c.status == k.running)
    status = jnp.where(ok, jnp.where(active & (d2 < tol_), t, c.status), -1)
    sum_y = jnp.where(add, jnp.where(new_block, y, c.sum_y + y), c.sum_y)
    sum_ty = jnp.where(add, jnp.where(new_block, 0, c.sum_ty + tau * y), c.sum_ty)
    drops = None
    if plan.flips:
        eps = lr_c if k.factors is None else lr_c * factor_at(k.factors, t - 1)       # the step's eps_t
        hp_c = k.hp._replace(lr=eps, beta=beta_c)
        drop = step_records(plan.setup, hp_c, c.state, c.x, c.g, g_used, grad_fn)["noise_drop"]
        drops = (c.drops[0] + jnp.where(ok, drop, 0), c.drops[1] + ok.astype(jnp.int32))
    return _Cell(x, state, g, scale, jnp.where(ok, loss, c.loss),
                 jnp.where(ok, jnp.maximum(c.max_rise, loss - c.loss), c.max_rise), status,
                 sum_y, sum_ty, jnp.where(add, t, c.last), drops)


def _step_inputs(bucket: int) -> tuple:
    """Per-step inputs for t = 1..bucket, row t - 1 for step t: (its block's index,
    whether t starts a block, t - block start).  Block starts up to T are those up to
    the bucket that are <= T (dynamics.rates.block_starts), so these rows serve every
    T of the bucket."""
    starts = block_starts(bucket)
    t = np.arange(1, bucket + 1)
    owner = np.searchsorted(starts, t, side="right") - 1
    return owner.astype(np.int32), np.isin(t, starts), t - starts[owner]


def sweep_program(setup: Setup, toy: Toy, bucket: int, mesh: Mesh | None = None):
    """The traced sweep of one chunk for step counts T <= ``bucket``: ``fn(lr, beta[,
    seed], T, hp, w0, toy_params, minima, loss_min, tol^2[, factors])`` with (cells,)
    arrays lr, beta (and seed, only when setup.noise is on), an int32 T and, under a
    schedule, its factors f(0..bucket) -> dict of per-cell outputs; lr is each cell's
    peak lr.  ``mesh``: keep the block sums sharded over it."""
    noisy = setup.noise != "none"
    plan = _Plan(setup, toy.value, distance2_fn(toy), noisy, noisy and setup.cautious, is_homogeneous(setup, toy))
    starts = block_starts(bucket)
    xs = _step_inputs(bucket)

    def run(lr, beta, seed, steps, hp: Hyper, w0, p, minima, loss_min, tol2, factors=None):
        k = _consts(plan, steps, hp, w0, p, minima, loss_min, tol2, factors)
        c = _loop_cells(functools.partial(_init_cell, plan, k), functools.partial(_step_cell, plan, k), lr, beta,
                        seed, steps, xs, len(starts), w0.dtype, mesh)
        return _outputs(c, plan.homogeneous, k, starts, window_starts(bucket), plan.flips)

    if noisy:
        return run
    return lambda lr, beta, *consts: run(lr, beta, None, *consts)


def _loop_cells(init, step, lr, beta, seed, steps, xs, n_blocks, dt, mesh):
    """Run every cell for steps t = 1..``steps`` (a loop with that traced trip count);
    returns the final carry with sum_y and sum_ty replaced by their (blocks, cells)
    arrays (rows of blocks that start after ``steps`` stay 0)."""
    carry = jax.vmap(init)(lr, beta)
    blocks = (jnp.zeros((n_blocks, lr.shape[0]), dt).at[0].set(carry.sum_y), jnp.zeros((n_blocks, lr.shape[0]), dt))
    if mesh is not None:
        spec = cell_sharding(mesh, leading_axes=1)
        blocks = tuple(jax.lax.with_sharding_constraint(b, spec) for b in blocks)
    owner, new_blocks, taus = (jnp.asarray(x) for x in xs)

    def body(t, state):
        cells, (by, bty) = state
        j, new_block, tau = owner[t - 1], new_blocks[t - 1], taus[t - 1]
        cells = jax.vmap(step, in_axes=(0, 0, 0, 0, None, None, None))(cells, lr, beta, seed, t, new_block,
                                                                    tau.astype(dt))
        write = lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, j, 0)
        return cells, (write(by, cells.sum_y), write(bty, cells.sum_ty))

    c, (by, bty) = jax.lax.fori_loop(1, steps + 1, body, (carry, blocks))
    return c._replace(sum_y=by, sum_ty=bty)


def _outputs(c: _Cell, homogeneous: bool, k: _Consts, starts, win, flips: bool) -> dict:
    """The per-cell outputs of dynamics.sweep's docstring from the final carry (block
    sums in sum_y and sum_ty; ``starts`` and ``win``: block_starts and window_starts of
    the bucket, whose entries up to T are those of T)."""
    dt = c.loss.dtype
    diverged = (c.status < 0) | ~jnp.isfinite(c.max_rise)
    reached = ~diverged & (c.status < k.running)
    t_end = jnp.full_like(c.last, k.steps) if homogeneous else c.last
    rho, spread, settled = block_fit_rate(c.sum_y, c.sum_ty, t_end, starts, win, jnp)
    big = jnp.asarray(jnp.finfo(dt).max, dt)
    finite = lambda x: jnp.where(jnp.isfinite(x), x, big)
    if not homogeneous:          # a distance run's fit stops where it diverged: only the flag is reported
        rho, spread, settled = (jnp.where(diverged, jnp.asarray(RATE_DIVERGED, dt), rho),
                                jnp.where(diverged, 0, spread), settled & ~diverged)
    out = dict(rate=finite(rho), rate_uncertainty=finite(spread), settled=settled,
               steps_to_tol=jnp.where(reached, c.status, STEPS_NOT_REACHED),
               final_suboptimality=finite(c.loss - k.loss_min), max_loss_rise=finite(c.max_rise), diverged=diverged)
    if flips:
        out["noise_drop"] = c.drops[0] / jnp.maximum(c.drops[1], 1)
    return out


@functools.lru_cache(maxsize=32)
def compiled_sweep(setup: Setup, toy: Toy, bucket: int, devices: tuple = ()):
    """The jitted sweep of one chunk for (setup, toy) and a bucket of step counts
    (dynamics.horizon.step_bucket), built once per process; jit keeps one compiled
    program per chunk shape.  ``devices`` (two or more): shard the cells over them.

    Call as ``fn(lr, beta, steps, hp, w0, toy_params, minima, loss_min, tol**2)`` with lr
    and beta of shape (cells,) and an int32 ``steps`` <= bucket (a new one compiles
    nothing); it returns a dict of (cells,) arrays.  With setup.noise on, ``fn(lr,
    beta, seed, steps, hp, ...)`` with a (cells,) uint32 seed array.  Under a schedule,
    the schedule's factors f(0..bucket) follow tol**2 (new factors compile nothing).
    """
    mesh = cell_mesh(devices) if len(devices) > 1 else None
    n_cell_args = 3 if setup.noise != "none" else 2
    n_consts = 7 if setup.schedule == "constant" else 8
    return compile_cells(sweep_program(setup, toy, bucket, mesh), devices, n_cell_args, n_consts)
