"""Benchmark of the batched (lr, beta) sweep (dynamics.sweep) against its baselines, all
measured in the same run on the same machine (issue 4; figures in BENCHMARKS.md):

- JAX: ``dynamics.sweep.sweep`` end to end (chunks dispatched, results back on the
  host), warm (the minimum of --repeats runs), compile time separately (the first
  call of a fresh jit minus the warm time);
- NumPy: the same computation vectorised over the grid (``numpy_sweep`` below: gdm or
  cautious gdm on a quadratic, the same running reductions and rate estimator),
  checked against the JAX sweep cell by cell;
- a per-cell loop of optax steps (``make_optimizer``, one jitted step per call, a
  Python loop over steps and cells), timed on --loop-cells cells and extrapolated;
- a per-cell loop of jitted roll-outs (``dynamics.rollout``, one compiled scan per
  cell), timed on --rollout-cells cells and extrapolated;
- the machine's limit: FLOPS_PER_CELL_STEP x cells x steps / peak.

    python bench/bench_sweep.py                      # 128^2 and 256^2 x 1000 steps (about a minute)
    python bench/bench_sweep.py --sizes 16 --steps 50 --loop-cells 2 --rollout-cells 2   # smoke run
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from dynamics import enable_float64  # noqa: E402
from dynamics.config import Setup, make_hyper  # noqa: E402
from dynamics.metrics import DIVERGENCE_FACTOR, STEPS_NOT_REACHED  # noqa: E402
from dynamics.optimizers.gdm import optimum as heavy_ball_optimum, rate as heavy_ball_rate  # noqa: E402
from dynamics.rates import block_fit_rate, block_starts, distance_rate, window_starts  # noqa: E402
from dynamics.rollout import make_optimizer, rollout  # noqa: E402
from dynamics.renormalisation import RENORM_EVERY, ZERO_STATE_EXPONENT  # noqa: E402
from dynamics.sweep import DEFAULT_TOL, grid_axis, sweep  # noqa: E402
from dynamics.sweep_program import compiled_sweep  # noqa: E402
from toys import get_toy  # noqa: E402

TOY = "quad-k4"                 # w1^2 + 4 w2^2 (h = 2, 8), the paper's Figure 3
LR_RANGE = (0.01, 0.5)          # linear axes, as in Figure 3
BETA_RANGE = (0.0, 0.95)
# Floating-point operations per cell and step (counted by hand on the traced program; compares,
# selects, sign and the block writes are not counted; sqrt, log and exp count as one each):
# gradient and loss of the rotated quadratic 22, heavy-ball trace 4, step -eps u and w + u 4,
# renormalisation (norm^2 7, sqrt, 1/x, log, 4 scalings) 14, log-scale sum 1, real log d^2 5,
# real loss 4, loss rise 3, the fit's block sums 3; caution adds the sign agreement 2, the mask
# mean 2, max and 1/x 2, alpha*phi*u 4.
FLOPS_PER_CELL_STEP = {"base": 60, "cautious": 70}
# Peak of this machine class (2 cores x 2.5 GHz x 2 AVX-512 FMA units x 8 doubles x 2 flops);
# float32 has twice the lanes.  An upper bound: the sweep is elementwise and cache-bound.
PEAK_FLOPS = {"float64": 2 * 2.5e9 * 2 * 8 * 2, "float32": 2 * 2.5e9 * 2 * 16 * 2}


def _numpy_renormalise(parts, dt):
    """The state divided by 2^k with k = floor(log2 |state|^2 / 2) per cell (np.frexp;
    ZERO_STATE_EXPONENT for an all-zero state): (the parts, k)."""
    n2 = sum(v * v for v in parts)
    step_k = np.where(n2 > 0, np.frexp(n2)[1] // 2, ZERO_STATE_EXPONENT)
    return tuple(np.ldexp(v, -step_k).astype(dt) for v in parts), step_k


def _numpy_gdm_step(x, y, mx, my, gx, gy, lr, beta, cautious, dt):
    """One heavy-ball step in place: s = beta s + g, then w -= lr s, or with caution
    w -= lr phi s / max(mean phi, 1e-3), phi = 1[sign(s) sign(g) > 0]."""
    mx *= beta
    mx += gx
    my *= beta
    my += gy
    if cautious:
        kx = (np.sign(mx) * np.sign(gx) > 0).astype(dt)
        ky = (np.sign(my) * np.sign(gy) > 0).astype(dt)
        scale = lr / np.maximum(0.5 * (kx + ky), dt.type(1e-3))
        x -= scale * kx * mx
        y -= scale * ky * my
    else:
        x -= lr * mx
        y -= lr * my


def numpy_sweep(lr, beta, h, w0, steps, tol, cautious, dtype="float64"):
    """gdm (cautious: elementwise mask from the signs, mean compensation) on
    L = (h1 w1^2 + h2 w2^2)/2 vectorised over the cells with NumPy, one array per
    coordinate; the same outputs and definitions as dynamics.sweep (minimiser at 0):
    the state scaled by a power of two every RENORM_EVERY steps (np.frexp, np.ldexp),
    the real d_t and L(w_t) compared and scaled by 2^k, y_t = k log 2 + log|state|,
    the late-window fit from per-block sums.  Returns a dict of (cells,) arrays."""
    dt = np.dtype(dtype)
    lr, beta = np.asarray(lr, dt), np.asarray(beta, dt)
    h1, h2 = dt.type(h[0]), dt.type(h[1])
    n = lr.size
    tiny, ln2 = np.finfo(dt).tiny, dt.type(np.log(2))
    x, y, mx, my = np.full(n, w0[0], dt), np.full(n, w0[1], dt), np.zeros(n, dt), np.zeros(n, dt)
    k = np.zeros(n, np.int64)
    last_loss = np.full(n, 0.5 * (h[0] * w0[0] ** 2 + h[1] * w0[1] ** 2), dt)
    d2_0, tol2 = dt.type(w0[0] ** 2 + w0[1] ** 2), dt.type(tol * tol)
    lim2 = dt.type(DIVERGENCE_FACTOR**2 * max(d2_0, tol2))
    top_rise = np.zeros(n, dt)
    still = steps + 1
    state = np.where(d2_0 < tol2, 0, still).astype(np.int32)
    starts = block_starts(steps)
    sum_y, sum_ty = np.zeros((starts.size, n), dt), np.zeros((starts.size, n), dt)
    times = np.arange(1, steps + 1)
    owner = np.searchsorted(starts, times, side="right") - 1
    fresh = np.isin(times, starts)
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            if t % RENORM_EVERY == 0:
                (x, y, mx, my), step_k = _numpy_renormalise((x, y, mx, my), dt)
                k += step_k
            n2 = x * x + y * y + mx * mx + my * my
            cur = k * ln2 + dt.type(0.5) * np.log(np.maximum(n2, tiny))
            gx, gy = h1 * x, h2 * y
            if t == 0:
                sum_y[0], cur_y, cur_ty = cur, cur, np.zeros(n, dt)
            else:
                kb, tau = owner[t - 1], dt.type(t - starts[owner[t - 1]])
                cur_y = cur if fresh[t - 1] else cur_y + cur
                cur_ty = np.zeros(n, dt) if fresh[t - 1] else cur_ty + tau * cur
                sum_y[kb], sum_ty[kb] = cur_y, cur_ty
                loss = np.ldexp(0.5 * (x * gx + y * gy), 2 * k).astype(dt)
                d2 = x * x + y * y
                good = (state >= 0) & (d2 <= np.ldexp(lim2, -2 * k))
                live = good & (state == still)
                state = np.where(good, np.where(live & (d2 < np.ldexp(tol2, -2 * k)), t, state), -1)
                top_rise = np.where(good, np.maximum(top_rise, loss - last_loss), top_rise)
                last_loss = np.where(good, loss, last_loss)
            if t == steps:
                break
            _numpy_gdm_step(x, y, mx, my, gx, gy, lr, beta, cautious, dt)
        failed = (state < 0) | ~np.isfinite(top_rise)
        hit = ~failed & (state < still)
        rate, spread, settled = block_fit_rate(sum_y, sum_ty, np.full(n, steps), starts, window_starts(steps))
    big = np.finfo(dt).max
    return dict(rate=rate, rate_uncertainty=spread, settled=settled,
                steps_to_tol=np.where(hit, state, STEPS_NOT_REACHED),
                final_suboptimality=np.where(np.isfinite(last_loss), last_loss, big),
                max_loss_rise=np.where(np.isfinite(top_rise), top_rise, big), diverged=failed)


@functools.lru_cache(maxsize=None)
def _optax_step(setup, toy):
    """(w, state, g, hp) -> (w', state', g', L(w')): one jitted optax step."""
    p = {k: jnp.asarray(v, setup.dtype) for k, v in toy.params().items()}
    loss_grad = jax.value_and_grad(lambda w: toy.value(w, p))

    @jax.jit
    def step(w, state, g, hp):
        upd, state = make_optimizer(setup, hp).update(g, state, w)
        w = w + upd
        loss, g = loss_grad(w)
        return w, state, g, loss

    return loss_grad, step


def optax_loop(setup, toy, lr, beta, steps, tol, hp) -> None:
    """The naive baseline: per cell, a Python loop of jitted optax steps."""
    loss_grad, step = _optax_step(setup, toy)
    for lr_c, beta_c in zip(lr, beta):
        hp_c = hp._replace(lr=jnp.asarray(lr_c, setup.dtype), beta=jnp.asarray(beta_c, setup.dtype))
        w = jnp.asarray(toy.start, setup.dtype)
        state = make_optimizer(setup, hp_c).init(w)
        loss, g = loss_grad(w)
        ws, losses = [w], [loss]
        for _ in range(steps):
            w, state, g, loss = step(w, state, g, hp_c)
            ws.append(w)
            losses.append(loss)
        ws, losses = jax.device_get((ws, losses))
        distance_rate(np.linalg.norm(np.stack(ws), axis=1), tol, np.stack(losses))


def rollout_loop(setup, toy, lr, beta, steps, tol, hp) -> None:
    """Per cell, one jitted roll-out (the single-run program), then the rate."""
    for lr_c, beta_c in zip(lr, beta):
        traj = rollout(setup, toy, hp._replace(lr=lr_c, beta=beta_c), steps)
        distance_rate(np.linalg.norm(traj.w, axis=1), tol, traj.loss)


def accuracy(res) -> dict:
    """The estimate against the closed form over the cells where the heavy ball converges:
    median and max |error|, cells read below the optimum 1/3, whether the best cells agree."""
    exact = heavy_ball_rate(res.lr[None, :], res.beta[:, None], (2.0, 8.0))
    conv = exact < 1
    err = np.abs(res.rate_estimate - exact)[conv]
    best = res.best()
    exact_best = np.unravel_index(np.argmin(np.where(conv, exact, np.inf)), exact.shape)
    return dict(err_median=float(np.median(err)), err_max=float(err.max()),
                below=int((res.rate_estimate[conv] < heavy_ball_optimum(2.0, 8.0)["rate"]).sum()),
                same_best=best is not None and (best["row"], best["col"]) == tuple(int(i) for i in exact_best))


def timed(fn, *args, repeats: int = 1, **kw) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}, {cores} cores; jax {jax.__version__} on {jax.devices()[0].platform} "
            f"x {len(jax.devices())}; numpy {np.__version__}")


def run(args) -> list[dict]:
    toy = get_toy(TOY)
    h = (toy.defaults["h1"], toy.defaults["h2"])
    rows = []
    for n in args.sizes:
        lr_axis, beta_axis = grid_axis(*LR_RANGE, n), grid_axis(*BETA_RANGE, n)
        lr, beta = np.tile(lr_axis, n), np.repeat(beta_axis, n)
        for dtype in args.dtypes:
            tol = DEFAULT_TOL[dtype]
            hp = make_hyper(dtype)
            for variant in args.variants:
                setup = Setup("gdm", cautious=variant == "cautious", dtype=dtype)
                compiled_sweep.cache_clear()          # a fresh jit: the first call compiles
                kw = dict(tol=tol, rate_method="estimate")
                first = timed(sweep, setup, toy, lr_axis, beta_axis, args.steps, **kw)
                warm = timed(sweep, setup, toy, lr_axis, beta_axis, args.steps, repeats=args.repeats, **kw)
                res = sweep(setup, toy, lr_axis, beta_axis, args.steps, **kw)
                row = dict(grid=f"{n}x{n}", steps=args.steps, dtype=dtype, variant=variant,
                           compile=max(first - warm, 0.0), jax=warm, ns=warm / (n * n * args.steps) * 1e9,
                           limit=FLOPS_PER_CELL_STEP[variant] * n * n * args.steps / PEAK_FLOPS[dtype])
                if variant == "base":
                    row.update(accuracy(res))
                if args.numpy:
                    t0 = time.perf_counter()
                    ref = numpy_sweep(lr, beta, h, toy.start, args.steps, tol, variant == "cautious", dtype)
                    row["numpy"] = time.perf_counter() - t0
                    same = (ref["steps_to_tol"].reshape(n, n) == res.steps_to_tol) & np.isclose(
                        ref["rate"].reshape(n, n), res.rate, rtol=1e-6, atol=1e-9)
                    row["agree"] = float(same.mean())
                k = min(args.loop_cells, n * n)
                if k:
                    optax_loop(setup, toy, lr[:1], beta[:1], args.steps, tol, hp)   # compile
                    row["loop"] = timed(optax_loop, setup, toy, lr[:k], beta[:k], args.steps, tol, hp) * n * n / k
                k = min(args.rollout_cells, n * n)
                if k:
                    rollout_loop(setup, toy, lr[:1], beta[:1], args.steps, tol, hp)   # compile
                    row["rollout"] = timed(rollout_loop, setup, toy, lr[:k], beta[:k], args.steps, tol, hp) * n * n / k
                rows.append(row)
                print(_line(row), flush=True)
    return rows


HEADER = ("| grid x steps | dtype | variant | compile s | JAX warm s | ns/cell-step | NumPy s | x NumPy "
          "| NumPy agrees | optax loop s* | x loop | roll-out loop s* | x roll-out | limit s | JAX/limit "
          "| median err | max err | below 1/3 | best = exact best |")


def _fmt(x, spec=".3g"):
    return "-" if x is None else format(x, spec)


def _line(r: dict) -> str:
    ratio = lambda key: None if key not in r else r[key] / r["jax"]
    return (f"| {r['grid']} x {r['steps']} | {r['dtype']} | {r['variant']} | {_fmt(r['compile'], '.2f')} | "
            f"{_fmt(r['jax'], '.3f')} | {_fmt(r['ns'], '.1f')} | {_fmt(r.get('numpy'), '.2f')} | "
            f"{_fmt(ratio('numpy'), '.1f')} | {_fmt(r.get('agree'), '.1%')} | {_fmt(r.get('loop'), '.3g')} | "
            f"{_fmt(ratio('loop'), '.3g')} | {_fmt(r.get('rollout'), '.3g')} | {_fmt(ratio('rollout'), '.3g')} | "
            f"{_fmt(r['limit'], '.3f')} | {_fmt(r['jax'] / r['limit'], '.0f')}x | {_fmt(r.get('err_median'), '.1e')} | "
            f"{_fmt(r.get('err_max'), '.1e')} | {_fmt(r.get('below'), 'd')} | {_fmt(r.get('same_best'), '')} |")


def main(argv=None) -> int:
    enable_float64()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="128,256", help="grid sides, comma-separated (default 128,256)")
    p.add_argument("--steps", type=int, default=1000, help="steps per cell (default 1000)")
    p.add_argument("--dtypes", default="float64,float32", help="default float64,float32")
    p.add_argument("--variants", default="base,cautious", help="default base,cautious")
    p.add_argument("--repeats", type=int, default=3, help="warm runs; the minimum is reported (default 3)")
    p.add_argument("--loop-cells", type=int, default=8, help="cells timed in the optax loop (0: skip; default 8)")
    p.add_argument("--rollout-cells", type=int, default=32,
                   help="cells timed in the roll-out loop (0: skip; default 32)")
    p.add_argument("--no-numpy", dest="numpy", action="store_false", help="skip the NumPy baseline")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.dtypes = args.dtypes.split(",")
    args.variants = args.variants.split(",")
    load0 = os.getloadavg()
    sweep(Setup("gdm"), get_toy(TOY), [0.1], [0.5], 2)      # import-time work (the toy's minima) out of the way
    print(f"machine: {machine()}")
    print(f"toy {TOY}, lr {LR_RANGE[0]}..{LR_RANGE[1]} x beta {BETA_RANGE[0]}..{BETA_RANGE[1]} (linear), "
          f"tol {DEFAULT_TOL}; * = extrapolated from --loop-cells / --rollout-cells cells\n")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    rows = run(args)
    load1 = os.getloadavg()
    print(f"\nload average (1 min) before {load0[0]:.2f}, after {load1[0]:.2f} on {os.cpu_count()} cores")
    target = [r for r in rows if r["grid"] == "256x256" and r["dtype"] == "float64" and r["variant"] == "cautious"]
    if target and args.steps == 1000:
        r = target[0]
        print(f"targets (256x256x1000 cautious gdm float64): warm {r['jax']:.3f} s < 1 s: {r['jax'] < 1}; "
              f"x NumPy {_fmt(r.get('numpy', 0) / r['jax'], '.1f')} >= 10: {r.get('numpy', 0) / r['jax'] >= 10}; "
              f"x optax loop {_fmt(r.get('loop', 0) / r['jax'], '.3g')} >= 1000: {r.get('loop', 0) / r['jax'] >= 1000}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
