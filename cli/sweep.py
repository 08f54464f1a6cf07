"""``python -m dynamics sweep``: the convergence-rate map over an (lr, beta) grid
(docs/theory.md, Section 5; the paper's Figure 3), one batched JAX computation
(dynamics.sweep).

Output maps have rows = beta, columns = lr.  ``--rate-method`` chooses what ``rate``
holds: ``exact`` (the closed form: gd, gdm, nesterov without caution, decay or noise
on a quadratic), ``estimate`` (the late-window fit of dynamics.rates) or ``auto``
(exact where it exists; the default).  ``--json`` prints lr, beta, rate, rate_method,
rate_estimate, rate_uncertainty, settled, rate_exact (null without a closed form),
steps_to_tol, diverged, final_suboptimality, max_loss_rise, best = {lr, beta, rate}
(null when no cell converges) and config; ``--out FILE.npz`` saves the same arrays
and rate_method.
With ``--noise-sigma S --seeds K`` every cell runs K seeds of noisy gradients
g + S z_t in the same batch (dynamics.noisy_sweep); the maps are then the mean
over the seeds (rate, rate_uncertainty, final_suboptimality, max_loss_rise), the
fraction of seeds that diverged (``diverged``, a number in [0, 1]), the median
steps_to_tol of the seeds that reached tol (-1 if none did), ``settled`` when every
seed settled, plus ``rate_std`` and, when cautious, ``noise_drop``.
With ``--coordinator HOST:PORT --num-processes N --process-id K`` (cli.processes) N
processes, on one machine or several, each run one share of the cells
(jax.distributed, dynamics.processes); process 0 prints and writes ``--out``, the
same maps bit for bit as one process, and the others write nothing.
Progress goes to stderr (under several processes, each process's share).  The sweep
is sized first (dynamics.budget: cells x steps x seeds): above the work limit it is
refused unless ``--allow-large``.
"""
from __future__ import annotations

import contextlib
import io
import math
import sys
import time

import dataclasses

import numpy as np

from cli.options import (UsageError, add_allow_large, add_run_options, add_setting, check, check_budget, check_setting,
                         hyper_of, json_list, print_json, resolve_run, setup_of)
from cli.processes import add_process_options, check_process_options, check_same_sweep, join, quiet_stdout
from dynamics.budget import grid_cost
from dynamics.optimizers import display_name
from dynamics.rates import RATE_METHODS, best_cell, resolve_rate_method
from dynamics.noise import SEED_LIMIT
from dynamics.noisy_sweep import noisy_sweep
from dynamics.sweep import DEFAULT_TOL, SCALES, grid_axis, sweep
from toys import TOYS, get_toy
from viz.outfile import OutputError, check_path, write_bytes

MAX_AXIS = 4096
MAX_SEEDS = 1024


def register(sub) -> None:
    p = sub.add_parser("sweep", help="map the convergence rate over an (lr, beta) grid",
                       description="Run every (lr, beta) cell of a grid as one batched, jit-compiled JAX "
                                   "computation and map the empirical convergence rate (rows = beta, columns "
                                   "= lr). --lr and --beta are replaced by the grid; the other run options "
                                   "apply to every cell. With --json, print one object with keys lr, beta, "
                                   "rate, rate_method, rate_estimate, rate_uncertainty, settled, rate_exact, "
                                   "steps_to_tol, diverged, final_suboptimality, max_loss_rise, best, config. "
                                   "Diverged cells have steps_to_tol -1 and a rate of their own (> 1 where "
                                   "it could be measured, 1 otherwise); best is null when no cell converges.")
    add_run_options(p)
    g = p.add_argument_group("grid")
    g.add_argument("--lr-range", default="0.001:1:64", metavar="LO:HI:N",
                   help="N step sizes from LO to HI, LO > 0 (default 0.001:1:64)")
    g.add_argument("--beta-range", default="0:0.95:64", metavar="LO:HI:N",
                   help="N momenta from LO to HI in [0, 1) (beta of gdm/nesterov, b1 of adam/lion; default 0:0.95:64)")
    g.add_argument("--lr-scale", default="log", choices=SCALES, help="spacing of the lr axis (default log)")
    g.add_argument("--beta-scale", default="linear", choices=SCALES, help="spacing of the beta axis (default linear)")
    g.add_argument("--tol", type=float, default=None,
                   help="distance to the minimiser that counts as converged (steps_to_tol, and the end of the "
                        "rate window); default 1e-10 in float64, 1e-4 in float32")
    g.add_argument("--rate-method", default="auto", choices=RATE_METHODS,
                   help="exact: the closed form (gd, gdm, nesterov without caution, decay or noise on a quadratic); "
                        "estimate: the late-window fit of the renormalised state or of log d_t; auto: exact where a "
                        "closed form exists (default auto)")
    g.add_argument("--out", metavar="FILE.npz", help="also save every map to this file, which must end in .npz "
                                                     "(checked before the sweep runs)")
    n = p.add_argument_group("noisy gradients")
    add_setting(n, "noise_sigma", "; z_t drawn from (seed, t)")
    n.add_argument("--seeds", type=int, default=8,
                   help=f"with --noise-sigma > 0: seeds 0..K-1 per cell, run in one batch, maps averaged "
                        f"(1 <= K <= {MAX_SEEDS}; default 8)")
    add_process_options(p)
    add_allow_large(p)
    p.set_defaults(handler=handle)


