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

from dynamics.budget import CLI_WORK_LIMIT, ENV, MEMORY_LIMIT, Cost, problem, work_limit
from dynamics.config import Setup, make_hyper
from dynamics.settings import GROUPS, RUN_OPTIONS, SETTINGS, SWITCHES, of_config, quiet_defaults
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


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options that choose a toy, an optimizer and its settings (dynamics.settings)."""
    g = p.add_argument_group("objective")
    g.add_argument("--toy", default="quad-repo", metavar="NAME",
                   help=f"objective (default quad-repo); one of: {', '.join(TOYS)}")
    g.add_argument("--toy-param", action="append", default=[], metavar="KEY=VALUE",
                   help="set a toy parameter, repeatable (quadratics: h1, h2, kappa (sets h2 = kappa*h1), "
                        "angle in radians, cx, cy; rosenbrock: a, b; ...)")
    g.add_argument("--start", metavar="X,Y", help="start point w_0 (default: the toy's)")
    groups: dict[str, Any] = {}
    for name in RUN_OPTIONS:
        s = SETTINGS[name]
        if s.group not in groups:
            groups[s.group] = p.add_argument_group(GROUPS[s.group])
        add_setting(groups[s.group], name)
    groups["run"].add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def add_allow_large(p: argparse.ArgumentParser) -> None:
    """The --allow-large option of a command that computes (dynamics.budget)."""
    p.add_argument("--allow-large", action="store_true",
                   help=f"lift the work limit: requests above {CLI_WORK_LIMIT:.0e} gradient evaluations (about 6 "
                        f"minutes; or ${ENV} when set) are refused without it; arrays above "
                        f"{MEMORY_LIMIT / 2**30:g} GiB are refused even with it")


def check_budget(args: argparse.Namespace, cost: Cost) -> None:
    """UsageError (one line: what is too large, its size, the limit, how to raise it)
    unless ``cost`` fits the command line's budget (dynamics.budget; --allow-large lifts
    the work limit, not the memory limit)."""
    limit = None if args.allow_large else work_limit(CLI_WORK_LIMIT)
    text = problem(cost, limit, f"pass --allow-large to run it anyway (or set {ENV})")
    if text is not None:
        raise UsageError(text)


def add_setting(group, name: str, note: str = "") -> None:
    """The option of setting ``name`` (dynamics.settings: its flag, kind, default and
    help, followed by ``note``) in an argparse group."""
    s = SETTINGS[name]
    kind = ({"action": "store_true"} if s.kind == "bool" else {"choices": s.choices} if s.kind == "choice"
            else {"type": int if s.kind == "int" else float})
    switch = f"; turns {SETTINGS[SWITCHES[name]].name} on (off when not given)" if name in SWITCHES else ""
    group.add_argument(s.flag, default=None if name in SWITCHES else s.default, help=s.cli_help() + switch + note,
                       **kind)


def check_setting(name: str, value: Any) -> None:
    """UsageError naming the option of setting ``name`` unless ``value`` is valid for it."""
    problem = SETTINGS[name].problem(value)
    check(problem is None, SETTINGS[name].flag, problem)


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
    """Validate the run options (dynamics.settings) and return every resolved setting as
    a plain dict (the ``config`` of the JSON output): raises UsageError on bad input."""
    check(args.toy in TOYS, "--toy", f"unknown toy {args.toy!r} (allowed: {', '.join(TOYS)})")
    toy = get_toy(args.toy)
    toy_params = parse_toy_params(toy, args.toy_param)
    start = parse_start(args.start, toy)
    values = {s.dest: getattr(args, s.dest) for s in map(SETTINGS.get, RUN_OPTIONS)}
    values["beta2"] = SETTINGS["beta2"].default_for(args.optimizer) if args.beta2 is None else args.beta2
    for s in map(SETTINGS.get, RUN_OPTIONS):
        problem = None if s.name in SWITCHES and values[s.dest] is None else s.problem(values[s.dest])
        check(problem is None, s.flag, problem)
    values["weight_decay_mode"] = Setup(args.optimizer, decay=args.weight_decay_mode).decay   # adamw: decoupled
    return dict(toy=toy.name, toy_params=toy_params, start=list(start), **quiet_defaults(values))


def setup_of(config: dict[str, Any]) -> Setup:
    """The Setup (static choices) of a resolved config."""
    return Setup(**of_config(config, "setup"))


def hyper_of(config: dict[str, Any]):
    """The Hyper (numbers) of a resolved config."""
    return make_hyper(config["dtype"], **of_config(config, "hyper"))


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
