"""``python -m dynamics run``: one trajectory, as a summary or as JSON.

``--mode discrete`` (default) runs the optimizer's steps; ``--mode ode`` integrates its
flow (dynamics.ode; docs/theory.md, Section 4, time unit = one step, so ``--steps T`` is the
time span) with ``--solver`` and ``--substeps`` N (N sub-steps per unit of time).
``--noise-sigma`` and ``--seed`` give the discrete run noisy gradients (dynamics.noise);
``--objective 'EXPR'`` replaces --toy by a typed objective (toys.expr, parsed safely).
The run is sized first (dynamics.budget): above the work limit it is refused unless
``--allow-large``; arrays that cannot fit in memory are refused always.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from cli.options import (UsageError, add_allow_large, add_run_options, add_setting, check, check_budget,
                         check_setting, hyper_of, json_list, parse_start, print_json, resolve_run, setup_of)
from dynamics.budget import flow_cost, runs_cost
from dynamics.flows import INITS
from dynamics.metrics import first_step, non_finite_steps
from dynamics.optimizers import FLOW_OPTIMIZERS, display_name
from dynamics.ode import ADAPTIVE_DEFAULTS, integrate
from dynamics.rollout import loss_rises, min_loss, rollout
from dynamics.sam import NO_FLOW
from dynamics.settings import SETTINGS
from dynamics.solvers import ADAPTIVE_METHODS, SOLVERS
from toys import get_toy
from toys.expr import ExprError, expression_toy

MODES = ("discrete", "ode")


def register(sub) -> None:
    p = sub.add_parser("run", help="run one optimizer (or integrate its flow) on one toy",
                       description="Run one optimizer on one toy. With --json, print one object with keys "
                                   "iterates, loss, hamiltonian, masked_fraction (step 0 first, steps+1 entries), "
                                   "loss_rises (steps where L rose by more than --rise-rel times max(|L(w_0)|, "
                                   "|L(w_0) - L*|), and by how much), diverged (an iterate, the loss "
                                   "or H non-finite), diverged_at (the first such entry, else null), config; "
                                   "--mode ode adds time, dH_dt, dL_dt and solver_status.")
    add_run_options(p)
    o = p.add_argument_group("ODE mode (the optimizer's flow; time unit = one step)")
    o.add_argument("--mode", default="discrete", choices=MODES,
                   help="discrete: the optimizer's steps; ode: integrate its flow over 0 <= t <= steps")
    o.add_argument("--solver", default="rk4", choices=SOLVERS,
                   help="euler; semi-implicit (state first, then w: the discrete optimizer at --substeps 1); "
                        "rk4; adaptive (diffrax, for smooth right-hand sides) (default rk4)")
    o.add_argument("--substeps", type=int, default=10,
                   help="sub-steps per unit of time, h = 1/N (adaptive: first step 1/N) (default 10)")
    o.add_argument("--init", default="auto", choices=INITS,
                   help="initial moments: auto (adam m0 = g0, v0 = g0^2, others 0) or zeros (default auto)")
    add_setting(o, "lion_sign")
    add_setting(o, "sign_tau")
    o.add_argument("--method", default=ADAPTIVE_DEFAULTS["method"], choices=tuple(ADAPTIVE_METHODS),
                   help="adaptive Runge-Kutta pair (default tsit5)")
    o.add_argument("--rtol", type=float, default=ADAPTIVE_DEFAULTS["rtol"],
                   help="adaptive relative tolerance > 0 (default 1e-6)")
    o.add_argument("--atol", type=float, default=ADAPTIVE_DEFAULTS["atol"],
                   help="adaptive absolute tolerance > 0 (default 1e-9)")
    o.add_argument("--dtmin", type=float, default=ADAPTIVE_DEFAULTS["dtmin"],
                   help="adaptive minimum step > 0; smaller steps are forced through (default 1e-6)")
    o.add_argument("--max-steps", type=int, default=ADAPTIVE_DEFAULTS["max_steps"],
                   help="adaptive step budget >= 1; the solve stops there and says so (default 100000)")
    p.add_argument("--no-bias-correction", action="store_true",
                   help="adam with the raw moments m, v (the h = 1 semi-implicit step of its flow)")
    n = p.add_argument_group("noisy gradients and typed objectives")
    add_setting(n, "noise_sigma", "; z_t drawn from (seed, t), discrete mode")
    add_setting(n, "seed")
    add_setting(p.add_argument_group("loss rises"), "rise_rel")
    n.add_argument("--objective", metavar="EXPR",
                   help="a typed objective in x and y replacing --toy, e.g. '(1-x)^2 + 100*(y-x^2)^2'; "
                        "operators + - * / ^ **, constants pi e, functions sin cos tan exp log sqrt abs tanh "
                        "sinh cosh arctan min max")
    add_allow_large(p)
    p.set_defaults(handler=handle)


def _resolve(args) -> dict:
    check(args.objective is None or not args.toy_param, "--toy-param", "a typed --objective has no parameters")
    config = resolve_run(args)
    config["mode"] = args.mode
    config["bias_correction"] = not args.no_bias_correction
    config["lion_sign"] = args.lion_sign
    for name in ("sign_tau", "noise_sigma", "seed", "rise_rel"):
        check_setting(name, getattr(args, name))
    config["sign_tau"] = args.sign_tau
    if args.noise_sigma > 0:          # noise settings enter the config only when the run is noisy
        config.update(noise_sigma=args.noise_sigma, seed=args.seed)
    if args.rise_rel != SETTINGS["rise_rel"].default:     # the threshold enters the config only when set
        config["rise_rel"] = args.rise_rel
    if args.objective is not None:
        try:
            toy = expression_toy(args.objective)
        except ExprError as err:
            raise UsageError(f"argument --objective: {err}") from None
        config.update(toy="custom", objective=args.objective, toy_params={},
                      start=list(parse_start(args.start, toy)))
    if args.mode == "discrete":
        check(args.lion_sign == "hard", "--lion-sign",
              "smooth is a flow option (use --mode ode); allowed in discrete mode: hard")
        return config
    check(not config.get("sam", False), "--sam", NO_FLOW)
    check(config["optimizer"] in FLOW_OPTIMIZERS, "--optimizer",
          f"ODE mode has flows for {', '.join(FLOW_OPTIMIZERS)}; got {config['optimizer']}")
    check(args.noise_sigma == 0, "--noise-sigma", "noisy gradients are a discrete-mode option (--mode discrete)")
    check(args.clip_norm is None, "--clip-norm", "gradient clipping is a discrete-mode option (--mode discrete)")
    check(args.substeps >= 1, "--substeps", f"must be an integer >= 1, got {args.substeps}")
    check(math.isfinite(args.rtol) and args.rtol > 0, "--rtol", f"must be a number > 0, got {args.rtol:g}")
    check(math.isfinite(args.atol) and args.atol > 0, "--atol", f"must be a number > 0, got {args.atol:g}")
    check(math.isfinite(args.dtmin) and 0 < args.dtmin < 1, "--dtmin",
          f"must be a number in (0, 1), got {args.dtmin:g}")
    check(args.max_steps >= 1, "--max-steps", f"must be an integer >= 1, got {args.max_steps}")
    config.update(solver=args.solver, substeps=args.substeps, init=args.init)
    if args.solver == "adaptive":
        config.update(method=args.method, rtol=args.rtol, atol=args.atol, dtmin=args.dtmin,
                      max_steps=args.max_steps)
    return config


def _setup_hyper(config):
    setup = dataclasses.replace(setup_of(config), bias_correction=config["bias_correction"],
                                lion_sign=config["lion_sign"], noise="gaussian" if "noise_sigma" in config else "none")
    numbers = {k: np.asarray(config.get(k, 0.0), dtype=config["dtype"]) for k in ("sign_tau", "noise_sigma")}
    return setup, hyper_of(config)._replace(**numbers)


def _toy(config):
    return expression_toy(config["objective"]) if "objective" in config else get_toy(config["toy"])


def _run(config):
    setup, hp = _setup_hyper(config)
    common = dict(start=config["start"], toy_params=config["toy_params"])
    if config["mode"] == "discrete":
        return rollout(setup, _toy(config), hp, config["steps"], seed=config.get("seed", 0), **common)
    adaptive = {k: config[k] for k in ("method", "rtol", "atol", "dtmin", "max_steps") if k in config}
    return integrate(setup, _toy(config), hp, config["steps"], solver=config["solver"], substeps=config["substeps"],
                     init=config["init"], **common, **adaptive)


def cost(config: dict):
    """The size of the resolved run (dynamics.budget): steps, or the ODE solve's evaluations."""
    if config["mode"] == "discrete":
        return runs_cost("the run", config["steps"], noisy="noise_sigma" in config, sam=config.get("sam", False))
    return flow_cost("the ODE solve", config["steps"], config["solver"], config["substeps"],
                     config.get("method", ADAPTIVE_DEFAULTS["method"]),
                     config.get("max_steps", ADAPTIVE_DEFAULTS["max_steps"]))


