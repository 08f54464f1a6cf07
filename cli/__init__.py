"""The command line (``python -m dynamics`` or ``python -m cli``): cli.main builds the
parser and runs a subcommand; cli.options holds what the subcommands share (the run
options, their validation, JSON output); cli.run, cli.sweep, cli.figure and cli.claims
are the subcommands, each with ``register(subparsers)``."""
