"""``python -m licwiz.cli``: the ``licwiz`` command."""

import sys

from licwiz.cli.main import main

sys.exit(main())