def handle(args) -> int:
    config = _resolve(args)
    check_budget(args, cost(config))
    traj = _run(config)
    ode = config["mode"] == "ode"
    reached = np.ones(len(traj.w), bool)
    if ode and traj.status.stopped_early:
        reached[int(traj.status.stopped_at) + 1:] = False
    rise_steps, rise_sizes = loss_rises(traj.loss[reached], args.rise_rel,
                                        min_loss(_toy(config), config["toy_params"]))
    diverged_at = first_step(non_finite_steps(traj.w[reached], traj.loss[reached], traj.hamiltonian[reached]))
    if args.json:
        payload = dict(iterates=json_list(traj.w), loss=json_list(traj.loss),
                       hamiltonian=json_list(traj.hamiltonian), masked_fraction=json_list(traj.masked_fraction),
                       loss_rises=dict(steps=rise_steps.tolist(), sizes=json_list(rise_sizes)),
                       diverged=diverged_at is not None, diverged_at=diverged_at, config=config)
        if ode:
            payload.update(time=json_list(traj.time), dH_dt=json_list(traj.dH_dt), dL_dt=json_list(traj.dL_dt),
                           solver_status=traj.status.as_dict())
        else:
            payload.update({k: json_list(getattr(traj, k)) for k in ("noise_drop", "noise_keep", "decay_mask")
                            if getattr(traj, k) is not None})
        print_json(payload)
        return 0
    name = display_name(config["optimizer"], config["cautious"])
    what = (f"flow, {config['solver']} solver, t = 0..{config['steps']}" if ode
            else f"{config['steps']} steps")
    sam = f", SAM rho={config['rho']:g}" if config.get("sam") else ""
    print(f"{name} on {config['toy']}, {what} (lr={config['lr']:g}, beta={config['beta']:g}{sam})")
    last = int(np.nonzero(reached)[0][-1])
    print(f"  start {traj.w[0].tolist()}  ->  end {traj.w[last].tolist()}")
    print(f"  loss {traj.loss[0]:.6g} -> {traj.loss[last]:.6g};  H {traj.hamiltonian[0]:.6g} -> "
          f"{traj.hamiltonian[last]:.6g}")
    unit = "grid times" if ode else "steps"
    largest = rise_sizes.max() if len(rise_sizes) else 0
    print(f"  loss rose by more than {args.rise_rel:g} L(w_0) at {len(rise_steps)} {unit} (largest rise "
          f"{largest:.3g}); mean fraction masked {np.nanmean(traj.masked_fraction[1:]):.3f}")
    if getattr(traj, "noise_drop", None) is not None:
        print(f"  noise (sigma {config['noise_sigma']:g}, seed {config['seed']}): the mask dropped "
              f"{np.mean(traj.noise_drop[1:]):.3f} of the coordinates per step because of the noise")
    if ode:
        print(f"  max dH/dt on the grid {np.nanmax(traj.dH_dt):.3g}; max dL/dt {np.nanmax(traj.dL_dt):.3g}")
        status = traj.status
        if status.solver == "adaptive":
            print(f"  adaptive ({status.method}): {status.steps} steps, {status.accepted} accepted, "
                  f"{status.rejected} rejected")
        for warning in status.warnings:
            print(f"  WARNING: {warning}")
    if diverged_at is not None:
        print(f"  DIVERGED at {'grid point' if ode else 'step'} {diverged_at}: the iterates, the loss or H left the "
              "floating-point range")
    return 0
