"""``python -m trio_zeebe.testing.chaos``: see :mod:`.cli`."""

import sys

from .cli import main

sys.exit(main())
