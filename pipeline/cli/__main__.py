"""`python -m pipeline.cli ...` runs the `audiobook` command."""

import sys

from pipeline.cli import main

sys.exit(main())