def _parse_range(text: str, option: str, what: str, upper: float | None) -> tuple[float, float, int]:
    """LO:HI:N with LO < HI (or LO = HI and N = 1); lr needs LO > 0, beta [LO, HI] in [0, upper)."""
    parts = text.split(":")
    try:
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        ok = len(parts) == 3
    except (ValueError, IndexError):
        ok = False
    check(ok, option, f"expected LO:HI:N such as 0.01:0.5:64; got {text!r}")
    check(math.isfinite(lo) and math.isfinite(hi), option, f"LO and HI must be finite; got {text!r}")
    check(1 <= n <= MAX_AXIS, option, f"N must be an integer from 1 to {MAX_AXIS}; got {n}")
    check(lo < hi or (n == 1 and lo == hi), option, f"need LO < HI (or LO = HI with N = 1); got {text!r}")
    if upper is None:
        check(lo > 0, option, f"{what} must be > 0; got LO = {lo:g}")
    else:
        check(0 <= lo and hi < upper, option, f"{what} must be in [0, {upper:g}); got {text!r}")
    return lo, hi, n


def resolve_sweep(args) -> dict:
    """The run options plus the grid, validated (UsageError on bad input)."""
    config = resolve_run(args)
    toy = get_toy(config["toy"])
    with_minima = [name for name, t in TOYS.items() if t.has_minima()]
    check(toy.has_minima(), "--toy",
          f"{toy.name} has no minimiser, so rates are undefined (allowed: {', '.join(with_minima)})")
    lo, hi, n = _parse_range(args.lr_range, "--lr-range", "lr", None)
    blo, bhi, bn = _parse_range(args.beta_range, "--beta-range", "beta", 1.0)
    check(args.beta_scale == "linear" or blo > 0, "--beta-range",
          f"a log axis (--beta-scale log) needs LO > 0; got {args.beta_range!r}")
    tol = DEFAULT_TOL[config["dtype"]] if args.tol is None else args.tol
    tiny = float(np.finfo(config["dtype"]).tiny)
    check(math.isfinite(tol) and tol > 0 and tol * tol > tiny, "--tol",
          f"must be a number > 0 with tol^2 > {tiny:.3g} in {config['dtype']}; got {tol:g}")
    if args.out:
        try:
            check_path(args.out, ("npz",))
        except OutputError as err:
            raise UsageError(f"argument --out: {err}") from None
    check_setting("noise_sigma", args.noise_sigma)
    check(1 <= args.seeds <= min(MAX_SEEDS, SEED_LIMIT), "--seeds",
          f"must be an integer from 1 to {MAX_SEEDS}, got {args.seeds}")
    if args.noise_sigma > 0:          # noise settings enter the config only when the sweep is noisy
        config.update(noise_sigma=args.noise_sigma, seeds=args.seeds)
    setup = setup_of(config)
    if args.noise_sigma > 0:
        setup = dataclasses.replace(setup, noise="gaussian")
    try:
        resolve_rate_method(args.rate_method, setup, toy)
    except ValueError as err:
        raise UsageError(f"argument --rate-method: {err}") from None
    config["rate_method"] = args.rate_method
    del config["lr"], config["beta"]
    config.update(mode="sweep", lr_range=dict(lo=lo, hi=hi, n=n, scale=args.lr_scale),
                  beta_range=dict(lo=blo, hi=bhi, n=bn, scale=args.beta_scale), tol=tol)
    return config


def noisy_maps(result) -> dict[str, np.ndarray]:
    """The maps of a noisy sweep reduced over its seeds (see the module docstring)."""
    maps = dict(rate=result.rate_mean, rate_method="estimate", rate_uncertainty=result.uncertainty_mean,
                settled=result.settled_on_every_seed, steps_to_tol=result.median_steps_to_tol,
                diverged=result.diverged_fraction, final_suboptimality=result.suboptimality_mean,
                max_loss_rise=result.max_loss_rise.mean(axis=0), rate_std=result.rate_std)
    if result.noise_drop is not None:
        maps["noise_drop"] = result.noise_drop_mean
    return maps


def _json_map(value):
    """A map for the JSON output: nested lists (finite floats, booleans, integers), a
    string, or null."""
    if value is None or isinstance(value, str):
        return value
    return value.tolist() if value.dtype != np.float64 else json_list(value)


def _method_text(maps: dict) -> str:
    """One line on what the rate map holds."""
    converging = (maps["diverged"] == 0) & (maps["rate"] < 1)
    unsettled = int((converging & ~maps["settled"]).sum())
    if maps["rate_method"] == "exact":
        return (f"the closed form (the simulation's estimate beside it differs by at most "
                f"{np.abs(maps['rate_estimate'] - maps['rate'])[converging].max(initial=0):.2g} on converging cells)")
    return (f"estimated (late-window fit); {unsettled} of {int(converging.sum())} converging cells have not settled "
            f"(spread between half-window fits > 1e-3)")


