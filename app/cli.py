"""Shim: the console script and ``python -m licwiz.app.cli`` until they point at licwiz.cli."""

import sys

from licwiz.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
