"""``python -m trio_zeebe``: see :mod:`trio_zeebe.cli`."""

import sys

from .cli import main

sys.exit(main())
