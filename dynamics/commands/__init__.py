"""Subcommands of ``python -m dynamics``; each module has ``register(subparsers)``."""
from dynamics.commands import run, sweep

COMMANDS = [run, sweep]
from dynamics.commands import claims, figure  # noqa: E402
COMMANDS += [figure, claims]
