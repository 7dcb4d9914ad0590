"""``python -m trio_zeebe``: see :mod:`trio_zeebe.cli`."""

import sys

from .cli import MODULE_PROG, main

sys.exit(main(prog=MODULE_PROG))
