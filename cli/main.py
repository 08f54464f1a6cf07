"""The command line, ``python -m dynamics`` (or ``python -m cli``): one parser with a
subcommand per module of this package (cli.run, cli.sweep, cli.figure, cli.claims,
cli.animate), each exposing ``register(subparsers)``; ``main(argv)`` parses, runs the
subcommand and returns the exit status.  It points JAX at the persistent compilation
cache (dynamics.compile_cache: DYNAMICS_COMPILE_CACHE moves or switches it off) and
enables float64 (dynamics.enable_float64) before running: ``--dtype float64`` is the default.

Bad input exits with status 2 and one line on stderr naming the option and the
allowed values; no traceback.  So does a request above the work budget
(dynamics.budget; ``--allow-large``) or a bad DYNAMICS_WORK_LIMIT.
"""
from __future__ import annotations

import sys

from cli import animate, claims, figure, run, sweep
from cli.options import PROG, Parser, UsageError
from dynamics import compile_cache, enable_float64
from dynamics.budget import BudgetError

COMMANDS = [run, sweep, figure, claims, animate]


def build_parser() -> Parser:
    """The parser of every subcommand."""
    parser = Parser(prog=PROG, description=(
        "Optimization dynamics of GD, momentum, Adam, Lion and their cautious variants on 2-D toys. "
        "Conventions: w_{t+1} = w_t - lr * u_t; momentum is undampened (s = beta s + g) unless --dampening."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default sys.argv[1:]) and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    compile_cache.enable()
    enable_float64()
    try:
        return args.handler(args) or 0
    except (UsageError, BudgetError) as err:
        sys.stderr.write(f"{PROG} {args.command}: error: {err}\n")
        return 2
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as Unix tools do
        sys.stdout = None
        return 0
