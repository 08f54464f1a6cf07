"""What the subcommands of the command line share: the argument parser with one-line
errors, the options that choose a toy, an optimizer and its settings (defined here
once), their validation into a plain config dict, and JSON output.

Bad input raises UsageError; cli.main prints it as one line on stderr naming the
option and the allowed values, and exits with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any

import numpy as np

from dynamics.config import COMPENSATIONS, DECAY_MODES, DTYPES, MASKS, OPTIMIZERS, Setup, make_hyper
from toys import TOYS, get_toy

PROG = "python -m dynamics"


class UsageError(Exception):
    """A bad command-line value: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2.  Values that
    start with a minus and a digit (``--start -1.2,1``, ``--lr -1e-3``) are values, not
    options, as in Python 3.13's argparse (3.11 takes only plain numbers such as -1.2)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str):  # noqa: D401 (argparse API)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


BETA2_DEFAULTS = {"adam": 0.999, "lion": 0.99, "rmsprop": 0.9}


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options that choose a toy, an optimizer and its settings."""
    g = p.add_argument_group("objective")
    g.add_argument("--toy", default="quad-repo", metavar="NAME",
                   help=f"objective (default quad-repo); one of: {', '.join(TOYS)}")
    g.add_argument("--toy-param", action="append", default=[], metavar="KEY=VALUE",
                   help="set a toy parameter, repeatable (quadratics: h1, h2, kappa (sets h2 = kappa*h1), "
                        "angle in radians, cx, cy; rosenbrock: a, b; ...)")
    g.add_argument("--start", metavar="X,Y", help="start point w_0 (default: the toy's)")
    o = p.add_argument_group("optimizer (w_{t+1} = w_t - lr * u_t)")
    o.add_argument("--optimizer", default="gdm", choices=OPTIMIZERS,
                   help="gd; gdm = undampened heavy ball s = beta s + g, u = s; nesterov: u = g + beta s; "
                        "adam; lion; signum: u = sign(m); rmsprop, adagrad: u = g/sqrt(v + adam-eps) (decay beta2); "
                        "nadam; amsgrad; laprop; adamw = adam + decoupled decay (default gdm)")
    o.add_argument("--dampening", action="store_true", help="gdm with s = beta s + (1-beta) g")
    o.add_argument("--lr", type=float, default=0.01, help="step size eps > 0 (default 0.01)")
    o.add_argument("--beta", type=float, default=0.9,
                   help="momentum in [0, 1): gdm/nesterov beta, adam/lion b1 (default 0.9)")
    o.add_argument("--beta2", type=float, default=None,
                   help="adam/lion b2 in [0, 1) (default 0.999 for adam, 0.99 for lion)")
    o.add_argument("--adam-eps", type=float, default=1e-8, help="adam's e in m/(sqrt(v)+e) (default 1e-8)")
    c = p.add_argument_group("caution (arXiv 2411.16085)")
    c.add_argument("--cautious", action="store_true", help="apply the cautious mask: u <- alpha phi(u*g) u")
    c.add_argument("--mask", default="elementwise", choices=MASKS,
                   help="elementwise: 1[u_i g_i > 0]; elementwise-ge: >= 0; inner: 1[u.g >= 0]; "
                        "threshold: 1[g.u >= -(mu lr/2)|u|^2]; smooth: sigmoid(u_i g_i / tau) (default elementwise)")
    c.add_argument("--compensation", default="mean", choices=COMPENSATIONS,
                   help="none: alpha = 1; mean: 1/max(mean phi, 1e-3); count: d/(nnz phi + 1) (default mean)")
    c.add_argument("--tau", type=float, default=1e-3, help="smooth-mask temperature > 0 (default 1e-3)")
    c.add_argument("--mu", type=float, default=1.0, help="threshold-mask smoothness constant >= 0 (default 1)")
    d = p.add_argument_group("weight decay (arXiv 2510.12402)")
    d.add_argument("--weight-decay-mode", default="none", choices=DECAY_MODES,
                   help="none; decoupled: u += wd w; cautious: u += wd 1[u w >= 0] w (default none)")
    d.add_argument("--wd", type=float, default=0.0, help="weight-decay strength lambda >= 0 (default 0)")
    r = p.add_argument_group("run")
    r.add_argument("--steps", type=int, default=1000, help="number of steps T >= 1 (default 1000)")
    r.add_argument("--dtype", default="float64", choices=DTYPES, help="floating point precision (default float64)")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def check(cond: bool, option: str, message: str) -> None:
    """Raise UsageError ``argument OPTION: MESSAGE`` unless ``cond``."""
    if not cond:
        raise UsageError(f"argument {option}: {message}")


def parse_toy_params(toy, items: list[str]) -> dict[str, float]:
    """The toy's parameters with the ``--toy-param KEY=VALUE`` items applied (``kappa``
    sets h2 = kappa h1 on quadratics); UsageError on a bad item."""
    allowed = sorted(toy.defaults) + (["kappa"] if "h1" in toy.defaults else [])
    allowed_text = ", ".join(allowed) or f"none for {toy.name}"
    params: dict[str, float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        check(bool(sep), "--toy-param", f"expected KEY=VALUE, got {item!r} (keys: {allowed_text})")
        key = key.strip()
        check(key in allowed, "--toy-param", f"unknown key {key!r} for toy {toy.name} (allowed: {allowed_text})")
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"argument --toy-param: {key} needs a number, got {text!r}") from None
        check(math.isfinite(value), "--toy-param", f"{key} must be finite, got {text!r}")
        params[key] = value
    if "kappa" in params:
        kappa = params.pop("kappa")
        check(kappa > 0, "--toy-param", f"kappa must be > 0, got {kappa:g}")
        params["h2"] = kappa * params.get("h1", toy.defaults["h1"])
    return toy.params(params)


def parse_start(text: str | None, toy) -> tuple[float, float]:
    """The start point of ``--start X,Y``, or the toy's when not given; UsageError on bad text."""
    if text is None:
        return tuple(toy.start)
    parts = text.split(",")
    try:
        values = tuple(float(x) for x in parts)
    except ValueError:
        values = ()
    check(len(values) == 2 and all(math.isfinite(v) for v in values), "--start",
          f"expected two finite numbers X,Y such as -1.2,1; got {text!r}")
    return values


