"""trio_zeebe: a Zeebe-style clustered broker in pure Python on Trio, and its anyio client.

The top-level names are the client's classes (``trio_zeebe.client.__all__``, capitalised:
:class:`Client`, :class:`Worker`, :class:`Job`, the errors ...). They are loaded on first use,
so importing a pure part of the package (the engine, the Raft core) does not drag in anyio,
trio or sockets; every submodule name is lower case, so looking one up never loads the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see of the lazily loaded names
    from .client import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name == "__all__" or name[:1].isupper():
        client = importlib.import_module(".client", __name__)
        public = ["__version__", *(n for n in client.__all__ if n[:1].isupper())]
        if name == "__all__":
            return public
        if name in public:
            return getattr(client, name)
    raise AttributeError(f"module 'trio_zeebe' has no attribute {name!r}")
