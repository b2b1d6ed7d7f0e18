"""`python -m webtext`: the `webtext` command."""

import sys

from webtext.flows.cli import main

sys.exit(main())