class _Progress:
    """Progress lines on stderr: the start, every further 10%, and the end."""

    def __init__(self):
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth > self.shown or done == total:
            self.shown = tenth
            sys.stderr.write(f"sweep: {done}/{total} cells ({100 * done // max(total, 1)}%)\n")
            sys.stderr.flush()


def _maps(config: dict, setup, toy, lr: np.ndarray, beta: np.ndarray) -> dict:
    """Run the sweep of ``config`` and return its maps (see the module docstring)."""
    hp = hyper_of({**config, "lr": lr[0], "beta": beta[0]})
    common = dict(hp=hp, tol=config["tol"], start=config["start"], toy_params=config["toy_params"],
                  progress=_Progress())
    if "noise_sigma" in config:
        result = noisy_sweep(dataclasses.replace(setup, noise="gaussian"), toy, lr, beta, config["steps"],
                             seeds=config["seeds"], **{**common, "hp": hp._replace(noise_sigma=config["noise_sigma"])})
        return noisy_maps(result)
    result = sweep(setup, toy, lr, beta, config["steps"], rate_method=config["rate_method"], **common)
    return dict(rate=result.rate, rate_method=result.rate_method, rate_estimate=result.rate_estimate,
                rate_uncertainty=result.rate_uncertainty, settled=result.settled, rate_exact=result.rate_exact,
                steps_to_tol=result.steps_to_tol, diverged=result.diverged,
                final_suboptimality=result.final_suboptimality, max_loss_rise=result.max_loss_rise)


def handle(args) -> int:
    config = resolve_sweep(args)
    several = check_process_options(args)
    check_budget(args, grid_cost("the sweep", (config["beta_range"]["n"], config["lr_range"]["n"]), config["steps"],
                                 config.get("seeds", 1), noisy="noise_sigma" in config, sam=config.get("sam", False)))
    toy = get_toy(config["toy"])
    lr_r, beta_r = config["lr_range"], config["beta_range"]
    lr = grid_axis(lr_r["lo"], lr_r["hi"], lr_r["n"], lr_r["scale"])
    beta = grid_axis(beta_r["lo"], beta_r["hi"], beta_r["n"], beta_r["scale"])
    setup = setup_of(config)
    if several:
        join(args)
    t0 = time.perf_counter()
    with quiet_stdout() if several else contextlib.nullcontext():
        if several:
            check_same_sweep(args, config)
        maps = _maps(config, setup, toy, lr, beta)
    seconds = time.perf_counter() - t0
    if several and args.process_id != 0:         # process 0 prints and writes the whole map
        return 0
    best = best_cell(lr, beta, maps["rate"], maps["diverged"] == 1)
    if args.out:
        buf = io.BytesIO()
        np.savez_compressed(buf, lr=lr, beta=beta, **{k: v for k, v in maps.items() if v is not None})
        try:
            write_bytes(args.out, buf.getvalue(), "npz")
        except OutputError as err:
            sys.stderr.write(f"python -m dynamics sweep: error: {err}\n")
            return 1
    if args.json:
        print_json(dict(lr=lr.tolist(), beta=beta.tolist(), **{k: _json_map(v) for k, v in maps.items()},
                        best=None if best is None else dict(lr=best["lr"], beta=best["beta"], rate=best["rate"]),
                        config=config))
        return 0
    name = display_name(setup.optimizer, setup.cautious)
    print(f"{name} on {toy.name}: {beta.size} x {lr.size} (beta x lr) cells, {config['steps']} steps, "
          f"tol {config['tol']:g}, {config['dtype']}: {seconds:.2f} s")
    print(f"  lr {lr[0]:g} .. {lr[-1]:g} ({lr_r['scale']}), beta {beta[0]:g} .. {beta[-1]:g} ({beta_r['scale']})")
    if config.get("sam"):
        print(f"  SAM: gradients at w + rho g/|g|, rho {config['rho']:g} (two per step)")
    if setup.schedule != "constant":
        print(f"  schedule {setup.schedule}: lr is each cell's peak lr, step t uses lr f(t-1) (the same f for every cell)")
    if setup.clip:
        print(f"  gradients clipped to norm {config['clip_norm']:g}")
    if "noise_sigma" in config:
        print(f"  noisy gradients: sigma {config['noise_sigma']:g}, seeds 0..{config['seeds'] - 1}; maps are means "
              f"over the seeds")
    print(f"  diverged {np.mean(maps['diverged']):.1%} of cell runs; reached tol in "
          f"{(maps['steps_to_tol'] >= 0).mean():.1%} of cells")
    print(f"  rate: {_method_text(maps)}")
    if best is None:
        print("  no cell converged")
    else:
        print(f"  best cell: lr {best['lr']:.6g}, beta {best['beta']:.6g}, rate {best['rate']:.6f}")
    if args.out:
        print(f"  saved {args.out}")
    return 0
