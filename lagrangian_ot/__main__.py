"""``python -m lagrangian_ot`` runs the ``lagot`` command line."""

import sys

from .cli import main

sys.exit(main())
