"""``python -m dynamics``: the command line, which lives in the cli package (cli.main);
the one import from dynamics up to a higher layer, as an entry point."""
import sys

from cli.main import main

sys.exit(main())
