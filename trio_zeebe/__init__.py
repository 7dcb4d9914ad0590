"""trio_zeebe: a Zeebe-style clustered broker in pure Python on Trio."""

__version__ = "0.1.0"
