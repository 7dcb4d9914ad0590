"""Checking TLS certificate and key files, with a one-line reason for each way they can be wrong.

The ``ssl`` module reports a bad file as ``[SSL] PEM lib (_ssl.c:3905)`` or a bare
``FileNotFoundError`` that does not say which file; the broker's config check and the client
use :func:`check_ca` and :func:`check_chain_and_key` instead, which name the file at fault and
say what is wrong with it (missing, unreadable, not PEM, key not matching the certificate).
"""

from __future__ import annotations

import errno
import ssl
from pathlib import Path

__all__ = ["TlsFileError", "check_ca", "check_chain_and_key", "load_error"]


class TlsFileError(ValueError):
    """A certificate or key file cannot be used. ``role`` is "ca", "chain" or "key"."""

    def __init__(self, role: str, path: str, reason: str) -> None:
        self.role = role
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    return exc.strerror or str(exc)


def _readable(role: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise TlsFileError(role, path, _os_reason(exc)) from None


def _certificates(role: str, name: str) -> None:
    """TlsFileError for ``role`` unless the file ``name`` is readable and every certificate in
    it parses (and only that is checked: a failure is this file's)."""
    _readable(role, name)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=name)
    except (ssl.SSLError, ValueError):
        raise TlsFileError(role, name, "not a PEM certificate file") from None


def check_ca(path: str | Path) -> None:
    """Raise :class:`TlsFileError` unless ``path`` holds at least one PEM certificate."""
    _certificates("ca", str(path))


def check_chain_and_key(chain: str | Path, key: str | Path | None) -> None:
    """Raise :class:`TlsFileError` unless ``chain`` is a PEM certificate chain and ``key`` (or,
    without one, the chain file itself) holds the matching private key."""
    chain_name = str(chain)
    _certificates("chain", chain_name)
    key_name = str(key) if key else chain_name
    if key:
        _readable("key", key_name)
    asked: list[bool] = []

    def no_password() -> bytes:
        # Without a callback OpenSSL would prompt on the terminal and the broker would hang.
        asked.append(True)
        return b""

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(chain_name, key_name, no_password)
    except ssl.SSLError as exc:
        if asked:
            raise TlsFileError(
                "key", key_name, "the private key is encrypted (give an unencrypted PEM key)"
            ) from None
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError(
                "key", key_name, f"the private key does not match the certificate in {chain_name}"
            ) from None
        # OpenSSL says only "PEM lib" here: the certificate parsed above, so it is the key.
        what = "not a PEM private key" if key else "no private key in the certificate file"
        raise TlsFileError("key", key_name, what) from None
    except OSError as exc:
        raise TlsFileError("key", key_name, _os_reason(exc)) from None


def load_error(exc: BaseException) -> str:
    """A one-line reason for an exception raised while building an ``SSLContext``."""
    if isinstance(exc, TlsFileError):
        return str(exc)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        return reason.replace("_", " ").lower() if reason else (exc.strerror or str(exc))
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return where + _os_reason(exc)
    return str(exc) or type(exc).__name__