def resolve_run(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the run options and return every resolved setting as a plain dict
    (the ``config`` of the JSON output): raises UsageError on bad input."""
    check(args.toy in TOYS, "--toy", f"unknown toy {args.toy!r} (allowed: {', '.join(TOYS)})")
    toy = get_toy(args.toy)
    toy_params = parse_toy_params(toy, args.toy_param)
    start = parse_start(args.start, toy)
    beta2 = BETA2_DEFAULTS.get(args.optimizer, 0.999) if args.beta2 is None else args.beta2
    check(math.isfinite(args.lr) and args.lr > 0, "--lr", f"must be a number > 0, got {args.lr:g}")
    check(0 <= args.beta < 1, "--beta", f"must be in [0, 1), got {args.beta:g}")
    check(0 <= beta2 < 1, "--beta2", f"must be in [0, 1), got {beta2:g}")
    check(args.adam_eps >= 0, "--adam-eps", f"must be >= 0, got {args.adam_eps:g}")
    check(math.isfinite(args.wd) and args.wd >= 0, "--wd", f"must be a number >= 0, got {args.wd:g}")
    check(args.tau > 0, "--tau", f"must be > 0, got {args.tau:g}")
    check(args.mu >= 0, "--mu", f"must be >= 0, got {args.mu:g}")
    check(args.steps >= 1, "--steps", f"must be an integer >= 1, got {args.steps}")
    return dict(
        toy=toy.name, toy_params=toy_params, start=list(start),
        optimizer=args.optimizer, dampening=bool(args.dampening),
        cautious=bool(args.cautious), mask=args.mask, compensation=args.compensation,
        weight_decay_mode=Setup(args.optimizer, decay=args.weight_decay_mode).decay, wd=args.wd,  # adamw: decoupled
        lr=args.lr, beta=args.beta, beta2=beta2, adam_eps=args.adam_eps, tau=args.tau, mu=args.mu,
        steps=args.steps, dtype=args.dtype,
    )


def setup_of(config: dict[str, Any]) -> Setup:
    """The Setup (static choices) of a resolved config."""
    return Setup(optimizer=config["optimizer"], dampening=config["dampening"], cautious=config["cautious"],
                 mask=config["mask"], compensation=config["compensation"],
                 decay=config["weight_decay_mode"], dtype=config["dtype"])


def hyper_of(config: dict[str, Any]):
    """The Hyper (numbers) of a resolved config."""
    return make_hyper(config["dtype"], lr=config["lr"], beta=config["beta"], beta2=config["beta2"],
                      adam_eps=config["adam_eps"], wd=config["wd"], tau=config["tau"], mu=config["mu"])


def json_list(a) -> Any:
    """A NumPy array as nested lists, non-finite values as null (JSON has no NaN)."""
    arr = np.asarray(a, dtype=float)
    obj = np.where(np.isfinite(arr), arr, np.nan).astype(object)
    obj[~np.isfinite(arr)] = None
    return obj.tolist()


def print_json(payload: dict[str, Any]) -> None:
    """``payload`` as one line of strict JSON (no NaN) on stdout."""
    json.dump(payload, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
